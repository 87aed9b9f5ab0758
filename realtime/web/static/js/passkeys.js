// Passkeys: the same user on another device (docs/adr/0008-passkeys.md).
// A signed-in user creates one (the header's 🔑); on another device, the
// login screen signs in with it, or with a one-time recovery code shown
// when the first passkey was made. The browser does the cryptography
// (navigator.credentials); this module only carries its JSON to the API.

import { h, replace, toast } from "./dom.js";
import { t } from "./i18n.js";
import { api } from "./api.js";
import { store } from "./store.js";

/** supported: the browser can make and use passkeys from JSON options. */
export function passkeysSupported() {
  return (
    typeof window.PublicKeyCredential === "function" &&
    typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function" &&
    typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function"
  );
}

/** signInWithPasskey runs the sign-in ceremony and stores the session. */
export async function signInWithPasskey() {
  const { challenge_id: id, options } = await api.passkeyLoginBegin();
  const cred = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey) });
  const s = await api.passkeyLoginFinish(id, cred.toJSON());
  store.session = { user_id: s.user_id, nickname: s.nickname, token: s.token };
  store.currentRoom = null;
  return s;
}

/** signInWithCode spends a recovery code and stores the session. */
export async function signInWithCode(code) {
  const s = await api.recover(code);
  store.session = { user_id: s.user_id, nickname: s.nickname, token: s.token };
  store.currentRoom = null;
  return s;
}

/** openPasskeyDialog offers to create a passkey, then shows the recovery codes once. */
export function openPasskeyDialog() {
  const s = store.session;
  if (!s) return;
  const status = h("p", { class: "form-error", id: "passkey-error", role: "alert" });
  const create = h("button", { type: "button", class: "btn btn-primary", id: "passkey-create", on: { click: createPasskey } }, t("passkeyCreate"));
  const body = h("div", { class: "stack" }, h("p", {}, t("passkeyIntro", { nickname: s.nickname })), status, h("div", { class: "actions" }, h("button", { type: "button", class: "btn btn-ghost", on: { click: () => dialog.close() } }, t("close")), create));
  const dialog = h("dialog", { class: "rename-dialog", id: "passkey-dialog", "aria-labelledby": "passkey-title" }, h("h2", { id: "passkey-title" }, t("passkeyTitle")), body);
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  if (!passkeysSupported()) {
    create.disabled = true;
    status.textContent = t("passkeyUnsupported");
  }

  async function createPasskey() {
    create.disabled = true;
    status.textContent = "";
    try {
      const { challenge_id: id, options } = await api.passkeyRegisterBegin();
      const cred = await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey) });
      const res = await api.passkeyRegisterFinish(id, cred.toJSON());
      toast(t("passkeyCreated"));
      if (!res.recovery_codes?.length) return dialog.close();
      replace(
        body,
        h("h3", {}, t("recoveryCodesTitle")),
        h("p", {}, t("recoveryCodesIntro")),
        h("ol", { class: "recovery-codes", id: "recovery-codes" }, res.recovery_codes.map((c) => h("li", {}, h("code", {}, c)))),
        h("div", { class: "actions" }, h("button", { type: "button", class: "btn btn-primary", id: "recovery-done", on: { click: () => dialog.close() } }, t("recoveryCodesDone"))),
      );
    } catch (err) {
      create.disabled = false;
      status.textContent = t("passkeyFailed", { reason: err.message || err.name || t("errorGeneric") });
    }
  }
}
