// The reaction picker: a small dialog with common emoji, and a field for any
// other single emoji (the server takes one grapheme that starts with an
// emoji character; the field checks the same before sending). Choosing an
// emoji the user already put on the message takes it off: a toggle, like
// the chips under the message.

import { h } from "./dom.js";
import { t } from "./i18n.js";

export const COMMON_EMOJI = ["👍", "❤️", "😂", "😮", "😢", "🎉", "🙏", "🐱"];

const segmenter = typeof Intl.Segmenter === "function" ? new Intl.Segmenter() : null;

/** singleEmoji returns s trimmed if it is one emoji grapheme, else "". */
export function singleEmoji(s) {
  const text = String(s || "").trim();
  if (!text || new TextEncoder().encode(text).length > 64) return "";
  const parts = segmenter ? [...segmenter.segment(text)] : [...text];
  if (parts.length !== 1) return "";
  return /^(\p{Extended_Pictographic}|\p{Regional_Indicator}{2}|[#*0-9]\uFE0F?\u20E3)/u.test(text) ? text : "";
}

/**
 * pickReaction opens the picker; mine is the set of emoji the user put on
 * the message. It resolves to the emoji chosen, or "" when closed.
 */
export function pickReaction(mine) {
  return new Promise((resolve) => {
    let chosen = "";
    const choose = (emoji) => {
      chosen = emoji;
      dialog.close();
    };
    const grid = h(
      "div",
      { class: "react-grid", role: "group", "aria-label": t("reactTitle") },
      COMMON_EMOJI.map((e) =>
        h(
          "button",
          {
            type: "button",
            class: `react-choice${mine.has(e) ? " mine" : ""}`,
            "aria-pressed": String(mine.has(e)),
            "aria-label": mine.has(e) ? t("removeReaction", { emoji: e }) : t("reactWith", { emoji: e }),
            dataset: { emoji: e },
            on: { click: () => choose(e) },
          },
          e,
        ),
      ),
    );
    const input = h("input", { id: "react-other", type: "text", autocomplete: "off", maxlength: "32", "aria-describedby": "react-error" });
    const error = h("p", { class: "form-error", id: "react-error", role: "alert" });
    const form = h(
      "form",
      {
        class: "inline-form react-other",
        novalidate: true,
        on: {
          submit: (ev) => {
            ev.preventDefault();
            const e = singleEmoji(input.value);
            if (!e) {
              error.textContent = t("reactOne");
              return input.focus();
            }
            choose(e);
          },
        },
      },
      h("label", { for: "react-other", class: "sr-only" }, t("reactOther")),
      h("span", { class: "react-other-label", "aria-hidden": "true" }, t("reactOther")),
      input,
      h("button", { type: "submit", class: "btn btn-small btn-primary", id: "react-add" }, t("reactAdd")),
    );
    const dialog = h(
      "dialog",
      { class: "rename-dialog react-dialog", id: "react-dialog", "aria-labelledby": "react-title" },
      h("h2", { id: "react-title" }, t("reactTitle")),
      grid,
      form,
      error,
      h("div", { class: "actions" }, h("button", { type: "button", class: "btn btn-ghost", on: { click: () => dialog.close() } }, t("cancel"))),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(chosen);
    });
    document.body.append(dialog);
    dialog.showModal();
    grid.querySelector("button").focus();
  });
}

/** confirmDelete asks before a delete; it resolves to true when confirmed. */
export function confirmDelete() {
  return new Promise((resolve) => {
    let yes = false;
    const cancel = h("button", { type: "button", class: "btn btn-ghost", id: "delete-cancel", on: { click: () => dialog.close() } }, t("cancel"));
    const dialog = h(
      "dialog",
      { class: "rename-dialog delete-dialog", id: "delete-dialog", role: "alertdialog", "aria-labelledby": "delete-title", "aria-describedby": "delete-body" },
      h("h2", { id: "delete-title" }, t("deleteTitle")),
      h("p", { id: "delete-body" }, t("deleteBody")),
      h(
        "div",
        { class: "actions" },
        cancel,
        h(
          "button",
          {
            type: "button",
            class: "btn btn-danger",
            id: "delete-confirm",
            on: {
              click: () => {
                yes = true;
                dialog.close();
              },
            },
          },
          t("deleteConfirm"),
        ),
      ),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(yes);
    });
    document.body.append(dialog);
    dialog.showModal();
    // The safe choice has the focus: Enter does not delete by accident.
    cancel.focus();
  });
}
