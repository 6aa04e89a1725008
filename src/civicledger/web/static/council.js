// Council decisions collecting co-signatures (docs/web.md, kernel/proposals.py): a draft and each
// co-signature are signed here with WebCrypto Ed25519; the server never sees a private key. Every
// member signs the same bytes as a direct command's signers (economy, id, type, payload, signed_at).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const text = JSON.parse($("messages").textContent);
  let key = null;

  function say(message, isError) {
    const status = $("council-status");
    status.textContent = message;
    status.className = isError ? "error" : "note";
  }

  // A request signed by ``key`` (the request-signing scheme of docs/api.md).
  async function post(path, envelope, economy) {
    const body = Civic.canonicalBytes(envelope);
    const nonce = Civic.randomHex(16);
    const requestBytes = Civic.canonicalBytes({
      economy: economy.id, method: "POST", path,
      body_sha256: Civic.hex(await Civic.sha256(body)), timestamp: economy.now, nonce,
    });
    const response = await fetch(path, {
      method: "POST",
      headers: {
        "content-type": "application/json", "Civic-Timestamp": String(economy.now), "Civic-Nonce": nonce,
        "Civic-Signature": key.account + "=" + (await Civic.sign(key, requestBytes)),
      },
      body,
    });
    return { ok: response.ok, data: await response.json() };
  }

  function outcome(result, done) {
    if (!result.ok) {
      say(text.refused + " (" + result.data.rule + "): " + result.data.detail, true);
      return;
    }
    if (result.data.status === "submitted") say(text.submitted + " " + result.data.seq + ".");
    else say(done);
    setTimeout(() => location.reload(), 600);
  }

  function commandBytes(economy, command) {
    return Civic.canonicalBytes({
      economy: economy.id, id: command.id, type: command.type, payload: command.payload, signed_at: command.signed_at,
    });
  }

  // The seed is kept for this tab only (sessionStorage, gone when the tab closes), so the page can
  // reload after a signature without asking for it again; it is never sent anywhere.
  const SEED = "civicledger.council.seed";
  async function useKey(seed) {
    try {
      key = await Civic.keyFromSeed("council", seed);
      sessionStorage.setItem(SEED, seed);
      $("council-account").textContent = text.key_ready + " " + key.account;
    } catch (e) {
      key = null;
      say(e.message, true);
    }
  }
  $("council-use-key").addEventListener("click", () => useKey($("council-seed").value));
  if (sessionStorage.getItem(SEED)) useKey(sessionStorage.getItem(SEED));

  function showCurrent() {
    const option = $("draft-path").selectedOptions[0];
    $("draft-current").textContent = option ? option.dataset.value : "";
    if (option && !$("draft-value").dataset.touched) $("draft-value").value = option.dataset.value;
  }
  $("draft-path").addEventListener("change", () => { delete $("draft-value").dataset.touched; showCurrent(); });
  $("draft-value").addEventListener("input", () => { $("draft-value").dataset.touched = "1"; });
  showCurrent();

  $("draft-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!key) return say(text.no_key, true);
    let value;
    try { value = JSON.parse($("draft-value").value); } catch (e) { return say(text.bad_value, true); }
    say(text.signing);
    const economy = await Civic.getJSON("/api/economy");
    const command = {
      id: "council-" + Civic.randomHex(12), type: "economy.change_policy",
      payload: { path: $("draft-path").value, value }, signed_at: economy.now, signatures: [],
    };
    if ($("draft-sign-too").checked) {
      command.signatures.push({ account: key.account, signature: await Civic.sign(key, commandBytes(economy, command)) });
    }
    outcome(await post("/api/proposals", command, economy), text.drafted);
  });

  for (const button of document.querySelectorAll("button.cosign")) {
    button.addEventListener("click", async () => {
      if (!key) return say(text.no_key, true);
      say(text.signing);
      const economy = await Civic.getJSON("/api/economy");
      const proposal = await Civic.getJSON("/api/proposals/" + encodeURIComponent(button.dataset.id));
      // Sign what the draft says, computed here: never bytes the server hands over.
      const signature = await Civic.sign(key, commandBytes(economy, proposal.command));
      const path = "/api/proposals/" + encodeURIComponent(proposal.id) + "/signatures";
      outcome(await post(path, { account: key.account, signature }, economy), text.signed);
    });
  }
})();
