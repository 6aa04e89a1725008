// The citizen's app (/app): one key, encrypted in this browser; every action signed here (X6).
//
// Retries are safe (X5): an action keeps its command id, and its sealed payload (IN11 salts are
// random), until the server answers it; pressing again after a lost answer resends the same
// command, which the server answers with the first receipt. A new action gets a new id.
import * as keystore from "./keystore.js";
import { formatCount, formatMoney, parseExact } from "./money.js";

const C = Civic;  // civic.js, a classic script loaded first
const M = JSON.parse(document.getElementById("messages").textContent);
const $ = (id) => document.getElementById(id);

/** A message from the page's catalogue (translated on the server), with {placeholders} filled. */
function t(name, vars = {}) {
  const text = M[name] ?? name;
  return text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
}

const state = {
  record: null, key: null, passphrase: null, account: null, circles: null,
  types: new Map(), names: new Map(), pending: null, historyNext: null, companies: [],
};

function status(kind, text) {
  const el = $("status");
  el.dataset.state = kind;
  el.textContent = text;
}

function show(id, visible) { $(id).hidden = !visible; }

function el(tag, text, attrs = {}) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function button(label, onClick, cls = "") {
  const b = el("button", label, { type: "button" });
  if (cls) b.className = cls;
  b.addEventListener("click", onClick);
  return b;
}

async function get(path) {
  try { return await C.getJSON(path); } catch (e) {
    if (e.problem && e.problem.status === 404) return null;
    throw e;
  }
}

/** A read whose integers stay exact beyond 2^53 (BigInt): amounts are formatted from them (X3). */
async function getExact(path) {
  const response = await fetch(path, { headers: { accept: "application/json" } });
  const data = parseExact(await response.text());
  if (response.status === 404) return null;
  if (!response.ok) throw Object.assign(new Error(data.detail || response.statusText), { problem: data });
  return data;
}

/** An amount of the API (``units``, ``decimals``, ``symbol``) in the page's language. */
function money(a) { return formatMoney(a.units, a.decimals, a.symbol); }

async function nameOf(id) {
  if (!state.names.has(id)) {
    const row = await get("/api/accounts/" + id).catch(() => null);
    state.names.set(id, (row && row.name) || id.slice(0, 10) + "…");
  }
  return state.names.get(id);
}

function explainRefusal(problem) {
  return t("refused", { rule: problem.rule || "?", detail: problem.detail || problem.title || "" });
}

// Acting: one signed command, retried safely --------------------------------------------------

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function act(label, type, payload, extraKeys = []) {
  const fingerprint = C.canonical({ type, payload });
  if (!state.pending || state.pending.fingerprint !== fingerprint) {
    const moved = await C.movePersonal(state.types.get(type), payload);  // IN11, sealed once per action
    state.pending = { fingerprint, id: "app-" + C.randomHex(12), moved };
  }
  const { id, moved } = state.pending;
  status("busy", t("signing", { action: label }));
  try { await C.requireWitnesses(); } catch (e) {  // IN12: no signature for a forked history
    status("refused", t("witnesses_refused", { detail: e.message }));
    return null;
  }
  let answer = null;
  for (let attempt = 0; attempt < 3 && answer === null; attempt++) {
    try {
      answer = await C.signAndSend(type, moved.payload, [state.key, ...extraKeys], id, moved.personal);
      if (answer.status >= 500) answer = null;
    } catch (e) { answer = null; }
    if (answer === null) await sleep(400 * (attempt + 1));
  }
  if (answer === null) {
    status("unsure", t("unsure", { action: label }));
    return null;
  }
  state.pending = null;
  if (answer.status === 200) {
    status("ok", t("accepted", { action: label, seq: answer.data.seq }) + (answer.data.replayed ? " " + t("replayed") : ""));
    return answer.data;
  }
  status("refused", explainRefusal(answer.data));
  return null;
}

