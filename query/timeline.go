package query

import (
	"context"
	"fmt"
	"strings"
	"time"

	"happychat/schemas"
)

// The timeline (an extension, GET /v1/rooms/{id}/timeline) is the room as
// its sockets showed it live: every room event in seq order, each as the
// frame the socket sent for it (docs/realtime.md): a message frame for
// message.sent, member_joined and member_left for room.joined and
// room.left, member_renamed for member.renamed, a room_event frame for the
// others. A client that renders
// joins and leaves live renders the same lines after a reload, and its seq
// accounting has no gaps.
//
// It is read from three views the projectors keep, so a replay rebuilds it
// with them: ClickHouse's room_events gives the seq order and the type of
// every event, ClickHouse's messages the message bodies (softened, as on
// every read path), PostgreSQL's renames a rename's two names, and
// PostgreSQL's members the nickname a join or leave was made under (the membership's own row: the join event opened it; a
// leave closed the user's latest membership opened before it).

// Timeline page limits: as the message pages.
const (
	DefaultTimelineLimit = DefaultPageLimit
	MaxTimelineLimit     = MaxPageLimit
)

// TimelineQuery asks for one page of a room's timeline, newest first:
// events with seq below BeforeSeq (0: from the newest).
type TimelineQuery struct {
	BeforeSeq int64
	Limit     int
}

// TimelineItem is one event of the timeline as its socket frame.
type TimelineItem struct {
	Type string `json:"type"`
	// Message is set on "message" items.
	Message *schemas.Message `json:"message,omitzero"`
	// The member and room_event fields, as in their frames.
	RoomID   schemas.ID `json:"room_id,omitzero"`
	UserID   schemas.ID `json:"user_id,omitzero"`
	Nickname *string    `json:"nickname,omitzero"`
	// Previous is set on "member_renamed" items: the name before.
	Previous *string `json:"previous,omitzero"`
	Seq      int64   `json:"seq,omitzero"`
	Reason   string  `json:"reason,omitzero"`
	Event    string  `json:"event,omitzero"`
	// By and ByNickname are set on a "member_left" item of a kick or a
	// ban (reason "removed" / "banned") by a room's owner; neither when an
	// admin did it. Note is the moderator's reason.
	By         schemas.ID `json:"by,omitzero"`
	ByNickname string     `json:"by_nickname,omitzero"`
	Note       string     `json:"note,omitzero"`
	// At is when a member or room event happened, for the date separators
	// of a client; the live frames carry the same (realtime/frames.go); a
	// message has sent_at.
	At string `json:"at,omitzero"`
}

// TimelinePage is one page, newest first. NextBeforeSeq is the before_seq
// of the following (older) page, 0 when the page reaches the room's first
// event.
type TimelinePage struct {
	Items         []TimelineItem
	NextBeforeSeq int64
}

const sqlTimelineEvents = `SELECT seq, id, type, user_id, occurred_ms FROM room_events
	WHERE room_id = ? AND seq < ?
	ORDER BY seq DESC LIMIT 1 BY seq LIMIT ?`

// timelineMessagesSQL reads the bodies of a page's n messages; the
// sent_at bounds only prune monthly partitions (see timeSlack in
// history.go). The text is constant fragments and n placeholders: every
// value is bound (the driver renders a bound slice as an array, which IN
// does not take on ClickHouse 18.16).
func timelineMessagesSQL(n int) string {
	in := strings.Repeat("?, ", n-1) + "?"
	return `SELECT ` + historyColumns + ` FROM messages
	WHERE room_id = ? AND id IN (` + in + `) AND sent_at >= toDateTime(?) AND sent_at <= toDateTime(?)
	LIMIT 1 BY id`
}

// sqlTimelineJoins: the nickname of each join, from the membership it
// opened: the name before the membership's first rename, if it had one
// (members keeps the latest), so that the join line reads as it did live.
const sqlTimelineJoins = `SELECT m.join_event_id, COALESCE((
		SELECT r.previous FROM renames r
		WHERE r.room_id = m.room_id AND r.user_id = m.user_id AND r.event_id > m.join_event_id
		  AND r.event_id < COALESCE(m.ended_by, 9223372036854775807)
		ORDER BY r.event_id LIMIT 1), m.nickname)
	FROM members m
	WHERE m.room_id = $1 AND m.join_event_id = ANY($2)`

