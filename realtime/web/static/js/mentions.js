// Mentions: typing "@" in the composer opens a list of the room's current
// members to pick from. Nicknames are not unique, so the list shows each
// member's generated avatar and tag (identity.js) and a pick is kept by user
// id; the text gets "@nickname" and the send carries the ids (the API's
// `mentions`) of the picks whose "@nickname" is still in the text.
//
// The list is a role="listbox" the composer points at with
// aria-activedescendant (focus stays in the text): up and down choose, Enter
// or Tab picks, Escape closes.

import { h, replace, announce } from "./dom.js";
import { t } from "./i18n.js";
import { avatar, tag } from "./identity.js";
import "./msgactions-strings.js";

// The "@word" being typed just before the caret (a word: no space, no "@").
const TOKEN = /(^|\s)@([^\s@]{0,32})$/u;
const MAX_SHOWN = 8;

export class MentionPicker {
  /**
   * @param {HTMLTextAreaElement} input the composer
   * @param {() => {user_id: string, nickname: string}[]} members the room's current members
   * @param {string} selfId the user (not offered: one does not mention oneself)
   */
  constructor(input, members, selfId) {
    Object.assign(this, { input, members, selfId });
    this.picked = new Map(); // user id → nickname
    this.options = [];
    this.active = -1;
    this.token = null;
    this.list = h("ul", { class: "mention-list", id: "mention-list", role: "listbox", "aria-label": t("mentionPicker"), hidden: true });
    // Picking with the mouse must not take the focus from the text.
    this.list.addEventListener("mousedown", (ev) => ev.preventDefault());
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", "mention-list");
    input.addEventListener("input", () => this.update());
    input.addEventListener("click", () => this.update());
    input.addEventListener("blur", () => this.close());
    // Registered before the composer's own keydown (Enter sends): an Enter
    // that picks a member must not also send.
    input.addEventListener("keydown", (ev) => this.onKey(ev));
  }

  get isOpen() {
    return !this.list.hidden;
  }

  onKey(ev) {
    if (!this.isOpen || ev.isComposing) return;
    const n = this.options.length;
    if (ev.key === "ArrowDown") this.setActive((this.active + 1) % n);
    else if (ev.key === "ArrowUp") this.setActive((this.active - 1 + n) % n);
    else if ((ev.key === "Enter" || ev.key === "Tab") && this.active >= 0) this.pick(this.options[this.active].member);
    else if (ev.key === "Escape") this.close();
    else return;
    ev.preventDefault();
    ev.stopImmediatePropagation();
  }

  /** update opens, filters or closes the list for the text before the caret. */
  update() {
    const { value, selectionStart, selectionEnd } = this.input;
    const m = selectionStart === selectionEnd ? TOKEN.exec(value.slice(0, selectionStart)) : null;
    if (!m) return this.close();
    const query = m[2].toLocaleLowerCase();
    this.token = { start: selectionStart - m[2].length - 1, end: selectionStart };
    const all = this.members().filter((x) => x.user_id !== this.selfId);
    const starts = all.filter((x) => (x.nickname || "").toLocaleLowerCase().startsWith(query));
    const within = all.filter((x) => !starts.includes(x) && (x.nickname || "").toLocaleLowerCase().includes(query));
    const found = [...starts, ...within].slice(0, MAX_SHOWN);
    if (!found.length) {
      if (this.isOpen) announce(t("mentionNone"));
      return this.close();
    }
    this.options = found.map((member, i) => ({
      member,
      el: h(
        "li",
        {
          role: "option",
          id: `mention-opt-${i}`,
          class: "mention-option",
          "aria-selected": "false",
          dataset: { userId: member.user_id },
          on: { click: () => this.pick(member) },
        },
        avatar(member.nickname, member.user_id),
        h("span", { class: "mention-name" }, member.nickname),
        " ",
        tag(member.user_id),
      ),
    }));
    replace(
      this.list,
      this.options.map((o) => o.el),
    );
    const wasOpen = this.isOpen;
    this.list.hidden = false;
    this.setActive(0);
    if (!wasOpen) announce(t("mentionResults", { count: found.length }));
  }

  setActive(i) {
    this.active = i;
    this.options.forEach((o, j) => o.el.setAttribute("aria-selected", String(j === i)));
    const el = this.options[i]?.el;
    if (el) {
      this.input.setAttribute("aria-activedescendant", el.id);
      el.scrollIntoView({ block: "nearest" });
    }
  }

  /** pick puts "@nickname " in place of the "@word" typed and keeps the id. */
  pick(member) {
    const { start, end } = this.token || {};
    if (start == null) return this.close();
    const v = this.input.value;
    const text = `@${member.nickname} `;
    this.input.value = v.slice(0, start) + text + v.slice(end);
    const caret = start + text.length;
    this.input.setSelectionRange(caret, caret);
    this.picked.set(member.user_id, member.nickname);
    this.close();
    this.input.dispatchEvent(new Event("input", { bubbles: true }));
    this.input.focus();
  }

  close() {
    this.list.hidden = true;
    this.options = [];
    this.active = -1;
    this.token = null;
    this.input.removeAttribute("aria-activedescendant");
  }

  /**
   * take returns the user ids to send with body: picks still named in the
   * text and still members. The picks are then forgotten.
   */
  take(body) {
    const here = new Set(this.members().map((x) => x.user_id));
    const ids = [...this.picked].filter(([id, nick]) => here.has(id) && body.includes(`@${nick}`)).map(([id]) => id);
    this.picked.clear();
    return ids;
  }

  /** clear forgets the picks (the text was replaced). */
  clear() {
    this.picked.clear();
    this.close();
  }
}
