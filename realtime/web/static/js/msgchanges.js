// What happened to a message after it was sent (feature level 3): the
// preview of the message it answers, the edited mark, the tombstone of a
// deleted message, its reactions (a chip per emoji; a chip toggles the
// user's own) and whether it mentions the user. The timeline decorates
// every message it renders; the room view hands the change frames to
// applyFrame. Kept apart from timeline.js so the two evolve separately.

import { h, toast } from "./dom.js";
import { t } from "./i18n.js";
import { api } from "./api.js";
import { moreButton } from "./msgmenu.js";

/** decorate adds a message's changes to its rendered item. */
export function decorate(li, m, selfId) {
  const body = li.querySelector(".msg-body");
  li.reactions = new Map((m.reactions || []).map((r) => [r.emoji, new Set(r.user_ids)]));
  li.selfId = selfId;
  li.roomId = m.room_id;
  li.nickname = m.nickname;
  // The ⋯ of the message menu (msgmenu.js), kept on a tombstone too: the
  // menu shows only what applies.
  li.querySelector(".bubble")?.append(moreButton(m.nickname));
  if (m.deleted) {
    tombstone(li);
    return li;
  }
  if (m.reply_to && body) body.before(replyNode(m.reply_to));
  if (m.mentions?.includes(selfId)) li.classList.add("mentions-me");
  if (m.edited_at) markEdited(li);
  drawReactions(li);
  return li;
}

/** applyFrame applies a message_edited, message_deleted or reaction frame. */
export function applyFrame(timeline, frame) {
  const li = timeline.byKey.get(frame.message_id);
  if (!li || !li.classList.contains("msg")) return;
  switch (frame.type) {
    case "message_edited":
      if (li.classList.contains("deleted")) return;
      li.querySelector(".msg-body").textContent = frame.body;
      markEdited(li);
      break;
    case "message_deleted":
      tombstone(li);
      break;
    case "reaction": {
      if (li.classList.contains("deleted")) return;
      const users = li.reactions.get(frame.emoji) || new Set();
      if (frame.op === "added") users.add(frame.user_id);
      else users.delete(frame.user_id);
      if (users.size) li.reactions.set(frame.emoji, users);
      else li.reactions.delete(frame.emoji);
      drawReactions(li);
      break;
    }
    default:
  }
}

// tombstone drops everything the message said: a client keeps no deleted text.
function tombstone(li) {
  li.classList.add("deleted");
  const body = li.querySelector(".msg-body");
  if (body) body.textContent = t("deletedMessage");
  for (const sel of [".msg-reply", ".msg-reactions", ".msg-effects", ".msg-edited", ".msg-report"]) li.querySelector(sel)?.remove();
  li.classList.remove("mentions-me");
  li.reactions = new Map();
}

// markEdited puts the mark under the text: a grouped bubble hides its meta line.
function markEdited(li) {
  if (li.querySelector(".msg-edited")) return;
  li.querySelector(".msg-body")?.after(h("span", { class: "msg-edited" }, t("editedMark")));
}

function replyNode(rt) {
  // The room screen reads older pages until the original is shown
  // (msgactions.js jumpTo); without it, a plain scroll.
  const jump = (ev) => {
    ev.preventDefault();
    const asked = new CustomEvent("happychat:jump", { bubbles: true, cancelable: true, detail: { messageId: rt.message_id } });
    if (ev.currentTarget.dispatchEvent(asked)) document.querySelector(`.msg[data-id="${rt.message_id}"]`)?.scrollIntoView({ block: "center" });
  };
  return h(
    "a",
    { class: "msg-reply", href: `#msg-${rt.message_id}`, on: { click: jump } },
    h("span", { class: "msg-reply-author" }, rt.nickname),
    " ",
    h("span", { class: "msg-reply-text" }, rt.deleted ? t("deletedMessage") : rt.preview || ""),
  );
}

function drawReactions(li) {
  li.querySelector(".msg-reactions")?.remove();
  if (!li.reactions.size) return;
  const chips = [...li.reactions].map(([emoji, users]) => {
    const mine = users.has(li.selfId);
    const toggle = () => {
      (mine ? api.unreact : api.react)(li.roomId, li.dataset.id, emoji).catch((err) => toast(err.message, { kind: "error" }));
    };
    return h(
      "button",
      { type: "button", class: `reaction${mine ? " mine" : ""}`, "aria-pressed": String(mine), on: { click: toggle } },
      `${emoji} ${users.size}`,
    );
  });
  li.querySelector(".bubble")?.append(h("div", { class: "msg-reactions" }, ...chips));
}
