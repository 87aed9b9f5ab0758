package projector

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// The oracle: a pure, in-memory fold of a log into what the views must hold,
// written independently of the SQL (memberships are computed from the whole
// set of events at once, not incrementally).

type viewRoom struct {
	ID            int64
	Title, Desc   string
	Status        string
	CreatedBy     int64 // 0: NULL
	CreatedAt     int64 // Unix ms
	ApprovedAt    int64 // 0: NULL
	Members       int32
	Messages      int64
	LastMessageAt int64
	LastMessageID int64
	LastSeq       int64
	Kind          string
	Peer          int64 // 0: NULL
}

type viewMember struct {
	Room, User, Join int64
	Nick             string
	JoinedAt         int64
	LeftAt           int64 // 0: NULL
	Reason           string
	EndedBy          int64
	Topic            bool // counts toward one topic room at a time
}

type viewRoomMessage struct{ Room, ID, Seq, Ord int64 }

type viewUser struct {
	ID           int64
	Nick         string
	RegisteredAt int64
}

type viewReadMark struct{ User, Room, UpTo int64 }

type viewRename struct {
	Room, Event, User  int64
	Previous, Nickname string
}

// viewModeration is a row of the audit of kicks, bans, unbans and closes.
type viewModeration struct {
	Room, Event, Seq     int64
	Action               string
	User, By             int64 // 0: NULL
	ByNick, Nick, Reason string
	At                   int64
}

// views is the content of the PostgreSQL views, in a canonical order.
type views struct {
	Moderation   []viewModeration
	Rooms        []viewRoom
	Members      []viewMember
	RoomMessages []viewRoomMessage
	Users        []viewUser
	ReadMarks    []viewReadMark
	Renames      []viewRename
	Blocks       []viewBlock  // fold_moderation_test.go
	Reports      []viewReport // fold_moderation_test.go
	DeadLetters  int
}

