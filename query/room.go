package query

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"happychat/schemas"
)

// roomColumns are the rooms view columns every room read selects, followed
// by the caller's unread count, the room's listed_at and its proposer's
// nickname (a primary-key probe of users). $1 is the caller's user id, NULL for an
// anonymous caller (the unread column is then NULL too).
//
// Unread belongs to the rooms the caller is or has been a member of (the
// contract): a count on every room of the list would tell a newcomer it has
// hundreds of unread messages in rooms it never opened. Any membership row,
// current or ended, counts; the probe is the members primary key
// (room_id, user_id, …). For those rooms, unread is the room's message count
// minus the ordinal of the newest message the caller's read mark covers: one
// index probe into room_messages. Without a read mark every message is
// unread. GREATEST guards against the two counters being read while the
// projector is between them.
const roomColumns = `
	r.room_id, r.title, r.description, r.status, r.created_by, r.created_at,
	r.member_count, r.message_count, r.last_message_at, r.last_message_id, r.last_seq,
	CASE WHEN $1::bigint IS NULL OR NOT EXISTS (
		SELECT 1 FROM members mb WHERE mb.room_id = r.room_id AND mb.user_id = $1
	) THEN NULL ELSE GREATEST(0, r.message_count - COALESCE((
		SELECT rm.ordinal FROM read_marks m
		JOIN room_messages rm ON rm.room_id = m.room_id AND rm.message_id <= m.up_to
		WHERE m.user_id = $1 AND m.room_id = r.room_id
		ORDER BY rm.message_id DESC LIMIT 1), 0)) END,
	COALESCE(r.approved_at, r.created_at),
	(SELECT u.nickname FROM users u WHERE u.user_id = r.created_by),
	r.kind, $1::bigint IS NOT NULL AND EXISTS (
		SELECT 1 FROM members mc WHERE mc.room_id = r.room_id AND mc.user_id = $1 AND mc.left_at IS NULL)`

const sqlRoomByID = `SELECT` + roomColumns + ` FROM rooms r WHERE r.room_id = $2`

// roomRow is one row of the rooms view, as the query service reads it.
type roomRow struct {
	ID            schemas.ID
	Title         string
	Description   string
	Status        string
	CreatedBy     *int64
	CreatedAt     time.Time
	MemberCount   int32
	MessageCount  int64
	LastMessageAt *time.Time
	LastMessageID *int64
	LastSeq       int64
	Unread        *int64
	// ListedAt is when the room opened: its approval, or its creation for
	// a room the operator opened (newest-first order).
	ListedAt time.Time
	// Proposer is the nickname of CreatedBy (nil without one, or while the
	// users view lags).
	Proposer *string
	// Kind is the room's kind (schemas.RoomKindTopic, …); Member whether
	// the caller is a current member.
	Kind   string
	Member bool
}

func scanRoom(row pgx.Row) (roomRow, error) {
	var r roomRow
	var id int64
	err := row.Scan(&id, &r.Title, &r.Description, &r.Status, &r.CreatedBy, &r.CreatedAt,
		&r.MemberCount, &r.MessageCount, &r.LastMessageAt, &r.LastMessageID, &r.LastSeq, &r.Unread, &r.ListedAt, &r.Proposer, &r.Kind, &r.Member)
	r.ID = schemas.ID(id)
	return r, err
}

// visibleTo reports whether caller may see the room: open rooms are public,
// and so are closed ones (their history stays readable, docs/query.md);
// a proposal is seen only by admins and by the user who proposed it (anyone
// else gets 404, as if it did not exist).
func (r roomRow) visibleTo(c Caller) bool {
	if r.Status == schemas.RoomStatusOpen || r.Status == schemas.RoomStatusClosed || c.Admin {
		return true
	}
	return c.UserID != 0 && r.CreatedBy != nil && *r.CreatedBy == int64(c.UserID)
}