async function actAndRefresh(label, type, payload, extraKeys = []) {
  const data = await act(label, type, payload, extraKeys);
  if (data) await refresh();
  return data;
}

// Co-signing: a command that needs more than this key's signature -------------------------------
// A request travels as text: the command with the signatures so far; once every signer has signed
// the command, the holder fixes the HTTP request (time, nonce) and every signer signs that too.

async function describe(type, payload) {
  if (type === "circles.trust") return t("sum_trust", { truster: await nameOf(payload.truster), trustee: await nameOf(payload.trustee) });
  if (type === "circles.untrust") return t("sum_untrust", { by: await nameOf(payload.by), other: await nameOf(payload.other) });
  if (type === "credits.enroll") {
    return t("sum_enrol", { registrar: await nameOf(payload.registrar), person: await nameOf(payload.person), born: when(payload.born_at).slice(0, 10) });
  }
  return t("sum_other", { type });
}

async function propose(type, payload, needs) {
  const moved = await C.movePersonal(state.types.get(type), payload);
  const economy = await C.getJSON("/api/economy");
  const request = {
    format: "civicledger-request/1", economy: economy.id, needs,
    command: { id: "app-" + C.randomHex(12), type, payload: moved.payload, signed_at: economy.now },
    personal: moved.personal, signatures: [], http: null,
  };
  if (needs.includes(state.account)) await cosign(request);
  else await handOn(request);  // asked of others alone (a registrar's enrolment): nothing to sign here
}

function commandBytes(r) {
  return C.canonicalBytes({ economy: r.economy, id: r.command.id, type: r.command.type, payload: r.command.payload, signed_at: r.command.signed_at });
}

function envelope(r) {
  const e = { id: r.command.id, type: r.command.type, payload: r.command.payload, signed_at: r.command.signed_at, signatures: r.signatures };
  if (r.personal && r.personal.length) e.personal = r.personal;
  return e;
}

async function requestBytes(r) {
  return C.canonicalBytes({
    economy: r.economy, method: "POST", path: "/api/commands",
    body_sha256: C.hex(await C.sha256(C.canonicalBytes(envelope(r)))), timestamp: r.http.timestamp, nonce: r.http.nonce,
  });
}

async function cosign(r) {
  const me = state.account;
  if (!r.needs.includes(me)) { status("refused", t("not_yours")); return; }
  if (!r.signatures.some((s) => s.account === me)) {
    r.signatures.push({ account: me, signature: await C.sign(state.key, commandBytes(r)) });
  }
  const signedAll = r.needs.every((a) => r.signatures.some((s) => s.account === a));
  if (signedAll && !r.http) {
    const economy = await C.getJSON("/api/economy");
    r.http = { timestamp: economy.now, nonce: C.randomHex(16), signatures: {} };
  }
  if (r.http && !r.http.signatures[me]) r.http.signatures[me] = await C.sign(state.key, await requestBytes(r));
  if (r.http && r.needs.every((a) => r.http.signatures[a])) {
    $("cosign-out").value = "";
    try { await C.requireWitnesses(); } catch (e) {
      status("refused", t("witnesses_refused", { detail: e.message }));
      return;
    }
    const response = await fetch("/api/commands", {
      method: "POST",
      headers: {
        "content-type": "application/json", "Civic-Timestamp": String(r.http.timestamp), "Civic-Nonce": r.http.nonce,
        "Civic-Signature": r.needs.map((a) => a + "=" + r.http.signatures[a]).join(", "),
      },
      body: C.canonicalBytes(envelope(r)),
    });
    const data = await response.json();
    if (response.status === 200) status("ok", t("accepted", { action: await describe(r.command.type, r.command.payload), seq: data.seq }));
    else status("refused", explainRefusal(data));
    await refresh();
    return;
  }
  await handOn(r);
}

