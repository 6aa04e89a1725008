// The wallet: keys held in this browser, commands signed here and sent with signed requests (X6).
"use strict";

const Wallet = (() => {
  const STORAGE = "civicledger.wallet.seeds";
  const keys = new Map();
  const $ = (id) => document.getElementById(id);

  // Keys live in this page's memory only: nothing is written to storage in the clear. Seeds an
  // older wallet stored in the clear are still read, with a warning and a button to delete them;
  // /app keeps a key encrypted with a passphrase (docs/decisions/0014-citizen-app-keys.md).
  function save() {}

  function render() {
    const table = $("keys");
    table.querySelectorAll("tr.key").forEach((tr) => tr.remove());
    const signers = $("signers");
    const checked = new Set(Array.from(signers.querySelectorAll("input:checked"), (i) => i.value));
    signers.textContent = "";
    document.querySelectorAll(".key-select").forEach((s) => { s.textContent = ""; });
    for (const [name, k] of keys) {
      const tr = document.createElement("tr");
      tr.className = "key";
      tr.dataset.name = name;
      tr.innerHTML = "<td></td><td><a><code></code></a></td><td><button class='export'></button></td>";
      tr.querySelector("button").textContent = Civic.t("show secret");
      tr.children[0].textContent = name;
      tr.querySelector("a").href = "/persons/" + k.account;
      tr.querySelector("code").textContent = k.account;
      tr.querySelector("button").addEventListener("click", () => { output(Civic.t("secret seed of {name}: {seed}", { name, seed: k.seed })); });
      table.appendChild(tr);
      const label = document.createElement("label");
      label.innerHTML = "<input type='checkbox'> ";
      label.querySelector("input").value = name;
      label.querySelector("input").checked = checked.has(name);
      label.append(name + " ");
      signers.appendChild(label);
      document.querySelectorAll(".key-select").forEach((s) => s.add(new Option(name, name)));
    }
  }

  const commandTypes = new Map();  // type -> its description, with its personal fields (IN11)

  function output(text) { $("output").textContent = text; }
  function status(state, text) { $("status").dataset.state = state; $("status").textContent = text; }

  async function add(key) { keys.set(key.name, key); save(); render(); return key; }

  function fill(type, payload, signerNames) {
    $("cmd-type").value = type;
    $("cmd-payload").value = JSON.stringify(payload, null, 2);
    $("cmd-id").value = "";
    for (const box of $("signers").querySelectorAll("input")) box.checked = signerNames.includes(box.value);
  }

  function current() {
    const type = $("cmd-type").value.trim();
    const payload = JSON.parse($("cmd-payload").value);
    const names = Array.from($("signers").querySelectorAll("input:checked"), (i) => i.value);
    return { type, payload, signers: names.map((n) => keys.get(n)), id: $("cmd-id").value.trim() || undefined };
  }

  async function send() {
    status("busy", Civic.t("signing…"));
    try {
      if (!$("cmd-id").value.trim()) $("cmd-id").value = "web-" + Civic.randomHex(12);  // resending = a retry (X5)
      const c = current();
      if (!c.signers.length) throw new Error(Civic.t("choose at least one key to sign with"));
      try {
        await Civic.requireWitnesses();  // IN12
      } catch (e) {
        throw new Error(Civic.t("not sent: this server's checkpoint is refused: {error}", { error: e.message }));
      }
      const moved = await Civic.movePersonal(commandTypes.get(c.type), c.payload);  // IN11
      const { status: code, data } = await Civic.signAndSend(c.type, moved.payload, c.signers, c.id, moved.personal);
      output(JSON.stringify(data, null, 2));
      if (code === 200) status("ok", data.replayed ? Civic.t("accepted as entry {seq} (a retry: replayed)", { seq: data.seq })
        : Civic.t("accepted as entry {seq}", { seq: data.seq }));
      else status("refused", code + " " + (data.rule || "") + ": " + data.detail);
      return { code, data };
    } catch (e) {
      status("refused", e.message);
      return { code: 0, data: { detail: e.message } };
    }
  }

  async function init() {
    const seeds = JSON.parse(localStorage.getItem(STORAGE) || "{}");
    for (const [name, seed] of Object.entries(seeds)) keys.set(name, await Civic.keyFromSeed(name, seed));
    $("legacy-seeds").hidden = Object.keys(seeds).length === 0;
    $("delete-legacy").addEventListener("click", () => { localStorage.removeItem(STORAGE); $("legacy-seeds").hidden = true; });
    render();
    try {
      const types = await Civic.getJSON("/api/command-types");
      for (const t of types.items) {
        commandTypes.set(t.type, t);
        $("types").appendChild(new Option(t.fields.join(", "), t.type));
      }
    } catch (e) { /* the form still works by typing a type */ }
    $("generate-key").addEventListener("click", async () => {
      const name = $("key-name").value.trim() || "key-" + (keys.size + 1);
      const key = await add(await Civic.generateKey(name));
      output(Civic.t("generated {name}: account {account}", { name, account: key.account }));
    });
    $("import-key").addEventListener("click", async () => {
      const name = $("key-name").value.trim() || "key-" + (keys.size + 1);
      try {
        const key = await add(await Civic.keyFromSeed(name, $("import-seed").value));
        $("import-seed").value = "";
        output(Civic.t("imported {name}: account {account}", { name, account: key.account }));
      } catch (e) { output(e.message); }
    });
    $("fill-open").addEventListener("click", () => {
      const k = keys.get($("short-key").value);
      if (k) fill("identity.open_account", { kind: "person", public_key: k.publicHex, name: k.name }, [k.name]);
    });
    $("fill-circles").addEventListener("click", () => {
      const k = keys.get($("short-key").value);
      if (k) fill("circles.create_account", { account: k.account }, [k.name]);
    });
    $("fill-pay").addEventListener("click", async () => {
      const k = keys.get($("pay-from").value);
      if (!k) return;
      const q = new URLSearchParams({ sender: k.account, receiver: $("pay-to").value.trim(), units: $("pay-units").value.trim() });
      try {
        const plan = await Civic.getJSON("/api/circles/route?" + q);
        $("route-note").textContent = Civic.t("can pay {units} (maximum flow {flow}) in {legs} transfer(s)",
          { units: plan.units, flow: plan.max_flow, legs: plan.legs.length });
        if (plan.command) fill(plan.command.type, plan.command.payload, [k.name]);
      } catch (e) { $("route-note").textContent = e.message; }
    });
    $("send").addEventListener("click", send);
    $("preview").addEventListener("click", async () => {
      try {
        const c = current();
        const economy = await Civic.getJSON("/api/economy");
        output(Civic.canonical({ economy: economy.id, id: c.id || "(random)", type: c.type, payload: c.payload, signed_at: economy.now }));
      } catch (e) { output(e.message); }
    });
    const params = new URLSearchParams(location.search);
    if (params.get("type")) {
      $("cmd-type").value = params.get("type");
      if (params.get("payload")) $("cmd-payload").value = JSON.stringify(JSON.parse(params.get("payload")), null, 2);
    }
    document.body.dataset.walletReady = "true";
  }

  init();
  return { keys, add, fill, send, current };
})();
