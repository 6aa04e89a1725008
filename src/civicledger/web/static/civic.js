// civicledger in the browser: canonical JSON, SHA-256 and Merkle proofs, Ed25519 keys and signing.
// Everything here uses WebCrypto; nothing is sent anywhere but the economy's own API.
"use strict";

const Civic = (() => {
  // Canonical JSON: exactly the bytes of Python's
  //   json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
  // Keys sort by Unicode code point (as Python compares str), not by UTF-16 unit as Array.sort does;
  // strings escape only '"', '\\' and U+0000-U+001F (short forms \b \f \n \r \t, else \u00xx lower-case),
  // everything else stays as UTF-8. Only safe integers are numbers: no floats, ever (X3).
  function codePointCompare(a, b) {
    const x = Array.from(a, (c) => c.codePointAt(0));
    const y = Array.from(b, (c) => c.codePointAt(0));
    const n = Math.min(x.length, y.length);
    for (let i = 0; i < n; i++) {
      if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
    }
    return x.length - y.length;
  }

  const SHORT = { 0x22: '\\"', 0x5c: "\\\\", 0x08: "\\b", 0x0c: "\\f", 0x0a: "\\n", 0x0d: "\\r", 0x09: "\\t" };

  function quote(s) {
    let out = '"';
    for (let i = 0; i < s.length; i++) {
      const u = s.charCodeAt(i);
      if (u >= 0xd800 && u <= 0xdbff) {
        const next = s.charCodeAt(i + 1);
        if (!(next >= 0xdc00 && next <= 0xdfff)) throw new Error("a string holds a lone surrogate");
        out += s[i] + s[i + 1];
        i++;
      } else if (u >= 0xdc00 && u <= 0xdfff) {
        throw new Error("a string holds a lone surrogate");
      } else if (SHORT[u] !== undefined) {
        out += SHORT[u];
      } else if (u < 0x20) {
        out += "\\u" + u.toString(16).padStart(4, "0");
      } else {
        out += s[i];
      }
    }
    return out + '"';
  }

  function canonical(value, depth = 0) {
    if (depth > 32) throw new Error("value nests too deeply");
    if (value === null) return "null";
    if (value === true) return "true";
    if (value === false) return "false";
    if (typeof value === "bigint") return value.toString();
    if (typeof value === "number") {
      if (!Number.isSafeInteger(value)) throw new Error("only whole numbers within ±2^53 are allowed, never floats");
      return Object.is(value, -0) ? "0" : String(value);
    }
    if (typeof value === "string") return quote(value);
    if (Array.isArray(value)) return "[" + value.map((v) => canonical(v, depth + 1)).join(",") + "]";
    if (typeof value === "object") {
      const keys = Object.keys(value).sort(codePointCompare);
      return "{" + keys.map((k) => quote(k) + ":" + canonical(value[k], depth + 1)).join(",") + "}";
    }
    throw new Error(typeof value + " cannot be encoded canonically");
  }

  const utf8 = (s) => new TextEncoder().encode(s);
  const canonicalBytes = (value) => utf8(canonical(value));
  const hex = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
  function unhex(text) {
    if (!/^([0-9a-f]{2})*$/.test(text)) throw new Error("not lower-case hex");
    const out = new Uint8Array(text.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
    return out;
  }
  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }
  const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const leafHash = (data) => sha256(concat(new Uint8Array([0]), data));
  const nodeHash = (l, r) => sha256(concat(new Uint8Array([1]), l, r));

  // RFC 9162 §2.1.3.2: verify an inclusion proof of leaf ``index`` in a tree of ``size`` leaves.
  async function verifyInclusion(leaf, index, size, proof, root) {
    if (index >= size) return false;
    let fn = BigInt(index), sn = BigInt(size - 1);
    let r = leaf;
    for (const p of proof) {
      if (sn === 0n) return false;
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(p, r);
        if ((fn & 1n) === 0n) {
          while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n; sn >>= 1n;
    }
    return sn === 0n && hex(r) === hex(root);
  }

  // RFC 9162 §2.1.4.2: verify that the tree of ``first`` leaves is a prefix of the tree of ``second``.
  async function verifyConsistency(first, second, firstRoot, secondRoot, proof) {
    if (first === second) return proof.length === 0 && hex(firstRoot) === hex(secondRoot);
    if (first === 0 || first > second || proof.length === 0) return false;
    let path = proof;
    if ((first & (first - 1)) === 0) path = [firstRoot, ...proof];  // first is a power of two
    let fn = BigInt(first - 1), sn = BigInt(second - 1);
    while ((fn & 1n) === 1n) { fn >>= 1n; sn >>= 1n; }
    let fr = path[0], sr = path[0];
    for (const c of path.slice(1)) {
      if (sn === 0n) return false;
      if ((fn & 1n) === 1n || fn === sn) {
        fr = await nodeHash(c, fr);
        sr = await nodeHash(c, sr);
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn >>= 1n; sn >>= 1n;
    }
    return sn === 0n && hex(fr) === hex(firstRoot) && hex(sr) === hex(secondRoot);
  }

  // Ed25519 keys: a private key is imported from its 32-byte seed through PKCS#8.
  const PKCS8_PREFIX = unhex("302e020100300506032b657004220420");
  const ED = { name: "Ed25519" };

  async function accountOf(publicRaw) {
    return "ac" + hex((await sha256(publicRaw)).slice(0, 16));
  }

  async function keyFromSeed(name, seedHex) {
    const seed = unhex(seedHex.trim().toLowerCase());
    if (seed.length !== 32) throw new Error("a secret seed is 32 bytes (64 hex digits)");
    const privateKey = await crypto.subtle.importKey("pkcs8", concat(PKCS8_PREFIX, seed), ED, true, ["sign"]);
    const jwk = await crypto.subtle.exportKey("jwk", privateKey);
    const publicRaw = base64urlDecode(jwk.x);
    return { name, privateKey, seed: hex(seed), publicHex: hex(publicRaw), account: await accountOf(publicRaw) };
  }

  async function generateKey(name) {
    const pair = await crypto.subtle.generateKey(ED, true, ["sign", "verify"]);
    const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
    return keyFromSeed(name, hex(pkcs8.slice(PKCS8_PREFIX.length)));
  }

  function base64urlDecode(text) {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
    return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  }

  async function sign(key, bytes) {
    return hex(await crypto.subtle.sign(ED, key.privateKey, bytes));
  }

  async function verify(publicHex, bytes, signatureHex) {
    const key = await crypto.subtle.importKey("raw", unhex(publicHex), ED, false, ["verify"]);
    return crypto.subtle.verify(ED, key, unhex(signatureHex), bytes);
  }

  // C2SP checkpoints (docs/journal.md, IN12): a note signed by the journal key, cosigned by
  // witnesses (tlog-cosignature/v1). Refuses unless k of the given witness keys cosigned it.
  const b64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  async function parseVkey(text) {
    const t = text.trim();
    const a = t.indexOf("+");
    const b = t.indexOf("+", a + 1); // the base64 key after it may itself hold a "+"
    const [name, id, key] = [t.slice(0, a), t.slice(a + 1, b), t.slice(b + 1)];
    if (a < 1 || b < 0 || !/^[0-9a-f]{8}$/.test(id)) throw new Error("not a verifier key: " + text);
    const raw = b64(key);
    if (raw.length !== 33) throw new Error("not an Ed25519 verifier key: " + text);
    const keyId = (await sha256(concat(utf8(name + "\n"), raw))).slice(0, 4);
    if (hex(keyId) !== id) throw new Error("a verifier key's id does not match: " + text);
    return { name, type: raw[0], publicHex: hex(raw.slice(1)), id: keyId };
  }
  async function verifyCheckpoint(noteText, logVkey, witnessVkeys, required) {
    const split = noteText.lastIndexOf("\n\n");
    if (split < 0 || !noteText.endsWith("\n")) throw new Error("not a signed note");
    const text = noteText.slice(0, split + 1);
    const [origin, size, root] = text.split("\n");
    const sigs = noteText.slice(split + 2, -1).split("\n").map((line) => {
      const m = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (!m) throw new Error("not a signature line: " + line);
      const raw = b64(m[2]);
      return { name: m[1], id: hex(raw.slice(0, 4)), sig: raw.slice(4) };
    });
    // The log's key: a verifier key, or {publicHex} of the journal key named by the origin.
    const log = typeof logVkey === "string" ? await parseVkey(logVkey) : {
      name: origin, type: 1, publicHex: logVkey.publicHex,
      id: (await sha256(concat(utf8(origin + "\n"), new Uint8Array([1]), unhex(logVkey.publicHex)))).slice(0, 4),
    };
    if (log.type !== 1 || origin !== log.name) throw new Error("the checkpoint is not of the log " + log.name);
    let logSigned = false;
    for (const s of sigs) {
      if (s.name === log.name && s.id === hex(log.id) && s.sig.length === 64) {
        logSigned = logSigned || await verify(log.publicHex, utf8(text), hex(s.sig));
      }
    }
    if (!logSigned) throw new Error("the checkpoint carries no valid signature by the journal key");
    const witnesses = [];
    for (const w of await Promise.all(witnessVkeys.map(parseVkey))) {
      if (w.type !== 4 || witnesses.includes(w.name)) continue;
      for (const s of sigs) {
        if (s.name !== w.name || s.id !== hex(w.id) || s.sig.length !== 72) continue;
        const time = new DataView(s.sig.buffer, s.sig.byteOffset, 8).getBigUint64(0);
        const message = utf8("cosignature/v1\ntime " + time + "\n" + text);
        if (await verify(w.publicHex, message, hex(s.sig.slice(8)))) { witnesses.push(w.name); break; }
      }
    }
    if (witnesses.length < required) {
      throw new Error("the checkpoint has " + witnesses.length + " valid witness cosignatures of the " + required + " required");
    }
    return { origin, size: Number(size), root: hex(b64(root)), witnesses };
  }

  // The witnesses this browser requires (saved on a journal entry page): sign nothing for a
  // server whose checkpoint they did not cosign, as it may be showing a forked history (IN12).
  async function requireWitnesses() {
    const witnesses = JSON.parse(localStorage.getItem("civicledger.witnesses") || "null");
    if (!witnesses || !(witnesses.required > 0)) return;
    const economy = await getJSON("/api/economy");
    const text = await (await fetch("/checkpoint")).text();
    await verifyCheckpoint(text, { publicHex: economy.journal_key }, witnesses.keys, witnesses.required);
  }

  function randomHex(n) {
    return hex(crypto.getRandomValues(new Uint8Array(n)));
  }

  async function getJSON(path) {
    const response = await fetch(path, { headers: { accept: "application/json" } });
    const data = await response.json();
    if (!response.ok) throw Object.assign(new Error(data.detail || response.statusText), { problem: data });
    return data;
  }

  // IN11: personal text kept off the journal. The payload carries "pd:" + SHA-256(salt + canonical
  // text); the text and its random salt travel beside the command (``personal``), never signed into it.
  async function sealPersonal(text, subject) {
    const salt = randomHex(16);
    const textBytes = canonicalBytes(text);
    const joined = new Uint8Array(16 + textBytes.length);
    joined.set(unhex(salt), 0);
    joined.set(textBytes, 16);
    return { ref: "pd:" + hex(await sha256(joined)), salt, subject, text };
  }

  // Replace the personal text in a payload by references (``described`` is the command type as
  // GET /api/command-types lists it); returns the payload and the items to send beside it.
  async function movePersonal(described, payload) {
    const fields = (described && described.personal) || [];
    if (described && described.type === "identity.open_account" && payload.kind !== "person") return { payload, personal: [] };
    let subject = described && described.personal_subject ? payload[described.personal_subject] : "";
    if (!subject && typeof payload.public_key === "string") subject = await accountOf(unhex(payload.public_key));
    const out = Object.assign({}, payload);
    const personal = [];
    for (const f of fields) {
      const v = out[f];
      if (typeof v === "string" && v && !/^pd:[0-9a-f]{64}$/.test(v)) {
        const item = await sealPersonal(v, subject);
        out[f] = item.ref;
        personal.push(item);
      }
    }
    return { payload: out, personal };
  }

  // A command signed by every key in ``keys``, sent with request signatures of the same keys (X6),
  // and beside it the personal data its payload names (IN11).
  async function signAndSend(type, payload, keys, commandId, personal) {
    const economy = await getJSON("/api/economy");
    const now = economy.now;
    const id = commandId || "web-" + randomHex(12);
    const commandBytes = canonicalBytes({ economy: economy.id, id, type, payload, signed_at: now });
    const signatures = [];
    for (const k of keys) signatures.push({ account: k.account, signature: await sign(k, commandBytes) });
    const envelope = { id, type, payload, signed_at: now, signatures };
    if (personal && personal.length) envelope.personal = personal;
    const body = canonicalBytes(envelope);
    const nonce = randomHex(16);
    const requestBytes = canonicalBytes({
      economy: economy.id, method: "POST", path: "/api/commands",
      body_sha256: hex(await sha256(body)), timestamp: now, nonce,
    });
    const parts = [];
    for (const k of keys) parts.push(k.account + "=" + (await sign(k, requestBytes)));
    const response = await fetch("/api/commands", {
      method: "POST",
      headers: {
        "content-type": "application/json", "Civic-Timestamp": String(now), "Civic-Nonce": nonce,
        "Civic-Signature": parts.join(", "),
      },
      body,
    });
    return { status: response.status, data: await response.json(), id };
  }

  // The page's language: the strings this script shows, translated by the server into the page's
  // <script type="application/json" id="messages"> block (docs/web.md, Translating). t("... {name} ...",
  // {name: v}) answers the translation, or the English text when the page carries none.
  let messages = null;
  function t(text, values) {
    if (messages === null) {
      const block = document.getElementById("messages");
      try { messages = block ? JSON.parse(block.textContent) : {}; } catch (e) { messages = {}; }
    }
    const template = messages[text] || text;
    return template.replace(/\{(\w+)\}/g, (m, key) => (values && key in values ? String(values[key]) : m));
  }

  return {
    t, canonical, canonicalBytes, hex, unhex, sha256, leafHash, verifyInclusion, verifyConsistency, keyFromSeed, generateKey,
    sign, verify, signAndSend, getJSON, randomHex, accountOf, verifyCheckpoint, sealPersonal, movePersonal,
    requireWitnesses,
  };
})();