/** Show a request that still lacks signatures, to be handed to those who must add theirs. */
async function handOn(r) {
  $("cosign-out").value = JSON.stringify(r);
  show("cosign-card", true);
  const waiting = r.needs.filter((a) => !(r.http ? r.http.signatures[a] : r.signatures.some((s) => s.account === a)));
  status("ok", t("hand_on", { names: (await Promise.all(waiting.map(nameOf))).join(", ") }));
  $("cosign-out").focus();
}

async function reviewRequest() {
  let r;
  try { r = JSON.parse($("cosign-in").value); } catch (e) { status("refused", t("bad_request")); return; }
  if (!r || r.format !== "civicledger-request/1") { status("refused", t("bad_request")); return; }
  const economy = await C.getJSON("/api/economy");
  if (r.economy !== economy.id) { status("refused", t("other_economy")); return; }
  $("cosign-summary").textContent = await describe(r.command.type, r.command.payload);
  $("cosign-signed").textContent = JSON.stringify(r.command, null, 2);
  show("cosign-review-box", true);
  $("cosign-sign").onclick = async () => { show("cosign-review-box", false); $("cosign-in").value = ""; await cosign(r); };
}

// Keys -----------------------------------------------------------------------------------------

function showKey() {
  const r = state.record;
  show("key-none", !r);
  show("key-locked", !!r && !state.key);
  show("key-open", !!state.key);
  document.querySelectorAll(".key-name").forEach((e) => { e.textContent = r ? r.name : ""; });
  document.querySelectorAll(".key-account").forEach((e) => { e.textContent = r ? r.account : ""; });
  document.querySelectorAll(".key-link").forEach((e) => { if (r) e.href = "/persons/" + r.account; });
}

async function unlocked(key, passphrase) {
  state.key = key;
  state.passphrase = passphrase;
  state.account = key.account;
  showKey();
  await refresh();
}

async function createKey(ev) {
  ev.preventDefault();
  const name = $("create-name").value.trim();
  const pass = $("create-pass").value;
  if (pass.length < 8) { status("refused", t("pass_short")); return; }
  if (pass !== $("create-pass2").value) { status("refused", t("pass_mismatch")); return; }
  status("busy", t("encrypting"));
  const key = await C.generateKey(name);
  state.record = await keystore.seal(key, pass);
  keystore.save(state.record);
  $("create-pass").value = $("create-pass2").value = "";
  await unlocked(key, pass);
  status("ok", t("key_created"));
}

async function importKey(ev) {
  ev.preventDefault();
  const pass = $("import-pass").value;
  let text = $("import-text").value.trim();
  const file = $("import-file").files[0];
  if (!text && file) text = (await file.text()).trim();
  status("busy", t("encrypting"));
  try {
    let key, record;
    if (/^[0-9a-fA-F]{64}$/.test(text)) {
      if (pass.length < 8) { status("refused", t("pass_short")); return; }
      key = await C.keyFromSeed($("import-name").value.trim() || "key", text);
      record = await keystore.seal(key, pass);
    } else {
      record = JSON.parse(text);
      key = await keystore.open(record, pass);
    }
    state.record = record;
    keystore.save(record);
    $("import-text").value = $("import-pass").value = "";
    await unlocked(key, pass);
    status("ok", t("key_imported"));
  } catch (e) {
    status("refused", t(e.message === "wrong-passphrase" ? "wrong_pass" : "not_a_key"));
  }
}

async function unlock(ev) {
  ev.preventDefault();
  status("busy", t("decrypting"));
  try {
    const pass = $("unlock-pass").value;
    const key = await keystore.open(state.record, pass);
    $("unlock-pass").value = "";
    await unlocked(key, pass);
    status("ok", t("unlocked"));
  } catch (e) { status("refused", t("wrong_pass")); }
}

function lock() {
  state.key = state.passphrase = null;
  showKey();
  for (const id of ["join-card", "cosign-card", "money-card", "trust-card", "pay-card", "vote-card", "credits-card", "safety-card", "history-card"]) show(id, false);
  status("ok", t("locked"));
}

