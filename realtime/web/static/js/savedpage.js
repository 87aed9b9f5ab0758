// The saved newest timeline page of a room (api.js, "Saved answers")
// follows the socket. The page read when the room opened is saved as the
// server gave it; after that, every live event the socket brings goes into
// it as the timeline would give it, and an edit, a deletion or a reaction
// changes the saved message. So a room opened offline shows what was seen
// last rather than what was read last, and a deleted message's text does
// not stay in Cache Storage (msgchanges.js: a client keeps no deleted
// text; docs/adr/0009).

// SAVE_DELAY bounds the writes to one per burst of events; a page that is
// hidden or left is written at once.
const SAVE_DELAY = 1000;

const CHANGES = {
  message_edited: "message.edited",
  message_deleted: "message.deleted",
  reaction: null, // message.reaction_added or message.reaction_removed, by op
};

/** itemSeq is the seq of a timeline item or live frame (null if none). */
export function itemSeq(it) {
  const seq = it?.type === "message" ? it.message?.seq : it?.seq;
  return Number.isInteger(seq) && seq > 0 ? seq : null;
}

export class SavedPage {
  /**
   * page is the newest timeline page as read (newest first); limit the
   * most items kept, as the page the room reads; save writes a page
   * (api.js saveTimelinePage for the room).
   */
  constructor(page, limit, save) {
    this.save = save;
    this.limit = limit;
    this.items = [...(page?.items || [])];
    this.next = page?.next_before_seq ?? null;
    this.newest = this.items.reduce((max, it) => Math.max(max, itemSeq(it) || 0), 0);
    // A page that came from the cache (a saved answer) is not built on:
    // what it lacks is unknown. (A read that failed otherwise leaves an
    // empty page, and the socket then replays the room from seq 1.)
    this.off = !page || page.saved === true;
    this.timer = null;
    this.onHide = () => document.visibilityState === "hidden" && this.flush();
    document.addEventListener("visibilitychange", this.onHide);
  }

  /**
   * add takes a frame of the socket. Frames without a seq (presence,
   * typing, acks) are not events of the room's log; an event already in
   * the page (a resume's replay) is skipped; one past a gap stops the
   * updates, since a saved page has no gap (the timeline's rule).
   */
  add(frame) {
    if (this.off || frame?.type === "presence") return;
    const seq = itemSeq(frame);
    if (seq === null || seq <= this.newest) return;
    if (seq !== this.newest + 1) {
      this.off = true;
      return;
    }
    this.newest = seq;
    const it = this.item(frame, seq); // (it may replace this.items)
    this.items.unshift(it);
    if (this.items.length > this.limit) {
      this.items.length = this.limit;
      this.next = itemSeq(this.items[this.items.length - 1]);
    }
    this.schedule();
  }

  // item is the timeline's item for a live frame, and applies a change to
  // the saved message it names.
  item(frame, seq) {
    // A member or room frame carries its event's time (at); the change
    // frames but an edit do not, and a server from before at neither.
    const at = frame.at || frame.edited_at || new Date().toISOString();
    if (frame.type === "message") return { type: "message", message: frame.message };
    if (frame.type in CHANGES) {
      this.change(frame);
      const event = CHANGES[frame.type] || (frame.op === "added" ? "message.reaction_added" : "message.reaction_removed");
      return { type: "room_event", room_id: frame.room_id, seq, event, at };
    }
    return { ...frame, at };
  }

  change(frame) {
    if (frame.type === "message_deleted") {
      // The previews of its replies go too, whether or not it is itself
      // on the page.
      this.items = this.items.map((it) => {
        const rt = it.type === "message" ? it.message?.reply_to : null;
        if (!rt || rt.message_id !== frame.message_id) return it;
        const { message_id, user_id, nickname } = rt;
        return { ...it, message: { ...it.message, reply_to: { message_id, user_id, nickname, deleted: true } } };
      });
    }
    const i = this.items.findIndex((it) => it.type === "message" && it.message?.id === frame.message_id);
    if (i < 0) return;
    const m = { ...this.items[i].message };
    switch (frame.type) {
      case "message_edited":
        if (m.deleted) return;
        Object.assign(m, { body: frame.body, effects: frame.effects || [], edited_at: frame.edited_at });
        break;
      case "message_deleted":
        // As the server gives a deleted message (query/changes.go):
        // nothing it said is kept.
        Object.assign(m, { body: "", effects: [], deleted: true });
        for (const k of ["edited_at", "reply_to", "reactions", "mentions"]) delete m[k];
        break;
      case "reaction": {
        if (m.deleted) return;
        const reactions = (m.reactions || []).map((r) => ({ emoji: r.emoji, user_ids: [...r.user_ids] }));
        let r = reactions.find((x) => x.emoji === frame.emoji);
        if (!r && frame.op === "added") reactions.push((r = { emoji: frame.emoji, user_ids: [] }));
        if (r) {
          r.user_ids = r.user_ids.filter((u) => u !== frame.user_id);
          if (frame.op === "added") r.user_ids.push(frame.user_id);
        }
        m.reactions = reactions.filter((x) => x.user_ids.length > 0);
        break;
      }
      default:
        return;
    }
    this.items[i] = { ...this.items[i], message: m };
  }

  schedule() {
    if (this.timer === null) this.timer = setTimeout(() => this.flush(), SAVE_DELAY);
  }

  /** flush writes the page now if anything changed since the last write. */
  flush() {
    if (this.timer === null) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.save({ items: this.items, next_before_seq: this.next });
  }

  stop() {
    this.flush();
    document.removeEventListener("visibilitychange", this.onHide);
  }
}
