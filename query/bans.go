package query

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"

	"happychat/schemas"
)

// MaxBans bounds GET /v1/rooms/{id}/bans: the newest bans, one page.
const MaxBans = 1000

// Ban is one user currently banned from a room (GET /v1/rooms/{id}/bans).
// By and ByNickname name the owner who banned; neither when an admin did.
type Ban struct {
	UserID     schemas.ID `json:"user_id"`
	Nickname   string     `json:"nickname"`
	BannedAt   string     `json:"banned_at"`
	By         schemas.ID `json:"by,omitzero"`
	ByNickname string     `json:"by_nickname,omitzero"`
	Reason     string     `json:"reason,omitzero"`
}

const (
	// sqlBans: a room's current bans are its users whose latest 'banned'
	// or 'unbanned' row of the moderation view is a 'banned' one (the
	// write side's fold: a ban holds until lifted). The nickname is the
	// user's current one (users), else the one the ban recorded.
	sqlBans = `SELECT b.user_id, COALESCE(u.nickname, b.nickname), b.at, b.by_user, b.by_nickname, b.reason FROM (
		SELECT DISTINCT ON (user_id) user_id, action, event_id, at, by_user, by_nickname, nickname, reason
		FROM moderation WHERE room_id = $1 AND user_id IS NOT NULL AND action IN ('banned', 'unbanned')
		ORDER BY user_id, event_id DESC
	) b LEFT JOIN users u ON u.user_id = b.user_id
	WHERE b.action = 'banned' ORDER BY b.event_id DESC LIMIT $2`
	sqlRoomKind = `SELECT kind FROM rooms WHERE room_id = $1`
)

func (s *Service) httpBans(c *gin.Context) {
	caller, _, ok := s.begin(c)
	if !ok {
		return
	}
	id, err := roomPathID(c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	bans, err := s.Bans(c.Request.Context(), caller, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	writeJSON(c, http.StatusOK, struct {
		Bans []Ban `json:"bans"`
	}{bans})
}

// errNotAModerator answers whoever may not moderate the room.
var errNotAModerator = schemas.Errorf(schemas.CodeForbidden,
	"only the room's owner (the creator of a private room) or an admin may list its bans")

// Bans returns the users currently banned from a room, newest ban first,
// to its moderators only: the creator of a private room while a member of
// it, and admins (for any room but a direct message, which has no
// moderator: its users block each other instead).
func (s *Service) Bans(ctx context.Context, c Caller, id schemas.ID) ([]Ban, error) {
	if err := s.mayModerate(ctx, c, id); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	rows, err := s.pg.Query(ctx, sqlBans, int64(id), MaxBans)
	if err != nil {
		return nil, storeError(ctx, fmt.Errorf("bans of room %d: %w", id, err))
	}
	defer rows.Close()
	out := []Ban{}
	for rows.Next() {
		var (
			user         int64
			by           *int64
			nick, byNick string
			reason       string
			at           time.Time
		)
		if err := rows.Scan(&user, &nick, &at, &by, &byNick, &reason); err != nil {
			return nil, fmt.Errorf("bans of room %d: scan: %w", id, err)
		}
		b := Ban{UserID: schemas.ID(user), Nickname: nick, BannedAt: schemas.FormatTime(at), ByNickname: byNick, Reason: reason}
		if by != nil {
			b.By = schemas.ID(*by)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, storeError(ctx, fmt.Errorf("bans of room %d: %w", id, err))
	}
	return out, nil
}

// mayModerate checks that c moderates room id, as the command service
// decides it (command/moderation_state.go): 404 for an unknown room, 403
// for anyone else.
func (s *Service) mayModerate(ctx context.Context, c Caller, id schemas.ID) error {
	if c.Admin {
		// An admin is no member of a private room, so loadRoom would
		// refuse it; the kind is all an admin's check needs.
		ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
		defer cancel()
		var kind string
		err := s.pg.QueryRow(ctx, sqlRoomKind, int64(id)).Scan(&kind)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return errRoomNotFound
		case err != nil:
			return storeError(ctx, fmt.Errorf("load room %d: %w", id, err))
		case kind == schemas.RoomKindDirect:
			return errNotAModerator
		}
		return nil
	}
	if c.UserID == 0 {
		return schemas.Errorf(schemas.CodeUnauthorized, "a room's bans need the owner's or an admin's token")
	}
	r, err := s.loadRoom(ctx, c, id)
	if err != nil {
		return err
	}
	if r.Kind != schemas.RoomKindPrivate || !r.Member || r.CreatedBy == nil || *r.CreatedBy != int64(c.UserID) {
		return errNotAModerator
	}
	return nil
}
