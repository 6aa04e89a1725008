// Council decisions collecting co-signatures (docs/web.md, kernel/proposals.py): a draft and each
// co-signature are signed here with WebCrypto Ed25519; the server never sees a private key. Every
// member signs the same bytes as a direct command's signers (economy, id, type, payload, signed_at).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const text = JSON.parse($("messages").textContent);
  const msg = text; // (parsers below use "text" for what was typed)
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

  // What people type, read as the exact value that is signed (docs/web.md, "Policy values"): a
  // duration in whole units ("90 days", "1 day 6 hours"), an amount in major units ("12.50", exact:
  // digits, never a float), a ratio ("5%", "0.05", "1/20" -> "1/20"), yes/no. Anything else is JSON.
  const SECONDS = {
    s: 1, sec: 1, second: 1, seconds: 1, segundo: 1, segundos: 1,
    min: 60, minute: 60, minutes: 60, minuto: 60, minutos: 60,
    h: 3600, hour: 3600, hours: 3600, hora: 3600, horas: 3600,
    d: 86400, day: 86400, days: 86400, "día": 86400, "días": 86400, dia: 86400, dias: 86400,
    w: 604800, week: 604800, weeks: 604800, semana: 604800, semanas: 604800,
    month: 2629746, months: 2629746, mes: 2629746, meses: 2629746,
    y: 31556952, year: 31556952, years: 31556952, "año": 31556952, "años": 31556952,
  };
  function fail(message) { throw new Error(message); }
  function parseDuration(input) {
    const text = input.trim().toLowerCase().replace(/,/g, " ");
    if (/^\d+$/.test(text)) return Number(text);
    const parts = text.replace(/(\d)(?=[^\d\s])/g, "$1 ").split(/\s+/).filter((w) => w && w !== "and" && w !== "y");
    let total = 0;
    if (parts.length % 2) fail(msg.bad_duration);
    for (let i = 0; i < parts.length; i += 2) {
      const size = SECONDS[parts[i + 1]];
      if (!/^\d+$/.test(parts[i]) || !size) fail(msg.bad_duration);
      total += Number(parts[i]) * size;
    }
    if (!Number.isSafeInteger(total)) fail(msg.bad_duration);
    return total;
  }
  function parseAmount(input, decimals) {
    let text = input.trim().replace(/\s/g, "");
    const dot = text.lastIndexOf("."), comma = text.lastIndexOf(",");
    const at = Math.max(dot, comma);
    // The last separator is the decimal one, unless it groups thousands (exactly 3 digits follow
    // and the currency has fewer decimals); the other separator groups thousands.
    let whole = text, fraction = "";
    if (at >= 0 && !(text.length - at - 1 === 3 && decimals < 3)) {
      whole = text.slice(0, at);
      fraction = text.slice(at + 1);
    }
    whole = whole.replace(/[.,]/g, "");
    if (!/^\d+$/.test(whole) || !/^\d*$/.test(fraction) || fraction.length > decimals) {
      fail(msg.bad_amount + " " + decimals + ".");
    }
    const minor = BigInt(whole) * 10n ** BigInt(decimals) + BigInt((fraction + "0".repeat(decimals)).slice(0, decimals) || "0");
    if (minor > BigInt(Number.MAX_SAFE_INTEGER)) fail(msg.bad_amount + " " + decimals + ".");
    return Number(minor);
  }
  function gcd(a, b) { while (b) [a, b] = [b, a % b]; return a; }
  function parseRatio(input) {
    let text = input.trim().replace(",", ".");
    let scale = 1n;
    if (text.endsWith("%")) { text = text.slice(0, -1).trim(); scale = 100n; }
    let num, den;
    const m = /^(\d+)(?:\.(\d+))?$/.exec(text), f = /^(\d+)\s*\/\s*(\d+)$/.exec(text);
    if (m) { num = BigInt(m[1] + (m[2] || "")); den = 10n ** BigInt((m[2] || "").length); }
    else if (f && BigInt(f[2]) > 0n) { num = BigInt(f[1]); den = BigInt(f[2]); }
    else fail(msg.bad_ratio);
    den *= scale;
    const g = gcd(num, den) || 1n;
    return (num / g) + "/" + (den / g);
  }
  function parseValue(input, option) {
    const unit = option.dataset.unit, current = JSON.parse(option.dataset.value);
    const text = input.trim();
    if (unit === "seconds") return parseDuration(text);
    if (unit === "minor_units") return parseAmount(text, Number(option.dataset.decimals));
    if (unit === "ratio") return parseRatio(text);
    if (unit === "percent") { if (!/^\d+%?$/.test(text)) fail(msg.bad_percent); return parseInt(text, 10); }
    if (unit === "yes_no" || typeof current === "boolean") {
      const word = text.toLowerCase();
      if (["yes", "sí", "si", "true"].includes(word)) return true;
      if (["no", "false"].includes(word)) return false;
      fail(msg.bad_yes_no);
    }
    if (typeof current === "number") { if (!/^\d+$/.test(text)) fail(msg.bad_count); return Number(text); }
    if (typeof current === "string" && !text.startsWith('"')) return text;
    try { return JSON.parse(text); } catch (e) { fail(msg.bad_value); }
  }
  // The value in force as the input shows it: written by the server in the page's language (every
  // part of a duration, the page's decimal separator, yes or no in words), read back exactly above.
  function editable(option) { return option.dataset.editable; }

  function showExact() {
    const option = $("draft-path").selectedOptions[0];
    if (!option) return;
    try {
      $("draft-exact").textContent = JSON.stringify(parseValue($("draft-value").value, option));
      $("draft-exact").className = "";
    } catch (e) {
      $("draft-exact").textContent = e.message;
      $("draft-exact").className = "error";
    }
  }
  function showCurrent() {
    const option = $("draft-path").selectedOptions[0];
    $("draft-current").textContent = option ? option.dataset.shown + " (" + option.dataset.value + ")" : "";
    $("draft-unit").textContent = option ? msg.hint[option.dataset.unit || ""] : "";
    if (option && !$("draft-value").dataset.touched) $("draft-value").value = editable(option);
    showExact();
  }
  $("draft-path").addEventListener("change", () => { delete $("draft-value").dataset.touched; showCurrent(); });
  $("draft-value").addEventListener("input", () => { $("draft-value").dataset.touched = "1"; showExact(); });
  showCurrent();

  const KINDS = {
    "economy.change_policy": "kind-policy", "economy.adopt_rules": "kind-rules",
    "identity.grant_role": "kind-role", "identity.revoke_role": "kind-role",
  };
  function showKind() {
    for (const id of new Set(Object.values(KINDS))) $(id).hidden = KINDS[$("draft-kind").value] !== id;
  }
  $("draft-kind").addEventListener("change", showKind);
  showKind();

  // A role's account, found by name or id (GET /api/accounts/search: only what the API shows, IN11).
  async function findAccounts() {
    const query = $("role-query").value.trim();
    const select = $("role-account");
    select.replaceChildren();
    let items = [];
    try { items = (await Civic.getJSON("/api/accounts/search?q=" + encodeURIComponent(query))).items; }
    catch (e) { return say(e.message, true); }
    for (const hit of items) {
      const option = document.createElement("option");
      option.value = hit.id;
      option.textContent = (hit.name ? hit.name + " · " : "") + hit.kind + " · " + hit.id;
      select.append(option);
    }
    if (!items.length) say(msg.found_none, true);
    else say("");
  }
  $("role-search").addEventListener("click", findAccounts);
  $("role-query").addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); findAccounts(); }
  });

  function payloadFor(kind, economy) {
    if (kind === "economy.change_policy") {
      return { path: $("draft-path").value, value: parseValue($("draft-value").value, $("draft-path").selectedOptions[0]) };
    }
    if (kind === "economy.adopt_rules") {
      if (!$("draft-version").value) fail(msg.no_version);
      const starts = $("draft-starts").value;
      // IN8: a version starts no earlier than its entry. Left empty, it starts when the draft's
      // signatures go stale (journal.signature_max_age after now): the latest a quorum can be met.
      const maxAge = JSON.parse(document.querySelector("#draft-path option[value='journal.signature_max_age']").dataset.value);
      const startsAt = starts ? Math.floor(Date.parse(starts + "Z") / 1000) : economy.now + maxAge;
      return { version: Number($("draft-version").value), starts_at: startsAt };
    }
    if (!$("role-account").value) fail(msg.no_account);
    return { account: $("role-account").value, role: $("role-role").value };
  }

  $("draft-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!key) return say(msg.no_key, true);
    const kind = $("draft-kind").value;
    const economy = await Civic.getJSON("/api/economy");
    let payload;
    try { payload = payloadFor(kind, economy); } catch (e) { return say(e.message, true); }
    say(msg.signing);
    const command = { id: "council-" + Civic.randomHex(12), type: kind, payload, signed_at: economy.now, signatures: [] };
    if ($("draft-sign-too").checked) {
      command.signatures.push({ account: key.account, signature: await Civic.sign(key, commandBytes(economy, command)) });
    }
    outcome(await post("/api/proposals", command, economy), msg.drafted);
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
