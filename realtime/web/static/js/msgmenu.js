// The message action menu: what a person can do with one message (reply,
// react, edit, delete, and whatever other features add). It opens from the
// ⋯ button every message carries (always visible on touch screens, on
// hover or focus with a mouse), from a long press on a phone, and from a
// right click; it is a role="menu" of buttons, walked with the arrow keys,
// closed by Escape, Tab or a click elsewhere, and focus goes back to the ⋯
// button it came from. The ⋯ buttons are one tab stop (a roving tabindex:
// Tab reaches the newest, or the last one used; up and down move between
// messages), so a long history does not stand between Tab and the composer.
//
// Actions are a registry: a feature adds one with one call,
//
//	addMessageAction({ id: "report", order: 50, icon: "🚩",
//	  label: () => /* its string */, available: (m, ctx) => !m.mine,
//	  run: (m, ctx) => … });
//
// m is the message as the timeline shows it (messageOf) and ctx what the
// room screen gave bindMessageMenu (its id, the user, the composer, …).

import { h, replace } from "./dom.js";
import { t } from "./i18n.js";
import "./msgactions-strings.js";

const actions = [];
let ctx = null;
let openMenu = null;

// A press this long (ms) on a message opens its menu on touch screens.
const LONG_PRESS_MS = 500;
// A finger that moves this far (px) is scrolling, not pressing.
const MOVE_SLOP = 10;

/**
 * addMessageAction registers an action of the menu. order sorts the
 * items (smaller first); available(m, ctx) says whether it applies to a
 * message; run(m, ctx, trigger) does it (trigger: the element focus
 * returns to).
 */
export function addMessageAction(action) {
  const at = actions.findIndex((a) => a.id === action.id);
  if (at >= 0) actions.splice(at, 1);
  actions.push(action);
  actions.sort((a, b) => (a.order ?? 100) - (b.order ?? 100));
}

/** messageActions lists the registered actions (for tests and features). */
export function messageActions() {
  return [...actions];
}

/** messageOf describes a rendered message for the actions. */
export function messageOf(li) {
  return {
    id: li.dataset.id,
    userId: li.dataset.userId,
    nickname: li.nickname || "",
    body: li.querySelector(".msg-body")?.textContent || "",
    deleted: li.classList.contains("deleted"),
    mine: li.classList.contains("mine"),
    li,
  };
}

/** moreButton is the ⋯ button a rendered message carries. */
export function moreButton(nickname) {
  return h(
    "button",
    { type: "button", class: "msg-more", tabindex: "-1", "aria-haspopup": "menu", "aria-expanded": "false", "aria-label": t("messageActionsFor", { nickname }), title: t("messageActions") },
    h("span", { "aria-hidden": "true" }, "⋯"),
  );
}

/**
 * bindMessageMenu makes the messages under list open the menu, with the
 * room's context; it returns the unbinding.
 */
export function bindMessageMenu(list, roomCtx) {
  ctx = roomCtx;
  let press = null;
  const cancelPress = () => {
    if (press) clearTimeout(press.timer);
    press = null;
  };
  const onClick = (ev) => {
    const btn = ev.target.closest(".msg-more");
    if (!btn || !list.contains(btn)) return;
    ev.preventDefault();
    open(btn.closest("li.msg"), btn);
  };
  const onContext = (ev) => {
    const li = ev.target.closest("li.msg:not(.pending)");
    // Links keep the browser's own menu (copy the address, open in a tab).
    if (!li || ev.target.closest("a[href^='http']")) return;
    ev.preventDefault();
    open(li, li.querySelector(".msg-more"));
  };
  const onDown = (ev) => {
    if (ev.pointerType !== "touch") return;
    const li = ev.target.closest("li.msg:not(.pending)");
    if (!li || ev.target.closest("button, a")) return;
    cancelPress();
    press = {
      x: ev.clientX,
      y: ev.clientY,
      timer: setTimeout(() => {
        press = null;
        open(li, li.querySelector(".msg-more"));
      }, LONG_PRESS_MS),
    };
  };
  const onMove = (ev) => {
    if (press && Math.hypot(ev.clientX - press.x, ev.clientY - press.y) > MOVE_SLOP) cancelPress();
  };
  // The roving tab stop: one ⋯ has tabindex 0, the one focused last (or
  // the newest while none was, or the one focused went away).
  const visible = () => [...list.querySelectorAll("li.msg:not(.deleted) .msg-more")];
  const rove = (btn) => {
    for (const b of list.querySelectorAll('.msg-more[tabindex="0"]')) if (b !== btn) b.setAttribute("tabindex", "-1");
    btn?.setAttribute("tabindex", "0");
  };
  const keep = new MutationObserver(() => {
    const stop = list.querySelector('li.msg:not(.deleted) .msg-more[tabindex="0"]');
    if (!stop) rove(visible().pop());
  });
  keep.observe(list, { childList: true, subtree: true, attributes: true, attributeFilter: ["class"] });
  const onFocus = (ev) => ev.target.classList?.contains("msg-more") && rove(ev.target);
  const onKey = (ev) => {
    if (!ev.target.classList?.contains("msg-more")) return;
    const all = visible();
    const i = all.indexOf(ev.target);
    const to = { ArrowUp: i - 1, ArrowDown: i + 1, Home: 0, End: all.length - 1 }[ev.key];
    if (to === undefined || !all[to]) return;
    ev.preventDefault();
    all[to].focus();
    all[to].scrollIntoView({ block: "nearest" });
  };
  list.addEventListener("focusin", onFocus);
  list.addEventListener("keydown", onKey);
  list.addEventListener("click", onClick);
  list.addEventListener("contextmenu", onContext);
  list.addEventListener("pointerdown", onDown);
  list.addEventListener("pointermove", onMove);
  list.addEventListener("pointerup", cancelPress);
  list.addEventListener("pointercancel", cancelPress);
  return () => {
    cancelPress();
    closeMenu(false);
    keep.disconnect();
    list.removeEventListener("focusin", onFocus);
    list.removeEventListener("keydown", onKey);
    list.removeEventListener("click", onClick);
    list.removeEventListener("contextmenu", onContext);
    list.removeEventListener("pointerdown", onDown);
    list.removeEventListener("pointermove", onMove);
    list.removeEventListener("pointerup", cancelPress);
    list.removeEventListener("pointercancel", cancelPress);
    ctx = null;
  };
}

