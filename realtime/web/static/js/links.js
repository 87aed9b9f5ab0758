// Links in messages: web addresses become links, everything else stays
// text. The DOM is built node by node (no HTML strings, so the strict CSP and
// the textContent discipline hold), only http: and https: addresses are
// linked (never javascript:, data: or anything a browser would run), and a
// link opens in a new tab without telling the page who sent it there.

import { h } from "./dom.js";

// An address starts at http:// or https:// and runs to the next space or
// character no URL holds as such (quotes, angle brackets).
const URL_RE = /https?:\/\/[^\s<>"'`]+/giu;
// Punctuation that ends a sentence rather than the address.
const TRAILING = /[.,!?;:'"»)\]}。、！？）」』]+$/u;

/**
 * linkify splits text into strings and <a> elements for the http(s)
 * addresses in it. Joined, the parts' text is the input, unchanged.
 * @param {string} text
 * @returns {(string|HTMLElement)[]}
 */
export function linkify(text) {
  const parts = [];
  let last = 0;
  for (const m of String(text).matchAll(URL_RE)) {
    let raw = m[0];
    // Keep a closing parenthesis the address itself opened (Wikipedia).
    const trail = raw.match(TRAILING)?.[0] ?? "";
    if (trail) {
      const cut = raw.length - trail.length;
      let keep = 0;
      const opens = (raw.slice(0, cut).match(/\(/g) || []).length - (raw.slice(0, cut).match(/\)/g) || []).length;
      if (opens > 0 && trail.startsWith(")")) keep = 1;
      raw = raw.slice(0, cut + keep);
    }
    const href = safeHref(raw);
    if (!href) continue;
    if (m.index > last) parts.push(text.slice(last, m.index));
    parts.push(h("a", { href, target: "_blank", rel: "noopener noreferrer", class: "msg-link" }, raw));
    last = m.index + raw.length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

/** safeHref is the address as a link target, or null if it is not http(s). */
export function safeHref(raw) {
  let u;
  try {
    u = new URL(raw);
  } catch {
    return null;
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return null;
  if (!u.hostname) return null;
  return u.href;
}
