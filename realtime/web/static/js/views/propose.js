// Propose a topic: anyone may; it opens once an admin approves it (202
// proposed). With the admin token unlocked in this tab the topic opens at
// once (201 open) and the app goes straight into it.

import { h, icon, toast } from "../dom.js";
import { t } from "../i18n.js";
import { api } from "../api.js";
import { store } from "../store.js";

export function renderPropose(root, ctx) {
  root.append(
    h(
      "header",
      { class: "page-head" },
      h("div", {}, h("h1", {}, t("proposeTopic")), h("p", { class: "lead" }, t("proposeIntro"))),
      h("div", { class: "page-actions" }, h("a", { href: "/", "data-link": true, class: "btn btn-ghost" }, "← ", t("back"))),
    ),
    h("section", { class: "card narrow" }, topicForm({ id: "propose", submitLabel: t("submit"), token: () => store.adminToken || undefined, onDone: done })),
  );

  function done(room) {
    if (room.status === "open") {
      toast(t("created", { title: room.title }));
      ctx.navigate(`/rooms/${room.id}`);
    } else {
      toast(t("proposed", { title: room.title }), { ms: 7000 });
      ctx.navigate("/");
    }
  }
}

/** topicForm is the title + description form shared with the admin screen. */
export function topicForm({ id, submitLabel, token, onDone }) {
  const title = h("input", { id: `${id}-title`, name: "title", type: "text", required: true, maxlength: "80", autocomplete: "off" });
  const description = h("textarea", { id: `${id}-description`, name: "description", rows: "3", maxlength: "500" });
  const error = h("p", { class: "form-error", role: "alert" });
  const button = h("button", { type: "submit", class: "btn btn-primary btn-block", id: `${id}-submit` }, icon("✨"), " ", submitLabel);
  const form = h(
    "form",
    { class: "stack", id: `${id}-form`, novalidate: true, on: { submit } },
    h("label", { for: `${id}-title` }, t("titleLabel")),
    title,
    h("label", { for: `${id}-description` }, t("descriptionLabel")),
    description,
    error,
    button,
  );
  async function submit(ev) {
    ev.preventDefault();
    if (!title.value.trim()) {
      title.setAttribute("aria-invalid", "true");
      title.focus();
      return;
    }
    button.disabled = true;
    error.textContent = "";
    try {
      const room = await api.createRoom({ title: title.value.trim(), description: description.value.trim() }, token());
      form.reset();
      onDone(room);
    } catch (err) {
      error.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  }
  return form;
}
