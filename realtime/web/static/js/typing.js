// Typing indicators. While the user types, the room hears it at most once
// per SEND_EVERY_MS (the server's own limit): a {"type":"typing"} frame on
// the socket, or POST /v1/rooms/{id}/typing when the room is on its event
// stream. Others' typing frames show as "Mina is typing…" in a polite live
// region until they expire (expires_in_ms) or that member's message arrives.

import { h } from "./dom.js";
import { t } from "./i18n.js";
import { api } from "./api.js";

const SEND_EVERY_MS = 2000;
const DEFAULT_SHOW_MS = 5000;

export class Typing {
  /**
   * @param {object} o
   * @param {string} o.roomId
   * @param {string} o.selfId this user, whose own frames are not shown
   * @param {() => import("./socket.js").RoomSocket | null} o.socket
   */
  constructor({ roomId, selfId, socket }) {
    this.roomId = roomId;
    this.selfId = selfId;
    this.socket = socket;
    this.who = new Map(); // user_id → { nickname, timer }
    this.lastSent = 0;
    this.el = h("p", { class: "typing", id: "typing", "aria-live": "polite" });
  }

  /** input is called on every edit of the composer. */
  input(text) {
    if (!text.trim()) return;
    const now = Date.now();
    if (now - this.lastSent < SEND_EVERY_MS) return;
    this.lastSent = now;
    if (!this.socket()?.send({ type: "typing" })) api.typing(this.roomId).catch(() => {});
  }

  /** sent: the user's message went out, so a new indicator may follow at once. */
  sent() {
    this.lastSent = 0;
  }

  /** show takes a typing frame. */
  show(frame) {
    if (!frame.user_id || frame.user_id === this.selfId) return;
    clearTimeout(this.who.get(frame.user_id)?.timer);
    const timer = setTimeout(() => this.clear(frame.user_id), frame.expires_in_ms || DEFAULT_SHOW_MS);
    this.who.set(frame.user_id, { nickname: frame.nickname, timer });
    this.draw();
  }

  /** clear forgets a member's indicator (their message arrived). */
  clear(userId) {
    const w = this.who.get(userId);
    if (!w) return;
    clearTimeout(w.timer);
    this.who.delete(userId);
    this.draw();
  }

  draw() {
    const names = [...this.who.values()].map((w) => w.nickname);
    let text = "";
    if (names.length === 1) text = t("typingOne", { name: names[0] });
    else if (names.length === 2) text = t("typingTwo", { a: names[0], b: names[1] });
    else if (names.length > 2) text = t("typingMany");
    this.el.textContent = text;
  }

  stop() {
    for (const w of this.who.values()) clearTimeout(w.timer);
    this.who.clear();
  }
}
