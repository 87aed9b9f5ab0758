// The front page: find a topic. A title search (the server's ?q=), and
// without one three sections: the rooms this user is or was in ("your
// rooms": the current one first, then the ones visited before), the newest
// rooms, and the busiest, which pages through the server's cursor as the
// user scrolls. Cards show member counts against capacity and, in rooms the
// user has been in, its unread count. The last lists seen are kept on the
// device so the page still shows something offline.

import { h, replace, icon, toast } from "../dom.js";
import { t } from "../i18n.js";
import { api } from "../api.js";
import { store } from "../store.js";
import { conversationsSection, acceptInviteFromHash } from "./conversations.js";

const REFRESH_MS = 20000;
const SEARCH_DELAY_MS = 300;
// Page sizes: a phone screen shows about four cards, a desktop nine.
const MINE_LIMIT = 6;
const NEW_LIMIT = 6;
const PAGE_LIMIT = 24;
// NEAR_PX: how far below the screen the end of the busiest list starts the
// next page.
const NEAR_PX = 600;
// The server refuses longer searches (q: 1–100 code points).
const MAX_SEARCH = 100;

export function renderRooms(root, ctx) {
  // An invite link (/#invite=<code>) lands here: accept it and open the room.
  acceptInviteFromHash(ctx.navigate);
  // Private rooms and DMs: never in the topic lists below.
  const convs = conversationsSection(ctx.navigate);
  const note = h("p", { class: "note", role: "status" });
  const refreshBtn = h("button", { type: "button", class: "btn btn-ghost", id: "refresh", on: { click: () => refresh() } }, icon("🔄"), " ", t("refresh"));
  const search = h("input", {
    type: "search",
    id: "room-search",
    class: "input",
    name: "q",
    maxlength: String(MAX_SEARCH),
    autocomplete: "off",
    enterkeyhint: "search",
    placeholder: t("searchPlaceholder"),
    "aria-describedby": "room-search-hint",
  });
  const searchForm = h(
    "form",
    { class: "room-search", role: "search", on: { submit: (e) => (e.preventDefault(), runSearch()) } },
    h("label", { for: "room-search", class: "sr-only" }, t("searchLabel")),
    icon("🔎"),
    search,
    h("span", { id: "room-search-hint", class: "sr-only" }, t("searchHint")),
  );

  const mine = section("mine", t("sectionMine"));
  // Shown once the first refresh finds rooms of the user's: no empty
  // heading while the sections load.
  mine.el.hidden = true;
  const fresh = section("new", t("sectionNew"));
  const busiest = section("busiest", t("sectionBusiest"));
  const results = section("results", t("sectionResults"));
  // The list the scroll extends: busiest without a search, else the results.
  const more = h("button", { type: "button", class: "btn btn-ghost more", id: "rooms-more", hidden: true, on: { click: () => loadMore() } }, t("moreRooms"));
  const sentinel = h("div", { class: "rooms-sentinel", "aria-hidden": "true" });

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
    searchForm,
    note,
    convs.el,
    mine.el,
    fresh.el,
    busiest.el,
    results.el,
    more,
    sentinel,
    // The operator's screen: in the header once unlocked (app.js), and here
    // for whoever has the admin token to enter.
    h("p", { class: "footer-links" }, h("a", { href: "/admin", "data-link": true, id: "admin-link" }, icon("🛡️"), " ", t("admin"))),
  );

  const abort = new AbortController();
  let timer = null;
  let searchTimer = null;
  // The paged list: its query, cursor and whether a page is on its way.
  let paged = { section: busiest, query: {}, cursor: null, loading: false };
  let q = "";

  /** page reads one page of a list; offline, the list as last seen. */
  async function page(query) {
    const data = await api.roomsPage({ ...query, signal: abort.signal });
    return { rooms: data.rooms ?? [], next: data.next_cursor ?? null };
  }

  function showSections(searching) {
    mine.el.hidden = searching || mine.list.childElementCount === 0;
    fresh.el.hidden = searching;
    busiest.el.hidden = searching;
    results.el.hidden = !searching;
  }

  // refresh reloads what the screen shows: the sections' first pages (a
  // list the user has scrolled deeper into keeps its pages until then), or
  // the search's.
  async function refresh() {
    clearTimeout(timer);
    convs.refresh();
    const here = store.currentRoom?.id;
    try {
      if (q) {
        await startPaged(results, { q });
      } else {
        const [m, n] = await Promise.all([
          page({ mine: true, limit: MINE_LIMIT }),
          page({ sort: "new", limit: NEW_LIMIT }),
          paged.section === busiest && paged.pages > 1 ? null : startPaged(busiest, {}),
        ]);
        // The current room leads "your rooms" whatever its rank.
        m.rooms.sort((a, b) => (b.id === here) - (a.id === here));
        draw(mine, m.rooms, here);
        draw(fresh, n.rooms, here);
        store.cachedRooms = { mine: m.rooms, new: n.rooms, busiest: [...busiest.rooms] };
      }
      note.textContent = "";
    } catch (err) {
      if (abort.signal.aborted) return;
      if (err.code === "network") {
        const cached = store.cachedRooms;
        draw(mine, cached.mine, here);
        draw(fresh, cached.new, here);
        draw(busiest, cached.busiest, here);
        more.hidden = true;
        note.textContent = t("offlineCached");
      } else {
        toast(err.message, { kind: "error" });
      }
    } finally {
      showSections(Boolean(q));
      if (!abort.signal.aborted) timer = setTimeout(tick, REFRESH_MS);
    }
  }

  async function startPaged(sec, query) {
    paged = { section: sec, query, cursor: null, loading: true, pages: 1 };
    sec.list.setAttribute("aria-busy", "true");
    try {
      const p = await page({ ...query, limit: PAGE_LIMIT });
      sec.rooms = p.rooms;
      draw(sec, p.rooms, store.currentRoom?.id);
      paged.cursor = p.next;
      more.hidden = !p.next;
    } finally {
      paged.loading = false;
      sec.list.setAttribute("aria-busy", "false");
    }
    loadIfNear();
  }

  // loadMore appends the paged list's next page (the server's cursor).
  async function loadMore() {
    const cur = paged;
    if (cur.loading || !cur.cursor) return;
    cur.loading = true;
    cur.section.list.setAttribute("aria-busy", "true");
    try {
      const p = await page({ ...cur.query, cursor: cur.cursor, limit: PAGE_LIMIT });
      if (cur !== paged) return; // a new search replaced this list
      const here = store.currentRoom?.id;
      const seen = new Set(cur.section.rooms.map((r) => r.id));
      // A room whose rank changed between two pages may come twice.
      const fresh = p.rooms.filter((r) => !seen.has(r.id));
      cur.section.rooms.push(...fresh);
      cur.section.list.append(...fresh.map((r) => roomCard(r, here)));
      cur.cursor = p.next;
      cur.pages++;
      more.hidden = !p.next;
    } catch (err) {
      if (!abort.signal.aborted && err.code !== "network") toast(err.message, { kind: "error" });
    } finally {
      cur.loading = false;
      cur.section.list.setAttribute("aria-busy", "false");
    }
    if (cur === paged) loadIfNear();
  }

  // loadIfNear loads the next page when the end of the list is (still) in
  // view once a page is in: the observer reports the end coming into view
  // only once, and a page on its way then ignored it, so a list that did
  // not fill the screen, or was scrolled to its end while loading, would
  // otherwise stop growing.
  function loadIfNear() {
    if (!paged.cursor || paged.loading || !sentinel.isConnected) return;
    if (sentinel.getBoundingClientRect().top < window.innerHeight + NEAR_PX) loadMore();
  }

  // Infinite scroll: the next page loads as the end of the list comes into
  // view; the "more" button does the same by keyboard or without it.
  const observer =
    "IntersectionObserver" in window
      ? new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && loadMore(), { rootMargin: `${NEAR_PX}px 0px` })
      : null;
  observer?.observe(sentinel);

  function runSearch() {
    clearTimeout(searchTimer);
    const next = search.value.trim().slice(0, MAX_SEARCH);
    if (next === q) return;
    q = next;
    if (q) replace(results.title, t("sectionResultsFor", { q }));
    if (!q) paged = { section: busiest, query: {}, cursor: null, loading: false, pages: 0 };
    refresh();
  }
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(runSearch, SEARCH_DELAY_MS);
  });

  // Refresh in the background only while someone is looking.
  function tick() {
    if (document.visibilityState === "visible") refresh();
    else timer = setTimeout(tick, REFRESH_MS);
  }
  const onVisible = () => document.visibilityState === "visible" && refresh();
  document.addEventListener("visibilitychange", onVisible);
  window.addEventListener("online", refresh);

  refresh();
  return () => {
    abort.abort();
    clearTimeout(timer);
    clearTimeout(searchTimer);
    observer?.disconnect();
    document.removeEventListener("visibilitychange", onVisible);
    window.removeEventListener("online", refresh);
  };
}

