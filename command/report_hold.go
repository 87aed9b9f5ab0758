package command

import "happychat/schemas"

// holdsOf says which messages a batch puts under a hold (a report filed)
// and which it releases (their reports resolved), by the last such event of
// each message in the batch: a report filed after a resolution of the same
// message in one batch keeps it held. The batch's PostgreSQL transaction
// holds before destroying the keys of the batch's deletes, and releases
// after, so a delete and a resolution in one batch erase the message, and a
// report and its message's delete in one batch keep it (docs/adr/0009).
func holdsOf(events []schemas.Envelope) (hold, release []schemas.ID) {
	last := map[schemas.ID]bool{} // true: held
	var order []schemas.ID
	for _, e := range events {
		var (
			msg  schemas.ID
			held bool
		)
		switch p := e.Payload.(type) {
		case schemas.ReportFiled:
			msg, held = p.MessageID, true
		case schemas.ReportResolved:
			msg = p.MessageID
		default:
			continue
		}
		if _, seen := last[msg]; !seen {
			order = append(order, msg)
		}
		last[msg] = held
	}
	for _, m := range order {
		if last[m] {
			hold = append(hold, m)
		} else {
			release = append(release, m)
		}
	}
	return hold, release
}
