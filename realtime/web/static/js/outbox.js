// Outbox holds this user's sends until the server acknowledges them.
//
// Each send has a client_msg_id made once, when the user presses Send; every
// retry (socket or HTTP, automatic or by the Retry button) reuses it, and the
// server answers a repeated id with the original message. So a send is
// retried freely without ever showing up twice.
//
// States: pending (on its way), queued (no connection; goes when one is
// back), failed (the server refused it; the user may retry).

import { api } from "./api.js";
import { newClientMsgId } from "./ids.js";

// How long a socket send waits for its ack before going over HTTP.
const ACK_TIMEOUT_MS = 8000;

export class Outbox {
  /**
   * @param {object} o
   * @param {string} o.roomId
   * @param {string} o.nickname
   * @param {() => import("./socket.js").RoomSocket | null} o.socket
   * @param {(p: object) => void} o.onChange a send changed state
   * @param {(p: object, message: object) => void} o.onConfirmed the server stored it
   */
  constructor({ roomId, nickname, socket, onChange, onConfirmed }) {
    Object.assign(this, { roomId, nickname, socket, onChange, onConfirmed });
    this.items = new Map();
    this.stopped = false;
  }

  /** send queues a new message (extra: reply_to, mentions) and starts delivering it. */
  send(body, extra = {}) {
    const p = { cmid: newClientMsgId(), body, extra, nickname: this.nickname, state: "pending", createdAt: Date.now(), error: "" };
    this.items.set(p.cmid, p);
    this.dispatch(p);
    return p;
  }

  retry(cmid) {
    const p = this.items.get(cmid);
    if (p) this.dispatch(p);
  }

  /** flush re-sends everything not refused: called when a connection comes back. */
  flush() {
    for (const p of this.items.values()) {
      if (p.state !== "failed" && !p.httpInFlight) this.dispatch(p);
    }
  }

  dispatch(p) {
    if (this.stopped) return;
    clearTimeout(p.timer);
    p.error = "";
    if (navigator.onLine === false) {
      return this.setState(p, "queued");
    }
    this.setState(p, "pending");
    const sock = this.socket();
    if (sock?.send({ type: "send", body: p.body, client_msg_id: p.cmid, ...p.extra })) {
      p.timer = setTimeout(() => this.items.has(p.cmid) && this.sendHTTP(p), ACK_TIMEOUT_MS);
    } else {
      this.sendHTTP(p);
    }
  }

  async sendHTTP(p) {
    if (p.httpInFlight || this.stopped) return;
    p.httpInFlight = true;
    try {
      const m = await api.sendMessage(this.roomId, p.body, p.cmid, p.extra);
      this.confirm(p.cmid, m);
    } catch (err) {
      if (!this.items.has(p.cmid)) return; // confirmed meanwhile by the socket
      if (err.transient) {
        this.setState(p, "queued");
        const wait = err.retryAfter ? err.retryAfter * 1000 : 3000 + Math.random() * 2000;
        p.timer = setTimeout(() => this.dispatch(p), wait);
      } else {
        p.error = err.message;
        this.setState(p, "failed");
      }
    } finally {
      p.httpInFlight = false;
    }
  }

  /** handleAck takes the socket's {type: "ack"} frame. */
  handleAck(frame) {
    if (frame.message) this.confirm(frame.client_msg_id, frame.message);
  }

  /** handleError takes the socket's {type: "error"} frame for a send. */
  handleError(frame) {
    const p = this.items.get(frame.client_msg_id);
    if (!p) return;
    clearTimeout(p.timer);
    const code = frame.error?.code;
    if (code === "rate_limited" || code === "unavailable" || code === "internal") {
      // Worth another go, over HTTP, which honours Retry-After.
      this.setState(p, "queued");
      p.timer = setTimeout(() => this.sendHTTP(p), 2000);
      return;
    }
    p.error = frame.error?.message || code || "";
    this.setState(p, "failed");
  }

  /** confirm ends a send; a broadcast of our own message also does. */
  confirm(cmid, message) {
    const p = this.items.get(cmid);
    if (p) {
      clearTimeout(p.timer);
      this.items.delete(cmid);
    }
    this.onConfirmed(p, message);
  }

  setState(p, state) {
    p.state = state;
    this.onChange(p);
  }

  stop() {
    this.stopped = true;
    for (const p of this.items.values()) clearTimeout(p.timer);
  }
}
