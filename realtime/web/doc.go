// Package web owns the chat's web/PWA client: plain JavaScript modules,
// styles, the web app manifest, the icons and the service worker, embedded
// in the binary with go:embed (there is no build step), and the
// http.Handler that serves them at the site root.
//
// The app speaks only the public contract (/v1 over HTTP and /v1/ws), so
// the package imports nothing of the services: the realtime service and the
// all-in-one dev mode mount Handler as their fallback route.
//
// Serving rules, and why:
//   - Every file is sent with an exact Content-Type from a fixed table (the
//     host's mime.types must not decide what a module script is), a strong
//     ETag and "Cache-Control: no-cache": files have no content hash in
//     their names, so browsers revalidate (a cheap 304) and the service
//     worker, not the HTTP cache, is what makes the app open offline.
//   - sw.js is rendered at start with a version (a hash of every other file)
//     and the list of shell files to precache, so any change to the app
//     installs a new service worker and a fresh cache without a hand-kept
//     list.
//   - App routes (/, /rooms/{id}, /propose, /admin) answer index.html so a
//     reload or a shared link opens the right screen; anything else is the
//     contract's JSON 404, so unknown API paths stay machine-readable.
//   - A strict Content-Security-Policy (no inline script or style, no eval,
//     connections to the same origin only) backs the app's own rule that
//     message text is only ever rendered as text.
//
// Concurrency: the assets are built once, on the first call to Handler, and
// are read-only afterwards; the handler is safe for concurrent use.
package web
