// The light login: a nickname gets an anonymous identity and a token, which
// the device remembers. Any route opens here first when there is no session,
// and continues to that route afterwards.

import { h, icon } from "../dom.js";
import { t, countChars } from "../i18n.js";
import { api } from "../api.js";
import { store } from "../store.js";
import { passkeysSupported, signInWithPasskey, signInWithCode } from "../passkeys.js";

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

  // The same user on this device: a passkey made on another, or a
  // recovery code (passkeys.js).
  const otherError = h("p", { class: "form-error", id: "passkey-login-error", role: "alert" });
  const passkeyBtn = h("button", { type: "button", class: "btn btn-ghost btn-block", id: "passkey-login", on: { click: withPasskey } }, icon("🔑"), " ", t("passkeySignIn"));
  const codeInput = h("input", { id: "recovery-code", name: "code", type: "text", autocomplete: "one-time-code", autocapitalize: "off", spellcheck: "false", maxlength: "32" });
  const codeForm = h(
    "form",
    { class: "stack", id: "recovery-form", hidden: true, novalidate: true, on: { submit: withCode } },
    h("label", { for: "recovery-code" }, t("recoveryLabel")),
    codeInput,
    h("button", { type: "submit", class: "btn btn-ghost btn-block", id: "recovery-submit" }, t("recoverySubmit")),
  );
  const codeLink = h("button", { type: "button", class: "btn btn-ghost btn-small", id: "recovery-open", on: { click: () => ((codeForm.hidden = false), (codeLink.hidden = true), codeInput.focus()) } }, t("recoveryLink"));
  const other = h("section", { class: "card narrow stack", id: "other-device" }, h("p", {}, t("passkeyOr")), passkeysSupported() ? passkeyBtn : null, otherError, codeLink, codeForm);

  async function signedIn(run) {
    otherError.textContent = "";
    try {
      await run();
    } catch (err) {
      otherError.textContent = t("passkeyFailed", { reason: err.message || err.name || t("errorGeneric") });
      return;
    }
    ctx.onSession();
    ctx.navigate(location.pathname, { replace: true });
  }
  function withPasskey() {
    return signedIn(signInWithPasskey);
  }
  function withCode(ev) {
    ev.preventDefault();
    const code = codeInput.value.trim();
    if (code) return signedIn(() => signInWithCode(code));
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
    other,
  );
  setTimeout(() => input.focus(), 0);
}
