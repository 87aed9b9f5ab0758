// The light login: a nickname gets an anonymous identity and a token, which
// the device remembers. Any route opens here first when there is no session,
// and continues to that route afterwards.

import { h, icon } from "../dom.js";
import { t, countChars } from "../i18n.js";
import { api } from "../api.js";
import { store } from "../store.js";

const MAX = 32;

export function renderLogin(root, ctx) {
  const error = h("p", { class: "form-error", id: "nickname-error", role: "alert" });
  const input = h("input", {
    id: "nickname",
    name: "nickname",
    type: "text",
    autocomplete: "nickname",
    autocapitalize: "off",
    spellcheck: "false",
    required: true,
    maxlength: "64",
    "aria-describedby": "nickname-hint nickname-error",
    value: store.lastNickname,
  });
  const button = h("button", { type: "submit", class: "btn btn-primary btn-block", id: "start" }, t("start"));
  const form = h(
    "form",
    { class: "stack", novalidate: true, on: { submit } },
    h("label", { for: "nickname" }, t("nicknameLabel")),
    input,
    h("p", { class: "hint", id: "nickname-hint" }, t("nicknameHint")),
    error,
    button,
  );

  async function submit(ev) {
    ev.preventDefault();
    const nickname = input.value.trim();
    const n = countChars(nickname);
    if (n < 1 || n > MAX || /\p{Cc}/u.test(nickname)) {
      error.textContent = n > MAX ? t("tooLong", { max: MAX }) : t("nicknameHint");
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    button.disabled = true;
    button.textContent = t("starting");
    error.textContent = "";
    try {
      const s = await api.createSession(nickname);
      store.session = { user_id: s.user_id, nickname: s.nickname, token: s.token };
      store.currentRoom = null;
      ctx.onSession();
      ctx.navigate(location.pathname, { replace: true });
    } catch (err) {
      error.textContent = err.message || t("errorGeneric");
      input.setAttribute("aria-invalid", "true");
      button.disabled = false;
      button.textContent = t("start");
      input.focus();
    }
  }

  root.append(
    h(
      "section",
      { class: "hero" },
      h("img", { class: "hero-logo", src: "/icons/icon.svg", alt: "", width: "96", height: "96" }),
      h("h1", {}, t("appName")),
      h("p", { class: "tagline" }, icon("🎈"), " ", t("tagline")),
    ),
    h("section", { class: "card narrow" }, form),
  );
  setTimeout(() => input.focus(), 0);
}
