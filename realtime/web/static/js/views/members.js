// The room's members sheet: a panel beside the conversation on wide
// screens, a sheet over it (with a backdrop that closes it) on phones, and
// per member the actions others may take: a direct message, the owner's or
// an admin's kick and ban (moderation.js), a block (blockreport.js). Kept
// apart from room.js, which only hands it the members as frames change
// them.

import { h, replace, icon } from "../dom.js";
import { t } from "../i18n.js";
import { avatar, tag } from "../identity.js";
import { messageButton } from "./conversations.js";
import { memberActions } from "./moderation.js";
import { blockButton } from "../blockreport.js";
import { BanList } from "./bans.js";

const WIDE = "(min-width: 900px)";

export class MembersPanel {
  /** selfId: the user; navigate: the router's; room: () => the room shown. */
  constructor({ selfId, navigate, room }) {
    this.selfId = selfId;
    this.navigate = navigate;
    this.room = room;
    this.list = h("ul", { class: "member-list", id: "member-list" });
    this.count = h("span", { class: "member-count" });
    // A moderator's "Banned (N)" with Unban (bans.js).
    this.bans = new BanList({ room });
    this.toggle = h(
      "button",
      { type: "button", class: "btn btn-ghost btn-small", id: "members-toggle", "aria-expanded": "false", "aria-controls": "member-panel" },
      icon("👥"),
      " ",
      this.count,
      // The name says what the count counts, and holds the visible text
      // (WCAG 2.5.3: an aria-label without it failed axe).
      h("span", { class: "sr-only" }, " ", t("memberList")),
    );
    const close = h(
      "button",
      { type: "button", class: "btn btn-ghost btn-small member-close", "aria-label": t("hideMembers"), on: { click: () => (this.open(false), this.toggle.focus()) } },
      h("span", { "aria-hidden": "true" }, "✕"),
    );
    this.panel = h(
      "aside",
      { class: "member-panel", id: "member-panel", "aria-labelledby": "member-heading" },
      h("div", { class: "member-head" }, h("h2", { id: "member-heading" }, t("memberList")), close),
      this.list,
      this.bans.el,
    );
    // Phones: the list is a sheet over the conversation, above a backdrop
    // that closes it; both are fixed, so the timeline keeps its width.
    this.backdrop = h("div", { class: "member-backdrop", hidden: true, on: { click: () => this.open(false) } });
    // Open beside the conversation on wide screens, closed on phones.
    this.open(matchMedia(WIDE).matches);
    this.toggle.addEventListener("click", () => this.open(this.panel.hidden));
    this.panel.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && !matchMedia(WIDE).matches) {
        this.open(false);
        this.toggle.focus();
      }
    });
  }

  open(yes) {
    this.toggle.setAttribute("aria-expanded", String(yes));
    this.panel.hidden = !yes;
    this.backdrop.hidden = !yes || matchMedia(WIDE).matches;
  }

  /** draw shows members (a Map of user id → {user_id, nickname}), the user first. */
  draw(members) {
    const self = this.selfId;
    const room = this.room();
    const list = [...members.values()].sort((a, b) => (a.user_id === self ? -1 : b.user_id === self ? 1 : (a.nickname || "").localeCompare(b.nickname || "")));
    replace(
      this.list,
      list.map((m) =>
        h(
          "li",
          { class: m.user_id === self ? "me" : null, dataset: { userId: m.user_id } },
          avatar(m.nickname, m.user_id),
          h("span", { class: "member-name" }, m.nickname, " ", tag(m.user_id), m.user_id === self ? ` (${t("you")})` : ""),
          messageButton(m, this.navigate),
          memberActions(room, m),
          blockButton(m),
        ),
      ),
    );
    this.count.textContent = t("membersShort", { count: members.size, capacity: room.capacity || 20 });
    // Members change on a ban and on a join after an unban: the bans too.
    this.bans.refresh();
  }
}
