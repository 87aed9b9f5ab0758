// The message actions of the room screen: Reply, React, Edit and Delete in
// the message menu (msgmenu.js), and the jump from a reply's preview to the
// message it answers.
//
// Offline (docs/realtime.md, "The web client"): an edit, a delete or a
// reaction is refused at once with a toast saying so, never queued. A send
// waits in the outbox because the user sees it pending in the timeline and
// may retry it; a change queued out of sight could land minutes later on a
// message that has changed meanwhile (an edit window passed, a delete by an
// admin), so the user does it again when connected instead. Replies and
// mentions are part of a send, so they queue with it.

import { toast, announce } from "./dom.js";
import { t } from "./i18n.js";
import { api } from "./api.js";
import { store } from "./store.js";
import { addMessageAction, bindMessageMenu } from "./msgmenu.js";
import { pickReaction, confirmDelete } from "./reactpicker.js";
import "./msgactions-strings.js";

// How many older pages a jump to a reply's original reads before giving up.
const JUMP_MAX_PAGES = 20;

/** offline refuses a change when there is no network, with a toast. */
function offline(action) {
  if (navigator.onLine !== false) return false;
  toast(t("offlineRefused", { action }), { kind: "error" });
  return true;
}

/** failed shows why the server refused a change (its own words). */
function failed(err, action) {
  if (err.code === "network") toast(t("offlineRefused", { action }), { kind: "error" });
  else toast(err.message, { kind: "error" });
}

addMessageAction({
  id: "reply",
  order: 10,
  icon: "↩️",
  label: () => t("actionReply"),
  available: (m) => !m.deleted,
  run: (m, ctx) => ctx.composer.startReply(m),
});

addMessageAction({
  id: "react",
  order: 20,
  icon: "😀",
  label: () => t("actionReact"),
  available: (m) => !m.deleted,
  run: async (m, ctx, back) => {
    const mine = new Set([...(m.li.reactions || new Map())].filter(([, users]) => users.has(ctx.selfId)).map(([e]) => e));
    const emoji = await pickReaction(mine);
    back?.focus();
    if (!emoji || offline(t("actionReact"))) return;
    try {
      await (mine.has(emoji) ? api.unreact : api.react)(ctx.roomId, m.id, emoji);
    } catch (err) {
      failed(err, t("actionReact"));
    }
  },
});

addMessageAction({
  id: "edit",
  order: 30,
  icon: "✏️",
  label: () => t("actionEdit"),
  // The server holds the edit window (CHAT_EDIT_WINDOW): a late edit is
  // refused there, and its words are shown.
  available: (m) => m.mine && !m.deleted,
  run: (m, ctx) => ctx.composer.startEdit(m),
});

addMessageAction({
  id: "delete",
  order: 90,
  icon: "🗑️",
  label: (m) => (m.mine ? t("actionDelete") : t("actionDeleteAdmin")),
  // The author, or whoever holds the admin token in this tab (admin.js).
  available: (m) => !m.deleted && (m.mine || Boolean(store.adminToken)),
  run: async (m, ctx, back) => {
    const yes = await confirmDelete();
    back?.focus();
    if (!yes || offline(t("actionDelete"))) return;
    try {
      await api.deleteMessage(ctx.roomId, m.id, m.mine ? undefined : store.adminToken);
      toast(t("deletedToast"));
    } catch (err) {
      failed(err, t("actionDelete"));
    }
  },
});

/**
 * attachMessageActions wires the menu and the reply jumps to a room screen.
 * o: roomId, selfId, timeline, composer, loadOlder (reads one older page,
 * resolves when done), olderCursor (the next page's cursor, null at the
 * start). It returns the teardown.
 */
export function attachMessageActions(o) {
  const ctx = {
    ...o,
    /** edit saves an edit from the composer; true when the server took it. */
    async edit(messageId, body) {
      if (offline(t("actionEdit"))) return false;
      try {
        await api.editMessage(o.roomId, messageId, body);
        announce(t("editSaved"));
        return true;
      } catch (err) {
        failed(err, t("actionEdit"));
        return false;
      }
    },
  };
  const unbind = bindMessageMenu(o.timeline.list, ctx);
  const onJump = (ev) => {
    ev.preventDefault();
    jumpTo(o, ev.detail.messageId);
  };
  o.timeline.el.addEventListener("happychat:jump", onJump);
  return {
    ctx,
    stop() {
      unbind();
      o.timeline.el.removeEventListener("happychat:jump", onJump);
    },
  };
}

/**
 * jumpTo scrolls to message id and marks it; when it is not loaded, older
 * pages are read until it is, or the start of the room, or JUMP_MAX_PAGES.
 */
export async function jumpTo(o, id) {
  const find = () => o.timeline.list.querySelector(`li.msg[data-id="${CSS.escape(id)}"]`);
  let li = find();
  if (!li && o.olderCursor()) announce(t("replyLoading"));
  for (let pages = 0, tries = 0; !li && o.olderCursor() && pages < JUMP_MAX_PAGES && tries < 4 * JUMP_MAX_PAGES; tries++) {
    const before = o.olderCursor();
    await o.loadOlder();
    // A page already on its way (the scroll's) makes this call return at
    // once: wait for it rather than count it.
    if (o.olderCursor() === before) await new Promise((r) => setTimeout(r, 150));
    else pages++;
    li = find();
  }
  if (!li) {
    toast(o.olderCursor() ? t("replyTooFar") : t("replyNotFound"));
    return;
  }
  // At once, not smoothly: a page being added above would stop a smooth
  // scroll halfway.
  li.scrollIntoView({ block: "center" });
  li.classList.remove("msg-jumped");
  void li.offsetWidth; // restart the highlight's animation
  li.classList.add("msg-jumped");
  li.setAttribute("tabindex", "-1");
  li.focus({ preventScroll: true });
}
