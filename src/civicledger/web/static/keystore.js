// The citizen app's key store: one Ed25519 secret seed, encrypted with a passphrase, in localStorage.
//
// PBKDF2-HMAC-SHA-256 (600,000 iterations, 16-byte random salt) derives an AES-256-GCM key from the
// passphrase; the seed is sealed with a random 12-byte nonce, and the account id, public key and
// name are bound as additional data, so a stored record whose account was swapped fails to open.
// The same record is the export file (and the QR code's text). docs/decisions/0014-citizen-app-keys.md.

export const STORAGE = "civicledger.app.key";
export const FORMAT = "civicledger-key/1";
export const ITERATIONS = 600000;

const utf8 = (s) => new TextEncoder().encode(s);
const b64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)));
const unb64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

async function aesKey(passphrase, salt, iterations) {
  const base = await crypto.subtle.importKey("raw", utf8(passphrase), "PBKDF2", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    base, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"],
  );
}

function boundData(record) {
  return utf8(Civic.canonical({ account: record.account, format: record.format, name: record.name, public_key: record.public_key }));
}

/** Seal ``key`` (from Civic.keyFromSeed) under ``passphrase``: the record to store or export. */
export async function seal(key, passphrase, iterations = ITERATIONS) {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const record = { format: FORMAT, name: key.name, account: key.account, public_key: key.publicHex,
    kdf: { name: "PBKDF2-SHA-256", iterations, salt: b64(salt) }, cipher: { name: "AES-256-GCM", iv: b64(iv) } };
  const secret = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: boundData(record) }, await aesKey(passphrase, salt, iterations),
    Civic.unhex(key.seed),
  );
  record.sealed = b64(secret);
  return record;
}

/** The key a record holds; a wrong passphrase or an altered record fails (AES-GCM's tag). */
export async function open(record, passphrase) {
  if (!record || record.format !== FORMAT) throw new Error("not-a-key-file");
  let seed;
  try {
    seed = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: unb64(record.cipher.iv), additionalData: boundData(record) },
      await aesKey(passphrase, unb64(record.kdf.salt), record.kdf.iterations), unb64(record.sealed),
    );
  } catch (e) {
    throw new Error("wrong-passphrase");
  }
  // The account, not the key's own derived id: after a rotation (X9) the account keeps its first id.
  return Object.assign(await Civic.keyFromSeed(record.name, Civic.hex(seed)), { account: record.account });
}

export function load() {
  const text = localStorage.getItem(STORAGE);
  return text ? JSON.parse(text) : null;
}

export function save(record) { localStorage.setItem(STORAGE, JSON.stringify(record)); }
export function forget() { localStorage.removeItem(STORAGE); }
export function exportText(record) { return JSON.stringify(record); }
