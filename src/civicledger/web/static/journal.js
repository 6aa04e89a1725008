// The journal explorer's proof check: recompute the leaf, walk the proof, check the head's signature.
"use strict";

(() => {
  const button = document.getElementById("check-proof");
  if (!button) return;
  const result = document.getElementById("proof-result");
  const steps = document.getElementById("proof-steps");
  function step(ok, text) {
    const li = document.createElement("li");
    li.className = ok ? "ok" : "bad";
    li.textContent = text;
    steps.appendChild(li);
    return ok;
  }
  const save = document.getElementById("save-witnesses");
  if (save) {
    const saved = JSON.parse(localStorage.getItem("civicledger.witnesses") || "null");
    if (saved) {
      document.getElementById("witness-keys").value = saved.keys.join("\n");
      document.getElementById("witnesses-required").value = String(saved.required);
    }
    save.addEventListener("click", () => {
      const keys = document.getElementById("witness-keys").value.split(/\s+/).filter((k) => k);
      const required = Number(document.getElementById("witnesses-required").value) || 0;
      localStorage.setItem("civicledger.witnesses", JSON.stringify({ keys, required }));
      save.dataset.saved = "true";
    });
  }
  button.addEventListener("click", async () => {
    steps.textContent = "";
    result.dataset.ok = "";
    result.textContent = Civic.t("checking…");
    try {
      const seq = Number(button.dataset.seq);
      const [economy, data] = await Promise.all([Civic.getJSON("/api/economy"), Civic.getJSON("/api/journal/" + seq)]);
      const leaf = await Civic.leafHash(Civic.canonicalBytes(data.entry));
      let ok = step(Civic.hex(leaf) === data.leaf_hash,
        Civic.t("leaf hash of the entry's canonical bytes: {hash}…", { hash: Civic.hex(leaf).slice(0, 16) }));
      const proof = data.proof.map(Civic.unhex);
      const head = data.tree_head;
      ok = step(await Civic.verifyInclusion(leaf, seq, head.size, proof, Civic.unhex(head.root)),
        Civic.t("inclusion proof of {hashes} hashes leads to the root of {size} entries",
          { hashes: proof.length, size: head.size })) && ok;
      const headBytes = Civic.canonicalBytes({ economy: economy.id, size: head.size, root: head.root, time: head.time });
      ok = step(await Civic.verify(economy.journal_key, headBytes, head.signature),
        Civic.t("tree head signed by the journal key {key}…", { key: economy.journal_key.slice(0, 16) })) && ok;
      // The witnesses this browser requires (saved below the button): the served checkpoint must be
      // signed by the journal key and cosigned by k of them (C2SP tlog-cosignature, IN12).
      const witnesses = JSON.parse(localStorage.getItem("civicledger.witnesses") || "null");
      if (witnesses && (witnesses.keys.length > 0 || witnesses.required > 0)) {
        const response = await fetch("/checkpoint");
        const text = await response.text();
        try {
          const checked = await Civic.verifyCheckpoint(text, { publicHex: economy.journal_key }, witnesses.keys,
            witnesses.required);
          ok = step(true, Civic.t("checkpoint of {size} entries cosigned by {count} of {keys} witnesses ({required} required)",
            { size: checked.size, count: checked.witnesses.length, keys: witnesses.keys.length,
              required: witnesses.required })) && ok;
        } catch (e) {
          ok = step(false, Civic.t("checkpoint refused: {error}", { error: e.message })) && ok;
        }
      }
      // The head this browser saw before must be a prefix of this one (the journal is append-only).
      const storageKey = "civicledger.seen_head." + economy.id;
      const seen = JSON.parse(localStorage.getItem(storageKey) || "null");
      if (seen && seen.size < head.size) {
        const c = await Civic.getJSON("/api/tree-heads/consistency?first=" + seen.size + "&second=" + head.size);
        const consistent = c.second.size === head.size && c.second.root === head.root && await Civic.verifyConsistency(
          seen.size, head.size, Civic.unhex(seen.root), Civic.unhex(head.root), c.proof.map(Civic.unhex));
        ok = step(consistent, Civic.t("this head extends the head of {size} entries you checked before", { size: seen.size })) && ok;
      }
      if (ok && (!seen || seen.size <= head.size)) {
        localStorage.setItem(storageKey, JSON.stringify({ size: head.size, root: head.root }));
      }
      result.dataset.ok = String(ok);
      result.textContent = ok ? Civic.t("verified in your browser") : Civic.t("verification FAILED");
    } catch (e) {
      result.dataset.ok = "false";
      result.textContent = Civic.t("verification failed: {error}", { error: e.message });
    }
  });
})();
