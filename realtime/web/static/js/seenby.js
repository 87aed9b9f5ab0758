// "Seen by" (feature level 5, docs/adr/0010): under the room's newest
// message, the members whose read mark covers it — "Seen by Mina, Joon +3".
// Marks come from GET /v1/rooms/{id} and the presence frame (each member's
// read_up_to), then from read_mark frames; the greatest mark wins, so a
// frame replayed by a resume changes nothing. The user's own mark and the
// message's author are left out: both have seen it by definition.
//
// The line sits after the timeline's list, inside the log, as its own
// region with aria-live off: a mark moving is not news worth interrupting
// a screen reader for, but the line is read in place, with every name (the
// compact text, hidden from screen readers, cuts the list short).

import { h, replace } from "./dom.js";
import { t } from "./i18n.js";
import { compareIds, maxId } from "./ids.js";
import { avatar } from "./identity.js";

// At most this many names are written out; beyond, "+N".
const NAMES = 2;
// At most this many avatars are drawn.
const AVATARS = 5;

export class SeenBy {
  /**
   * @param {object} o
   * @param {string} o.selfId this user
   * @param {HTMLElement} o.list the timeline's list of messages
   * @param {() => Map<string, {user_id: string, nickname: string}>} o.members the current members
   */
  constructor({ selfId, list, members }) {
    this.selfId = selfId;
    this.list = list;
    this.members = members;
    this.marks = new Map(); // user_id → message id
    this.el = h("p", { class: "seen-by", id: "seen-by", "aria-live": "off", hidden: true });
  }

  /** load takes members with their read_up_to (GET room, presence). */
  load(members) {
    for (const m of members || []) if (m.read_up_to) this.move(m.user_id, m.read_up_to);
    this.draw();
  }

  /** mark takes a read_mark frame. */
  mark(frame) {
    if (!frame.user_id || !frame.up_to) return;
    this.move(frame.user_id, frame.up_to);
    this.draw();
  }

  move(userId, upTo) {
    this.marks.set(userId, maxId(this.marks.get(userId) ?? null, upTo));
  }

  /** latest is the newest confirmed message of the timeline. */
  latest() {
    for (let li = this.list.lastElementChild; li; li = li.previousElementSibling) {
      if (li.classList.contains("msg") && li.dataset.id) return li;
    }
    return null;
  }

  /** draw shows who has seen the newest message (hidden when nobody). */
  draw() {
    const li = this.latest();
    const seen = [];
    if (li) {
      for (const m of this.members().values()) {
        const mark = this.marks.get(m.user_id);
        if (m.user_id === this.selfId || m.user_id === li.dataset.userId || mark == null) continue;
        if (compareIds(mark, li.dataset.id) >= 0) seen.push(m);
      }
    }
    this.el.hidden = seen.length === 0;
    if (!seen.length) return replace(this.el);
    seen.sort((a, b) => (a.nickname || "").localeCompare(b.nickname || ""));
    const names = seen.map((m) => m.nickname);
    const shown = names.length <= NAMES + 1 ? names : names.slice(0, NAMES);
    const more = names.length - shown.length;
    const text = more ? t("seenByMore", { names: shown.join(", "), count: more }) : t("seenBy", { names: shown.join(", ") });
    this.el.title = names.join(", ");
    this.el.dataset.messageId = li.dataset.id;
    replace(
      this.el,
      h("span", { class: "seen-avatars", "aria-hidden": "true" }, ...seen.slice(0, AVATARS).map((m) => avatar(m.nickname, m.user_id))),
      h("span", { class: "seen-text", "aria-hidden": "true" }, text),
      h("span", { class: "sr-only" }, t("seenBy", { names: names.join(", ") })),
    );
  }
}
