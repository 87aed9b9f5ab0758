// Entry point of the web client: the app frame (header, connection state,
// offline banner), the router, and the service worker. Each screen lives in
// js/views/ and returns a cleanup function that the router calls on leave.

import { t, lang, countChars } from "./js/i18n.js";
import { h, replace, toast, focusHeading, icon } from "./js/dom.js";
import { store } from "./js/store.js";
import { startRouter, navigate } from "./js/router.js";
import { api } from "./js/api.js";
import { renderLogin } from "./js/views/login.js";
import { renderRooms } from "./js/views/rooms.js";
import { renderPropose } from "./js/views/propose.js";
import { renderAdmin } from "./js/views/admin.js";
import { renderRoom } from "./js/views/room.js";
import { unsubscribePush, answerServiceWorker } from "./js/push.js";
import { avatar, tag } from "./js/identity.js";
import { openPasskeyDialog } from "./js/passkeys.js";
import { openBlockedDialog } from "./js/blockreport.js";

const main = document.getElementById("main");
const connPill = document.getElementById("conn");
const offlineBanner = document.getElementById("offline-banner");
const userBox = document.getElementById("user");

document.documentElement.lang = lang;
document.title = t("appName");
document.getElementById("skip-link").textContent = t("skipToContent");
document.getElementById("brand-name").textContent = t("appName");

// Connection state: a room screen reports its socket's state; elsewhere it
// is the browser's own online flag.
let socketState = null;

function showConn() {
  const offline = navigator.onLine === false;
  const state = offline ? "offline" : socketState?.state || "online";
  const labels = {
    // "Connected" only where there is a live socket to speak of.
    online: socketState ? t("connOnline") : t("connOnlineIdle"),
    connecting: t("connConnecting"),
    reconnecting: socketState?.retryInMs ? t("connRetryIn", { seconds: Math.ceil(socketState.retryInMs / 1000) }) : t("connReconnecting"),
    offline: t("connOffline"),
  };
  connPill.dataset.state = state;
  // Not shown: which transport carries the room (tests and support read it).
  connPill.dataset.transport = socketState?.transport || "";
  connPill.textContent = labels[state] || state;
  document.body.dataset.conn = state;
  offlineBanner.hidden = !offline;
  offlineBanner.textContent = t("offlineBanner");
}

/** setConnection is how the room screen reports its socket. */
function setConnection(state, info = {}) {
  socketState = state ? { state, ...info } : null;
  showConn();
}

window.addEventListener("online", () => {
  showConn();
  toast(t("backOnline"));
});
window.addEventListener("offline", showConn);

function renderUser() {
  const s = store.session;
  if (!s) return replace(userBox);
  replace(
    userBox,
    avatar(s.nickname, s.user_id),
    h("span", { class: "user-name", id: "user-name", title: t("signedInAs", { nickname: s.nickname }) }, s.nickname, " ", tag(s.user_id)),
    h(
      "button",
      { type: "button", class: "btn btn-ghost btn-small btn-icon", id: "change-nickname", "aria-label": t("changeNickname"), title: t("changeNickname"), on: { click: changeNickname } },
      icon("✏️"),
    ),
    h(
      "button",
      { type: "button", class: "btn btn-ghost btn-small btn-icon", id: "passkey-open", "aria-label": t("passkeyButton"), title: t("passkeyButton"), on: { click: openPasskeyDialog } },
      icon("🔑"),
    ),
    h(
      "button",
      { type: "button", class: "btn btn-ghost btn-small btn-icon", id: "blocked-open", "aria-label": t("blockedUsers"), title: t("blockedUsers"), on: { click: openBlockedDialog } },
      icon("🚫"),
    ),
  );
}

