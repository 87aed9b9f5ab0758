// Client-side routes. The server answers index.html for exactly these paths
// (realtime/web/web.go isAppRoute): keep the two lists in step.

const routes = [
  { name: "rooms", re: /^\/$/ },
  { name: "propose", re: /^\/propose$/ },
  { name: "admin", re: /^\/admin$/ },
  { name: "room", re: /^\/rooms\/([0-9]{1,19})$/, keys: ["id"] },
];

/** match returns {name, params} for a path, or {name: "notFound"}. */
export function match(path) {
  for (const r of routes) {
    const m = r.re.exec(path);
    if (m) {
      const params = {};
      (r.keys || []).forEach((k, i) => (params[k] = m[i + 1]));
      return { name: r.name, params };
    }
  }
  return { name: "notFound", params: {} };
}

/**
 * startRouter calls render(route) now and on every navigation: history
 * changes and clicks on same-origin links marked data-link.
 */
export function startRouter(render) {
  const go = () => render(match(location.pathname));
  window.addEventListener("popstate", go);
  document.addEventListener("click", (ev) => {
    const a = ev.target.closest?.("a[data-link]");
    if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    const url = new URL(a.href);
    if (url.origin !== location.origin) return;
    ev.preventDefault();
    navigate(url.pathname);
  });
  onNavigate = go;
  go();
}

let onNavigate = null;

/** navigate changes the route; replace keeps the history entry. */
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else if (path !== location.pathname) history.pushState(null, "", path);
  onNavigate?.();
}
