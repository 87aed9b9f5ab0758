package schemas

import "fmt"

// defineReadMark registers readmark.moved. Version 1 is a user event (users
// topic, key = user id, no seq): the reader's private mailbox position.
// Version 2, at feature level 5, is the same payload as a room event (rooms
// topic, key = room id, with a seq), appended by the room's owner for a
// current member when the mark moves forward, so every member sees it
// ("seen by", docs/adr/0010). The payload is the same, so the upcaster and
// the downcaster copy it; the downcaster lets the command service keep
// writing v1 to the users topic while the cluster is below level 5, and
// validation by the version written keeps a v1 off the rooms topic (it
// carries no seq) and a v2 off the users topic (it needs one).
func defineReadMark(r *Registry) {
	Define[ReadMarkMoved](r, 2, ScopeRoom, func(e Envelope) error {
		if e.RoomID <= 0 {
			return errNoRoom
		}
		if e.UserID <= 0 {
			return errNoUser
		}
		if e.Payload.(ReadMarkMoved).UpTo <= 0 {
			return fmt.Errorf("%w: up_to is required", errBadField)
		}
		return nil
	}, AtLevel(5), VersionScope(1, ScopeUser))
	r.AddUpcaster(TypeReadMarkMoved, 1, upcastSame)
	r.AddDowncaster(TypeReadMarkMoved, 2, upcastSame)
}