function forget() {
  if (!confirm(t("forget_confirm"))) return;
  keystore.forget();
  state.record = null;
  lock();
}

function exportFile() {
  const blob = new Blob([keystore.exportText(state.record)], { type: "application/json" });
  const a = el("a", "", { href: URL.createObjectURL(blob), download: "civicledger-key-" + state.record.name + ".json" });
  document.body.appendChild(a);
  a.click();
  a.remove();
  status("ok", t("exported"));
}

async function exportQr() {
  try {
    const { drawQr } = await import("./qr.js");
    drawQr($("qr"), keystore.exportText(state.record));
    show("qr-figure", true);
  } catch (e) { status("refused", t("qr_failed", { detail: e.message })); }
}

async function showAccountQr() {
  const { drawQr } = await import("./qr.js");
  drawQr($("account-qr"), state.account);
  show("account-qr-figure", true);
}

// Reading a QR code: only where the browser has the BarcodeDetector interface (no decoder here) ---

let detector = null;

async function qrDetector() {
  if (!("BarcodeDetector" in window)) return null;
  try {
    const formats = await window.BarcodeDetector.getSupportedFormats();
    return formats.includes("qr_code") ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
  } catch (e) { return null; }
}

/** An account id read from a QR code goes into the search, whose result offers Trust and Pay. */
async function foundQr(text) {
  const value = text.trim();
  if (value.startsWith("{")) { status("refused", t("qr_key")); return; }
  $("search-text").value = value;
  await search();
  status("ok", t("qr_read", { text: value }));
}

async function readQrImage() {
  const file = $("qr-image").files[0];
  if (!file || !detector) return;
  const codes = await detector.detect(await createImageBitmap(file));
  $("qr-image").value = "";
  if (!codes.length) { status("refused", t("qr_none")); return; }
  await foundQr(codes[0].rawValue);
}

async function readQrCamera() {
  const video = $("qr-video");
  let stream;
  try { stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }); } catch (e) {
    status("refused", t("qr_camera_failed", { detail: e.message }));
    return;
  }
  video.srcObject = stream;
  show("qr-video", true);
  await video.play();
  try {
    for (let i = 0; i < 100; i++) {  // about 30 seconds
      const codes = await detector.detect(video).catch(() => []);
      if (codes.length) { await foundQr(codes[0].rawValue); return; }
      await sleep(300);
    }
    status("refused", t("qr_camera_none"));
  } finally {
    for (const track of stream.getTracks()) track.stop();
    show("qr-video", false);
  }
}

// Reading the account ------------------------------------------------------------------------------

function when(seconds) { return new Date(seconds * 1000).toISOString().slice(0, 16).replace("T", " "); }

async function refresh() {
  const me = state.account;
  const account = await get("/api/accounts/" + me);
  state.circles = account ? await getExact("/api/circles/accounts/" + me) : null;
  show("join-card", !account || !state.circles);
  $("open-account").hidden = !!account;
  $("join-circles").hidden = !account || !!state.circles;
  for (const id of ["money-card", "history-card", "vote-card", "safety-card", "cosign-card"]) show(id, !!account);
  show("trust-card", !!state.circles);
  show("pay-card", !!state.circles);
  if (!account) return;
  state.names.set(me, account.name || me);
  state.kind = account.kind;
  const holdings = await getExact("/api/accounts/" + me + "/holdings");
  const body = $("holdings").tBodies[0];
  body.textContent = "";
  for (const h of holdings.items) {
    const tr = el("tr");
    tr.append(el("td", h.label), el("td", money(h), { class: "num" }));
    body.appendChild(tr);
  }
  if (!holdings.items.length) body.appendChild(el("tr")).appendChild(el("td", t("nothing_held"), { colspan: "2" }));
  const c = state.circles;
  $("claimable").textContent = c ? formatMoney(c.claimable, c.decimals ?? 0, c.symbol ?? "") : t("not_in_circles");
  $("claim").hidden = !state.circles;
  await Promise.all([renderTrust(), renderCredits(), renderCompanies(), history(true)]);
}

