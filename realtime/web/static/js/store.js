// What the app remembers on the device. The session (nickname and token) and
// the last topics seen live in localStorage, so the light login survives a
// restart and the topic list shows offline; the admin token lives in
// sessionStorage only, because it is the operator's secret.

const PREFIX = "happychat.";

function read(storage, key) {
  try {
    const raw = storage.getItem(PREFIX + key);
    return raw == null ? null : JSON.parse(raw);
  } catch {
    return null; // storage disabled or a corrupt value: behave as unset
  }
}

function write(storage, key, value) {
  try {
    if (value == null) storage.removeItem(PREFIX + key);
    else storage.setItem(PREFIX + key, JSON.stringify(value));
  } catch {
    // Storage full or disabled: the app still works for this visit.
  }
}

export const store = {
  /** @returns {{user_id: string, nickname: string, token: string} | null} */
  get session() {
    const s = read(localStorage, "session");
    return s && typeof s.token === "string" && typeof s.user_id === "string" ? s : null;
  },
  set session(s) {
    write(localStorage, "session", s);
    if (s) write(localStorage, "nickname", s.nickname);
  },
  /** The last nickname used here, to prefill the login form. */
  get lastNickname() {
    return read(localStorage, "nickname") || "";
  },
  /** The room this user is in, as far as this device knows: {id, title}. */
  get currentRoom() {
    return read(localStorage, "room");
  },
  set currentRoom(r) {
    write(localStorage, "room", r ? { id: r.id, title: r.title } : null);
  },
  /** The room lists last seen: {mine, new, busiest}, arrays of rooms. */
  get cachedRooms() {
    const c = read(localStorage, "rooms");
    // An array is the single list of earlier versions: the busiest.
    if (Array.isArray(c)) return { mine: [], new: [], busiest: c };
    return { mine: c?.mine || [], new: c?.new || [], busiest: c?.busiest || [] };
  },
  /** cachedRoom finds a room in the lists last seen. */
  cachedRoom(id) {
    const c = this.cachedRooms;
    return [...c.mine, ...c.new, ...c.busiest].find((r) => r.id === id) || null;
  },
  set cachedRooms(rooms) {
    write(localStorage, "rooms", rooms);
  },
  get adminToken() {
    return read(sessionStorage, "admin") || "";
  },
  set adminToken(tok) {
    write(sessionStorage, "admin", tok || null);
  },
  get notify() {
    return read(localStorage, "notify") === true;
  },
  set notify(on) {
    write(localStorage, "notify", on ? true : null);
  },
  /** forget drops everything tied to the current identity. */
  forget() {
    write(localStorage, "session", null);
    write(localStorage, "room", null);
    write(localStorage, "rooms", null);
    // The rooms and history saved for offline use (api.js DATA_CACHE; a
    // literal here because api.js imports this module).
    globalThis.caches?.delete("happychat-data-v1").catch(() => {});
  },
};
