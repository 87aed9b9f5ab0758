// Moderation in the room screen (feature level 5): Kick and Ban in the
// members sheet for the owner of a private room (its creator) and for an
// admin (the admin token of this tab, views/admin.js), "Close topic" for an
// admin on a topic room, and the card a removed or banned user sees
// instead of an error. Kept out of room.js, which only calls in here.

import { h, replace, icon, toast } from "../dom.js";
import { t } from "../i18n.js";
import "../moderation-strings.js";
import { api } from "../api.js";
import { store } from "../store.js";

/** canModerate: whether this tab may kick and ban in room. */
export function canModerate(room) {
  if (!room || room.kind === "direct") return false;
  if (store.adminToken) return true;
  return room.kind === "private" && room.proposed_by?.user_id === store.session?.user_id;
}

// The token a moderation is sent with: the owner's own session for their
// private room, else the admin token.
export function tokenFor(room) {
  const owner = room.kind === "private" && room.proposed_by?.user_id === store.session?.user_id;
  return owner ? undefined : store.adminToken;
}

/**
 * memberActions returns the Kick and Ban buttons of member m in room (none
 * for oneself, nor for those who may not moderate). Each asks first.
 */
export function memberActions(room, m) {
  if (!canModerate(room) || m.user_id === store.session?.user_id) return null;
  const act = (action) => async () => {
    const reason = await confirmDialog({
      title: t(action === "kick" ? "kickTitle" : "banTitle", { nickname: m.nickname }),
      body: t(action === "kick" ? "kickBody" : "banBody", { nickname: m.nickname }),
      confirm: t(action === "kick" ? "kick" : "ban"),
      withReason: true,
    });
    if (reason === null) return;
    try {
      await api.moderate(room.id, action, { user_id: m.user_id, ...(reason ? { reason } : {}) }, tokenFor(room));
      toast(t(action === "kick" ? "kickedToast" : "bannedToast", { nickname: m.nickname }));
    } catch (err) {
      toast(err.message, { kind: "error" });
    }
  };
  const button = (action) =>
    h(
      "button",
      {
        type: "button",
        class: `btn btn-ghost btn-small member-${action}`,
        "aria-label": t(action === "kick" ? "kickMember" : "banMember", { nickname: m.nickname }),
        title: t(action === "kick" ? "kickMember" : "banMember", { nickname: m.nickname }),
        on: { click: act(action) },
      },
      icon(action === "kick" ? "👢" : "⛔"),
      h("span", { class: "tool-label" }, t(action)),
    );
  return h("span", { class: "member-mod" }, button("kick"), button("ban"));
}

/** closeButton is an admin's "Close topic" for an open topic room (else null). */
export function closeButton(room) {
  if (!store.adminToken || room.kind || room.status !== "open") return null;
  return h(
    "button",
    {
      type: "button",
      class: "btn btn-ghost btn-small",
      id: "close-topic",
      on: {
        click: async () => {
          const reason = await confirmDialog({ title: t("closeTopicTitle", { title: room.title }), body: t("closeTopicBody"), confirm: t("closeTopic"), withReason: true });
          if (reason === null) return;
          try {
            await api.closeRoom(room.id, reason, store.adminToken);
            toast(t("closedToast", { title: room.title }));
          } catch (err) {
            toast(err.message, { kind: "error" });
          }
        },
      },
    },
    icon("🔒"),
    h("span", { class: "tool-label" }, t("closeTopic")),
  );
}

/**
 * confirmDialog asks in a modal dialog and resolves to the reason typed
 * ("" when none) on confirm, or null on cancel. Escape cancels.
 */
export function confirmDialog({ title, body, confirm, withReason = false }) {
  return new Promise((resolve) => {
    const reason = withReason ? h("input", { type: "text", id: "mod-reason", maxlength: "500", autocomplete: "off" }) : null;
    const done = (v) => {
      dialog.close();
      dialog.remove();
      resolve(v);
    };
    const dialog = h(
      "dialog",
      { class: "rename-dialog", id: "mod-dialog", "aria-labelledby": "mod-title", "aria-describedby": "mod-body" },
      h("h2", { id: "mod-title" }, title),
      h("p", { id: "mod-body" }, body),
      withReason ? h("p", {}, h("label", { for: "mod-reason" }, t("reasonLabel")), " ", reason) : null,
      h(
        "p",
        { class: "actions" },
        h("button", { type: "button", class: "btn btn-ghost", id: "mod-cancel", on: { click: () => done(null) } }, t("cancel")),
        h("button", { type: "button", class: "btn btn-primary", id: "mod-confirm", on: { click: () => done(reason ? reason.value.trim() : "") } }, confirm),
      ),
    );
    dialog.addEventListener("cancel", (ev) => {
      ev.preventDefault();
      done(null);
    });
    document.body.append(dialog);
    dialog.showModal();
    dialog.querySelector("#mod-cancel").focus();
  });
}

/**
 * removedCard replaces the room with what a removed or banned user sees:
 * not an error, a plain statement and the way back.
 */
export function removedCard(root, room, reason) {
  const banned = reason === "banned";
  replace(
    root,
    h(
      "section",
      { class: "card narrow problem", id: "room-removed", role: "alert", dataset: { reason: banned ? "banned" : "removed" } },
      h("div", { class: "big-emoji", "aria-hidden": "true" }, banned ? "⛔" : "👋"),
      h("h1", { tabindex: "-1" }, t(banned ? "bannedTitle" : "removedTitle")),
      h("p", {}, t(banned ? "bannedBody" : "removedBody", { title: room?.title || "" })),
      h("p", { class: "actions" }, h("a", { href: "/", "data-link": true, class: "btn btn-primary" }, t("back"))),
    ),
  );
  root.querySelector("h1").focus();
}

/** closedCard: the room was closed by an admin; it cannot be joined. */
export function closedCard(root, room) {
  replace(
    root,
    h(
      "section",
      { class: "card narrow problem", id: "room-closed", role: "alert" },
      h("div", { class: "big-emoji", "aria-hidden": "true" }, "🔒"),
      h("h1", { tabindex: "-1" }, t("closedTitle")),
      h("p", {}, t("closedBody", { title: room?.title || "" })),
      h("p", { class: "actions" }, h("a", { href: "/", "data-link": true, class: "btn btn-primary" }, t("back"))),
    ),
  );
  root.querySelector("h1").focus();
}