async function renderTrust() {
  if (!state.circles) return;
  const fill = async (list, ids, other) => {
    list.textContent = "";
    for (const id of ids) {
      const li = el("li");
      li.append(el("a", await nameOf(id), { href: "/persons/" + id }), " ");
      if (other) li.append(button(t("untrust"), () => untrust(id), "secondary"));
      list.appendChild(li);
    }
    if (!ids.length) list.appendChild(el("li", t("nobody")));
  };
  await fill($("trusts"), state.circles.trusts, true);
  await fill($("trusted-by"), state.circles.trusted_by, false);
  if ($("search-results").childElementCount && $("search-text").value.trim()) await search();  // buttons follow the trust
}

async function renderCredits() {
  const me = state.account;
  const person = await getExact("/api/credits/persons/" + me).catch(() => null);
  $("credits-available").textContent = person ? t("credits_units", { units: formatCount(person.available) }) : t("not_enrolled");
  show("credits-card", !!person || state.kind === "person");  // SC1: persons are enrolled
  show("enrol-form", !person);
  show("credits-enrolled", !!person);
  if (!person) return;
  const seen = new Map();
  for (const lot of person.lots) for (const a of lot.adjustments) seen.set(a.id, a);
  const list = $("adjustments");
  list.textContent = "";
  for (const a of seen.values()) {
    const li = el("li");
    li.append(el("span", t("adjustment", { kind: a.kind, reason: a.reason, steps: a.steps, start: when(a.start) })), " ");
    if (a.appeals.length) li.append(el("span", t("appealed"), { class: "note" }));
    else {
      const id = "grounds-" + a.id.replace(/\W/g, "-");
      const label = el("label", t("grounds"), { for: id, class: "visually-hidden" });
      const input = el("input", null, { id, placeholder: t("grounds"), maxlength: "500", class: "grounds" });
      li.append(label, input, " ", button(t("appeal"), () => actAndRefresh(t("act_appeal"), "credits.appeal",
        { adjustment: a.id, appellant: me, grounds: input.value.trim() || t("no_grounds") }), "appeal"));
    }
    list.appendChild(li);
  }
  if (!seen.size) list.appendChild(el("li", t("no_adjustments")));
  const services = await C.getJSON("/api/credits/services");
  const select = $("spend-tier");
  select.textContent = "";
  for (const s of services.items) for (const tier of s.tiers) {
    select.add(new Option(t("tier", { service: s.name, tier: tier.name, price: formatCount(tier.price), grade: tier.min_grade }), s.service + "\u0000" + tier.name));
  }
}

async function renderCompanies() {
  const co = await get("/api/gears/coefficients").catch(() => null);
  const companies = co ? co.companies : [];
  const select = $("vote-company");
  const chosen = select.value;
  select.textContent = "";
  for (const c of companies) select.add(new Option(c.name || c.company, c.company));
  if (chosen) select.value = chosen;
  show("vote-card", companies.length > 0);
  await renderStatements();
}

async function renderStatements() {
  const company = $("vote-company").value;
  const select = $("challenge-statement");
  select.textContent = "";
  if (!company) return;
  const data = await get("/api/gears/companies/" + company);
  for (const s of (data && data.statements) || []) select.add(new Option(s.index + ". " + s.text, String(s.index)));
}

async function history(first) {
  const q = new URLSearchParams({ limit: "20" });
  if (!first && state.historyNext !== null) q.set("before", String(state.historyNext));
  const page = await getExact("/api/accounts/" + state.account + "/history?" + q);
  const body = $("history").tBodies[0];
  if (first) body.textContent = "";
  for (const row of page.items) {
    const tr = el("tr");
    const seq = el("td");
    seq.append(el("a", "#" + row.seq, { href: "/journal/" + row.seq }));
    tr.append(seq, el("td", when(row.time), { class: "time" }), el("td", M["type_" + row.type] || row.type),
      el("td", row.moves.map((m) => money(m) + " " + t("of") + " " + m.label).join("; "), { class: "amounts" }));
    body.appendChild(tr);
  }
  state.historyNext = page.next;
  $("history-more").hidden = page.next === null;
}

