package web

import (
	"os/exec"
	"strings"
	"testing"
)

// TestSavedPage runs js/savedpage.js under Node: the saved newest timeline
// page follows the socket's frames as the timeline would give them, in
// seq order without a gap, trimmed to its limit, and a deletion leaves
// nothing of the text (neither in the message nor in its replies'
// previews). Pure logic: skipped where Node is not installed; the browser
// test TestBrowser/RoomOpensOfflineFromSavedHistory covers it end to end.
func TestSavedPage(t *testing.T) {
	node, abs := nodeModule(t, "savedpage.js")
	script := `
globalThis.document = { visibilityState: "visible", addEventListener() {}, removeEventListener() {} };
const { SavedPage } = await import(` + jsonString(abs) + `);
const fail = (what, got) => { console.log("FAIL " + what + ": " + JSON.stringify(got)); process.exit(0); };
const msg = (seq, id, body, extra = {}) => ({ type: "message", message: { id, seq, body, room_id: "r", user_id: "u", effects: [], ...extra } });
let saves = [];
const save = (p) => saves.push(JSON.parse(JSON.stringify(p)));

const p = new SavedPage({ items: [msg(2, "m2", "two"), { type: "member_joined", seq: 1, user_id: "u", nickname: "n" }], next_before_seq: null }, 4, save);
p.add({ type: "presence", seq: 9, members: [] });
p.add({ type: "typing", user_id: "u" });
p.add(msg(2, "m2", "two")); // a resume's replay
p.add(msg(3, "m3", "three"));
p.add(msg(4, "m4", "four", { reply_to: { message_id: "m3", user_id: "u", nickname: "n", preview: "three" } }));
p.add({ type: "reaction", room_id: "r", seq: 5, message_id: "m4", user_id: "v", emoji: "👍", op: "added" });
p.add({ type: "message_edited", room_id: "r", seq: 6, message_id: "m4", body: "FOUR", effects: [], edited_at: "t" });
p.add({ type: "message_deleted", room_id: "r", seq: 7, message_id: "m3" });
if (saves.length !== 0) fail("written before its delay", saves);
p.stop();
if (saves.length !== 1) fail("writes on stop", saves.length);
const s = saves[0];
const seqs = s.items.map((it) => it.type === "message" ? it.message.seq : it.seq);
if (JSON.stringify(seqs) !== "[7,6,5,4]" || s.next_before_seq !== 4) fail("seqs and next_before_seq", { seqs, next: s.next_before_seq });
if (s.items[0].type !== "room_event" || s.items[0].event !== "message.deleted") fail("the deletion's item", s.items[0]);
if (s.items[1].event !== "message.edited" || s.items[2].event !== "message.reaction_added") fail("the changes' items", s.items.slice(1, 3));
const m4 = s.items[3].message;
if (m4.body !== "FOUR" || m4.edited_at !== "t" || JSON.stringify(m4.reactions) !== '[{"emoji":"👍","user_ids":["v"]}]') fail("the edited, reacted message", m4);
if (JSON.stringify(m4.reply_to) !== '{"message_id":"m3","user_id":"u","nickname":"n","deleted":true}') fail("the reply's preview of a deleted message", m4.reply_to);
if (JSON.stringify(s).includes("three")) fail("the deleted text kept", s);

saves = [];
const g = new SavedPage({ items: [msg(2, "m2", "two")], next_before_seq: 1 }, 50, save);
g.add(msg(4, "m4", "past a gap"));
g.add(msg(3, "m3", "late"));
g.stop();
if (saves.length !== 0) fail("a page with a gap written", saves);
const c = new SavedPage({ items: [msg(2, "m2", "two")], saved: true }, 50, save);
c.add(msg(3, "m3", "three"));
c.stop();
if (saves.length !== 0) fail("a page from the cache built on", saves);
const e = new SavedPage({ items: [], next_before_seq: null }, 50, save);
e.add({ type: "member_joined", room_id: "r", user_id: "u", nickname: "n", seq: 1 });
e.stop();
if (saves.length !== 1 || saves[0].items[0].type !== "member_joined" || !saves[0].items[0].at || saves[0].next_before_seq !== null) fail("a new room's first event", saves);
saves.length = 0;
const w = new SavedPage({ items: [], next_before_seq: null }, 50, save);
w.add({ type: "member_left", room_id: "r", user_id: "u", nickname: "n", seq: 1, at: "2026-12-04T20:29:10.039Z" });
w.stop();
if (saves.length !== 1 || saves[0].items[0].at !== "2026-12-04T20:29:10.039Z") fail("a frame's own time kept", saves);
console.log("ok");`
	out, err := exec.CommandContext(t.Context(), node, "--input-type=module", "-e", script).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "ok" {
		t.Fatal(got)
	}
}
