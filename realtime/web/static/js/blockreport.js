// Blocks and reports on the client (feature level 5). The room screen, the
// timeline and the header call these: a Block action in a member's row, a
// Report action on another member's message, the blocked-users dialog. The
// block list is kept here so the room screen can hide a blocked user's
// messages as they arrive (history pages come filtered by the server).

import { h, replace, icon, toast } from "./dom.js";
import { t, countChars } from "./i18n.js";
import "./moderation-strings.js";
import { api } from "./api.js";
import { store } from "./store.js";

const REASONS = ["spam", "harassment", "hate", "sexual", "violence", "other"];
const MAX_NOTE = 500;

/** blocked is the caller's block list: user id → nickname. */
const blocked = new Map();
let loaded = null;

/** loadBlocks reads the block list once per session (again with force). */
export function loadBlocks(force = false) {
  if (!store.session) return Promise.resolve();
  if (!loaded || force) {
    loaded = api
      .blocks()
      .then(({ blocks = [] }) => {
        blocked.clear();
        for (const b of blocks) blocked.set(b.user_id, b.nickname);
      })
      .catch(() => {
        loaded = null;
      });
  }
  return loaded;
}

/** isBlocked tells whether the user's messages are hidden for the caller. */
export function isBlocked(userId) {
  return blocked.has(userId);
}

// hideAuthor takes a newly blocked user's messages off the screen.
function hideAuthor(userId) {
  for (const li of document.querySelectorAll("#messages li.msg")) {
    if (li.dataset.userId === userId) li.remove();
  }
}

async function setBlocked(member, block) {
  try {
    if (block) {
      await api.block(member.user_id);
      blocked.set(member.user_id, member.nickname);
      hideAuthor(member.user_id);
      toast(t("blocked", { nickname: member.nickname }));
    } else {
      await api.unblock(member.user_id);
      blocked.delete(member.user_id);
      toast(t("unblocked", { nickname: member.nickname }));
    }
    return true;
  } catch (err) {
    toast(err.message, { kind: "error" });
    return false;
  }
}

/** blockButton is a member row's Block / Unblock action (none for oneself). */
export function blockButton(member) {
  if (member.user_id === store.session?.user_id) return null;
  const btn = h("button", { type: "button", class: "btn btn-ghost btn-small member-block" });
  const draw = () => {
    const on = isBlocked(member.user_id);
    const label = t(on ? "unblockMember" : "blockMember", { nickname: member.nickname });
    btn.setAttribute("aria-label", label);
    btn.setAttribute("aria-pressed", String(on));
    btn.title = label;
    replace(btn, icon(on ? "🔓" : "🚫"));
  };
  btn.addEventListener("click", async () => {
    const block = !isBlocked(member.user_id);
    if (block && !window.confirm(t("blockConfirm", { nickname: member.nickname }))) return;
    btn.disabled = true;
    await setBlocked(member, block);
    btn.disabled = false;
    draw();
  });
  loadBlocks().then(draw);
  draw();
  return btn;
}

/** openBlockedDialog lists the blocked users, each with Unblock. */
export async function openBlockedDialog() {
  const list = h("ul", { class: "blocked-list", id: "blocked-list", "aria-busy": "true" });
  const dialog = h(
    "dialog",
    { class: "rename-dialog", id: "blocked-dialog", "aria-labelledby": "blocked-title" },
    h("h2", { id: "blocked-title" }, t("blockedUsers")),
    h("p", { class: "hint" }, t("blockedUsersIntro")),
    list,
    h("div", { class: "actions" }, h("button", { type: "button", class: "btn btn-ghost", id: "blocked-close", on: { click: () => dialog.close() } }, t("close"))),
  );
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  await loadBlocks(true);
  const draw = () => {
    if (!blocked.size) return replace(list, h("li", { class: "empty" }, t("noBlockedUsers")));
    replace(
      list,
      [...blocked].map(([userId, nickname]) =>
        h(
          "li",
          { dataset: { userId } },
          h("span", { class: "member-name" }, nickname),
          h(
            "button",
            {
              type: "button",
              class: "btn btn-ghost btn-small unblock",
              "aria-label": t("unblockMember", { nickname }),
              on: { click: async () => (await setBlocked({ user_id: userId, nickname }, false)) && draw() },
            },
            t("unblock"),
          ),
        ),
      ),
    );
  };
  draw();
  list.setAttribute("aria-busy", "false");
}

/**
 * reportButton is a message's Report action: on other members' messages
 * that are not deleted. The message item holds it; msgchanges may remove
 * it with the rest when the message is deleted.
 */
export function reportButton(m, selfId) {
  if (!store.session || m.user_id === selfId || m.deleted || !m.room_id) return null;
  const label = t("reportMessageOf", { nickname: m.nickname });
  return h(
    "button",
    { type: "button", class: "msg-report", "aria-label": label, title: label, on: { click: () => openReportDialog(m) } },
    icon("⚑"),
  );
}

/** openReportDialog asks for a reason and a note, then files the report. */
export function openReportDialog(m) {
  const error = h("p", { class: "form-error", id: "report-error", role: "alert" });
  const radios = REASONS.map((r, i) =>
    h(
      "label",
      { class: "report-reason" },
      h("input", { type: "radio", name: "reason", value: r, checked: i === 0, id: `report-reason-${r}` }),
      " ",
      t(`reason_${r}`),
    ),
  );
  const note = h("textarea", { id: "report-note", name: "note", rows: "3", maxlength: String(MAX_NOTE), "aria-describedby": "report-note-hint report-error" });
  const send = h("button", { type: "submit", class: "btn btn-primary", id: "report-send" }, t("reportSend"));
  const form = h(
    "form",
    { class: "stack", novalidate: true, on: { submit } },
    h("h2", { id: "report-title" }, t("reportTitle")),
    h("p", { class: "hint" }, t("reportIntro")),
    h("fieldset", { class: "report-reasons" }, h("legend", {}, t("reportReason")), radios),
    h("label", { for: "report-note" }, t("reportNote")),
    note,
    h("p", { class: "hint", id: "report-note-hint" }, t("reportNoteHint")),
    error,
    h("div", { class: "actions" }, h("button", { type: "button", class: "btn btn-ghost", id: "report-cancel", on: { click: () => dialog.close() } }, t("cancel")), send),
  );
  const dialog = h("dialog", { class: "rename-dialog", id: "report-dialog", "aria-labelledby": "report-title" }, form);
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  radios[0].querySelector("input").focus();

  async function submit(ev) {
    ev.preventDefault();
    const reason = form.querySelector("input[name=reason]:checked")?.value || "other";
    const text = note.value.trim();
    if (countChars(text) > MAX_NOTE) {
      error.textContent = t("tooLong", { max: MAX_NOTE });
      return note.focus();
    }
    send.disabled = true;
    try {
      await api.report(m.room_id, m.id, reason, text);
      dialog.close();
      toast(t("reportSent"));
    } catch (err) {
      send.disabled = false;
      error.textContent = err.message;
    }
  }
}