// Actions ------------------------------------------------------------------------------------------

async function openAccount() {
  await actAndRefresh(t("act_open"), "identity.open_account", { kind: "person", public_key: state.key.publicHex, name: state.record.name });
}

async function joinCircles() {
  await actAndRefresh(t("act_join"), "circles.create_account", { account: state.account });
}

async function claim() {
  await actAndRefresh(t("act_claim"), "circles.claim", { account: state.account });
}

async function untrust(other) {
  await actAndRefresh(t("act_untrust"), "circles.untrust", { by: state.account, other });
}

async function askTrust(other) {
  await propose("circles.trust", { truster: state.account, trustee: other }, [state.account, other]);
}

async function search(ev) {
  if (ev) ev.preventDefault();
  const text = $("search-text").value.trim();
  const list = $("search-results");
  list.textContent = "";
  let items;
  try { items = (await C.getJSON("/api/accounts/search?" + new URLSearchParams({ q: text }))).items; } catch (e) {
    list.appendChild(el("li", e.message));
    return;
  }
  for (const hit of items.filter((h) => h.id !== state.account)) {
    const li = el("li");
    li.append(el("a", hit.name || hit.id, { href: "/persons/" + hit.id }), " ", el("code", hit.id.slice(0, 12) + "…"), " ");
    const trusted = state.circles && state.circles.trusts.includes(hit.id);
    li.append(trusted ? button(t("untrust"), () => untrust(hit.id), "secondary") : button(t("trust"), () => askTrust(hit.id), "trust"));
    li.append(" ", button(t("pay_them"), () => { $("pay-to").value = hit.id; $("pay-amount").focus(); }, "secondary"));
    list.appendChild(li);
  }
  if (!items.length) list.appendChild(el("li", t("no_match")));
}

/** "12.5" in minor units of a currency with ``decimals`` decimals, exactly (no float). */
function parseUnits(text, decimals) {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text.trim());
  if (!m || (m[2] || "").length > decimals) return null;
  return BigInt(m[1]) * 10n ** BigInt(decimals) + BigInt((m[2] || "").padEnd(decimals, "0") || "0");
}

async function planPay(ev) {
  ev.preventDefault();
  show("pay-confirm", false);
  const to = $("pay-to").value.trim();
  const units = parseUnits($("pay-amount").value, 2);
  const note = $("route-note");
  note.className = "";
  if (units === null || units <= 0n) { note.textContent = t("bad_amount"); note.className = "error"; return; }
  const q = new URLSearchParams({ sender: state.account, receiver: to, units: String(units), memo: $("pay-memo").value.trim() });
  const response = await fetch("/api/circles/route?" + q, { headers: { accept: "application/json" } });
  const text = await response.text();
  const plan = JSON.parse(text);  // the command to sign, as the server wrote it
  if (!response.ok) {
    note.textContent = plan.rule ? explainRefusal(plan) : plan.detail || response.statusText;
    note.className = "error";
    return;
  }
  const exact = parseExact(text);  // its amounts, exact, to show
  const crc = (u) => formatMoney(u, exact.decimals ?? 0, exact.symbol ?? "");
  const name = await nameOf(to);
  if (!plan.command) {
    note.textContent = plan.max_flow > 0
      ? t("limit", { max: crc(exact.max_flow), name, asked: crc(units) })
      : t("no_route", { name });
    note.className = "error";
    return;
  }
  note.textContent = t("route", { amount: crc(exact.units), name, steps: plan.steps });
  const between = [...new Set(plan.legs.map((leg) => leg.source).filter((a) => a !== state.account && a !== to))];
  const via = between.length ? t("via", { names: (await Promise.all(between.map(nameOf))).join(", ") }) : t("direct");
  $("pay-summary").textContent = t("pay_summary", { amount: crc(exact.units), name, steps: plan.steps, via });
  $("pay-signed").textContent = JSON.stringify(plan.command, null, 2);
  show("pay-confirm", true);
  $("pay-send").onclick = async () => {
    const done = await actAndRefresh(t("act_pay", { amount: crc(exact.units), name }), plan.command.type, plan.command.payload);
    if (done) show("pay-confirm", false);
  };
  $("pay-send").focus();
}

