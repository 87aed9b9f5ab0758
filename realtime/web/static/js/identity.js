// Who is who. Nicknames are not unique and a rename keeps the user, so next
// to every nickname the app shows marks derived from the user id alone: a
// short tag ("#k3qa") and an avatar (a colour, a shape and the nickname's
// first character). Two people both called 하늘이 look different; one person
// keeps the same marks across renames and devices. Drawn with DOM nodes and
// classes only (no innerHTML, no inline style), as the strict CSP wants.
//
// The rule (docs/realtime.md, "Who is who"), so other clients can match it:
// h = FNV-1a 32-bit of the decimal user id's UTF-8 bytes; the tag is the top
// 20 bits of h as 4 base32 characters (RFC 4648 alphabet, lower case); the
// hue is (h & 0xff) mod 24, the shape (h >> 8 & 0xff) mod 4.

import { h } from "./dom.js";

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";
export const HUES = 24;
export const SHAPES = 4;

/** idHash is FNV-1a (32-bit) of the id's decimal string (ASCII digits). */
export function idHash(userId) {
  let x = 0x811c9dc5;
  for (const ch of String(userId)) {
    x ^= ch.charCodeAt(0);
    x = Math.imul(x, 0x01000193) >>> 0;
  }
  return x >>> 0;
}

/** userTag is the 4-character tag of a user id, without the "#". */
export function userTag(userId) {
  const top = idHash(userId) >>> 12; // 20 bits
  let s = "";
  for (let shift = 15; shift >= 0; shift -= 5) s += BASE32[(top >>> shift) & 31];
  return s;
}

/** firstChar is the nickname's first user-perceived character, upper-cased. */
function firstChar(nickname) {
  const text = nickname || "?";
  const seg = typeof Intl.Segmenter === "function" ? new Intl.Segmenter().segment(text)[Symbol.iterator]().next().value?.segment : null;
  return (seg || [...text][0] || "?").toUpperCase();
}

/** avatar is the user's generated picture (decorative: the name is next to it). */
export function avatar(nickname, userId) {
  const x = idHash(userId ?? nickname);
  return h("span", { class: `avatar hue-${(x & 0xff) % HUES} shape-${((x >>> 8) & 0xff) % SHAPES}`, "aria-hidden": "true", dataset: { tag: userTag(userId ?? "") } }, firstChar(nickname));
}

/** tag is the "#abcd" label shown after a nickname; screen readers hear it too. */
export function tag(userId) {
  return h("span", { class: "user-tag", title: `#${userTag(userId)}` }, `#${userTag(userId)}`);
}
