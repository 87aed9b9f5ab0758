package realtime

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/fleet"
	"happychat/schemas"
)

// Rolling upgrades (docs/realtime.md, "Events this build cannot read"): the
// instance advertises the feature level its build understands while it
// runs, refuses to start below the cluster's level, and stops serving a
// room whose log holds an event its build does not know (a newer build's)
// rather than deliver the room's later events across the hole: the room's
// sockets close with 1013 (retry later with since_seq, maybe on an
// upgraded instance), new ones are refused with 503, and /readyz says so,
// until a build that reads the event runs here.

// errUnknownEvent: a resume met an event of its room this build does not
// know, above the client's seq.
var errUnknownEvent = errors.New("an event of the room is not known to this build")

// advertised runs work while the instance is advertised on the features
// topic (internal/fleet).
func (s *Service) advertised(ctx context.Context, work func(context.Context) error) error {
	level := s.cfg.FeatureLevel
	if level <= 0 {
		level = schemas.FeatureLevel
	}
	return fleet.Run(ctx, fleet.Config{
		Kafka: s.kafkaOpts(), Topic: s.cfg.Names.Features, Role: "realtime", Instance: s.cfg.Instance,
		Level: level, Log: s.log,
	}, work)
}

// blockedRooms are the rooms this instance stopped serving, with why. They
// stay blocked for the life of the process: its build will never read the
// event.
type blockedRooms struct {
	mu sync.Mutex
	at map[schemas.ID]error
}

// unknownEvent handles a tail record that Decode refused with
// schemas.ErrUnknownEvent: if its room is tracked here and the event is
// above what the room's sockets were given, the room stops being served.
func (s *Service) unknownEvent(rec *kgo.Record, err error) {
	room, seq, ok := schemas.RoomSeqOf(rec.Value)
	if !ok || room == 0 {
		return // not a room event: the tail delivers nothing else
	}
	if s.hub.block(room, seq) {
		s.blockRoom(room, fmt.Errorf("partition %d offset %d: %w", rec.Partition, rec.Offset, err))
	}
}

// blockRoom records room as not served (see unknownEvent).
func (s *Service) blockRoom(room schemas.ID, err error) {
	s.blocked.mu.Lock()
	defer s.blocked.mu.Unlock()
	if s.blocked.at == nil {
		s.blocked.at = map[schemas.ID]error{}
	}
	if _, ok := s.blocked.at[room]; ok {
		return
	}
	s.blocked.at[room] = err
	s.m.blockedRooms.Set(float64(len(s.blocked.at)))
	s.log.Error("room not served: its log holds an event this build does not know; run a newer build (docs/command.md, \"Rolling upgrades\")",
		"room", room, "err", err)
}

// roomBlocked returns the refusal for a handshake to a blocked room.
func (s *Service) roomBlocked(room schemas.ID) *schemas.Error {
	s.blocked.mu.Lock()
	defer s.blocked.mu.Unlock()
	if _, ok := s.blocked.at[room]; !ok {
		return nil
	}
	return &schemas.Error{Code: schemas.CodeUnavailable,
		Message: "this server cannot serve the room until it is upgraded; retry later", RetryAfter: retryBlocked}
}

// retryBlocked is the Retry-After of a blocked room: an upgrade takes a
// while, and a load balancer may meanwhile send the retry elsewhere.
const retryBlocked = 30 * time.Second

// Blocked reports the rooms this instance stopped serving (for /readyz):
// nil if there are none.
func (s *Service) Blocked(context.Context) error {
	s.blocked.mu.Lock()
	defer s.blocked.mu.Unlock()
	if len(s.blocked.at) == 0 {
		return nil
	}
	first := slices.Min(slices.Collect(maps.Keys(s.blocked.at)))
	return fmt.Errorf("%d rooms not served, their log holds events this build does not know (run a newer build), e.g. room %d: %w",
		len(s.blocked.at), first, s.blocked.at[first])
}

// block stops delivering a tracked room at an event this build does not
// know, at seq: its live sockets are closed with 1013 and the ones still
// catching up are refused at their next step. A seq at or below the room's
// head is a duplicate of an event already delivered past: nothing to do. A
// seq of 0 blocks the room whatever its head (a resume met the event).
// It reports whether the room is (now) blocked.
func (h *hub) block(id schemas.ID, seq int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[id]
	if r == nil {
		return false
	}
	if seq > 0 && r.head > 0 && seq <= r.head {
		return r.blocked
	}
	r.blocked = true
	r.ahead = nil // nothing after the unknown event is delivered
	for c := range r.subs {
		delete(r.subs, c)
		c.fail(CloseTryAgain, blockedReason, false)
	}
	return true
}

// blockedReason is the close reason of a blocked room's sockets.
const blockedReason = "this server cannot read an event of the room: retry later with since_seq"
