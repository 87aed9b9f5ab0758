// The HTTP side of the chat contract (/v1). Every call returns the decoded
// JSON body or throws an ApiError carrying the contract's error code, so the
// screens decide by code (room_full, rate_limited, …), never by status text.

import { store } from "./store.js";
import { t } from "./i18n.js";

const TIMEOUT_MS = 15000;

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, 0 when the server was not reached
   * @param {string} code the contract's code, or "network"
   * @param {string} message human text from the server
   * @param {number} retryAfter seconds, from Retry-After (rate_limited)
   */
  constructor(status, code, message, retryAfter = 0) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
  /** transient is true when the same request may succeed later unchanged. */
  get transient() {
    return this.status === 0 || this.status >= 500 || this.code === "rate_limited";
  }
}

async function call(method, path, { body, token = store.session?.token, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json; charset=utf-8";
  const timeout = AbortSignal.timeout(TIMEOUT_MS);
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      cache: "no-store",
    });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new ApiError(0, "network", t("errorNetwork"));
  }
  let data = null;
  const text = await res.text().catch(() => "");
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (res.ok) return data ?? {};
  const e = data?.error ?? {};
  const err = new ApiError(res.status, e.code || `http_${res.status}`, e.message || t("errorGeneric"), Number(res.headers.get("Retry-After")) || 0);
  if (res.status === 401 && token && token === store.session?.token) {
    // The user's token expired or the secret rotated: the app returns to
    // the nickname screen (see app.js).
    window.dispatchEvent(new CustomEvent("happychat:unauthorized"));
  }
  throw err;
}

const enc = encodeURIComponent;

// MAX_ROOM_PAGES bounds the room list's walk (20 pages of the default 100).
const MAX_ROOM_PAGES = 20;

export const api = {
  createSession: (nickname) => call("POST", "/v1/sessions", { body: { nickname }, token: null }),
  /**
   * listRooms follows the list's next_cursor, so the screens get every room
   * whatever the server's page size; MAX_ROOM_PAGES bounds the walk.
   */
  listRooms: async ({ status, token, signal } = {}) => {
    const rooms = [];
    let cursor = null;
    for (let page = 0; page < MAX_ROOM_PAGES; page++) {
      const q = new URLSearchParams();
      if (status) q.set("status", status);
      if (cursor) q.set("cursor", cursor);
      const qs = q.toString();
      const data = await call("GET", qs ? `/v1/rooms?${qs}` : "/v1/rooms", { token: token ?? store.session?.token, signal });
      rooms.push(...(data.rooms ?? []));
      cursor = data.next_cursor;
      if (!cursor) break;
    }
    return { rooms };
  },
  getRoom: (id, opts) => call("GET", `/v1/rooms/${enc(id)}`, opts),
  createRoom: (room, token) => call("POST", "/v1/rooms", { body: room, token: token || store.session?.token }),
  approveRoom: (id, token) => call("POST", `/v1/rooms/${enc(id)}/approve`, { body: {}, token }),
  joinRoom: (id) => call("POST", `/v1/rooms/${enc(id)}/join`, { body: {} }),
  leaveRoom: (id) => call("POST", `/v1/rooms/${enc(id)}/leave`, { body: {} }),
  /** listMessages pages history: {before} newest first, {after} oldest first. */
  listMessages: (id, { before, after, limit = 50, signal } = {}) => {
    const q = new URLSearchParams({ limit: String(limit) });
    if (before) q.set("before", before);
    if (after) q.set("after", after);
    return call("GET", `/v1/rooms/${enc(id)}/messages?${q}`, { signal });
  },
  sendMessage: (id, body, clientMsgId) =>
    call("POST", `/v1/rooms/${enc(id)}/messages`, { body: { body, client_msg_id: clientMsgId } }),
  markRead: (id, upTo) => call("POST", `/v1/rooms/${enc(id)}/read`, { body: { up_to: upTo } }),
  react: (id, messageId, emoji) => call("PUT", `/v1/rooms/${enc(id)}/messages/${enc(messageId)}/reactions/${enc(emoji)}`),
  unreact: (id, messageId, emoji) => call("DELETE", `/v1/rooms/${enc(id)}/messages/${enc(messageId)}/reactions/${enc(emoji)}`),
};

/** wsURL is the room's WebSocket address (tokens go in the query: browsers cannot set headers). */
export function wsURL(roomId, sinceSeq) {
  const u = new URL("/v1/ws", location.href);
  u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  u.searchParams.set("room", roomId);
  u.searchParams.set("token", store.session?.token ?? "");
  if (sinceSeq != null) u.searchParams.set("since_seq", String(sinceSeq));
  return u.toString();
}