// sqlTimelineLeaves: for each leave (event id, user), the nickname and
// reason of the user's latest membership opened before it, the one it
// closed (a probe of the members primary key each).
const sqlTimelineLeaves = `SELECT l.id, m.nickname, COALESCE(m.left_reason, '')
	FROM unnest($2::bigint[], $3::bigint[]) AS l(id, user_id)
	CROSS JOIN LATERAL (
		SELECT nickname, left_reason FROM members
		WHERE room_id = $1 AND user_id = l.user_id AND join_event_id < l.id
		ORDER BY join_event_id DESC LIMIT 1) m`

// sqlTimelineRenames: each rename's names, from the projector's record of
// member.renamed.
const sqlTimelineRenames = `SELECT event_id, nickname, previous FROM renames
	WHERE room_id = $1 AND event_id = ANY($2)`

// timelineEvent is one room_events row of a page.
type timelineEvent struct {
	seq, id, user uint64
	typ           string
	ms            int64
}

// Timeline reads one page of a room's timeline, newest first.
func (s *Service) Timeline(ctx context.Context, c Caller, room schemas.ID, q TimelineQuery) (TimelinePage, error) {
	if _, err := s.loadRoom(ctx, c, room); err != nil {
		return TimelinePage{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	before := uint64(1<<63 - 1)
	if q.BeforeSeq > 0 {
		before = uint64(q.BeforeSeq)
	}
	evs, err := s.timelineEvents(ctx, room, before, q.Limit+1)
	if err != nil {
		return TimelinePage{}, err
	}
	page := TimelinePage{Items: make([]TimelineItem, 0, min(len(evs), q.Limit))}
	if len(evs) > q.Limit {
		evs = evs[:q.Limit]
		page.NextBeforeSeq = int64(evs[len(evs)-1].seq)
	}
	msgs, err := s.timelineMessages(ctx, room, evs)
	if err != nil {
		return TimelinePage{}, err
	}
	names, err := s.timelineNames(ctx, room, evs)
	if err != nil {
		return TimelinePage{}, err
	}
	for _, ev := range evs {
		page.Items = append(page.Items, timelineItem(room, ev, msgs, names))
	}
	blocked, err := s.blockedBy(ctx, c)
	hideBlockedItems(room, page.Items, blocked) // blocks.go
	return page, err
}

func (s *Service) timelineEvents(ctx context.Context, room schemas.ID, before uint64, limit int) ([]timelineEvent, error) {
	rows, err := s.ch.Query(chSettings(ctx, s.cfg.QueryTimeout, nil), sqlTimelineEvents, uint64(room), before, uint64(limit))
	if err != nil {
		return nil, storeError(ctx, fmt.Errorf("timeline of room %d: %w", room, err))
	}
	defer rows.Close()
	var evs []timelineEvent
	for rows.Next() {
		var ev timelineEvent
		if err := rows.Scan(&ev.seq, &ev.id, &ev.typ, &ev.user, &ev.ms); err != nil {
			return nil, fmt.Errorf("timeline of room %d: scan: %w", room, err)
		}
		evs = append(evs, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, storeError(ctx, fmt.Errorf("timeline of room %d: %w", room, err))
	}
	return evs, nil
}

// timelineMessages reads the messages of evs by id.
func (s *Service) timelineMessages(ctx context.Context, room schemas.ID, evs []timelineEvent) (map[uint64]schemas.Message, error) {
	args := []any{uint64(room)}
	lo, hi := uint64(1<<64-1), uint64(0)
	for _, ev := range evs {
		if ev.typ == schemas.TypeMessageSent {
			args = append(args, ev.id)
			lo, hi = min(lo, ev.id), max(hi, ev.id)
		}
	}
	n := len(args) - 1
	out := make(map[uint64]schemas.Message, n)
	if n == 0 {
		return out, nil
	}
	args = append(args, unixSeconds(schemas.IDTime(schemas.ID(lo)).Add(-timeSlack)), unixSeconds(schemas.IDTime(schemas.ID(hi)).Add(timeSlack)))
	rows, err := s.ch.Query(chSettings(ctx, s.cfg.QueryTimeout, nil), timelineMessagesSQL(n), args...)
	if err != nil {
		return nil, storeError(ctx, fmt.Errorf("timeline messages of room %d: %w", room, err))
	}
	defer rows.Close()
	row := newHistoryRow(room)
	dest := row.dest()
	msgs := make([]schemas.Message, 0, n)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("timeline messages of room %d: scan: %w", room, err)
		}
		msgs = append(msgs, row.message())
	}
	if err := rows.Err(); err != nil {
		return nil, storeError(ctx, fmt.Errorf("timeline messages of room %d: %w", room, err))
	}
	// Edits, deletes and reactions since, as on the history pages.
	if err := s.overlay(ctx, room, msgs); err != nil {
		return nil, err
	}
	for _, m := range msgs {
		out[uint64(m.ID)] = m
	}
	return out, nil
}

// memberName is what a join, leave or rename line shows.
type memberName struct {
	nickname, reason, previous string
	// by, byNickname and note: who removed or banned the member, and why
	// (timeline_moderation.go).
	by               schemas.ID
	byNickname, note string
}

// timelineNames reads the nickname of every join, leave and rename of evs.
func (s *Service) timelineNames(ctx context.Context, room schemas.ID, evs []timelineEvent) (map[uint64]memberName, error) {
	var joins, leaves, leavers, renames []int64
	for _, ev := range evs {
		switch ev.typ {
		case schemas.TypeRoomJoined, schemas.TypeMemberAdded:
			joins = append(joins, int64(ev.id))
		case schemas.TypeRoomLeft:
			leaves, leavers = append(leaves, int64(ev.id)), append(leavers, int64(ev.user))
		case schemas.TypeMemberRenamed:
			renames = append(renames, int64(ev.id))
		}
	}
	out := make(map[uint64]memberName, len(joins)+len(leaves)+len(renames))
	read := func(what, sql string, args ...any) error {
		rows, err := s.pg.Query(ctx, sql, args...)
		if err != nil {
			return storeError(ctx, fmt.Errorf("timeline %s of room %d: %w", what, room, err))
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var n memberName
			dest := []any{&id, &n.nickname}
			switch what {
			case "leaves":
				dest = append(dest, &n.reason)
			case "renames":
				dest = append(dest, &n.previous)
			}
			if err := rows.Scan(dest...); err != nil {
				return fmt.Errorf("timeline %s of room %d: scan: %w", what, room, err)
			}
			out[uint64(id)] = n
		}
		if err := rows.Err(); err != nil {
			return storeError(ctx, fmt.Errorf("timeline %s of room %d: %w", what, room, err))
		}
		return nil
	}
	if len(joins) > 0 {
		if err := read("joins", sqlTimelineJoins, int64(room), joins); err != nil {
			return nil, err
		}
	}
	if len(leaves) > 0 {
		if err := read("leaves", sqlTimelineLeaves, int64(room), leaves, leavers); err != nil {
			return nil, err
		}
	}
	if len(renames) > 0 {
		if err := read("renames", sqlTimelineRenames, int64(room), renames); err != nil {
			return nil, err
		}
	}
	if err := s.timelineModeration(ctx, room, evs, out); err != nil {
		return nil, err
	}
	return out, nil
}

// timelineItem renders one event as its socket frame. A message or a
// membership whose other view has not caught up yet (the two projectors
// run apart) still takes its seq: as a room_event naming the event, or a
// member line without a nickname.
func timelineItem(room schemas.ID, ev timelineEvent, msgs map[uint64]schemas.Message, names map[uint64]memberName) TimelineItem {
	at := schemas.FormatTime(time.UnixMilli(ev.ms))
	switch ev.typ {
	case schemas.TypeMessageSent:
		if m, ok := msgs[ev.id]; ok {
			return TimelineItem{Type: "message", Message: &m}
		}
	case schemas.TypeRoomJoined, schemas.TypeMemberAdded, schemas.TypeRoomLeft:
		n := names[ev.id]
		it := TimelineItem{Type: "member_joined", RoomID: room, UserID: schemas.ID(ev.user), Nickname: &n.nickname, Seq: int64(ev.seq), At: at}
		if ev.typ == schemas.TypeRoomLeft {
			it.Type, it.Reason = "member_left", n.reason
		}
		return it
	case schemas.TypeMemberRemoved, schemas.TypeMemberBanned:
		if n, ok := names[ev.id]; ok && n.reason != "" {
			return TimelineItem{Type: "member_left", RoomID: room, UserID: schemas.ID(ev.user), Nickname: &n.nickname,
				Seq: int64(ev.seq), At: at, Reason: n.reason, By: n.by, ByNickname: n.byNickname, Note: n.note}
		}
	case schemas.TypeMemberRenamed:
		if n, ok := names[ev.id]; ok {
			return TimelineItem{Type: "member_renamed", RoomID: room, UserID: schemas.ID(ev.user),
				Nickname: &n.nickname, Previous: &n.previous, Seq: int64(ev.seq), At: at}
		}
	}
	return TimelineItem{Type: "room_event", RoomID: room, Seq: int64(ev.seq), Event: ev.typ, At: at}
}