async function startTest() {
  const company = $("vote-company").value;
  const voter = state.account;
  show("test-form", false);
  show("cast-form", false);
  // A test started earlier (its questions not yet drawn, IN6) refuses a second start: then the
  // draw alone goes on; if that fails too, the start's refusal is the one that explains.
  const started = await act(t("act_test"), "gears.start_test", { voter, company });
  const startRefusal = started ? null : [$("status").dataset.state, $("status").textContent];
  let questions = started && started.result && started.result.questions;
  for (let i = 0; i < 3 && !questions; i++) {
    const drawn = await act(t("act_draw"), "gears.draw_test", { voter, company, sender: voter });
    if (!drawn) {
      if (startRefusal) status(...startRefusal);
      return;
    }
    questions = drawn.result && drawn.result.questions;
    if (!questions) await sleep(1000);
  }
  if (!questions) { status("ok", t("test_wait")); return; }
  const box = $("questions");
  box.textContent = "";
  questions.forEach((q, i) => {
    const fs = el("fieldset");
    fs.append(el("legend", (i + 1) + ". " + q.text));
    q.choices.forEach((choice, j) => {
      const label = el("label");
      const input = el("input", null, { type: "radio", name: "q" + i, value: String(j) });
      if (j === 0) input.required = true;
      label.append(input, " " + choice);
      fs.append(label, el("br"));
    });
    box.appendChild(fs);
  });
  show("test-form", true);
  box.querySelector("input").focus();
  status("ok", t("test_ready", { count: questions.length }));
}

async function answerTest(ev) {
  ev.preventDefault();
  const company = $("vote-company").value;
  const answers = Array.from($("questions").querySelectorAll("fieldset"), (fs, i) => Number((fs.querySelector("input[name=q" + i + "]:checked") || { value: "0" }).value));
  const graded = await act(t("act_answer"), "gears.answer_test", { voter: state.account, company, answers });
  if (!graded) return;
  show("test-form", false);
  const r = graded.result;
  if (r.passed) {
    status("ok", t("test_passed", { correct: r.correct, asked: r.asked }));
    show("cast-form", true);
  } else status("refused", t("test_failed", { correct: r.correct, asked: r.asked }));
}

async function castVote(ev) {
  ev.preventDefault();
  const value = Number(document.querySelector("input[name=vote]:checked").value);
  const done = await act(t("act_vote"), "gears.cast_vote", { voter: state.account, company: $("vote-company").value, value });
  if (done) show("cast-form", false);
}

async function challenge(ev) {
  ev.preventDefault();
  await act(t("act_challenge"), "gears.challenge", {
    whistleblower: state.account, company: $("vote-company").value, index: Number($("challenge-statement").value),
    claim: $("challenge-claim").value, reason: $("challenge-reason").value.trim(),
  });
}

