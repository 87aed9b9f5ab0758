// Entry point of the web client: the app frame (header, connection state,
// offline banner), the router, and the service worker. Each screen lives in
// js/views/ and returns a cleanup function that the router calls on leave.

import { t, lang } from "./js/i18n.js";
import { h, replace, toast, focusHeading, icon } from "./js/dom.js";
import { store } from "./js/store.js";
import { startRouter, navigate } from "./js/router.js";
import { api } from "./js/api.js";
import { renderLogin } from "./js/views/login.js";
import { renderRooms } from "./js/views/rooms.js";
import { renderPropose } from "./js/views/propose.js";
import { renderAdmin } from "./js/views/admin.js";
import { renderRoom } from "./js/views/room.js";

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
    h("span", { class: "user-name", title: t("signedInAs", { nickname: s.nickname }) }, icon("😊"), " ", s.nickname),
    h(
      "button",
      { type: "button", class: "btn btn-ghost btn-small btn-icon", id: "change-nickname", "aria-label": t("changeNickname"), title: t("changeNickname"), on: { click: changeNickname } },
      icon("✏️"),
    ),
  );
}

async function changeNickname() {
  const room = store.currentRoom;
  // Best effort: the old anonymous identity should not keep a seat taken.
  if (room) await api.leaveRoom(room.id).catch(() => {});
  store.forget();
  renderUser();
  navigate("/");
}

window.addEventListener("happychat:unauthorized", () => {
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
startRouter(render);
registerServiceWorker();