// history is what the ClickHouse tables must hold (exactly, after FINAL).
type history struct {
	Messages    int    // distinct messages
	MessageIDs  uint64 // xor of the ids, a cheap fingerprint
	RoomEvents  int    // distinct (room_id, seq)
	DeadLetters int
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// fold computes the views from the records as they sit on the log (with
// their partition and offset, as set by the producer).
func fold(names schemas.Names, recs []*kgo.Record) (views, history) {
	var v views
	type join struct {
		room, user, id int64
		nick           string
		at             int64
		topic          bool // room.joined; false for member.added
	}
	type leave struct {
		room, user, id int64
		at             int64
		reason         string
	}
	type rename struct {
		room, user, id int64
		nick           string
	}
	rooms := map[int64]*viewRoom{}
	var joins []join
	var leaves []leave
	var renames []rename
	users := map[int64]viewUser{}
	marks := map[[2]int64]int64{}
	dead := map[string]bool{}
	chMsgs := map[[2]int64]bool{}
	chEvents := map[[2]int64]bool{}
	chDead := 0
	var mod modFold
	for _, r := range recs {
		where := fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset)
		env, err := schemas.Events.Decode(r.Value)
		rooms_ := r.Topic == names.Rooms
		if err != nil {
			dead[where] = true
			if rooms_ {
				chDead++
			}
			continue
		}
		scope := schemas.Events.ScopeOf(env.Type)
		if env.Type == schemas.TypeReadMarkMoved && env.Seq == 0 {
			scope = schemas.ScopeUser // v1, on the users topic
		}
		if rooms_ != (scope == schemas.ScopeRoom) {
			dead[where] = true
			if rooms_ {
				chDead++
			}
			continue
		}
		if !rooms_ {
			switch p := env.Payload.(type) {
			case schemas.UserRegistered:
				if _, ok := users[int64(env.UserID)]; !ok {
					users[int64(env.UserID)] = viewUser{int64(env.UserID), p.Nickname, ms(env.OccurredAt)}
				}
			case schemas.UserRenamed:
				if u, ok := users[int64(env.UserID)]; ok {
					u.Nick = p.Nickname
					users[int64(env.UserID)] = u
				}
			case schemas.ReadMarkMoved:
				k := [2]int64{int64(env.UserID), int64(env.RoomID)}
				marks[k] = max(marks[k], int64(p.UpTo))
			}
			continue
		}
		chEvents[[2]int64{int64(env.RoomID), env.Seq}] = true
		if _, ok := env.Payload.(schemas.MessageSent); ok {
			chMsgs[[2]int64{int64(env.RoomID), int64(env.ID)}] = true
		}
		room := rooms[int64(env.RoomID)]
		if room == nil {
			switch p := env.Payload.(type) {
			case schemas.RoomCreated:
				room = &viewRoom{ID: int64(env.RoomID), Title: p.Title, Desc: p.Description, Status: "open",
					CreatedBy: int64(env.UserID), CreatedAt: ms(env.OccurredAt), Kind: "topic"}
			case schemas.RoomProposed:
				room = &viewRoom{ID: int64(env.RoomID), Title: p.Title, Desc: p.Description, Status: "proposed",
					CreatedBy: int64(env.UserID), CreatedAt: ms(env.OccurredAt), Kind: "topic"}
			case schemas.ConversationCreated:
				room = &viewRoom{ID: int64(env.RoomID), Title: p.Title, Desc: p.Description, Status: "open",
					CreatedBy: int64(env.UserID), CreatedAt: ms(env.OccurredAt), Kind: p.Kind, Peer: int64(p.Peer)}
			default:
				dead[where] = true
				continue
			}
			rooms[room.ID] = room
		} else if env.Seq <= room.LastSeq {
			continue
		}
		room.LastSeq = env.Seq
		at := ms(env.OccurredAt)
		switch p := env.Payload.(type) {
		case schemas.RoomApproved:
			if room.Status != "open" {
				room.Status, room.ApprovedAt = "open", at
			}
		case schemas.MessageSent:
			room.Messages++
			room.LastMessageAt, room.LastMessageID = at, int64(env.ID)
			v.RoomMessages = append(v.RoomMessages, viewRoomMessage{room.ID, int64(env.ID), env.Seq, room.Messages})
		case schemas.RoomJoined:
			joins = append(joins, join{room.ID, int64(env.UserID), int64(env.ID), p.Nickname, at, true})
		case schemas.MemberAdded:
			joins = append(joins, join{room.ID, int64(env.UserID), int64(env.ID), p.Nickname, at, false})
		case schemas.RoomLeft:
			leaves = append(leaves, leave{room.ID, int64(env.UserID), int64(env.ID), at, p.Reason})
		case schemas.ReadMarkMoved:
			k := [2]int64{int64(env.UserID), room.ID}
			marks[k] = max(marks[k], int64(p.UpTo))
		case schemas.MemberRemoved:
			leaves = append(leaves, leave{room.ID, int64(env.UserID), int64(env.ID), at, "removed"})
			v.Moderation = append(v.Moderation, viewModeration{room.ID, int64(env.ID), env.Seq, "removed",
				int64(env.UserID), int64(p.By), p.ByNickname, p.Nickname, p.Reason, at})
		case schemas.MemberBanned:
			nick := ""
			if p.Member {
				leaves = append(leaves, leave{room.ID, int64(env.UserID), int64(env.ID), at, "banned"})
				nick = p.Nickname
			}
			v.Moderation = append(v.Moderation, viewModeration{room.ID, int64(env.ID), env.Seq, "banned",
				int64(env.UserID), int64(p.By), p.ByNickname, nick, p.Reason, at})
		case schemas.MemberUnbanned:
			v.Moderation = append(v.Moderation, viewModeration{room.ID, int64(env.ID), env.Seq, "unbanned",
				int64(env.UserID), int64(p.By), p.ByNickname, "", "", at})
		case schemas.RoomClosed:
			if room.Status == "open" {
				room.Status = "closed"
			}
			v.Moderation = append(v.Moderation, viewModeration{room.ID, int64(env.ID), env.Seq, "closed", 0, 0, "", "", p.Reason, at})
		case schemas.MemberRenamed:
			renames = append(renames, rename{room.ID, int64(env.UserID), int64(env.ID), p.Nickname})
			v.Renames = append(v.Renames, viewRename{room.ID, int64(env.ID), int64(env.UserID), p.Previous, p.Nickname})
		case schemas.BlockAdded, schemas.BlockRemoved, schemas.ReportFiled, schemas.ReportResolved:
			mod.apply(env)
		}
	}
	mod.into(&v)
	// Memberships: each ends at the earliest of the user's next join
	// (anywhere; topic memberships only: a member.added neither ends nor is
	// ended by a join) and the first leave of that room whose latest earlier join
	// of the user there is this one.
	slices.SortFunc(joins, func(a, b join) int { return cmp.Compare(a.id, b.id) })
	byRoomUser := map[[2]int64][]int64{} // join ids, ascending
	for _, j := range joins {
		k := [2]int64{j.room, j.user}
		byRoomUser[k] = append(byRoomUser[k], j.id)
	}
	closing := map[int64]leave{} // join id -> the first leave that closes it
	for _, l := range leaves {
		ids := byRoomUser[[2]int64{l.room, l.user}]
		i, _ := slices.BinarySearch(ids, l.id)
		if i == 0 {
			continue // no membership to close
		}
		j := ids[i-1]
		if c, ok := closing[j]; !ok || l.id < c.id {
			closing[j] = l
		}
	}
	nextJoin := map[int64]join{} // join id -> the user's next join
	lastByUser := map[int64]join{}
	for i := len(joins) - 1; i >= 0; i-- {
		j := joins[i]
		if !j.topic {
			continue
		}
		if n, ok := lastByUser[j.user]; ok {
			nextJoin[j.id] = n
		}
		lastByUser[j.user] = j
	}
	// A rename names the user's latest join of that room before it; the
	// latest rename of a membership wins.
	slices.SortFunc(renames, func(a, b rename) int { return cmp.Compare(a.id, b.id) })
	renamed := map[int64]string{} // join id -> nickname
	for _, r := range renames {
		ids := byRoomUser[[2]int64{r.room, r.user}]
		if i, _ := slices.BinarySearch(ids, r.id); i > 0 {
			renamed[ids[i-1]] = r.nick
		}
	}
	for _, j := range joins {
		m := viewMember{Room: j.room, User: j.user, Join: j.id, Nick: j.nick, JoinedAt: j.at, Topic: j.topic}
		if n, ok := renamed[j.id]; ok {
			m.Nick = n
		}
		if n, ok := nextJoin[j.id]; ok {
			m.EndedBy, m.LeftAt, m.Reason = n.id, n.at, "switched"
		}
		if l, ok := closing[j.id]; ok && (m.EndedBy == 0 || l.id < m.EndedBy) {
			m.EndedBy, m.LeftAt, m.Reason = l.id, l.at, l.reason
		}
		if m.EndedBy == 0 {
			rooms[j.room].Members++
		}
		v.Members = append(v.Members, m)
	}
	for _, r := range rooms {
		v.Rooms = append(v.Rooms, *r)
	}
	for _, u := range users {
		v.Users = append(v.Users, u)
	}
	for k, upTo := range marks {
		v.ReadMarks = append(v.ReadMarks, viewReadMark{k[0], k[1], upTo})
	}
	v.DeadLetters = len(dead)
	v.sort()
	var h history
	h.Messages = len(chMsgs)
	for k := range chMsgs {
		h.MessageIDs ^= uint64(k[1])
	}
	h.RoomEvents = len(chEvents)
	h.DeadLetters = chDead
	return v, h
}

