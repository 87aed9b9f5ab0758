// Notifications for messages that arrive in your room while the page is
// hidden. They go through the service worker (showNotification), which works
// on mobile where `new Notification()` does not, and whose click handler
// brings the chat back (sw.js). Permission is only ever asked from a click.

import { store } from "./store.js";
import { subscribePush, unsubscribePush } from "./push.js";

export function notificationsSupported() {
  return "Notification" in window && "serviceWorker" in navigator;
}

/** notifyState: "on" | "off" | "blocked" | "unsupported". */
export function notifyState() {
  if (!notificationsSupported()) return "unsupported";
  if (Notification.permission === "denied") return "blocked";
  return Notification.permission === "granted" && store.notify ? "on" : "off";
}

/**
 * enableNotifications must be called from a user action (a click). It also
 * subscribes this browser to Web Push, so that messages notify while the
 * app is closed; pushed is false when that is not possible here (the
 * in-page notifications still work).
 */
export async function enableNotifications() {
  if (!notificationsSupported()) return { state: "unsupported", pushed: false };
  let p = Notification.permission;
  if (p === "default") p = await Notification.requestPermission();
  store.notify = p === "granted";
  const pushed = store.notify ? await subscribePush() : false;
  return { state: notifyState(), pushed };
}

export function disableNotifications() {
  store.notify = false;
  unsubscribePush();
}

/** notifyMessage shows a notification if the page is hidden and the user opted in. */
export async function notifyMessage({ title, body, roomId, tag }) {
  if (document.visibilityState === "visible" || notifyState() !== "on") return false;
  const reg = await navigator.serviceWorker.getRegistration();
  if (!reg) return false;
  await reg.showNotification(title, {
    body,
    tag: tag || `room-${roomId}`,
    renotify: true,
    icon: "/icons/icon-192.png",
    badge: "/icons/badge-96.png",
    data: { url: `/rooms/${roomId}` },
  });
  return true;
}
