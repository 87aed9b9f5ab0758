// The room screen: join, history, live conversation, members, composer.
// (Over 450 lines: one screen's wiring of the socket's frames to the
// timeline, the composer and the members; the rendering lives in
// timeline.js, identity.js, msgchanges.js and links.js, the composer in
// composer.js, the message menu in msgactions.js, the members sheet in
// members.js.)
//
// Order of work, and why: join first (the socket is only for members), then
// read the newest history page, then open the socket with since_seq = the
// newest seq in that page. History comes from a projection that may lag the
// log; the socket replays everything after that seq from the log itself, so
// the two together have no gap, and the Timeline's keys drop any overlap.
// History is the room's timeline (messages, joins and leaves), so a reload
// shows the lines the socket showed live.
//
// Offline, the service worker answers the room and its newest timeline
// page from what it saved on the last visit: the room opens read-only with
// that history, and going back online opens it again for real. Every
// problem that came from the network clears itself the same way.

import { h, replace, icon, toast, announce } from "../dom.js";
import { t } from "../i18n.js";
import { api, saveTimelinePage } from "../api.js";
import { store } from "../store.js";
import { RoomSocket } from "../socket.js";
import { Timeline } from "../timeline.js";
import { applyFrame } from "../msgchanges.js";
import { SavedPage } from "../savedpage.js";
import { Outbox } from "../outbox.js";
import { ReadMarks } from "../readmarks.js";
import { Typing } from "../typing.js";
import { SeenBy } from "../seenby.js";
import { playEffect } from "../effects.js";
import { notifyState, enableNotifications, disableNotifications, notifyMessage } from "../notify.js";
import { conversationTitle, inviteButton, readFresh } from "./conversations.js";
import { MembersPanel } from "./members.js";
import { muteButton, revealLinkedMessage } from "../push.js";
import { Composer } from "../composer.js";
import { attachMessageActions } from "../msgactions.js";
import { closeButton, removedCard, closedCard } from "./moderation.js";
import { moderationKind, moderationBy } from "../timeline.js";
import { isBlocked, loadBlocks } from "../blockreport.js";

const PAGE = 50;
// Effects are for what happens now: a replay after a long absence does not
// set off a screenful of balloons.
const EFFECT_FRESH_MS = 2 * 60 * 1000;

