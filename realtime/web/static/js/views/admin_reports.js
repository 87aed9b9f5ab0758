// The admin screen's report queue (feature level 5): open reports newest
// first, each with its message's preview (a message its author deleted
// stays readable here while held), resolved by dismissing it or deleting
// the message (which erases it). admin.js places the section.

import { h, replace, icon, toast } from "../dom.js";
import { t, formatDay, formatClock } from "../i18n.js";
import "../moderation-strings.js";
import { api } from "../api.js";
import { store } from "../store.js";

/**
 * reportQueue returns the section and a load function. onDenied is called
 * when the token is refused (the admin screen asks for it again).
 */
export function reportQueue({ onDenied }) {
  const list = h("ul", { class: "report-list", id: "report-list", "aria-busy": "true" });
  const more = h("button", { type: "button", class: "btn btn-ghost btn-small", id: "reports-more", hidden: true }, t("moreReports"));
  let next = null;
  const section = h(
    "section",
    { class: "card", "aria-labelledby": "reports-title" },
    h("h2", { id: "reports-title" }, icon("⚑"), " ", t("reportsTitle")),
    h("p", { class: "hint" }, t("reportsIntro")),
    list,
    more,
  );
  more.addEventListener("click", () => load(false));

  async function load(first = true) {
    list.setAttribute("aria-busy", "true");
    try {
      const page = await api.reports({ status: "open", before: first ? null : next, token: store.adminToken });
      next = page.next_before;
      const items = (page.reports || []).map((r) => item(r));
      if (first) replace(list, items);
      else list.append(...items);
      if (!list.children.length) replace(list, h("li", { class: "empty" }, t("noReports")));
      more.hidden = !next;
    } catch (err) {
      if (err.status === 401 || err.status === 403) onDenied();
      else toast(err.message, { kind: "error" });
    } finally {
      list.setAttribute("aria-busy", "false");
    }
  }

  // item is one report: the message (author, room, text), who reported it
  // why and when, and the two outcomes.
  function item(r) {
    const headId = `report-${r.id}`;
    const dismiss = h("button", { type: "button", class: "btn btn-ghost report-dismiss", "aria-describedby": headId }, icon("👌"), " ", t("dismiss"));
    const del = h("button", { type: "button", class: "btn btn-primary report-delete", "aria-describedby": headId }, icon("🗑️"), " ", t("deleteMessage"));
    const li = h(
      "li",
      { class: "report", dataset: { reportId: r.id, messageId: r.message_id } },
      h(
        "div",
        {},
        h("h3", { id: headId }, t("reportAuthor", { nickname: r.author_nickname, room: r.room_id })),
        h("blockquote", { class: "report-text" }, r.text ?? t("reportErased")),
        r.message_deleted ? h("p", { class: "hint report-held" }, t("reportDeletedByAuthor")) : null,
        h(
          "p",
          { class: "proposal-meta" },
          t("reportBy", { nickname: r.reporter_nickname, reason: t(`reason_${r.reason}`) }),
          " · ",
          h("time", { datetime: r.filed_at }, `${formatDay(r.filed_at)} ${formatClock(r.filed_at)}`),
        ),
        r.note ? h("p", { class: "report-note" }, r.note) : null,
      ),
      h("div", { class: "proposal-actions" }, dismiss, del),
    );
    const resolve = async (outcome) => {
      dismiss.disabled = del.disabled = true;
      try {
        await api.resolveReport(r.id, outcome, store.adminToken);
        toast(t(outcome === "deleted" ? "reportDeleted" : "reportDismissed"));
        // Every open report of the message is resolved with it.
        for (const other of list.querySelectorAll(`li.report[data-message-id="${CSS.escape(r.message_id)}"]`)) other.remove();
        if (!list.children.length) replace(list, h("li", { class: "empty" }, t("noReports")));
      } catch (err) {
        dismiss.disabled = del.disabled = false;
        toast(err.message, { kind: "error" });
      }
    };
    dismiss.addEventListener("click", () => resolve("dismissed"));
    del.addEventListener("click", () => resolve("deleted"));
    return li;
  }

  return { section, load };
}
