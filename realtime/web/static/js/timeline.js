// Timeline renders one room's conversation: confirmed messages and
// join/leave lines ordered by the room's seq, then this user's pending sends.
// It owns the DOM of the list and nothing else: no network, no timers.
//
// Every entry is keyed (message id, or "seq:N" for a join/leave line, or the
// client_msg_id of a pending send), so the same event arriving from history,
// an ack, a broadcast and a replay is shown once.

import { h, replace } from "./dom.js";
import { t, formatTime } from "./i18n.js";
import { effectIcon } from "./effects.js";
import { decorate } from "./msgchanges.js";

const GROUP_GAP_MS = 5 * 60 * 1000;

export class Timeline {
  /**
   * @param {object} o
   * @param {string} o.selfId the user's id: their messages are "mine"
   * @param {(cmid: string) => void} o.onRetry a failed send's Retry button
   */
  constructor({ selfId, onRetry }) {
    this.selfId = selfId;
    this.onRetry = onRetry;
    this.byKey = new Map();
    this.list = h("ol", { class: "messages", id: "messages" });
    this.top = h("div", { class: "timeline-top" });
    this.el = h("div", { class: "timeline", id: "timeline", role: "log", "aria-label": t("messagesLabel"), tabindex: "0" }, this.top, this.list);
  }

  has(id) {
    return this.byKey.has(id);
  }

  /** setTop replaces what is shown above the oldest message (loader, start). */
  setTop(...nodes) {
    replace(this.top, ...nodes);
  }

  /** prependHistory adds an older page (newest first, as the API pages it). */
  prependHistory(messages) {
    const first = this.list.firstElementChild;
    const added = [];
    for (const m of [...messages].reverse()) {
      if (this.byKey.has(m.id)) continue;
      const li = this.messageItem(m);
      this.list.insertBefore(li, first);
      added.push(li);
    }
    for (const li of added) regroup(li);
    if (first) regroup(first);
    return added;
  }

  /** addMessage inserts a confirmed message in seq order; null if already shown. */
  addMessage(m) {
    if (this.byKey.has(m.id)) return null;
    const pending = this.byKey.get(`cmid:${m.client_msg_id}`);
    if (pending && m.user_id === this.selfId) this.remove(`cmid:${m.client_msg_id}`);
    const li = this.messageItem(m);
    this.insertBySeq(li, m.seq);
    return li;
  }

  /** addSystem shows a join/leave line at its seq. */
  addSystem(kind, nickname, seq) {
    const key = `seq:${seq}`;
    if (this.byKey.has(key)) return null;
    const li = h("li", { class: `sys sys-${kind}`, dataset: { seq: String(seq) } }, t(kind === "joined" ? "joinedLine" : "leftLine", { nickname }));
    this.byKey.set(key, li);
    this.insertBySeq(li, seq);
    return li;
  }

  /** upsertPending shows or updates a send of this user that is not confirmed yet. */
  upsertPending(p) {
    const key = `cmid:${p.cmid}`;
    const old = this.byKey.get(key);
    const li = this.pendingItem(p);
    if (old) old.replaceWith(li);
    else this.list.append(li);
    this.byKey.set(key, li);
    regroup(li);
    return li;
  }

  remove(key) {
    const li = this.byKey.get(key);
    if (!li) return;
    const next = li.nextElementSibling;
    li.remove();
    this.byKey.delete(key);
    if (next) regroup(next);
  }

  /** newestSeq is the highest seq shown (history and live), or null. */
  newestSeq() {
    for (let li = this.list.lastElementChild; li; li = li.previousElementSibling) {
      if (li.dataset.seq) return Number(li.dataset.seq);
    }
    return null;
  }

  nearBottom() {
    const el = this.el;
    return el.scrollHeight - el.scrollTop - el.clientHeight < 80;
  }

  scrollToBottom() {
    this.el.scrollTop = this.el.scrollHeight;
  }

  insertBySeq(li, seq) {
    // Confirmed entries come before pending ones; walk back from the end
    // (live events almost always belong there).
    let after = this.list.lastElementChild;
    while (after && (after.classList.contains("pending") || Number(after.dataset.seq) > seq)) {
      after = after.previousElementSibling;
    }
    if (after) after.after(li);
    else this.list.prepend(li);
    regroup(li);
    if (li.nextElementSibling) regroup(li.nextElementSibling);
  }

  messageItem(m) {
    const mine = m.user_id === this.selfId;
    const li = h(
      "li",
      {
        class: `msg${mine ? " mine" : ""}`,
        dataset: { id: m.id, seq: String(m.seq), userId: m.user_id, at: m.sent_at, cmid: m.client_msg_id || "" },
      },
      avatar(m.nickname, m.user_id),
      h(
        "div",
        { class: "bubble" },
        h("div", { class: "msg-meta" }, h("span", { class: "msg-author" }, m.nickname, mine ? ` (${t("you")})` : ""), " ", h("time", { datetime: m.sent_at }, formatTime(m.sent_at))),
        h("p", { class: "msg-body" }, m.body),
        m.effects?.length
          ? h(
              "span",
              { class: "msg-effects", title: m.effects.join(", ") },
              m.effects.map((e) => h("span", { role: "img", "aria-label": t("effectPlayed", { effect: e }) }, effectIcon(e))),
            )
          : null,
      ),
    );
    this.byKey.set(m.id, li);
    return decorate(li, m, this.selfId);
  }

  pendingItem(p) {
    const status =
      p.state === "failed"
        ? h(
            "div",
            { class: "msg-status" },
            h("span", {}, "⚠️ ", t("failed"), p.error ? `: ${p.error}` : ""),
            " ",
            h("button", { type: "button", class: "btn btn-small retry", on: { click: () => this.onRetry(p.cmid) } }, t("retry")),
          )
        : h("div", { class: "msg-status" }, h("span", { class: "spinner", "aria-hidden": "true" }), " ", p.state === "queued" ? t("queuedOffline") : t("pending"));
    return h(
      "li",
      { class: `msg mine pending state-${p.state}`, dataset: { cmid: p.cmid, userId: this.selfId, at: new Date(p.createdAt).toISOString() } },
      avatar(p.nickname, this.selfId),
      h(
        "div",
        { class: "bubble" },
        h("div", { class: "msg-meta" }, h("span", { class: "msg-author" }, p.nickname, ` (${t("you")})`)),
        h("p", { class: "msg-body" }, p.body),
        status,
      ),
    );
  }
}

// regroup marks a message that follows one of the same author within a few
// minutes, so the bubble drops the repeated name and avatar.
function regroup(li) {
  if (!li?.classList.contains("msg")) return;
  const prev = li.previousElementSibling;
  const cont =
    prev?.classList.contains("msg") &&
    prev.dataset.userId === li.dataset.userId &&
    Math.abs(Date.parse(li.dataset.at) - Date.parse(prev.dataset.at)) < GROUP_GAP_MS;
  li.classList.toggle("cont", Boolean(cont));
}

const AVATAR_HUES = [8, 28, 45, 95, 150, 190, 215, 260, 290, 330];

function avatar(nickname, userId) {
  const seg = typeof Intl.Segmenter === "function" ? new Intl.Segmenter().segment(nickname || "?")[Symbol.iterator]().next().value?.segment : null;
  const letter = (seg || [...(nickname || "?")][0] || "?").toUpperCase();
  let hash = 0;
  for (const ch of String(userId || nickname)) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  const el = h("span", { class: "avatar", "aria-hidden": "true" }, letter);
  el.style.setProperty("--hue", String(AVATAR_HUES[hash % AVATAR_HUES.length]));
  return el;
}
