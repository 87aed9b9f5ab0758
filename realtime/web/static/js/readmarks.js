// ReadMarks moves the user's read mark (their personal mailbox position) as
// messages are actually seen: on screen, in a visible page. Marks only move
// forward, on the server and here, and are sent at most once a second.

import { api } from "./api.js";
import { compareIds, maxId } from "./ids.js";

const DEBOUNCE_MS = 1000;

export class ReadMarks {
  constructor(roomId, scrollRoot) {
    this.roomId = roomId;
    this.visible = new Set();
    this.sent = null; // the last mark the server accepted
    this.candidate = null;
    this.timer = null;
    this.observer = new IntersectionObserver((entries) => this.onIntersect(entries), { root: scrollRoot, threshold: 0.6 });
    this.onVisibility = () => this.consider();
    document.addEventListener("visibilitychange", this.onVisibility);
  }

  /** seed takes the mark the server already has (GET room's read_up_to), so that no mark at or behind it is sent. */
  seed(upTo) {
    if (upTo) this.sent = maxId(this.sent, upTo);
  }

  /** observe starts watching a confirmed message's element (it has data-id). */
  observe(li) {
    if (li?.dataset.id) this.observer.observe(li);
  }

  onIntersect(entries) {
    for (const e of entries) {
      const id = e.target.dataset.id;
      if (e.isIntersecting) this.visible.add(id);
      else this.visible.delete(id);
    }
    this.consider();
  }

  consider() {
    if (document.visibilityState !== "visible") return;
    for (const id of this.visible) this.candidate = maxId(this.candidate, id);
    if (this.candidate == null || (this.sent != null && compareIds(this.candidate, this.sent) <= 0)) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), DEBOUNCE_MS);
  }

  async flush() {
    const upTo = this.candidate;
    if (upTo == null || (this.sent != null && compareIds(upTo, this.sent) <= 0)) return;
    try {
      await api.markRead(this.roomId, upTo);
      this.sent = maxId(this.sent, upTo);
    } catch {
      // Not fatal: the next message seen tries again.
    }
  }

  /** stop sends a mark still waiting for its debounce, then stops watching. */
  stop() {
    clearTimeout(this.timer);
    this.flush();
    this.observer.disconnect();
    document.removeEventListener("visibilitychange", this.onVisibility);
  }
}