/** SC1: a registrar signs the enrolment alone; the app prepares the request for the registrar. */
async function enrol(ev) {
  ev.preventDefault();
  const born = Date.parse($("enrol-born").value + "T00:00:00Z");
  if (Number.isNaN(born)) { status("refused", t("bad_born")); return; }
  const text = $("enrol-registrar").value.trim();
  const hits = (await C.getJSON("/api/accounts/search?" + new URLSearchParams({ q: text }))).items;
  const registrar = hits.find((h) => (h.id === text || h.name === text) && h.roles.includes("registrar"))
    || hits.find((h) => h.roles.includes("registrar"));
  if (!registrar) { status("refused", t("no_registrar")); return; }
  state.names.set(registrar.id, registrar.name || registrar.id);
  await propose("credits.enroll", { person: state.account, born_at: Math.floor(born / 1000), registrar: registrar.id }, [registrar.id]);
}

async function spend(ev) {
  ev.preventDefault();
  const [service, tier] = $("spend-tier").value.split("\u0000");
  await actAndRefresh(t("act_spend"), "credits.spend", { person: state.account, service, tier });
}

async function nameGuardians(ev) {
  ev.preventDefault();
  const guardians = $("guardians").value.split(/\s+/).filter(Boolean);
  await act(t("act_guardians"), "identity.name_guardians", { account: state.account, guardians, threshold: Number($("guardian-threshold").value || 0) });
}

async function rotateKey() {
  const fresh = await C.generateKey(state.record.name);  // signs as its own derived id: proof of possession (X9)
  const done = await act(t("act_rotate"), "identity.rotate_key", { account: state.account, public_key: fresh.publicHex }, [fresh]);
  if (!done) return;
  status("busy", t("encrypting"));
  const key = Object.assign({}, fresh, { account: state.account });
  state.record = await keystore.seal(key, state.passphrase);
  keystore.save(state.record);
  state.key = key;
  showKey();
  status("ok", t("rotated"));
}

// Start --------------------------------------------------------------------------------------------

async function init() {
  try {
    for (const type of (await C.getJSON("/api/command-types")).items) state.types.set(type.type, type);
  } catch (e) { /* personal fields then travel in the payload and the server refuses them (IN11) */ }
  state.record = keystore.load();
  showKey();
  $("create-form").addEventListener("submit", createKey);
  $("import-form").addEventListener("submit", importKey);
  $("key-locked").addEventListener("submit", unlock);
  $("forget-locked").addEventListener("click", forget);
  $("lock").addEventListener("click", lock);
  $("export-file").addEventListener("click", exportFile);
  $("export-qr").addEventListener("click", exportQr);
  $("open-account").addEventListener("click", openAccount);
  $("join-circles").addEventListener("click", joinCircles);
  $("claim").addEventListener("click", claim);
  $("search-form").addEventListener("submit", search);
  $("pay-form").addEventListener("submit", planPay);
  $("cosign-review").addEventListener("click", reviewRequest);
  $("start-test").addEventListener("click", startTest);
  $("test-form").addEventListener("submit", answerTest);
  $("cast-form").addEventListener("submit", castVote);
  $("vote-company").addEventListener("change", renderStatements);
  $("challenge-form").addEventListener("submit", challenge);
  $("spend-form").addEventListener("submit", spend);
  $("enrol-form").addEventListener("submit", enrol);
  $("account-qr-show").addEventListener("click", showAccountQr);
  detector = await qrDetector();
  show("qr-read", !!detector);
  show("qr-unsupported", !detector);
  $("qr-image").addEventListener("change", readQrImage);
  $("qr-camera").addEventListener("click", readQrCamera);
  $("qr-camera").hidden = !(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  $("guardians-form").addEventListener("submit", nameGuardians);
  $("rotate-key").addEventListener("click", rotateKey);
  $("history-more").addEventListener("click", () => history(false));
  status("", state.record ? t("locked_hint") : t("welcome"));
  document.body.dataset.appReady = "true";
}

// The status bar's height, for the room the page keeps below its end (civic.css).
new ResizeObserver(([entry]) => {
  document.documentElement.style.setProperty("--status-height", Math.ceil(entry.target.getBoundingClientRect().height) + "px");
}).observe($("status"));

window.addEventListener("unhandledrejection", (e) => status("refused", String(e.reason && e.reason.message || e.reason)));
init();
