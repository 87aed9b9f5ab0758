// Timeline renders one room's conversation: confirmed messages and
// join/leave lines ordered by the room's seq, then this user's pending sends.
// It owns the DOM of the list and nothing else: no network, no timers.
//
// Every entry is keyed (message id, or "seq:N" for a join/leave line, or the
// client_msg_id of a pending send), so the same event arriving from history,
// an ack, a broadcast and a replay is shown once.
//
// A day separator (li.day-sep) precedes the first entry of each local day,
// as chat apps show it; separators are derived from the entries (redate),
// so history pages, live events and pending sends all get them.

import { h, replace } from "./dom.js";
import { t, formatClock, formatDay } from "./i18n.js";
import { effectIcon } from "./effects.js";
import { linkify } from "./links.js";
import { avatar, tag } from "./identity.js";
import { decorate } from "./msgchanges.js";
import { reportButton } from "./blockreport.js";

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
    this.redate();
    return added;
  }

  /**
   * prependTimeline adds an older page of the timeline (GET
   * /v1/rooms/{id}/timeline, newest first): messages, and the join, leave
   * and rename lines the socket showed live. It returns the message items
   * added.
   */
  prependTimeline(items) {
    const added = this.prependHistory(items.filter((it) => it.type === "message" && it.message).map((it) => it.message));
    const kinds = { member_joined: "joined", member_left: "left", member_renamed: "renamed" };
    for (const it of items) {
      if (kinds[it.type]) this.addSystem(moderationKind(it) || kinds[it.type], it.nickname, it.seq, it.user_id, moderationBy(it) ?? it.previous, it.at);
      else if (it.type === "room_event" && it.event === "room.closed") this.addSystem("closed", "", it.seq, null, null, it.at);
    }
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

  /**
   * addSystem shows a join, leave or rename line at its seq; with userId,
   * the user's tag follows the line (identity.js). at is the event's time
   * (frames carry it; now for a server from before they did).
   */
  addSystem(kind, nickname, seq, userId, previous, at = new Date().toISOString()) {
    const key = `seq:${seq}`;
    if (this.byKey.has(key)) return null;
    const line = { joined: "joinedLine", left: "leftLine", renamed: "renamedLine", removed: "removedLine", banned: "bannedLine", closed: "closedLine" }[kind] || "joinedLine";
    const li = h(
      "li",
      { class: `sys sys-${kind}`, dataset: { seq: String(seq), at, userId: userId || "" } },
      // previous is the name before a rename, or who removed or banned.
      t(line, { nickname: nickname || t("someone"), previous, by: previous || t("anAdmin") }),
      userId ? [" ", tag(userId)] : null,
      " ",
      h("time", { class: "sys-time", datetime: at }, formatClock(at)),
    );
    this.byKey.set(key, li);
    this.insertBySeq(li, seq);
    return li;
  }

  /** redate puts a day separator before the first entry of each local day. */
  redate() {
    for (const sep of this.list.querySelectorAll(":scope > .day-sep")) sep.remove();
    let day = null;
    for (let li = this.list.firstElementChild; li; li = li.nextElementSibling) {
      const at = li.dataset.at;
      const d = new Date(at || NaN);
      if (li.classList.contains("day-sep") || Number.isNaN(d.getTime())) continue;
      const key = d.toDateString();
      if (key !== day) {
        day = key;
        const ymd = `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
        li.before(h("li", { class: "day-sep", dataset: { day: ymd } }, h("time", { datetime: ymd }, formatDay(at))));
      }
      // Separators moved: a message's neighbour may have changed.
      regroup(li);
    }
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
    if (!old) this.redate();
    return li;
  }

  remove(key) {
    const li = this.byKey.get(key);
    if (!li) return;
    const next = li.nextElementSibling;
    li.remove();
    this.byKey.delete(key);
    if (next) regroup(next);
    this.redate();
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
    // Day separators are skipped: redate puts them back where they belong.
    let after = this.list.lastElementChild;
    while (after && (after.classList.contains("pending") || after.classList.contains("day-sep") || Number(after.dataset.seq) > seq)) {
      after = after.previousElementSibling;
    }
    if (after) after.after(li);
    else this.list.prepend(li);
    regroup(li);
    if (li.nextElementSibling) regroup(li.nextElementSibling);
    this.redate();
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
        h("div", { class: "msg-meta" }, h("span", { class: "msg-author" }, m.nickname, " ", tag(m.user_id), mine ? ` (${t("you")})` : ""), " ", h("time", { datetime: m.sent_at }, formatClock(m.sent_at))),
        h("p", { class: "msg-body" }, linkify(m.body)),
        // The time of a message that continues a group (its meta is hidden).
        h("time", { class: "msg-time", datetime: m.sent_at }, formatClock(m.sent_at)),
        m.effects?.length
          ? h(
              "span",
              { class: "msg-effects", title: m.effects.join(", ") },
              m.effects.map((e) => h("span", { role: "img", "aria-label": t("effectPlayed", { effect: e }) }, effectIcon(e))),
            )
          : null,
        reportButton(m, this.selfId),
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
        h("div", { class: "msg-meta" }, h("span", { class: "msg-author" }, p.nickname, " ", tag(this.selfId), ` (${t("you")})`)),
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

/**
 * moderationKind is the line kind of a member_left frame or item ended by a
 * moderator (level 5): "removed" or "banned", else undefined.
 */
export function moderationKind(f) {
  return f.type === "member_left" && (f.reason === "removed" || f.reason === "banned") ? f.reason : undefined;
}

/** moderationBy is who removed or banned (their nickname; "" for an admin). */
export function moderationBy(f) {
  return moderationKind(f) ? f.by_nickname || "" : undefined;
}
