// DOM building without HTML strings. Every piece of text, above all what
// users wrote, goes in as a Text node: the app never sets innerHTML, so a
// message holding <script> or <img onerror> stays inert text.

/**
 * h creates an element. props: attributes (class, aria-*, data-*, …), with
 * `on` for event listeners and boolean values toggling an attribute.
 * children: nodes, strings (as text), arrays, null/false (skipped).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue;
    if (key === "on") {
      for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "value" || key === "checked" || key === "disabled") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** replace empties el and appends children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** icon returns a decorative emoji span hidden from assistive technology. */
export function icon(emoji) {
  return h("span", { class: "icon", "aria-hidden": "true" }, emoji);
}

let politeRegion;
let assertiveRegion;

/** announce tells screen readers about something that happened. */
export function announce(text, { urgent = false } = {}) {
  politeRegion ??= document.getElementById("announce-polite");
  assertiveRegion ??= document.getElementById("announce-assertive");
  const region = urgent ? assertiveRegion : politeRegion;
  if (!region) return;
  // Clearing first makes a repeated text be read again.
  region.textContent = "";
  setTimeout(() => (region.textContent = text), 30);
}

let toastTimer;

/** toast shows a short message at the bottom of the screen and announces it. */
export function toast(text, { kind = "info", ms = 4500 } = {}) {
  const el = document.getElementById("toast");
  if (!el) return;
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), ms);
  announce(text, { urgent: kind === "error" });
}

/** focusHeading moves focus to a screen's heading after navigation. */
export function focusHeading(root) {
  const heading = root.querySelector("h1, h2");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}