// api renders the row as the contract's Room.
func (r roomRow) api(capacity int) schemas.Room {
	out := schemas.Room{
		ID: r.ID, Title: r.Title, Description: r.Description, Status: r.Status,
		MemberCount: int(r.MemberCount), Capacity: capacity, MessageCount: r.MessageCount,
		CreatedAt: schemas.FormatTime(r.CreatedAt), Unread: r.Unread,
	}
	if r.Kind != schemas.RoomKindTopic {
		out.Kind = r.Kind
	}
	if r.LastMessageAt != nil {
		s := schemas.FormatTime(*r.LastMessageAt)
		out.LastMessageAt = &s
	}
	if r.CreatedBy != nil {
		out.ProposedBy = &schemas.Proposer{UserID: schemas.ID(*r.CreatedBy)}
		if r.Proposer != nil {
			out.ProposedBy.Nickname = *r.Proposer
		}
	}
	return out
}

// errRoomNotFound is the answer for unknown rooms and for proposals the
// caller may not see.
var errRoomNotFound = schemas.Errorf(schemas.CodeNotFound, "no such room")

// errNotAMember answers whoever is not a current member of a private room
// or a direct message, on every read path.
var errNotAMember = schemas.Errorf(schemas.CodeForbidden, "only members of this private room may read it")

// userParam is the $1 of roomColumns: NULL for callers without a user id.
func userParam(c Caller) *int64 {
	if c.UserID == 0 {
		return nil
	}
	id := int64(c.UserID)
	return &id
}

// loadRoom reads one room as caller sees it, or errRoomNotFound.
func (s *Service) loadRoom(ctx context.Context, c Caller, id schemas.ID) (roomRow, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	r, err := scanRoom(s.pg.QueryRow(ctx, sqlRoomByID, userParam(c), int64(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return roomRow{}, errRoomNotFound
	}
	if err != nil {
		return roomRow{}, storeError(ctx, fmt.Errorf("load room %d: %w", id, err))
	}
	if !r.visibleTo(c) {
		return roomRow{}, errRoomNotFound
	}
	if r.Kind != schemas.RoomKindTopic && !r.Member {
		// Every read path of a room comes through here: a private room
		// or a direct message is its current members' only, an admin's
		// included.
		return roomRow{}, errNotAMember
	}
	return r, nil
}

// storeError classifies a failed store call: a timeout is 503 unavailable
// (the client may retry), anything else stays internal (logged, 500). A
// timeout is the request's deadline or a connection's own read or write
// deadline (clickhouse-go's ReadTimeout: "i/o timeout" from a ClickHouse
// busy with a replay answered 500 in the fault suite's full-size
// replay-live). ClickHouse's own refusals under the per-query limits are
// 503 too (see chLimitError), and so is a read PostgreSQL chose as a
// deadlock's victim (see pgTransient).
func storeError(ctx context.Context, err error) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%w: %w", &schemas.Error{
			Code: schemas.CodeUnavailable, Message: "the store did not answer in time", RetryAfter: time.Second,
		}, err)
	}
	if pgTransient(err) {
		return fmt.Errorf("%w: %w", &schemas.Error{
			Code: schemas.CodeUnavailable, Message: "the store lost a race with a concurrent change; retry", RetryAfter: time.Second,
		}, err)
	}
	return chLimitError(err)
}

// pgTransient reports PostgreSQL's answers that say "this attempt lost a
// race, the next one will not": a deadlock's victim, a serialization
// failure, a lock not granted in time. PostgreSQL's documentation asks the
// client to retry them. A read meets them while a replay switches the
// rooms views (its LOCK of every view table against a read that already
// holds one and waits for another: the fault suite's replay answered 500
// for one list of rooms in 1 242 before this).
func pgTransient(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "40P01", // deadlock_detected
		"40001", // serialization_failure
		"55P03": // lock_not_available
		return true
	}
	return false
}
