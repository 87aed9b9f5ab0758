// Switch-leaves: ending a membership that a later join elsewhere
// superseded (decision 2), and retrying until it is appended.

package command

import (
	"context"
	"errors"
	"time"

	"happychat/schemas"
)

// sweepEvery is how often an owner looks for superseded members of its
// rooms even when no switch-leave failed: the last line of defence of one
// room per user (20 members a room, a map probe each).
const sweepEvery = 10 * time.Second

// requestSwitch asks the owner of a superseded membership's room, if this
// instance owns it, to append the switch-leave. Other owners see the same
// join on their own tails. A switch-leave that is not appended marks the
// owner for a sweep: it looks for superseded members again at the next
// second's tick until none is left, so no seat leaks; it also looks every
// sweepEvery.
func (s *Service) requestSwitch(ctx context.Context, sw switchNeeded) {
	o := s.ownerOf(s.partitionOf(sw.room))
	if o == nil {
		return
	}
	go func() {
		cmd := Command{Kind: kindSwitchLeave, RoomID: sw.room, UserID: sw.user, SwitchTo: sw.to, SwitchJoinID: sw.joinID}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		var err error
		if f := s.cfg.hooks.switchFails; f != nil && f() {
			err = errors.New("test: switch-leave dropped")
		} else {
			_, err = o.submit(ctx, cmd)
		}
		if err != nil {
			o.sweep.Store(true)
			s.log.Warn("switch-leave not appended yet (retried)", "room", sw.room, "user", sw.user, "err", err)
		}
	}()
}

// resolveSuperseded queues the switch-leaves of a partition: members of its
// rooms whose latest join is elsewhere.
func (s *Service) resolveSuperseded(ctx context.Context, part int32) {
	type mem struct {
		room, user, joinID schemas.ID
	}
	var all []mem
	ps := s.fold.parts[part]
	ps.mu.RLock()
	for id, r := range ps.rooms {
		if !r.topic() {
			continue // only topic memberships are ever superseded
		}
		for u, m := range r.members {
			all = append(all, mem{id, u, m.joinID})
		}
	}
	ps.mu.RUnlock()
	for _, m := range all {
		if loc, ok := s.fold.locate(m.user); ok && loc.superseded(m.room, m.joinID) {
			s.requestSwitch(ctx, switchNeeded{room: m.room, user: m.user, to: loc.room, joinID: loc.joinID})
		}
	}
}
