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

// Read-your-writes (docs/api.md, "Read your writes"): a command's answer
// names where its events are in the log (X-Happychat-Position); reads sent
// soon after pass the positions back, and the server answers them from
// views that include those events. Positions are kept per topic partition,
// the highest offset each, and only for a while: after that the views have
// caught up anyway, and a log recreated under the same names (a dev reset)
// must not keep every read waiting.
const POSITION_HEADER = "X-Happychat-Position";
const POSITION_TTL_MS = 10000;
const positions = new Map(); // "topic:partition" -> { offset, at }

function notePosition(value) {
  if (!value) return;
  const now = Date.now();
  for (const entry of value.split(",")) {
    const i = entry.lastIndexOf(":");
    const offset = Number(entry.slice(i + 1));
    const key = entry.slice(0, i);
    if (i <= 0 || !Number.isSafeInteger(offset)) continue;
    const cur = positions.get(key);
    if (!cur || cur.offset < offset) positions.set(key, { offset, at: now });
    else cur.at = now;
  }
}

function positionHeader() {
  const now = Date.now();
  const out = [];
  for (const [key, p] of positions) {
    if (now - p.at > POSITION_TTL_MS) positions.delete(key);
    else out.push(`${key}:${p.offset}`);
  }
  return out.join(",");
}

