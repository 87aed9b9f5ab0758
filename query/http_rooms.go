// The rooms list's handler and the binding of its parameters (search,
// sort, "mine", the cursor).

package query

import (
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"happychat/schemas"
)

func (s *Service) httpListRooms(c *gin.Context) {
	caller, p, ok := s.begin(c, "status", "cursor", "limit", "q", "sort", "mine")
	if !ok {
		return
	}
	q, err := bindRooms(p)
	if err != nil {
		s.fail(c, err)
		return
	}
	page, err := s.ListRooms(c.Request.Context(), caller, q)
	if err != nil {
		s.fail(c, err)
		return
	}
	body := roomsBody{Rooms: page.Rooms}
	if !page.Next.isZero() {
		next := page.Next.encode()
		body.NextCursor = &next
	}
	writeJSON(c, http.StatusOK, body)
}

func bindRooms(p params) (RoomsQuery, error) {
	status, err := p.optEnum("status", schemas.RoomStatusOpen, schemas.RoomStatusOpen, schemas.RoomStatusProposed)
	if err != nil {
		return RoomsQuery{}, err
	}
	sort, err := p.optEnum("sort", SortBusiest, SortBusiest, SortNew)
	if err != nil {
		return RoomsQuery{}, err
	}
	mine, err := p.optEnum("mine", "false", "true", "false")
	if err != nil {
		return RoomsQuery{}, err
	}
	q, err := bindSearch(p)
	if err != nil {
		return RoomsQuery{}, err
	}
	limit, err := p.optInt("limit", DefaultRoomsLimit, 1, MaxRoomsLimit)
	if err != nil {
		return RoomsQuery{}, err
	}
	rq := RoomsQuery{Status: status, Sort: sort, Q: q, Mine: mine == "true", Limit: limit}
	if raw, ok := p.get("cursor"); ok {
		if rq.After, err = parseRoomsCursor(raw); err != nil {
			return RoomsQuery{}, err
		}
		if rq.After.list != rq.list() {
			return RoomsQuery{}, errCursorOtherList
		}
	}
	return rq, nil
}

var errCursorOtherList = badRequest("cursor belongs to another list: send it with the sort, q and mine of the request that returned it")

// bindSearch reads q, the title search: trimmed, 1 to MaxSearchRunes code
// points, no control characters; lowered (Unicode case folding to lower
// case) so that the search is case-insensitive and one search has one
// cursor.
func bindSearch(p params) (string, error) {
	raw, ok := p.get("q")
	if !ok {
		return "", nil
	}
	q := strings.TrimSpace(raw)
	n := utf8.RuneCountInString(q)
	if n == 0 || n > MaxSearchRunes || !utf8.ValidString(q) || strings.ContainsFunc(q, unicode.IsControl) {
		return "", badRequest("q must be 1 to " + strconv.Itoa(MaxSearchRunes) + " characters of text without control characters")
	}
	return strings.ToLower(q), nil
}
