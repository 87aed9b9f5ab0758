// Ids are snowflakes sent as decimal strings: they exceed 2^53, so they are
// never turned into Numbers. Compare them as strings of digits.

/** compareIds orders two decimal id strings numerically (-1, 0, 1). */
export function compareIds(a, b) {
  a = String(a);
  b = String(b);
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** maxId returns the larger of two ids, either of which may be null. */
export function maxId(a, b) {
  if (a == null) return b;
  if (b == null) return a;
  return compareIds(a, b) >= 0 ? a : b;
}

/**
 * newClientMsgId returns a random UUID v4, the idempotency key of a send.
 * crypto.randomUUID exists only in secure contexts; getRandomValues works
 * everywhere, so a plain-HTTP LAN deployment still gets proper keys.
 */
export function newClientMsgId() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