async function call(method, path, { body, token = store.session?.token, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const position = positionHeader();
  if (position) headers[POSITION_HEADER] = position;
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
  if (res.ok) notePosition(res.headers.get(POSITION_HEADER));
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

// Saved answers. A room (GET /v1/rooms/{id}) and its newest timeline page
// are saved in Cache Storage each time they are read, for the rooms read
// last; when the network fails, and only then, the saved answer is given
// instead, so a room opens offline with the history seen last (the room
// screen says it is offline). The page does this rather than the service
// worker so that the saved answer is used exactly when the page's own
// request failed. store.forget drops the cache with the session.
export const DATA_CACHE = "happychat-data-v1";
const SAVED_ROOMS = 10; // two answers each

async function saved(key, read) {
  try {
    const data = await read();
    saveAnswer(key, data);
    return data;
  } catch (err) {
    if (err.code !== "network" || !globalThis.caches) throw err;
    const hit = await caches
      .open(DATA_CACHE)
      .then((c) => c.match(key))
      .catch(() => null);
    if (!hit) throw err;
    const data = await hit.json();
    return { ...data, saved: true };
  }
}

function saveAnswer(key, data) {
  if (!globalThis.caches) return;
  (async () => {
    const cache = await caches.open(DATA_CACHE);
    await cache.delete(key);
    await cache.put(key, new Response(JSON.stringify(data), { headers: { "Content-Type": "application/json" } }));
    // keys() lists in insertion order, and a put after a delete moves the
    // room to the end: the oldest go first.
    const keys = await cache.keys();
    for (const old of keys.slice(0, Math.max(0, keys.length - 2 * SAVED_ROOMS))) await cache.delete(old);
  })().catch(() => {});
}

/**
 * saveTimelinePage replaces a room's saved newest timeline page (the
 * answer timelinePage saves) with one the client kept up to date from its
 * socket (savedpage.js).
 */
export function saveTimelinePage(roomId, page) {
  saveAnswer(`/v1/rooms/${enc(roomId)}/timeline`, page);
}

// MAX_ROOM_PAGES bounds the room list's walk (20 pages of the default 100).
const MAX_ROOM_PAGES = 20;

export const api = {
  createSession: (nickname) => call("POST", "/v1/sessions", { body: { nickname }, token: null }),
  /** renameSession keeps the user: the answer is a new session (its old token is revoked). */
  renameSession: (nickname) => call("PATCH", "/v1/sessions/current", { body: { nickname } }),
  // Passkeys (docs/adr/0008-passkeys.md): each ceremony is a begin (options
  // and a challenge id) and a finish (the authenticator's answer).
  passkeyRegisterBegin: () => call("POST", "/v1/passkeys/register/begin", { body: {} }),
  passkeyRegisterFinish: (challengeId, credential) =>
    call("POST", "/v1/passkeys/register/finish", { body: { challenge_id: challengeId, credential } }),
  passkeyLoginBegin: () => call("POST", "/v1/passkeys/login/begin", { body: {}, token: null }),
  passkeyLoginFinish: (challengeId, credential) =>
    call("POST", "/v1/passkeys/login/finish", { body: { challenge_id: challengeId, credential }, token: null }),
  recover: (code) => call("POST", "/v1/passkeys/recover", { body: { code }, token: null }),
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
  /**
   * roomsPage reads one page of the room list: q (title search), sort
   * ("busiest" | "new"), mine (rooms this user is or was in), and the
   * next_cursor of the page before (sent with the same q, sort and mine).
   */
  roomsPage: ({ q, sort, mine, cursor, limit, status, signal } = {}) => {
    const p = new URLSearchParams();
    if (status) p.set("status", status);
    if (q) p.set("q", q);
    if (sort) p.set("sort", sort);
    if (mine) p.set("mine", "true");
    if (cursor) p.set("cursor", cursor);
    if (limit) p.set("limit", String(limit));
    const qs = p.toString();
    return call("GET", qs ? `/v1/rooms?${qs}` : "/v1/rooms", { signal });
  },
  getRoom: (id, opts) => saved(`/v1/rooms/${enc(id)}`, () => call("GET", `/v1/rooms/${enc(id)}`, opts)),
  createRoom: (room, token) => call("POST", "/v1/rooms", { body: room, token: token || store.session?.token }),
  approveRoom: (id, token) => call("POST", `/v1/rooms/${enc(id)}/approve`, { body: {}, token }),
  /** rejectRoom turns a proposal down (an extension: room.rejected). */
  rejectRoom: (id, token, reason = "") => call("POST", `/v1/rooms/${enc(id)}/reject`, { body: reason ? { reason } : {}, token }),
  joinRoom: (id) => call("POST", `/v1/rooms/${enc(id)}/join`, { body: {} }),
  leaveRoom: (id) => call("POST", `/v1/rooms/${enc(id)}/leave`, { body: {} }),
  /** listMessages pages history: {before} newest first, {after} oldest first. */
  listMessages: (id, { before, after, limit = 50, signal } = {}) => {
    const q = new URLSearchParams({ limit: String(limit) });
    if (before) q.set("before", before);
    if (after) q.set("after", after);
    return call("GET", `/v1/rooms/${enc(id)}/messages?${q}`, { signal });
  },
  /**
   * timelinePage reads the room's timeline (an extension of the service):
   * messages, joins and leaves as the socket showed them, newest first;
   * {beforeSeq} pages back (next_before_seq of the page before).
   */
  timelinePage: (id, { beforeSeq, limit = 50, signal } = {}) => {
    const q = new URLSearchParams({ limit: String(limit) });
    const path = `/v1/rooms/${enc(id)}/timeline`;
    if (beforeSeq) {
      q.set("before_seq", String(beforeSeq));
      return call("GET", `${path}?${q}`, { signal });
    }
    return saved(path, () => call("GET", `${path}?${q}`, { signal }));
  },
  /** sendMessage sends; extra may hold reply_to and mentions (feature level 3). */
  sendMessage: (id, body, clientMsgId, extra = {}) =>
    call("POST", `/v1/rooms/${enc(id)}/messages`, { body: { body, client_msg_id: clientMsgId, ...extra } }),
  editMessage: (id, messageId, body) => call("PATCH", `/v1/rooms/${enc(id)}/messages/${enc(messageId)}`, { body: { body } }),
  /** deleteMessage takes a message back; token: the admin token for someone else's. */
  deleteMessage: (id, messageId, token) =>
    call("DELETE", `/v1/rooms/${enc(id)}/messages/${enc(messageId)}`, { body: {}, ...(token ? { token } : {}) }),
  typing: (id) => call("POST", `/v1/rooms/${enc(id)}/typing`),
  markRead: (id, upTo) => call("POST", `/v1/rooms/${enc(id)}/read`, { body: { up_to: upTo } }),
  react: (id, messageId, emoji) => call("PUT", `/v1/rooms/${enc(id)}/messages/${enc(messageId)}/reactions/${enc(emoji)}`),
  unreact: (id, messageId, emoji) => call("DELETE", `/v1/rooms/${enc(id)}/messages/${enc(messageId)}/reactions/${enc(emoji)}`),
  // Private rooms, invites and direct messages (feature level 4).
  conversations: () => call("GET", "/v1/conversations"),
  createInvite: (id, { maxUses, expiresInSeconds } = {}) =>
    call("POST", `/v1/rooms/${enc(id)}/invites`, { body: { max_uses: maxUses, expires_in_seconds: expiresInSeconds } }),
  acceptInvite: (code) => call("POST", `/v1/invites/${enc(code)}/accept`, { body: {} }),
  openDirect: (who) => call("POST", "/v1/dms", { body: who }),
  shareCode: () => call("GET", "/v1/dms/share-code"),
  // Moderation (feature level 5): action is kick, ban or unban; token is
  // the admin token when an admin acts (undefined: the session's).
  moderate: (id, action, body, token) => call("POST", `/v1/rooms/${enc(id)}/${action}`, { body, ...(token ? { token } : {}) }),
  /** bans lists a room's current bans (its moderators only); token as for moderate. */
  bans: (id, token) => call("GET", `/v1/rooms/${enc(id)}/bans`, token ? { token } : {}),
  closeRoom: (id, reason, token) => call("POST", `/v1/rooms/${enc(id)}/close`, { body: reason ? { reason } : {}, token }),
  // Blocks and reports (feature level 5; blockreport.js, views/admin_reports.js).
  blocks: () => call("GET", "/v1/me/blocks"),
  block: (userId) => call("POST", "/v1/me/blocks", { body: { user_id: userId } }),
  unblock: (userId) => call("DELETE", `/v1/me/blocks/${enc(userId)}`),
  report: (id, messageId, reason, note) =>
    call("POST", `/v1/rooms/${enc(id)}/messages/${enc(messageId)}/reports`, { body: note ? { reason, note } : { reason } }),
  reports: ({ status = "open", before, token } = {}) => {
    const q = new URLSearchParams({ status });
    if (before) q.set("before", before);
    return call("GET", `/v1/admin/reports?${q}`, { token });
  },
  resolveReport: (reportId, outcome, token) => call("POST", `/v1/admin/reports/${enc(reportId)}/resolve`, { body: { outcome }, token }),
  // Web Push (docs/notifier.md): the key to subscribe with, the browser's
  // subscriptions, and the rooms muted.
  vapidKey: () => call("GET", "/v1/push/vapid-key", { token: null }),
  pushSubscribe: (subscription) => call("POST", "/v1/push/subscriptions", { body: subscription }),
  pushUnsubscribe: (endpoint) => call("DELETE", "/v1/push/subscriptions", { body: { endpoint } }),
  mutes: () => call("GET", "/v1/push/mutes"),
  mute: (id) => call("PUT", `/v1/rooms/${enc(id)}/mute`),
  unmute: (id) => call("DELETE", `/v1/rooms/${enc(id)}/mute`),
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

/** eventsURL is the room's event stream, the fallback when WebSockets do not get through (the token in the query: EventSource cannot set headers). */
export function eventsURL(roomId, sinceSeq) {
  const u = new URL(`/v1/rooms/${enc(roomId)}/events`, location.href);
  u.searchParams.set("token", store.session?.token ?? "");
  if (sinceSeq != null) u.searchParams.set("since_seq", String(sinceSeq));
  return u.toString();
}
