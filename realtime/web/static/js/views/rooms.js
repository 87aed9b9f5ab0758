// The front page: open topics, busiest first (the server's order), with
// member counts against capacity and this user's unread counts. The last
// list seen is kept on the device so the page still shows something offline.

import { h, replace, icon, toast } from "../dom.js";
import { t } from "../i18n.js";
import { api } from "../api.js";
import { store } from "../store.js";

const REFRESH_MS = 20000;

export function renderRooms(root, ctx) {
  const list = h("ul", { class: "room-list", id: "room-list", "aria-busy": "true" });
  const note = h("p", { class: "note", role: "status" });
  const refreshBtn = h("button", { type: "button", class: "btn btn-ghost", id: "refresh", on: { click: () => load() } }, icon("🔄"), " ", t("refresh"));
  root.append(
    h(
      "header",
      { class: "page-head" },
      h("div", {}, h("h1", {}, t("roomsTitle")), h("p", { class: "lead" }, t("roomsIntro"))),
      h(
        "div",
        { class: "page-actions" },
        h("a", { href: "/propose", "data-link": true, class: "btn btn-primary", id: "propose-link" }, icon("💡"), " ", t("proposeTopic")),
        refreshBtn,
      ),
    ),
    note,
    list,
    // Rarely needed, so out of the way: the operator's screen.
    h("p", { class: "footer-links" }, h("a", { href: "/admin", "data-link": true, id: "admin-link" }, icon("🛡️"), " ", t("admin"))),
  );

  const abort = new AbortController();
  let timer = null;

  async function load() {
    clearTimeout(timer);
    try {
      const { rooms = [] } = await api.listRooms({ signal: abort.signal });
      store.cachedRooms = rooms;
      note.textContent = "";
      draw(rooms);
    } catch (err) {
      if (abort.signal.aborted) return;
      if (err.code === "network") {
        draw(store.cachedRooms);
        note.textContent = t("offlineCached");
      } else {
        toast(err.message, { kind: "error" });
      }
    } finally {
      list.setAttribute("aria-busy", "false");
      if (!abort.signal.aborted) timer = setTimeout(tick, REFRESH_MS);
    }
  }

  // Refresh in the background only while someone is looking.
  function tick() {
    if (document.visibilityState === "visible") load();
    else timer = setTimeout(tick, REFRESH_MS);
  }
  const onVisible = () => document.visibilityState === "visible" && load();
  document.addEventListener("visibilitychange", onVisible);
  window.addEventListener("online", load);

  function draw(rooms) {
    if (!rooms.length) {
      replace(list, h("li", { class: "empty" }, icon("🌱"), " ", t("noRooms")));
      return;
    }
    const here = store.currentRoom?.id;
    replace(list, rooms.map((r) => roomCard(r, here)));
  }

  load();
  return () => {
    abort.abort();
    clearTimeout(timer);
    document.removeEventListener("visibilitychange", onVisible);
    window.removeEventListener("online", load);
  };
}

function roomCard(r, here) {
  const isHere = r.id === here;
  const full = r.member_count >= r.capacity;
  const unread = Number(r.unread || 0);
  const pct = Math.min(100, Math.round((100 * r.member_count) / Math.max(1, r.capacity)));
  const action = isHere ? t("open") : here ? t("switchHere") : t("join");
  const titleId = `room-title-${r.id}`;
  const bar = h("span", { class: "capacity-fill" });
  bar.style.setProperty("--pct", `${pct}%`);
  return h(
    "li",
    { class: `room-card${isHere ? " is-here" : ""}${full ? " is-full" : ""}`, dataset: { roomId: r.id } },
    h(
      "div",
      { class: "room-card-main" },
      h("h2", { class: "room-title", id: titleId }, r.title),
      r.description ? h("p", { class: "room-desc" }, r.description) : null,
      h(
        "div",
        { class: "room-meta" },
        h(
          "span",
          { class: "capacity", title: t("members", { count: r.member_count, capacity: r.capacity }) },
          icon("👥"),
          h("span", { class: "sr-only" }, t("members", { count: r.member_count, capacity: r.capacity })),
          h("span", { "aria-hidden": "true" }, ` ${t("membersShort", { count: r.member_count, capacity: r.capacity })}`),
          h("span", { class: "capacity-bar", "aria-hidden": "true" }, bar),
        ),
        full ? h("span", { class: "badge badge-full" }, t("full")) : null,
        isHere ? h("span", { class: "badge badge-here" }, t("youAreHere")) : null,
        unread > 0 ? h("span", { class: "badge badge-unread", dataset: { unread: String(unread) } }, t("unread", { count: unread > 999 ? "999+" : unread })) : null,
      ),
    ),
    h("a", { href: `/rooms/${r.id}`, "data-link": true, class: "btn btn-primary room-go", "aria-describedby": titleId }, action),
  );
}
