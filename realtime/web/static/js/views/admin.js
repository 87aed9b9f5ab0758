// The admin screen: once the operator's admin token is entered (and
// accepted by the server), it lists topic proposals to approve and can open
// a topic directly. The token stays in this tab's sessionStorage only.

import { h, replace, icon, toast } from "../dom.js";
import { t, formatDay, formatClock } from "../i18n.js";
import { api } from "../api.js";
import { store } from "../store.js";
import { topicForm } from "./propose.js";
import { reportQueue } from "./admin_reports.js";

export function renderAdmin(root, ctx) {
  const body = h("div", { class: "admin-body" });
  // The intro asks for the token only while none is held.
  const intro = h("p", { class: "lead" });
  root.append(
    h(
      "header",
      { class: "page-head" },
      h("div", {}, h("h1", {}, t("adminTitle")), intro),
      h("div", { class: "page-actions" }, h("a", { href: "/", "data-link": true, class: "btn btn-ghost" }, "← ", t("back"))),
    ),
    body,
  );

  if (store.adminToken) showProposals();
  else showUnlock();

  function showUnlock(message = "") {
    const input = h("input", { id: "admin-token", type: "password", autocomplete: "off", required: true, "aria-describedby": "admin-token-help" });
    const error = h("p", { class: "form-error", role: "alert" }, message);
    const form = h(
      "form",
      { class: "stack", id: "admin-unlock", novalidate: true, on: { submit } },
      h("label", { for: "admin-token" }, t("adminTokenLabel")),
      input,
      // Where the token comes from: the operator's setting, and in
      // development the one `happychat dev` prints at start.
      h("p", { class: "hint", id: "admin-token-help" }, t("adminTokenHelp")),
      error,
      h("button", { type: "submit", class: "btn btn-primary btn-block" }, icon("🔓"), " ", t("adminUnlock")),
    );
    async function submit(ev) {
      ev.preventDefault();
      const tok = input.value.trim();
      if (!tok) return input.focus();
      try {
        await api.listRooms({ status: "proposed", token: tok });
        store.adminToken = tok;
        window.dispatchEvent(new CustomEvent("happychat:admin"));
        showProposals();
      } catch (err) {
        error.textContent = err.status === 401 || err.status === 403 ? t("adminBadToken") : err.message;
        input.focus();
      }
    }
    intro.textContent = t("adminIntro");
    replace(body, h("section", { class: "card narrow" }, form));
    if (message) input.focus();
  }

  async function showProposals() {
    intro.textContent = t("adminIntroUnlocked");
    const list = h("ul", { class: "proposal-list", id: "proposal-list", "aria-busy": "true" });
    const reports = reportQueue({ onDenied: () => ((store.adminToken = ""), showUnlock(t("adminBadToken"))) });
    replace(
      body,
      h("section", { class: "card" }, h("h2", {}, icon("📝"), " ", t("proposalsTitle")), list),
      reports.section,
      h(
        "section",
        { class: "card" },
        h("h2", {}, icon("🚀"), " ", t("createOpen")),
        h("p", { class: "hint" }, t("createOpenIntro")),
        topicForm({
          id: "admin-create",
          submitLabel: t("create"),
          token: () => store.adminToken,
          onDone: (room) => {
            toast(t("created", { title: room.title }));
            ctx.navigate(`/rooms/${room.id}`);
          },
        }),
      ),
      h(
        "p",
        { class: "page-actions" },
        h("button", { type: "button", class: "btn btn-ghost", id: "admin-refresh", on: { click: () => (loadList(list), reports.load()) } }, icon("🔄"), " ", t("refresh")),
        h("button", { type: "button", class: "btn btn-ghost", id: "admin-lock", on: { click: lock } }, icon("🔒"), " ", t("adminLock")),
      ),
    );
    await Promise.all([loadList(list), reports.load()]);
  }

  async function loadList(list) {
    list.setAttribute("aria-busy", "true");
    try {
      const { rooms = [] } = await api.listRooms({ status: "proposed", token: store.adminToken });
      if (!rooms.length) replace(list, h("li", { class: "empty" }, t("noProposals")));
      else replace(list, rooms.map((r) => proposal(r, list)));
    } catch (err) {
      if (err.status === 401 || err.status === 403) {
        store.adminToken = "";
        showUnlock(t("adminBadToken"));
      } else toast(err.message, { kind: "error" });
    } finally {
      list.setAttribute("aria-busy", "false");
    }
  }

  // proposal is one entry of the queue: what, who and when, approve or reject.
  function proposal(r, list) {
    const btn = h("button", { type: "button", class: "btn btn-primary approve", "aria-describedby": `proposal-${r.id}` }, icon("✅"), " ", t("approve"));
    const rejectBtn = h("button", { type: "button", class: "btn btn-ghost reject", "aria-describedby": `proposal-${r.id}` }, icon("🚫"), " ", t("reject"));
    const who = r.proposed_by?.nickname || t("someone");
    const li = h(
      "li",
      { class: "proposal", dataset: { roomId: r.id } },
      h(
        "div",
        {},
        h("h3", { id: `proposal-${r.id}` }, r.title),
        r.description ? h("p", { class: "room-desc" }, r.description) : null,
        h(
          "p",
          { class: "proposal-meta" },
          t("proposedBy", { nickname: who }),
          " · ",
          h("time", { datetime: r.created_at }, `${formatDay(r.created_at)} ${formatClock(r.created_at)}`),
        ),
      ),
      h("div", { class: "proposal-actions" }, btn, rejectBtn),
    );
    const decide = async (approve) => {
      btn.disabled = rejectBtn.disabled = true;
      try {
        const room = approve ? await api.approveRoom(r.id, store.adminToken) : await api.rejectRoom(r.id, store.adminToken);
        toast(t(approve ? "approved" : "rejected", { title: room.title || r.title }));
        li.remove();
        if (!list.children.length) replace(list, h("li", { class: "empty" }, t("noProposals")));
      } catch (err) {
        btn.disabled = rejectBtn.disabled = false;
        toast(err.message, { kind: "error" });
      }
    };
    btn.addEventListener("click", () => decide(true));
    rejectBtn.addEventListener("click", () => decide(false));
    return li;
  }

  function lock() {
    store.adminToken = "";
    window.dispatchEvent(new CustomEvent("happychat:admin"));
    showUnlock();
  }
}
