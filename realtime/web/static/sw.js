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

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL(event.notification.data?.url || "/", self.location.origin).href;
  event.waitUntil(
    (async () => {
      const wins = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      for (const w of wins) {
        if (w.url === target && "focus" in w) return w.focus();
      }
      for (const w of wins) {
        if ("focus" in w) {
          await w.focus();
          if ("navigate" in w) return w.navigate(target);
          return;
        }
      }
      return self.clients.openWindow(target);
    })(),
  );
});
