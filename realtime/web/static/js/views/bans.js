// The "Banned (N)" section of the members sheet (feature level 5): a
// room's current bans (GET /v1/rooms/{id}/bans), shown to those who
// moderate the room only, each with an Unban button that asks first. Kept
// apart from members.js, which only places it and asks it to refresh.

import { h, replace, icon, toast } from "../dom.js";
import { t } from "../i18n.js";
import "../moderation-strings.js";
import { api } from "../api.js";
import { avatar, tag } from "../identity.js";
import { canModerate, confirmDialog, tokenFor } from "./moderation.js";

// The bans view follows the log a moment after the member_left frame of a
// ban: refresh once now and once more after this.
const SETTLE_MS = 1500;

export class BanList {
  /** room: () => the room shown. */
  constructor({ room }) {
    this.room = room;
    this.heading = h("h3", { id: "ban-heading", class: "ban-heading" });
    this.list = h("ul", { class: "member-list ban-list", id: "ban-list", "aria-labelledby": "ban-heading" });
    this.el = h("section", { class: "ban-section", id: "ban-section", hidden: true }, this.heading, this.list);
    this.timer = 0;
    this.asked = 0;
  }

  /** refresh reads the bans again (now and once the view has settled). */
  refresh() {
    const room = this.room();
    if (!canModerate(room)) {
      this.el.hidden = true;
      return;
    }
    this.load(room);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(this.room()), SETTLE_MS);
  }

  async load(room) {
    if (!room || !canModerate(room)) return;
    const asked = ++this.asked;
    let bans;
    try {
      ({ bans } = await api.bans(room.id, tokenFor(room)));
    } catch {
      return; // not (or no longer) a moderator, or offline: nothing to show
    }
    if (asked !== this.asked || this.room()?.id !== room.id) return;
    this.draw(room, bans || []);
  }

  draw(room, bans) {
    this.el.hidden = bans.length === 0;
    this.heading.textContent = t("bannedHeading", { count: bans.length });
    replace(
      this.list,
      bans.map((b) => {
        const name = b.nickname || String(b.user_id);
        return h(
          "li",
          { dataset: { userId: b.user_id } },
          avatar(name, b.user_id),
          h("span", { class: "member-name" }, name, " ", tag(b.user_id)),
          h(
            "button",
            {
              type: "button",
              class: "btn btn-ghost btn-small member-unban",
              "aria-label": t("unbanMember", { nickname: name }),
              title: t("unbanMember", { nickname: name }),
              on: { click: () => this.unban(room, b.user_id, name) },
            },
            icon("↩️"),
            h("span", { class: "tool-label" }, t("unban")),
          ),
        );
      }),
    );
  }

  async unban(room, userId, name) {
    const ok = await confirmDialog({ title: t("unbanTitle", { nickname: name }), body: t("unbanBody", { nickname: name }), confirm: t("unban") });
    if (ok === null) return;
    try {
      await api.moderate(room.id, "unban", { user_id: userId }, tokenFor(room));
      toast(t("unbannedToast", { nickname: name }));
    } catch (err) {
      toast(err.message, { kind: "error" });
    }
    this.refresh();
  }
}
