// Web Push: notifications while the app is closed (docs/notifier.md). The
// notifier pushes the room's new messages to this browser's subscription;
// sw.js shows them. Subscribing happens only from a user action (the
// notifications switch of the room, notify.js), never on load. A room can
// be muted: no pushes of it, except messages that mention you.

import { h, icon, replace, toast } from "./dom.js";
import { t } from "./i18n.js";
import { api } from "./api.js";

export function pushSupported() {
  return "serviceWorker" in navigator && "PushManager" in window;
}

/** subscribePush subscribes this browser and registers it; false when it cannot. */
export async function subscribePush() {
  if (!pushSupported()) return false;
  try {
    const reg = await navigator.serviceWorker.ready;
    let sub = await reg.pushManager.getSubscription();
    if (!sub) {
      const { public_key: key } = await api.vapidKey();
      sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: fromBase64URL(key) });
    }
    await api.pushSubscribe(sub.toJSON());
    return true;
  } catch {
    // A browser whose push service is out of reach (or a refused
    // permission): notifications still show while the app is open.
    return false;
  }
}

/** unsubscribePush forgets this browser's subscription, here and on the server. */
export async function unsubscribePush() {
  if (!pushSupported()) return;
  try {
    const reg = await navigator.serviceWorker.ready;
    const sub = await reg.pushManager.getSubscription();
    if (!sub) return;
    await api.pushUnsubscribe(sub.endpoint).catch(() => {});
    await sub.unsubscribe();
  } catch {
    // Nothing to undo.
  }
}

function fromBase64URL(s) {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/**
 * muteButton is the room's mute switch: a toggle button that reads the
 * caller's mutes once and flips this room's.
 */
export function muteButton(roomId) {
  let muted = false;
  const btn = h("button", { type: "button", class: "btn btn-ghost btn-small", id: "mute-toggle", "aria-pressed": "false", on: { click: toggle } });
  const draw = () => {
    btn.setAttribute("aria-pressed", String(muted));
    replace(btn, icon(muted ? "🔇" : "🔈"), h("span", { class: "tool-label" }, muted ? t("roomMuted") : t("muteRoom")));
  };
  async function toggle() {
    btn.disabled = true;
    try {
      await (muted ? api.unmute(roomId) : api.mute(roomId));
      muted = !muted;
      toast(muted ? t("mutedToast") : t("unmutedToast"));
    } catch (err) {
      toast(err.message, { kind: "error" });
    } finally {
      btn.disabled = false;
      draw();
    }
  }
  draw();
  api
    .mutes()
    .then(({ room_ids: ids }) => {
      muted = (ids || []).includes(roomId);
      draw();
    })
    .catch(() => {});
  return btn;
}

/**
 * answerServiceWorker lets sw.js ask this window which room it shows (a
 * push of that room is dropped while the window is visible; a click on a
 * notification focuses it) and tell it to reveal a message: the window's
 * URL as the worker sees it (WindowClient.url) is the one it was opened
 * with, not where the app's router has gone since. Called once, at start.
 */
export function answerServiceWorker() {
  if (!navigator.serviceWorker) return;
  navigator.serviceWorker.addEventListener("message", (ev) => {
    if (ev.data?.type === "which-room") ev.ports[0]?.postMessage(location.pathname);
    if (ev.data?.type === "reveal" && typeof ev.data.messageId === "string") reveal(ev.data.messageId);
  });
  navigator.serviceWorker.startMessages();
}

/** revealLinkedMessage scrolls to the message a notification linked (#msg-<id>, sw.js). */
export function revealLinkedMessage() {
  const m = /^#msg-([0-9]{1,19})$/.exec(location.hash);
  if (m) reveal(m[1]);
}

// reveal scrolls to a message once the timeline shows it.
function reveal(id, tries = 50) {
  const li = document.querySelector(`.msg[data-id="${CSS.escape(id)}"]`);
  if (li) {
    li.scrollIntoView({ block: "center" });
    li.classList.add("msg-linked");
    return;
  }
  if (tries > 0) setTimeout(() => reveal(id, tries - 1), 100);
}