func (v *views) sort() {
	slices.SortFunc(v.Rooms, func(a, b viewRoom) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(v.Members, func(a, b viewMember) int {
		return cmp.Or(cmp.Compare(a.Room, b.Room), cmp.Compare(a.User, b.User), cmp.Compare(a.Join, b.Join))
	})
	slices.SortFunc(v.RoomMessages, func(a, b viewRoomMessage) int {
		return cmp.Or(cmp.Compare(a.Room, b.Room), cmp.Compare(a.ID, b.ID))
	})
	slices.SortFunc(v.Users, func(a, b viewUser) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(v.ReadMarks, func(a, b viewReadMark) int {
		return cmp.Or(cmp.Compare(a.User, b.User), cmp.Compare(a.Room, b.Room))
	})
	slices.SortFunc(v.Renames, func(a, b viewRename) int {
		return cmp.Or(cmp.Compare(a.Room, b.Room), cmp.Compare(a.Event, b.Event))
	})
	slices.SortFunc(v.Moderation, func(a, b viewModeration) int {
		return cmp.Or(cmp.Compare(a.Room, b.Room), cmp.Compare(a.Event, b.Event))
	})
	sortBlocksReports(v)
}

// readViews loads the PostgreSQL views.
func readViews(ctx context.Context, pool *pgxpool.Pool) (views, error) {
	var v views
	var err error
	if v.Rooms, err = queryAll(ctx, pool, `SELECT room_id, title, description, status, COALESCE(created_by, 0),
		(extract(epoch FROM created_at)*1000)::bigint, COALESCE((extract(epoch FROM approved_at)*1000)::bigint, 0),
		member_count, message_count, COALESCE((extract(epoch FROM last_message_at)*1000)::bigint, 0),
		COALESCE(last_message_id, 0), last_seq, kind, COALESCE(peer, 0) FROM rooms`, func(r *viewRoom) []any {
		return []any{&r.ID, &r.Title, &r.Desc, &r.Status, &r.CreatedBy, &r.CreatedAt, &r.ApprovedAt, &r.Members,
			&r.Messages, &r.LastMessageAt, &r.LastMessageID, &r.LastSeq, &r.Kind, &r.Peer}
	}); err != nil {
		return v, err
	}
	if v.Members, err = queryAll(ctx, pool, `SELECT room_id, user_id, join_event_id, nickname,
		(extract(epoch FROM joined_at)*1000)::bigint, COALESCE((extract(epoch FROM left_at)*1000)::bigint, 0),
		COALESCE(left_reason, ''), COALESCE(ended_by, 0), topic FROM members`, func(m *viewMember) []any {
		return []any{&m.Room, &m.User, &m.Join, &m.Nick, &m.JoinedAt, &m.LeftAt, &m.Reason, &m.EndedBy, &m.Topic}
	}); err != nil {
		return v, err
	}
	if v.RoomMessages, err = queryAll(ctx, pool, `SELECT room_id, message_id, seq, ordinal FROM room_messages`,
		func(m *viewRoomMessage) []any { return []any{&m.Room, &m.ID, &m.Seq, &m.Ord} }); err != nil {
		return v, err
	}
	if v.Users, err = queryAll(ctx, pool, `SELECT user_id, nickname, (extract(epoch FROM registered_at)*1000)::bigint FROM users`,
		func(u *viewUser) []any { return []any{&u.ID, &u.Nick, &u.RegisteredAt} }); err != nil {
		return v, err
	}
	if v.ReadMarks, err = queryAll(ctx, pool, `SELECT user_id, room_id, up_to FROM read_marks`,
		func(m *viewReadMark) []any { return []any{&m.User, &m.Room, &m.UpTo} }); err != nil {
		return v, err
	}
	if v.Renames, err = queryAll(ctx, pool, `SELECT room_id, event_id, user_id, previous, nickname FROM renames`,
		func(r *viewRename) []any { return []any{&r.Room, &r.Event, &r.User, &r.Previous, &r.Nickname} }); err != nil {
		return v, err
	}
	if v.Moderation, err = queryAll(ctx, pool, `SELECT room_id, event_id, seq, action, COALESCE(user_id, 0), COALESCE(by_user, 0),
		by_nickname, nickname, reason, (extract(epoch FROM at)*1000)::bigint FROM moderation`, func(m *viewModeration) []any {
		return []any{&m.Room, &m.Event, &m.Seq, &m.Action, &m.User, &m.By, &m.ByNick, &m.Nick, &m.Reason, &m.At}
	}); err != nil {
		return v, err
	}
	if err := readBlocksReports(ctx, pool, &v); err != nil {
		return v, err
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM dead_letters`).Scan(&v.DeadLetters); err != nil {
		return v, err
	}
	v.sort()
	return v, nil
}

func queryAll[T any](ctx context.Context, pool *pgxpool.Pool, sql string, fields func(*T) []any) ([]T, error) {
	rows, err := pool.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	var out []T
	var x T
	_, err = pgx.ForEachRow(rows, fields(&x), func() error {
		out = append(out, x)
		return nil
	})
	return out, err
}

// readHistory loads what ClickHouse holds, exactly (FINAL).
func readHistory(ctx context.Context, conn driver.Conn) (history, error) {
	var h history
	var n, events, dead uint64
	var xor uint64
	if err := conn.QueryRow(ctx, "SELECT count(), groupBitXor(id) FROM messages FINAL").Scan(&n, &xor); err != nil {
		return h, err
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM room_events FINAL WHERE room_id != 0").Scan(&events); err != nil {
		return h, err
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM dead_letters FINAL").Scan(&dead); err != nil {
		return h, err
	}
	return history{Messages: int(n), MessageIDs: xor, RoomEvents: int(events), DeadLetters: int(dead)}, nil
}

// diffViews reports the first differences between two sets of views.
func diffViews(t *testing.T, want, got views) {
	t.Helper()
	diffSlice(t, "rooms", want.Rooms, got.Rooms)
	diffSlice(t, "members", want.Members, got.Members)
	diffSlice(t, "room_messages", want.RoomMessages, got.RoomMessages)
	diffSlice(t, "users", want.Users, got.Users)
	diffSlice(t, "read_marks", want.ReadMarks, got.ReadMarks)
	diffSlice(t, "renames", want.Renames, got.Renames)
	diffSlice(t, "moderation", want.Moderation, got.Moderation)
	diffSlice(t, "blocks", want.Blocks, got.Blocks)
	diffSlice(t, "reports", want.Reports, got.Reports)
	if want.DeadLetters != got.DeadLetters {
		t.Errorf("dead_letters: want %d, got %d", want.DeadLetters, got.DeadLetters)
	}
}

func diffSlice[T comparable](t *testing.T, what string, want, got []T) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("%s: want %d rows, got %d", what, len(want), len(got))
	}
	shown := 0
	for i := 0; i < min(len(want), len(got)) && shown < 5; i++ {
		if want[i] != got[i] {
			t.Errorf("%s row %d:\n want %+v\n  got %+v", what, i, want[i], got[i])
			shown++
		}
	}
}
