// RoomSocket keeps one room's subscription alive and gap-free: a
// WebSocket, or where WebSockets do not get through (a proxy that refuses
// the upgrade or cuts the socket), the fallback: the room's Server-Sent
// Events stream (GET /v1/rooms/{id}/events, the same frames) with sends
// over HTTP (the outbox's path whenever send returns false). After
// WS_FAILURES WebSockets in a row that fail to open or die young, the room
// switches to the stream; every WS_RETRY_MS it tries a WebSocket beside it
// and switches back once one delivers a frame. Nothing visible changes.
//
// The room's events carry seq, the room's own gap-free counter. The socket
// remembers the highest seq it delivered and, after any disconnect, sleep or
// offline spell, reconnects with since_seq=<that seq>: the server replays
// what was missed, in order, then goes live. Frames at or below the last seq
// are dropped, so nothing is shown twice even if a replay overlaps.

import { wsURL, eventsURL } from "./api.js";

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
// After a wake-up or a network change the socket may be half-open: a ping
// frame that gets no answer (any frame) within this time means it is dead.
const PROBE_MS = 5000;
// Close codes of the realtime service (realtime/closecodes.go).
const CLOSE_TOKEN_EXPIRED = 4001;
const CLOSE_NOT_MEMBER = 4003;
// A moderator removed or banned the user (level 5): as for 4003, ask the
// screen (onRefused) instead of reconnecting blindly.
const CLOSE_REMOVED = 4009;
const SLEEP_CHECK_MS = 5000;
// A timer that fires this late means the device slept (or the tab was
// frozen): the socket may look open while the server has long dropped it.
const SLEEP_GAP_MS = 20000;
// The fallback (see above). A socket that ends without a proper close
// (1006) while online, having delivered nothing or within SHORT_LIVED_MS,
// counts as a failure; any other end, or a frame after SHORT_LIVED_MS,
// resets the count.
const WS_FAILURES = 3;
const SHORT_LIVED_MS = 20000;
const WS_RETRY_MS = 60000;
// wsRetryMs: the browser tests shorten the retry (window.__wsRetryMs, set
// before the page loads) so that the switch back takes seconds, not a minute.
const wsRetryMs = () => (Number.isFinite(window.__wsRetryMs) && window.__wsRetryMs > 0 ? window.__wsRetryMs : WS_RETRY_MS);
// The stream's event names: one per frame type (docs/realtime.md).
const STREAM_EVENTS = ["presence", "message", "member_joined", "member_left", "member_renamed", "room_event",
  "message_edited", "message_deleted", "reaction", "ack", "error", "typing"];

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
    this.es = null; // the fallback's EventSource
    this.trial = null; // a WebSocket tried beside the stream
    this.transport = "ws";
    this.wsFailures = 0;
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
    clearInterval(this.wsRetryTimer);
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
    return this.ws?.readyState === WebSocket.OPEN || this.es?.readyState === EventSource.OPEN;
  }

  setState(state, info) {
    this.state = state;
    this.onState?.(state, { ...info, transport: this.transport });
  }

  connect() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.drop();
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    if (this.transport === "sse") return this.connectStream();
    const ws = new WebSocket(wsURL(this.roomId, this.lastSeq));
    ws.onopen = () => this.setState("online");
    this.attach(ws, Date.now());
  }

  /** attach makes ws the room's socket (startedAt: when it was made). */
  attach(ws, startedAt) {
    this.ws = ws;
    let framed = false;
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      framed = true;
      if (Date.now() - startedAt >= SHORT_LIVED_MS) this.wsFailures = 0;
      this.handleData(ev.data);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws || this.stopped) return;
      this.ws = null;
      // A failure of the transport: no proper close (1006, what a refused
      // upgrade or a proxy's cut looks like) of a socket that never
      // delivered or died young, while the device is online. The server's
      // own closes (expiry, shutdown, slow consumer…) say nothing about it.
      const young = !framed || Date.now() - startedAt < SHORT_LIVED_MS;
      if (ev.code === 1006 && young && navigator.onLine !== false) this.wsFailures++;
      else this.wsFailures = 0;
      if (this.wsFailures >= WS_FAILURES) this.fallBack();
      this.ended(ev.code, framed);
    };
  }

  /** handleData takes one frame's JSON, from either transport. */
  handleData(data) {
    let frame;
    try {
      frame = JSON.parse(data);
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
  }

  /** ended handles the end of a socket or stream, with its close code. */
  async ended(code, opened) {
    this.clearProbe();
    if (navigator.onLine === false) return this.goOffline();
    if (code === CLOSE_TOKEN_EXPIRED && this.onExpired) {
      this.setState("reconnecting");
      return this.onExpired();
    }
    const refused = code === CLOSE_NOT_MEMBER || code === CLOSE_REMOVED || (!opened && this.attempt >= 1);
    if (refused && this.onRefused) {
      // Twice refused: ask whether retrying makes sense at all (a socket
      // is refused with 403 when the user is no longer in the room).
      const retry = await this.onRefused().catch(() => true);
      if (!retry || this.stopped) return;
    }
    this.scheduleRetry();
  }

  /** fallBack switches to the stream, and starts trying WebSockets again. */
  fallBack() {
    this.transport = "sse";
    this.wsFailures = 0;
    this.attempt = 0;
    clearInterval(this.wsRetryTimer);
    this.wsRetryTimer = setInterval(() => this.tryWebSocket(), wsRetryMs());
  }

  /**
   * connectStream opens the room's event stream. The browser's own
   * reconnect (by Last-Event-ID) is not used: a stream that ends or fails
   * is closed here and resumed like a socket, by since_seq, so that the
   * close codes are handled the same way.
   */
  connectStream() {
    const es = new EventSource(eventsURL(this.roomId, this.lastSeq));
    this.es = es;
    let opened = false;
    es.onopen = () => {
      opened = true;
      this.setState("online");
    };
    const onEvent = (ev) => this.es === es && this.handleData(ev.data);
    for (const name of STREAM_EVENTS) es.addEventListener(name, onEvent);
    const end = (code) => {
      if (this.es !== es || this.stopped) return;
      es.close();
      this.es = null;
      this.ended(code, opened);
    };
    // The server's last event says why it ends the stream (a socket's close code).
    es.addEventListener("close", (ev) => {
      let code = 1006;
      try {
        code = JSON.parse(ev.data).code;
      } catch {
        // keep 1006
      }
      end(code);
    });
    es.onerror = () => end(1006);
  }

  /** tryWebSocket opens a socket beside the stream and adopts it once it delivers a frame. */
  tryWebSocket() {
    if (this.stopped || this.transport !== "sse" || this.trial || navigator.onLine === false) return;
    const ws = new WebSocket(wsURL(this.roomId, this.lastSeq));
    this.trial = ws;
    ws.onmessage = (ev) => {
      if (this.trial !== ws) return;
      this.trial = null;
      clearInterval(this.wsRetryTimer);
      const es = this.es;
      this.es = null;
      es?.close();
      this.transport = "ws";
      this.attach(ws, Date.now());
      this.setState("online");
      ws.onmessage(ev);
    };
    ws.onclose = () => {
      if (this.trial === ws) this.trial = null;
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
    if (this.transport === "sse") {
      // A stream cannot be probed; the server's keepalive keeps it honest.
      if (!this.es || this.es.readyState === EventSource.CLOSED) this.reconnectNow();
      return;
    }
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
    const es = this.es;
    this.es = null;
    es?.close();
    const trial = this.trial;
    this.trial = null;
    if (trial) {
      trial.onmessage = trial.onclose = null;
      trial.close(1000);
    }
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