/** open shows the menu of the message li; focus returns to trigger after. */
export function open(li, trigger) {
  if (!li || !ctx || li.classList.contains("pending")) return;
  closeMenu(false);
  const m = messageOf(li);
  const items = actions.filter((a) => a.available(m, ctx));
  if (!items.length) return;
  const back = trigger || li.querySelector(".msg-more");
  const buttons = items.map((a) =>
    h(
      "button",
      {
        type: "button",
        role: "menuitem",
        class: `msg-menu-item msg-action-${a.id}`,
        tabindex: "-1",
        dataset: { action: a.id },
        on: {
          click: () => {
            closeMenu(false);
            a.run(m, ctx, back);
          },
        },
      },
      h("span", { class: "msg-menu-icon", "aria-hidden": "true" }, a.icon || ""),
      h("span", {}, a.label(m, ctx)),
    ),
  );
  const menu = h("div", { class: "msg-menu", id: "msg-menu", role: "menu", "aria-label": t("messageActionsFor", { nickname: m.nickname }) });
  replace(menu, buttons);
  const backdrop = h("div", { class: "msg-menu-backdrop", on: { click: () => closeMenu(true) } });
  menu.addEventListener("keydown", (ev) => {
    const i = buttons.indexOf(document.activeElement);
    const go = (n) => buttons[(n + buttons.length) % buttons.length].focus();
    if (ev.key === "ArrowDown") go(i + 1);
    else if (ev.key === "ArrowUp") go(i - 1);
    else if (ev.key === "Home") go(0);
    else if (ev.key === "End") go(buttons.length - 1);
    else if (ev.key === "Escape") closeMenu(true);
    else if (ev.key === "Tab") return closeMenu(true);
    else return;
    ev.preventDefault();
  });
  document.body.append(backdrop, menu);
  place(menu, back || li);
  back?.setAttribute("aria-expanded", "true");
  li.classList.add("msg-menu-open");
  openMenu = { menu, backdrop, back, li };
  buttons[0].focus();
}

/** closeMenu closes the open menu; refocus puts focus back on its button. */
export function closeMenu(refocus) {
  if (!openMenu) return;
  const { menu, backdrop, back, li } = openMenu;
  openMenu = null;
  menu.remove();
  backdrop.remove();
  li.classList.remove("msg-menu-open");
  back?.setAttribute("aria-expanded", "false");
  if (refocus) back?.focus();
}

// place puts the menu beside what opened it on wide screens; on phones the
// stylesheet makes it a sheet at the bottom (fixed, full width).
function place(menu, anchor) {
  if (matchMedia("(max-width: 639px)").matches) return;
  const r = anchor.getBoundingClientRect();
  const mr = menu.getBoundingClientRect();
  const top = r.bottom + mr.height + 8 > innerHeight ? Math.max(8, r.top - mr.height - 4) : r.bottom + 4;
  const left = Math.min(Math.max(8, r.right - mr.width), innerWidth - mr.width - 8);
  menu.style.top = `${Math.round(top)}px`;
  menu.style.left = `${Math.round(left)}px`;
}