export function renderRoom(root, { id }, ctx) {
  const session = store.session;
  const abort = new AbortController();
  const members = new Map();
  let room = null;
  let socket = null;
  let savedPage = null;
  let outbox = null;
  let marks = null;
  let typing = null;
  let seen = null;
  let membersPanel = null;
  let composer = null;
  let actions = null;
  let timeline = null;
  let topObserver = null;
  let nextBefore = null;
  let loadingOlder = false;
  let els = {};
  let leaving = false;
  let presenceSeq = null;
  // reopenOnline: this screen is showing what it could without the
  // network; back online, the room opens again from the start.
  let reopenOnline = false;
  const reopen = () => ctx.navigate(`/rooms/${id}`, { replace: true });

  // afterSnapshot: without a snapshot seq, every event counts (the list is
  // then only as good as the frames, and a close with "not a member" still
  // ends the room for this user).
  const afterSnapshot = (frame) => presenceSeq == null || frame.seq > presenceSeq;

  root.append(h("div", { class: "loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), " ", t("joining")));
  start().catch((err) => {
    if (!abort.signal.aborted) showProblem(err.message || t("errorGeneric"), { network: err.code === "network" });
  });

  async function start() {
    try {
      room = await readFresh(id, () => api.getRoom(id, { signal: abort.signal }));
    } catch (err) {
      if (abort.signal.aborted) return;
      if (err.code === "network") return showProblem(t("offlineRoom"), { network: true });
      return showProblem(err.code === "not_found" ? t("roomNotFound") : err.message);
    }
    let joined = {};
    try {
      // A private room or a DM is entered by invite or by a member, never
      // joined: its members just open it.
      if (!room.kind) joined = await api.joinRoom(id);
    } catch (err) {
      if (abort.signal.aborted) return;
      if (err.code === "room_full") return showFull();
      if (err.code === "banned") return removedCard(root, room, "banned");
      if (err.code === "room_closed") return closedCard(root, room);
      if (err.code !== "network") return showProblem(err.code === "not_found" ? t("roomNotFound") : err.message);
      // Offline with the room saved: show it as last seen.
      reopenOnline = true;
    }
    if (abort.signal.aborted) return;
    const previous = store.currentRoom;
    // The current room is the topic room (one at a time).
    if (!reopenOnline && !room.kind) store.currentRoom = room;
    if (joined.left_room_id && joined.left_room_id !== id) {
      const from = previous?.id === joined.left_room_id ? previous.title : store.cachedRoom(joined.left_room_id)?.title || "…";
      toast(t("switched", { from }), { ms: 6000 });
    }

    buildLayout();
    if (room.status === "closed") readOnly();
    loadBlocks();
    for (const m of room.members || []) members.set(m.user_id, m);
    if (!members.has(session.user_id)) members.set(session.user_id, { user_id: session.user_id, nickname: session.nickname });
    drawMembers();
    seen.load(room.members);
    marks.seed(seen.marks.get(session.user_id));

    let page = { items: [], next_before_seq: null };
    try {
      page = await api.timelinePage(id, { limit: PAGE, signal: abort.signal });
    } catch (err) {
      if (abort.signal.aborted) return;
      if (err.code === "network") reopenOnline = true;
      else toast(err.message, { kind: "error" });
    }
    if (abort.signal.aborted) return;
    const added = timeline.prependTimeline(page.items || []);
    added.forEach((li) => marks.observe(li));
    nextBefore = page.next_before_seq || null;
    drawTop();
    seen.draw();
    timeline.scrollToBottom();
    window.addEventListener("online", onOnline);
    if (reopenOnline) {
      // Read-only until the network is back: the socket needs a member.
      ctx.setConnection("offline");
      els.offlineNote.hidden = false;
      els.composer.disabled = true;
      els.composer.placeholder = t("offlineRoomSaved");
      return;
    }

    // The saved copy of the page follows what the socket shows from here.
    savedPage = new SavedPage(page, PAGE, (p) => saveTimelinePage(id, p));
    // since_seq = the newest seq in the page (0 when empty: replay it all),
    // which the saved page has just worked out.
    const sinceSeq = savedPage.newest;
    socket = new RoomSocket(id, {
      sinceSeq,
      onFrame,
      onState: (state, info) => {
        ctx.setConnection(state, info);
        if (state === "online") outbox.flush();
      },
      onRefused,
      onExpired: () => window.dispatchEvent(new CustomEvent("happychat:unauthorized")),
    });
    socket.start();
    topObserver = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && loadOlder(), {
      root: timeline.el,
      rootMargin: "300px 0px 0px 0px",
    });
    topObserver.observe(timeline.top);
  }

  function onOnline() {
    if (reopenOnline) return reopen();
    outbox?.flush();
  }

  function buildLayout() {
    timeline = new Timeline({ selfId: session.user_id, onRetry: (cmid) => outbox.retry(cmid) });
    marks = new ReadMarks(id, timeline.el);
    typing = new Typing({ roomId: id, selfId: session.user_id, socket: () => socket });
    seen = new SeenBy({ selfId: session.user_id, list: timeline.list, members: () => members });
    timeline.el.append(seen.el);
    outbox = new Outbox({
      roomId: id,
      nickname: session.nickname,
      socket: () => socket,
      onChange: (p) => {
        const atBottom = timeline.nearBottom();
        timeline.upsertPending(p);
        if (atBottom) timeline.scrollToBottom();
        if (p.state === "failed") announce(`${t("failed")}: ${p.error}`, { urgent: true });
      },
      onConfirmed: (p, m) => showMessage(m, { live: true }),
    });

    membersPanel = new MembersPanel({ selfId: session.user_id, navigate: ctx.navigate, room: () => room });
    const notifyBtn = h("button", { type: "button", class: "btn btn-ghost btn-small", id: "notify-toggle", on: { click: toggleNotify } });
    // Labelled on every screen: an icon alone read as "say hi".
    const leaveBtn = h("button", { type: "button", class: "btn btn-ghost btn-small btn-leave", id: "leave", on: { click: leave } }, icon("🚪"), h("span", { class: "leave-label" }, t("leaveRoom")));
    const jump = h(
      "button",
      {
        type: "button",
        class: "jump-new",
        hidden: true,
        on: {
          click: () => {
            timeline.scrollToBottom();
            jump.hidden = true;
            els.composer.focus();
          },
        },
      },
      "↓ ",
      t("newMessages"),
    );
    timeline.el.addEventListener("scroll", () => {
      if (timeline.nearBottom()) jump.hidden = true;
    });

    // The composer (composer.js) and the message menu (msgactions.js).
    composer = new Composer({ selfId: session.user_id, members: () => [...members.values()], onInput: (v) => typing.input(v), onSend: send, onEdit: (mid, body) => actions.ctx.edit(mid, body) });
    actions = attachMessageActions({ roomId: id, selfId: session.user_id, timeline, composer, loadOlder, olderCursor: () => nextBefore });

    replace(
      root,
      h(
        "section",
        { class: "room", "aria-labelledby": "room-title" },
        h(
          "header",
          { class: "room-head" },
          h("a", { href: "/", "data-link": true, class: "btn btn-ghost btn-icon", id: "back", "aria-label": t("back"), title: t("back") }, h("span", { "aria-hidden": "true" }, "←")),
          h("div", { class: "room-heading" }, h("h1", { id: "room-title" }, conversationTitle(room)), room.description ? h("p", { class: "room-sub" }, room.description) : null),
          h("div", { class: "room-tools" }, inviteButton(room), membersPanel.toggle, notifyBtn, muteButton(id), leaveBtn, closeButton(room)),
        ),
        h("p", { class: "offline-room-note", id: "offline-room-note", role: "status", hidden: true }, icon("📴"), " ", t("offlineRoomSaved")),
        h("div", { class: "room-body" }, h("div", { class: "timeline-wrap" }, timeline.el, jump), membersPanel.backdrop, membersPanel.panel),
        typing.el,
        composer.form,
      ),
    );
    const offlineNote = root.querySelector("#offline-room-note");
    els = { notifyBtn, jump, composer: composer.input, offlineNote };
    drawNotify();
    revealLinkedMessage();
    composer.focus({ preventScroll: true });
  }

  function send(body, extra) {
    outbox.send(body, extra);
    typing.sent();
    timeline.scrollToBottom();
  }

  function onFrame(frame) {
    savedPage?.add(frame);
    switch (frame.type) {
      case "message":
        if (frame.message && isBlocked(frame.message.user_id)) break; // hidden for this viewer (blockreport.js)
        if (frame.message) showMessage(frame.message, { live: true });
        if (frame.message) typing.clear(frame.message.user_id);
        break;
      case "typing":
        typing.show(frame);
        break;
      case "read_mark":
        seen.mark(frame);
        break;
      // A resume replays joins and leaves that the presence snapshot
      // already reflects: they become timeline lines, but only events after
      // the snapshot change the member list.
      case "member_joined":
        if (afterSnapshot(frame)) {
          members.set(frame.user_id, { user_id: frame.user_id, nickname: frame.nickname });
          drawMembers();
        }
        addLine(timeline.addSystem("joined", frame.nickname, frame.seq, frame.user_id, null, frame.at));
        break;
      case "member_left": {
        const mod = moderationKind(frame);
        addLine(timeline.addSystem(mod || "left", frame.nickname, frame.seq, frame.user_id, moderationBy(frame), frame.at));
        if (!afterSnapshot(frame)) break;
        members.delete(frame.user_id);
        drawMembers();
        seen.draw();
        if (frame.user_id === session.user_id && mod) {
          // Removed or banned by a moderator: say so, no rejoin offered.
          removed(mod);
          break;
        }
        if (frame.user_id === session.user_id && !leaving) {
          // This user joined another room elsewhere (another tab or
          // device): one room at a time, so this one is over.
          if (store.currentRoom?.id === id) store.currentRoom = null;
          showProblem(t("movedAway", { title: conversationTitle(room) }), { rejoin: true });
        }
        break;
      }
      case "room_event":
        if (frame.event === "room.closed") {
          addLine(timeline.addSystem("closed", "", frame.seq, null, null, frame.at));
          room.status = "closed";
          readOnly();
        }
        break;
      case "member_renamed":
        // Same user, new name (member.renamed): the list follows, and the
        // line says who it was.
        if (afterSnapshot(frame) && members.has(frame.user_id)) {
          members.set(frame.user_id, { ...members.get(frame.user_id), nickname: frame.nickname });
          drawMembers();
        }
        addLine(timeline.addSystem("renamed", frame.nickname, frame.seq, frame.user_id, frame.previous, frame.at));
        break;
      case "presence":
        // seq (an extension of the service) is the position the list reflects.
        presenceSeq = typeof frame.seq === "number" ? frame.seq : null;
        members.clear();
        for (const m of frame.members || []) members.set(m.user_id, m);
        drawMembers();
        seen.load(frame.members);
        break;
      case "message_deleted":
        composer.forget(frame.message_id);
      // falls through: the timeline shows the tombstone
      case "message_edited":
      case "reaction":
        applyFrame(timeline, frame);
        break;
      case "ack":
        outbox.handleAck(frame);
        break;
      case "error":
        if (frame.client_msg_id) outbox.handleError(frame);
        else if (frame.error?.message) toast(frame.error.message, { kind: "error" });
        break;
      default:
      // Unknown frame types are ignored: the server may add some.
    }
  }

  function addLine(li) {
    if (!li) return;
    if (timeline.nearBottom()) timeline.scrollToBottom();
  }

  function showMessage(m, { live }) {
    const atBottom = timeline.nearBottom();
    const mine = m.user_id === session.user_id;
    if (mine && m.client_msg_id && outbox.items.has(m.client_msg_id)) {
      // Our own message broadcast before its ack: that confirms it too.
      return outbox.confirm(m.client_msg_id, m);
    }
    const li = timeline.addMessage(m);
    if (!li) return;
    marks.observe(li);
    if (live) {
      const fresh = Date.now() - Date.parse(m.sent_at) < EFFECT_FRESH_MS;
      if (fresh && m.effects?.length) playEffect(m.effects[0]);
      if (!mine) {
        notifyMessage({ title: t("notificationTitle", { nickname: m.nickname, title: conversationTitle(room) }), body: m.body, roomId: id }).catch(() => {});
      }
    }
    if (!nextBefore && !loadingOlder && timeline.top.querySelector(".empty-room")) drawTop();
    seen.draw();
    if (atBottom || mine) timeline.scrollToBottom();
    else els.jump.hidden = false;
  }

  function drawTop() {
    if (nextBefore) {
      timeline.setTop(h("button", { type: "button", class: "btn btn-ghost btn-small load-older", on: { click: loadOlder } }, t("loadOlder")));
    } else if (!timeline.list.querySelector(".msg")) {
      timeline.setTop(h("p", { class: "timeline-start empty-room" }, icon("👋"), " ", t("noMessagesYet")));
    } else {
      timeline.setTop(h("p", { class: "timeline-start" }, icon("🌱"), " ", t("beginning", { title: conversationTitle(room) })));
    }
  }

  async function loadOlder() {
    if (loadingOlder || !nextBefore || abort.signal.aborted) return;
    loadingOlder = true;
    timeline.el.setAttribute("aria-busy", "true");
    timeline.setTop(h("p", { class: "timeline-loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), " ", t("loadingOlder")));
    const el = timeline.el;
    try {
      const page = await api.timelinePage(id, { beforeSeq: nextBefore, limit: PAGE, signal: abort.signal });
      // Keep what the reader looks at in place while older messages appear above it.
      const fromBottom = el.scrollHeight - el.scrollTop;
      const added = timeline.prependTimeline(page.items || []);
      added.forEach((li) => marks.observe(li));
      nextBefore = page.next_before_seq || null;
      drawTop();
      el.scrollTop = el.scrollHeight - fromBottom;
    } catch (err) {
      if (abort.signal.aborted) return;
      drawTop();
      toast(err.message, { kind: "error" });
      loadingOlder = false;
      el.removeAttribute("aria-busy");
      return;
    }
    loadingOlder = false;
    el.removeAttribute("aria-busy");
    // A short page may leave the top in view: the observer will not fire
    // again for it, so look once more.
    if (nextBefore && el.scrollTop < 300) requestAnimationFrame(loadOlder);
  }

  function drawMembers() {
    membersPanel?.draw(members);
  }

  function drawNotify() {
    const state = notifyState();
    const btn = els.notifyBtn;
    btn.hidden = state === "unsupported";
    btn.setAttribute("aria-pressed", String(state === "on"));
    replace(btn, icon(state === "on" ? "🔔" : "🔕"), h("span", { class: "tool-label" }, state === "on" ? t("notifyEnabled") : t("notifyOn")));
  }

  async function toggleNotify() {
    if (notifyState() === "on") {
      disableNotifications();
    } else {
      const { state, pushed } = await enableNotifications();
      if (state === "blocked") toast(t("notifyBlocked"), { kind: "error" });
      if (state === "unsupported") toast(t("notifyUnsupported"), { kind: "error" });
      if (state === "on" && !pushed) toast(t("pushUnavailable"));
    }
    drawNotify();
  }

  async function leave() {
    leaving = true;
    try {
      await api.leaveRoom(id);
    } catch (err) {
      leaving = false;
      return toast(err.message, { kind: "error" });
    }
    store.currentRoom = null;
    toast(t("left", { title: conversationTitle(room) }));
    ctx.navigate("/");
  }

  // onRefused runs when the socket was refused twice: if this user is no
  // longer a member (they joined another room elsewhere), stop and say so.
  async function onRefused() {
    let r;
    try {
      r = await api.getRoom(id);
    } catch (err) {
      // A private room answers 403 to whoever is no longer a member.
      if (err.code !== "forbidden") throw err;
      removed("removed");
      return false;
    }
    const inRoom = (r.members || []).some((m) => m.user_id === session.user_id);
    if (inRoom) return true;
    showProblem(t("movedAway", { title: conversationTitle(room) }), { rejoin: true });
    return false;
  }

  // readOnly: a closed room is read, never written (room.closed).
  function readOnly() {
    els.composer.disabled = true;
    els.composer.placeholder = t("closedTitle");
    document.getElementById("send")?.setAttribute("disabled", "");
    document.getElementById("close-topic")?.remove();
  }

  // removed ends the room for a user a moderator removed or banned.
  function removed(reason) {
    socket?.stop();
    socket = null;
    ctx.setConnection(null);
    if (store.currentRoom?.id === id) store.currentRoom = null;
    removedCard(root, room, reason);
  }

  function showFull() {
    socket?.stop();
    ctx.setConnection(null);
    replace(
      root,
      h(
        "section",
        { class: "card narrow full-room", id: "room-full", role: "alert" },
        h("div", { class: "big-emoji", "aria-hidden": "true" }, "🚪"),
        h("h1", {}, t("roomFullTitle")),
        h("p", {}, t("roomFullBody", { title: conversationTitle(room), capacity: room.capacity })),
        h("p", {}, h("a", { href: "/", "data-link": true, class: "btn btn-primary" }, t("back"))),
      ),
    );
    root.querySelector("h1").setAttribute("tabindex", "-1");
    root.querySelector("h1").focus();
  }

  // showProblem replaces the room with a card. The socket is gone, so the
  // header stops saying "Connected"; a problem of the network goes away by
  // itself once the browser is back online.
  function showProblem(text, { rejoin = false, network = false } = {}) {
    socket?.stop();
    socket = null;
    ctx.setConnection(null);
    if (network) {
      reopenOnline = true;
      window.addEventListener("online", onOnline);
    }
    replace(
      root,
      h(
        "section",
        { class: "card narrow problem", id: "room-problem", role: "alert" },
        h("h1", {}, room?.title || t("errorGeneric")),
        h("p", {}, text),
        h(
          "p",
          { class: "actions" },
          rejoin ? h("button", { type: "button", class: "btn btn-primary", on: { click: () => ctx.navigate(`/rooms/${id}`, { replace: true }) } }, t("join")) : null,
          h("a", { href: "/", "data-link": true, class: "btn btn-ghost" }, t("back")),
        ),
      ),
    );
  }

  return () => {
    abort.abort();
    socket?.stop();
    savedPage?.stop();
    outbox?.stop();
    marks?.stop();
    typing?.stop();
    actions?.stop();
    topObserver?.disconnect();
    window.removeEventListener("online", onOnline);
    ctx.setConnection(null);
  };
}
