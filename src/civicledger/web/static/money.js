// Amounts of money in the page's language, exactly (X3): from the integer number of minor units,
// the currency's decimals and symbol, by BigInt arithmetic (never a float), with the separators of
// the page's locale as the server's babel.numbers gives them (``<script id="number-format">``), so
// a page reads the same as ``civicledger.web.i18n.format_money``: "CRC 1,087.03", "CRC 1.087,03".

/** The page locale's separators, rendered by the server; English ones when the page has none. */
export function pageFormat() {
  const el = document.getElementById("number-format");
  const found = el ? JSON.parse(el.textContent || "{}") : {};
  return { group: found.group ?? ",", decimal: found.decimal ?? "." };
}

/** A whole number of minor units as a BigInt: a BigInt, a string of digits, or a safe integer. */
export function toUnits(value) {
  if (typeof value === "bigint") return value;
  if (typeof value === "string" && /^-?\d+$/.test(value)) return BigInt(value);
  if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value);
  throw new RangeError("not an exact whole number of minor units: " + String(value));
}

/** Digits grouped by three from the right with ``group`` between them. */
function grouped(digits, group) {
  const head = digits.length % 3 || 3;
  const parts = [digits.slice(0, head)];
  for (let i = head; i < digits.length; i += 3) parts.push(digits.slice(i, i + 3));
  return parts.join(group);
}

/** ``units`` minor units in major units after ``symbol``: "xi 12.000,00", "xi -1,50" (as babel). */
export function formatMoney(units, decimals, symbol = "", fmt = pageFormat()) {
  const n = toUnits(units);
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 18) throw new RangeError("decimals must be 0-18");
  const digits = (n < 0n ? -n : n).toString().padStart(decimals + 1, "0");
  const whole = digits.slice(0, digits.length - decimals);
  const part = digits.slice(digits.length - decimals);
  const text = (n < 0n ? "-" : "") + grouped(whole, fmt.group) + (decimals ? fmt.decimal + part : "");
  return symbol ? symbol + " " + text : text;
}

/** A count (credits, entries) in the page's language, exactly. */
export function formatCount(value, fmt = pageFormat()) {
  return formatMoney(value, 0, "", fmt);
}

/** JSON whose integers beyond 2^53 stay exact (as BigInt), read from the number's own source text. */
export function parseExact(text) {
  return JSON.parse(text, (key, value, context) =>
    typeof value === "number" && Number.isInteger(value) && !Number.isSafeInteger(value) && context && context.source
      ? BigInt(context.source) : value);
}
