// The composer: the message box of a room, its counter, and its two modes
// besides writing a new message:
//
//   - replying: a line above the box says "Replying to X: preview…" with a
//     ✕; the next send carries reply_to, then the line goes;
//   - editing: the box holds the message's text, the line says so; Send
//     saves the edit (PATCH, through onEdit), Escape or ✕ cancels and puts
//     back what was being written before.
//
// "@" opens the member picker (mentions.js); a send carries the ids of the
// members picked. Moved out of views/room.js, which wires it to the outbox.

import { h, replace } from "./dom.js";
import { t, countChars } from "./i18n.js";
import { MentionPicker } from "./mentions.js";
import "./msgactions-strings.js";

export const MAX_BODY = 2000;
const PREVIEW_CHARS = 80;

export class Composer {
  /**
   * @param {object} o
   * @param {string} o.selfId
   * @param {() => object[]} o.members the room's current members
   * @param {(body: string) => void} o.onInput the text changed (typing.js)
   * @param {(body: string, extra: {reply_to?: string, mentions?: string[]}) => void} o.onSend a new message
   * @param {(messageId: string, body: string) => Promise<boolean>} o.onEdit an edit; true when saved
   */
  constructor({ selfId, members, onInput, onSend, onEdit }) {
    Object.assign(this, { onSend, onEdit });
    this.mode = null; // null | {kind: "reply"|"edit", m, draft}
    this.input = h("textarea", {
      id: "composer",
      name: "body",
      rows: "1",
      placeholder: t("composerPlaceholder"),
      "aria-describedby": "composer-hint composer-error composer-mode-text",
      enterkeyhint: "send",
      autocomplete: "off",
    });
    this.counter = h("span", { class: "composer-count", id: "composer-error", "aria-live": "polite" });
    this.modeText = h("span", { class: "composer-mode-text", id: "composer-mode-text" });
    this.modeBar = h(
      "div",
      { class: "composer-mode", id: "composer-mode", hidden: true },
      this.modeText,
      (this.modeCancel = h("button", { type: "button", class: "btn btn-ghost btn-small composer-mode-cancel", id: "composer-mode-cancel", on: { click: () => this.cancel() } }, h("span", { "aria-hidden": "true" }, "✕"))),
    );
    this.mentions = new MentionPicker(this.input, members, selfId);
    this.sendLabel = h("span", { class: "send-label" }, t("send"));
    this.sendBtn = h("button", { type: "submit", class: "btn btn-primary btn-send", id: "send", "aria-label": t("send") }, h("span", { "aria-hidden": "true" }, "➤"), this.sendLabel);
    this.form = h(
      "form",
      { class: "composer", id: "composer-form", on: { submit: (ev) => this.submit(ev) } },
      this.modeBar,
      this.mentions.list,
      h("label", { for: "composer", class: "sr-only" }, t("composerLabel")),
      this.input,
      this.sendBtn,
      h("p", { class: "sr-only", id: "composer-hint" }, t("sendHint")),
      this.counter,
    );
    this.input.addEventListener("keydown", (ev) => {
      // isComposing: Enter also confirms a Korean (IME) syllable; that Enter must not send.
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
        ev.preventDefault();
        this.form.requestSubmit();
      } else if (ev.key === "Escape" && this.mode) {
        ev.preventDefault();
        this.cancel();
      }
    });
    this.input.addEventListener("input", () => {
      this.autosize();
      const n = countChars(this.input.value);
      this.counter.textContent = n > MAX_BODY - 200 ? `${n} / ${MAX_BODY}` : "";
      this.counter.classList.toggle("over", n > MAX_BODY);
      if (this.mode?.kind !== "edit") onInput(this.input.value);
    });
  }

  autosize() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 160)}px`;
  }

  focus(opts) {
    this.input.focus(opts);
  }

  setText(text) {
    this.input.value = text;
    this.counter.textContent = "";
    this.autosize();
  }

  /** startReply answers message m (messageOf in msgmenu.js). */
  startReply(m) {
    if (this.mode?.kind === "edit") this.cancel();
    const preview = [...m.body].slice(0, PREVIEW_CHARS).join("") + ([...m.body].length > PREVIEW_CHARS ? "…" : "");
    this.setMode({ kind: "reply", m }, h("strong", {}, t("replyingTo", { nickname: m.nickname })), ": ", h("span", { class: "composer-mode-preview" }, preview), t("cancelReply"));
  }

  /** startEdit puts message m's text in the box to edit it. */
  startEdit(m) {
    const draft = this.mode?.kind === "edit" ? this.mode.draft : this.input.value;
    this.mentions.clear();
    this.setMode({ kind: "edit", m, draft }, h("strong", {}, t("editingMessage")), t("cancelEdit"));
    this.setText(m.body);
    this.sendBtn.setAttribute("aria-label", t("saveEdit"));
    this.sendLabel.textContent = t("saveEdit");
    this.input.setSelectionRange(this.input.value.length, this.input.value.length);
  }

  setMode(mode, ...parts) {
    const cancelLabel = parts.pop();
    this.mode = mode;
    replace(this.modeText, parts);
    this.modeCancel.setAttribute("aria-label", cancelLabel);
    this.modeBar.hidden = false;
    this.form.classList.toggle("editing", mode.kind === "edit");
    this.input.focus();
  }

  /** cancel leaves replying or editing (an edit gives back the draft). */
  cancel() {
    const mode = this.mode;
    if (!mode) return;
    this.mode = null;
    this.modeBar.hidden = true;
    replace(this.modeText);
    this.form.classList.remove("editing");
    this.sendBtn.setAttribute("aria-label", t("send"));
    this.sendLabel.textContent = t("send");
    if (mode.kind === "edit") {
      this.mentions.clear();
      this.setText(mode.draft);
    }
    this.input.focus();
  }

  /** forget leaves a mode that names message id (it was deleted). */
  forget(id) {
    if (this.mode?.m.id === id) this.cancel();
  }

  async submit(ev) {
    ev.preventDefault();
    const body = this.input.value;
    if (!body.trim()) return;
    if (countChars(body) > MAX_BODY) {
      this.counter.textContent = t("tooLong", { max: MAX_BODY });
      return;
    }
    const mode = this.mode;
    if (mode?.kind === "edit") {
      if (this.saving) return;
      this.saving = true;
      const saved = await this.onEdit(mode.m.id, body).finally(() => (this.saving = false));
      if (saved && this.mode === mode) this.cancel();
      return;
    }
    const extra = {};
    if (mode?.kind === "reply") extra.reply_to = mode.m.id;
    const mentions = this.mentions.take(body);
    if (mentions.length) extra.mentions = mentions;
    if (mode) this.cancel();
    this.onSend(body, extra);
    this.setText("");
    this.input.focus();
  }
}