/** section is a titled list of room cards. */
function section(name, title) {
  const titleId = `rooms-${name}-title`;
  const heading = h("h2", { class: "rooms-section-title", id: titleId }, title);
  const list = h("ul", { class: "room-list", id: `rooms-${name}`, "aria-labelledby": titleId });
  const el = h("section", { class: `rooms-section rooms-section-${name}`, dataset: { section: name } }, heading, list);
  return { el, list, title: heading, rooms: [] };
}

function draw(sec, rooms = [], here) {
  sec.rooms = [...rooms];
  if (!rooms.length) {
    replace(sec.list, h("li", { class: "empty" }, icon("🌱"), " ", sec.el.dataset.section === "results" ? t("noResults") : t("noRooms")));
    if (sec.el.dataset.section === "mine") sec.list.replaceChildren();
    return;
  }
  replace(sec.list, rooms.map((r) => roomCard(r, here)));
}

function roomCard(r, here) {
  const isHere = r.id === here;
  const full = r.member_count >= r.capacity;
  const unread = Number(r.unread || 0);
  const pct = Math.min(100, Math.round((100 * r.member_count) / Math.max(1, r.capacity)));
  const titleId = `room-title-${r.id}-${Math.random().toString(36).slice(2, 7)}`;
  const bar = h("span", { class: "capacity-fill" });
  bar.style.setProperty("--pct", `${pct}%`);
  // A full room has no primary action: joining it would only be refused.
  // The link stays (secondary) to look in; the room screen says it is full.
  let go;
  if (isHere) go = h("a", { href: `/rooms/${r.id}`, "data-link": true, class: "btn btn-primary room-go", "aria-describedby": titleId }, t("open"));
  else if (full) go = h("a", { href: `/rooms/${r.id}`, "data-link": true, class: "btn btn-ghost room-go room-go-full", "aria-describedby": titleId }, t("fullLook"));
  else go = h("a", { href: `/rooms/${r.id}`, "data-link": true, class: "btn btn-primary room-go", "aria-describedby": titleId }, here ? t("switchHere") : t("join"));
  return h(
    "li",
    { class: `room-card${isHere ? " is-here" : ""}${full ? " is-full" : ""}`, dataset: { roomId: r.id } },
    h(
      "div",
      { class: "room-card-main" },
      h("h3", { class: "room-title", id: titleId }, r.title),
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
    go,
  );
}