// changeNickname renames the user (PATCH /v1/sessions/current): the same
// user, room and messages, a new name and token; the old token is revoked,
// so the screen is drawn again with the new one (a room screen rejoins as a
// no-op and resumes its socket).
function changeNickname() {
  const s = store.session;
  if (!s) return;
  const error = h("p", { class: "form-error", id: "rename-error", role: "alert" });
  const input = h("input", { id: "rename-input", name: "nickname", type: "text", autocomplete: "nickname", required: true, maxlength: "64", value: s.nickname, "aria-describedby": "rename-hint rename-error" });
  const save = h("button", { type: "submit", class: "btn btn-primary", id: "rename-save" }, t("renameSave"));
  const dialog = h(
    "dialog",
    { class: "rename-dialog", id: "rename-dialog", "aria-labelledby": "rename-title" },
    h(
      "form",
      { class: "stack", novalidate: true, on: { submit } },
      h("h2", { id: "rename-title" }, t("renameTitle")),
      h("label", { for: "rename-input" }, t("nicknameLabel")),
      input,
      h("p", { class: "hint", id: "rename-hint" }, t("renameHint")),
      error,
      h("div", { class: "actions" }, h("button", { type: "button", class: "btn btn-ghost", id: "rename-cancel", on: { click: () => dialog.close() } }, t("cancel")), save),
    ),
  );
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  input.select();

  async function submit(ev) {
    ev.preventDefault();
    const nickname = input.value.trim();
    const n = countChars(nickname);
    if (n < 1 || n > 32 || /\p{Cc}/u.test(nickname)) {
      error.textContent = n > 32 ? t("tooLong", { max: 32 }) : t("nicknameHint");
      input.setAttribute("aria-invalid", "true");
      return input.focus();
    }
    if (nickname === s.nickname) return dialog.close();
    save.disabled = true;
    try {
      const next = await api.renameSession(nickname);
      store.session = { user_id: next.user_id, nickname: next.nickname, token: next.token };
    } catch (err) {
      save.disabled = false;
      error.textContent = err.message || t("errorGeneric");
      input.setAttribute("aria-invalid", "true");
      return input.focus();
    }
    dialog.close();
    toast(t("renamed", { nickname }));
    navigate(location.pathname, { replace: true });
  }
}

window.addEventListener("happychat:unauthorized", () => {
  // This device must not keep getting pushes of a session that is over:
  // the push service then answers 410 and the notifier drops it.
  unsubscribePush();
  store.forget();
  renderUser();
  toast(t("sessionExpired"), { kind: "error" });
  navigate(location.pathname, { replace: true });
});

// The admin entry sits in the header once this tab holds the admin token
// (the admin screen keeps it in sessionStorage); others find the screen at
// the foot of the topic list.
const adminNav = document.getElementById("admin-nav");
function renderAdminNav() {
  replace(adminNav, icon("🛡️"), " ", t("admin"));
  adminNav.hidden = !store.adminToken;
}

window.addEventListener("happychat:admin", renderAdminNav);

let cleanup = null;

function render(route) {
  try {
    cleanup?.();
  } catch (err) {
    console.error("leaving screen", err);
  }
  cleanup = null;
  setConnection(null);
  window.scrollTo(0, 0);
  const ctx = { navigate, setConnection, onSession: renderUser };
  const screen = h("div", { class: `screen screen-${route.name}` });
  replace(main, screen);
  document.body.dataset.route = route.name;
  renderUser();
  renderAdminNav();
  if (!store.session) {
    cleanup = renderLogin(screen, ctx);
  } else if (route.name === "rooms") {
    cleanup = renderRooms(screen, ctx);
  } else if (route.name === "propose") {
    cleanup = renderPropose(screen, ctx);
  } else if (route.name === "admin") {
    cleanup = renderAdmin(screen, ctx);
  } else if (route.name === "room") {
    cleanup = renderRoom(screen, route.params, ctx);
  } else {
    screen.append(
      h("section", { class: "card narrow" }, h("h1", {}, t("notFoundTitle")), h("p", {}, h("a", { href: "/", "data-link": true, class: "btn" }, t("home")))),
    );
  }
  if (typeof cleanup !== "function") cleanup = null;
  focusHeading(screen);
}

async function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return;
  try {
    const hadController = Boolean(navigator.serviceWorker.controller);
    await navigator.serviceWorker.register("/sw.js", { scope: "/" });
    navigator.serviceWorker.addEventListener("controllerchange", () => {
      if (hadController) toast(t("updated"));
    });
  } catch (err) {
    console.warn("service worker not registered", err);
  }
}

showConn();
answerServiceWorker();
startRouter(render);
registerServiceWorker();
