// RoomSocket keeps one room's WebSocket alive and gap-free.
//
// The room's events carry seq, the room's own gap-free counter. The socket
// remembers the highest seq it delivered and, after any disconnect, sleep or
// offline spell, reconnects with since_seq=<that seq>: the server replays
// what was missed, in order, then goes live. Frames at or below the last seq
// are dropped, so nothing is shown twice even if a replay overlaps.

import { wsURL } from "./api.js";

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
// After a wake-up or a network change the socket may be half-open: a ping
// frame that gets no answer (any frame) within this time means it is dead.
const PROBE_MS = 5000;
// Close codes of the realtime service (realtime/closecodes.go).
const CLOSE_TOKEN_EXPIRED = 4001;
const CLOSE_NOT_MEMBER = 4003;
const SLEEP_CHECK_MS = 5000;
// A timer that fires this late means the device slept (or the tab was
// frozen): the socket may look open while the server has long dropped it.
const SLEEP_GAP_MS = 20000;

export class RoomSocket {
  /**
   * @param {string} roomId
   * @param {object} o
   * @param {number|null} o.sinceSeq resume point: the seq of the newest event already shown
   * @param {(frame: object) => void} o.onFrame called for each new frame, in seq order
   * @param {(state: string, info?: object) => void} o.onState connecting | online | reconnecting | offline
   * @param {() => Promise<boolean>} [o.onRefused] called when the server refuses the socket
   *   (twice before opening, or closed with "not a member"); resolve false to stop retrying
   * @param {() => void} [o.onExpired] the token expired: a new session is needed
   */
  constructor(roomId, { sinceSeq, onFrame, onState, onRefused, onExpired }) {
    this.roomId = roomId;
    this.lastSeq = sinceSeq ?? null;
    this.onFrame = onFrame;
    this.onState = onState;
    this.onRefused = onRefused;
    this.onExpired = onExpired;
    this.probeTimer = null;
    this.ws = null;
    this.attempt = 0;
    this.stopped = false;
    this.retryTimer = null;
    this.state = "";
    this.lastTick = Date.now();
    this.listeners = {
      online: () => this.reconnectNow(),
      offline: () => this.goOffline(),
      visibilitychange: () => {
        if (document.visibilityState === "visible") this.ensureOpen({ probe: true });
      },
      pageshow: () => this.ensureOpen({ probe: true }),
    };
  }

  start() {
    window.addEventListener("online", this.listeners.online);
    window.addEventListener("offline", this.listeners.offline);
    window.addEventListener("pageshow", this.listeners.pageshow);
    document.addEventListener("visibilitychange", this.listeners.visibilitychange);
    this.sleepTimer = setInterval(() => {
      const now = Date.now();
      if (now - this.lastTick > SLEEP_GAP_MS) this.reconnectNow();
      this.lastTick = now;
    }, SLEEP_CHECK_MS);
    if (navigator.onLine === false) this.goOffline();
    else this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.clearProbe();
    clearInterval(this.sleepTimer);
    window.removeEventListener("online", this.listeners.online);
    window.removeEventListener("offline", this.listeners.offline);
    window.removeEventListener("pageshow", this.listeners.pageshow);
    document.removeEventListener("visibilitychange", this.listeners.visibilitychange);
    this.drop();
  }

  /** send writes a frame if the socket is open; false means use another path. */
  send(frame) {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  get open() {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  setState(state, info) {
    this.state = state;
    this.onState?.(state, info);
  }

  connect() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.drop();
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    const ws = new WebSocket(wsURL(this.roomId, this.lastSeq));
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.setState("online");
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch {
        return;
      }
      // A frame that proves the subscription works resets the backoff,
      // and answers a liveness probe.
      this.attempt = 0;
      this.clearProbe();
      if (frame.type === "pong") return;
      const seq = frameSeq(frame);
      if (seq != null) {
        if (this.lastSeq != null && seq <= this.lastSeq) return; // already shown
        this.lastSeq = seq;
      }
      this.onFrame(frame);
    };
    ws.onclose = async (ev) => {
      if (this.ws !== ws || this.stopped) return;
      this.ws = null;
      this.clearProbe();
      if (navigator.onLine === false) return this.goOffline();
      if (ev.code === CLOSE_TOKEN_EXPIRED && this.onExpired) {
        this.setState("reconnecting");
        return this.onExpired();
      }
      const refused = ev.code === CLOSE_NOT_MEMBER || (!opened && this.attempt >= 1);
      if (refused && this.onRefused) {
        // Twice refused: ask whether retrying makes sense at all (a socket
        // is refused with 403 when the user is no longer in the room).
        const retry = await this.onRefused().catch(() => true);
        if (!retry || this.stopped) return;
      }
      this.scheduleRetry();
    };
  }

  scheduleRetry() {
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    this.attempt++;
    this.setState("reconnecting", { retryInMs: delay });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** reconnectNow drops the current socket (it may be dead after a sleep) and resumes. */
  reconnectNow() {
    if (this.stopped) return;
    this.attempt = 0;
    this.connect();
  }

  /**
   * ensureOpen reconnects a socket that is not open; with probe, it also
   * checks an open one: it sends a ping frame (the service answers "pong")
   * and reconnects if nothing at all comes back in time.
   */
  ensureOpen({ probe = false } = {}) {
    if (this.stopped || navigator.onLine === false) return;
    const rs = this.ws?.readyState;
    if (rs !== WebSocket.OPEN && rs !== WebSocket.CONNECTING) return this.reconnectNow();
    if (probe && rs === WebSocket.OPEN && !this.probeTimer) {
      this.send({ type: "ping" });
      this.probeTimer = setTimeout(() => {
        this.probeTimer = null;
        this.reconnectNow();
      }, PROBE_MS);
    }
  }

  clearProbe() {
    clearTimeout(this.probeTimer);
    this.probeTimer = null;
  }

  goOffline() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.drop();
    this.setState("offline");
  }

  drop() {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(1000);
      } catch {
        // already closing
      }
    }
  }
}

/**
 * frameSeq returns the room seq of an event frame, if any. room_event (an
 * extension of the service for events without a frame of their own, such as
 * room.approved) counts too, so since_seq stays exact. Presence also carries
 * a seq, but as a snapshot position, not an event: it is not counted.
 */
export function frameSeq(frame) {
  if (frame.type === "message") return frame.message?.seq ?? null;
  if (frame.type === "member_joined" || frame.type === "member_left" || frame.type === "member_renamed" || frame.type === "room_event") return frame.seq ?? null;
  return null;
}
