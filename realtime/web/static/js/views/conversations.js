// Private rooms and direct messages (feature level 4) in the web client:
// the "Conversations" section of the front page (the user's private rooms
// and DMs with unread counts, a form to open a private room, the user's
// share code and a box to paste someone else's), the invite link flow
// (/#invite=<code> accepts and opens the room), and the pieces the room
// screen adds: an invite button in a private room, a "Message" action next
// to each member, and a DM's name.

import { h, replace, icon, toast } from "../dom.js";
import { t } from "../i18n.js";
import { api } from "../api.js";
import { store } from "../store.js";

// Rooms this tab just created, entered or opened: the read side shows them
// (or the new membership) a moment after the command side answered, so the
// room screen retries a 404 or 403 for these.
const fresh = new Set();

/** openFresh navigates to a room the user has just come into. */
function openFresh(navigate, id) {
  fresh.add(String(id));
  navigate(`/rooms/${id}`);
}

/**
 * readFresh reads a room with read(), retrying for up to 5 s while the
 * views have not caught up with a room this tab just came into.
 */
export async function readFresh(id, read) {
  for (let i = 0; ; i++) {
    try {
      return await read();
    } catch (err) {
      if (!fresh.has(String(id)) || i >= 25 || (err.code !== "not_found" && err.code !== "forbidden")) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** conversationTitle names a room: a DM after the other member. */
export function conversationTitle(room) {
  if (room.kind !== "direct") return room.title;
  const me = store.session?.user_id;
  const other = (room.members || []).find((m) => m.user_id !== me);
  return t("dmWith", { nickname: other?.nickname || "…" });
}

/** acceptInviteFromHash accepts /#invite=<code> and opens its room. */
export async function acceptInviteFromHash(navigate) {
  const m = /^#invite=([0-9]{1,19}\.[A-Za-z0-9_-]{22})$/.exec(location.hash);
  if (!m) return false;
  history.replaceState(null, "", location.pathname);
  try {
    const room = await api.acceptInvite(m[1]);
    toast(t("inviteAccepted", { title: room.title }));
    openFresh(navigate, room.id);
  } catch (err) {
    toast(err.code === "not_found" ? t("inviteInvalid") : err.message, { kind: "error" });
  }
  return true;
}

/** conversationsSection is the front page's list of private rooms and DMs. */
export function conversationsSection(navigate) {
  const list = h("ul", { class: "room-list conversation-list", id: "conversation-list" });
  const empty = h("p", { class: "note", id: "conversations-empty", hidden: true }, t("noConversations"));
  const title = h("input", { id: "private-title", name: "title", type: "text", required: true, maxlength: "100", autocomplete: "off", placeholder: t("privateTitlePlaceholder") });
  const code = h("input", { id: "share-code-input", name: "share_code", type: "text", autocomplete: "off", placeholder: t("shareCodePlaceholder") });
  const el = h(
    "section",
    { class: "rooms-section", id: "section-conversations", "aria-labelledby": "conversations-title" },
    h("h2", { id: "conversations-title" }, icon("🔒"), " ", t("sectionConversations")),
    list,
    empty,
    h(
      "form",
      { class: "inline-form", id: "private-form", novalidate: true, on: { submit: createPrivate } },
      h("label", { for: "private-title", class: "sr-only" }, t("privateTitlePlaceholder")),
      title,
      h("button", { type: "submit", class: "btn btn-primary", id: "private-create" }, icon("🔒"), " ", t("createPrivate")),
    ),
    h(
      "form",
      { class: "inline-form", id: "dm-form", novalidate: true, on: { submit: openByCode } },
      h("label", { for: "share-code-input", class: "sr-only" }, t("shareCodePlaceholder")),
      code,
      h("button", { type: "submit", class: "btn btn-ghost", id: "dm-open" }, icon("💬"), " ", t("messageByCode")),
      h("button", { type: "button", class: "btn btn-ghost", id: "share-code", on: { click: copyShareCode } }, icon("🔗"), " ", t("myShareCode")),
    ),
  );

  async function refresh() {
    try {
      const { conversations = [] } = await api.conversations();
      replace(
        list,
        conversations.map((r) =>
          h(
            "li",
            { class: "room-card conversation", dataset: { roomId: r.id, kind: r.kind } },
            h("a", { href: `/rooms/${r.id}`, "data-link": true, class: "room-link" }, icon(r.kind === "direct" ? "💬" : "🔒"), " ", conversationTitle(r)),
            r.unread ? h("span", { class: "badge", "aria-label": t("unread", { count: r.unread }) }, String(r.unread)) : null,
          ),
        ),
      );
      empty.hidden = conversations.length > 0;
    } catch (err) {
      if (err.code !== "network") toast(err.message, { kind: "error" });
    }
  }

  async function createPrivate(ev) {
    ev.preventDefault();
    const v = title.value.trim();
    if (!v) return title.focus();
    try {
      const room = await api.createRoom({ title: v, visibility: "private" });
      openFresh(navigate, room.id);
    } catch (err) {
      toast(err.message, { kind: "error" });
    }
  }

  async function openByCode(ev) {
    ev.preventDefault();
    const v = code.value.trim();
    if (!v) return code.focus();
    try {
      const room = await api.openDirect({ share_code: v });
      openFresh(navigate, room.id);
    } catch (err) {
      toast(err.message, { kind: "error" });
    }
  }

  async function copyShareCode() {
    try {
      const { share_code } = await api.shareCode();
      await copy(share_code);
      toast(t("shareCodeCopied"));
    } catch (err) {
      toast(err.message, { kind: "error" });
    }
  }

  refresh();
  return { el, refresh };
}

/** messageButton opens (or finds) the DM with a member of the room. */
export function messageButton(member, navigate) {
  if (member.user_id === store.session?.user_id) return null;
  return h(
    "button",
    {
      type: "button",
      class: "btn btn-ghost btn-small member-dm",
      "aria-label": t("messageMember", { nickname: member.nickname }),
      title: t("messageMember", { nickname: member.nickname }),
      on: {
        click: async () => {
          try {
            const room = await api.openDirect({ user_id: member.user_id });
            openFresh(navigate, room.id);
          } catch (err) {
            toast(err.message, { kind: "error" });
          }
        },
      },
    },
    icon("💬"),
  );
}

/**
 * inviteButton makes an invite link to a private room: it is shown (to
 * copy by hand where the clipboard is not allowed) and copied.
 */
export function inviteButton(room) {
  if (room.kind !== "private") return null;
  const link = h("input", { id: "invite-link", class: "input invite-link", type: "text", readonly: true, hidden: true, "aria-label": t("inviteLinkLabel") });
  const button = h(
    "button",
    {
      type: "button",
      class: "btn btn-ghost btn-small",
      id: "invite",
      on: {
        click: async () => {
          try {
            const inv = await api.createInvite(room.id);
            link.value = `${location.origin}/#invite=${inv.code}`;
            link.hidden = false;
            link.select();
            await copy(link.value).catch(() => {});
            toast(t("inviteCopied", { uses: inv.max_uses }), { ms: 7000 });
          } catch (err) {
            toast(err.message, { kind: "error" });
          }
        },
      },
    },
    icon("✉️"),
    " ",
    t("invite"),
  );
  return h("span", { class: "invite-tools" }, button, link);
}

async function copy(text) {
  if (navigator.share && matchMedia("(pointer: coarse)").matches) {
    await navigator.share({ text }).catch(() => {});
    return;
  }
  await navigator.clipboard?.writeText(text);
}
