// Service worker of Happy Chat: it keeps the app shell so the app opens
// offline (and then says so itself), and shows and handles notifications.
//
// The server renders this file: VERSION is a hash of every app file and
// SHELL the list of them (realtime/web/web.go), so any change to the app
// installs a new worker with a fresh cache. The API (/v1) is never cached
// here: chat data must be live, and a stale answer would hide being
// offline. (The app itself saves the rooms and history it showed last in
// Cache Storage, "happychat-data-v1", and reads them only when the network
// fails: js/api.js, "saved answers".)

const VERSION = "__HAPPYCHAT_VERSION__";
const SHELL = "__HAPPYCHAT_SHELL__";
const CACHE = `happychat-shell-${VERSION}`;

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      // cache: "reload" skips the HTTP cache, so the shell is this version's.
      await cache.addAll(SHELL.map((url) => new Request(url, { cache: "reload" })));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) {
        if (key.startsWith("happychat-shell-") && key !== CACHE) await caches.delete(key);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/v1/") || ["/healthz", "/readyz", "/metrics"].includes(url.pathname)) return;

  if (req.mode === "navigate") {
    // Every screen is the same document (the router picks the screen), so
    // a navigation is answered with the shell: at once, online or not.
    event.respondWith(shellFirst(req, "/"));
    return;
  }
  event.respondWith(shellFirst(req, url.pathname));
});

// shellFirst answers from this version's cache, falling back to the network
// for anything not in the shell.
async function shellFirst(req, key) {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(key);
  if (hit) return hit;
  return fetch(req);
}

// Web Push (docs/notifier.md): the notifier's payload names the room, its
// latest message (already softened) and how many came in its window. The
// push is dropped when a visible window already shows that room; one
// notification per room (tag), replaced by the next.
//
// A classic worker cannot import js/i18n.js (a module), so the two strings
// a push needs are here, by the browser's language as i18n.js picks it.
const PUSH_STRINGS = {
  en: { more: (n) => `(+${n} more)`, mention: "mentioned you" },
  ko: { more: (n) => `(${n}개 더)`, mention: "님이 회원님을 언급했어요" },
};

function pushStrings() {
  for (const tag of self.navigator.languages || [self.navigator.language]) {
    const base = String(tag || "").toLowerCase().split("-")[0];
    if (PUSH_STRINGS[base]) return PUSH_STRINGS[base];
  }
  return PUSH_STRINGS.en;
}

// roomOf asks a window which screen it shows (js/push.js answers): its
// url is the one it was opened with, not where the app's router went since.
// A window that does not answer in time is taken at its url.
function roomOf(w) {
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    const timer = setTimeout(() => resolve(new URL(w.url).pathname), 500);
    ch.port1.onmessage = (ev) => {
      clearTimeout(timer);
      resolve(String(ev.data));
    };
    w.postMessage({ type: "which-room" }, [ch.port2]);
  });
}

self.addEventListener("push", (event) => {
  let p;
  try {
    p = event.data?.json();
  } catch {
    return;
  }
  if (!p || typeof p.room_id !== "string") return;
  event.waitUntil(
    (async () => {
      const path = `/rooms/${p.room_id}`;
      const wins = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      const shown = await Promise.all(wins.filter((w) => w.visibilityState === "visible").map((w) => roomOf(w)));
      if (shown.includes(path)) return;
      const s = pushStrings();
      const who = p.mention ? `${p.nickname} ${s.mention}` : p.nickname;
      let body = `${who}: ${p.text}`;
      if (p.count > 1) body += ` ${s.more(p.count - 1)}`;
      await self.registration.showNotification(p.room_title || "Happy Chat", {
        body,
        tag: `room-${p.room_id}`,
        renotify: true,
        icon: "/icons/icon-192.png",
        badge: "/icons/badge-96.png",
        timestamp: Date.now(),
        data: { url: `${path}#msg-${p.message_id}`, messageId: p.message_id },
      });
    })(),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL(event.notification.data?.url || "/", self.location.origin);
  const messageId = event.notification.data?.messageId;
  event.waitUntil(
    (async () => {
      const wins = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      // A window on the room already: bring it forward at the message.
      for (const w of wins) {
        if ((await roomOf(w)) === target.pathname && "focus" in w) {
          if (messageId) w.postMessage({ type: "reveal", messageId });
          return w.focus();
        }
      }
      for (const w of wins) {
        if ("focus" in w) {
          // A browser may refuse the focus (it needs the click's user
          // activation): the window still goes to the message.
          await w.focus().catch(() => {});
          if ("navigate" in w) return w.navigate(target.href);
          return;
        }
      }
      return self.clients.openWindow(target.href);
    })(),
  );
});
