package schemas

import (
	"errors"
	"fmt"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Scope says which topic an event lives on.
type Scope int

const (
	// ScopeRoom events go to the rooms topic, key = room id, and carry a seq.
	ScopeRoom Scope = iota + 1
	// ScopeUser events go to the users topic, key = user id.
	ScopeUser
)

// Upcaster turns the payload of version v of an event into version v+1.
type Upcaster func(jsontext.Value) (jsontext.Value, error)

// Downcaster turns the payload of version v of an event into version v-1,
// or fails when this payload needs something v-1 cannot say. It lets a type
// keep being written while the cluster's feature level is below its current
// version's (see FeatureLevel).
type Downcaster func(jsontext.Value) (jsontext.Value, error)

type spec struct {
	version   int
	scope     Scope
	decode    func(jsontext.Value) (Event, error)
	check     func(Envelope) error
	upcasters map[int]Upcaster
	// downcasters maps a version to the function writing it as the one
	// before (see EncodeAt).
	downcasters map[int]Downcaster
	// levels maps a version to the feature level it needs; a version absent
	// from it is at level 1.
	levels map[int]int
	// scopes maps an earlier version to its scope when it differs from the
	// current one's (readmark.moved v1 is a user event, v2 a room event).
	scopes map[int]Scope
}

// Registry is the closed set of events a build understands. Events is the
// production registry; tests build their own to exercise upcasting.
type Registry struct {
	specs map[string]*spec
}

// FeatureLevel is the highest cluster feature level this build understands,
// in the spirit of Kafka's metadata.version. Every event version has a level
// (see AtLevel), and the command service emits it only once the cluster's
// level, which operators raise, has reached it. This keeps a rolling upgrade
// safe: no build writes an event that an older build, still running
// somewhere, would have to refuse.
//
// Introducing a new event type goes like this:
//
//  1. In one build, register it at level N+1 (AtLevel(N+1)) and raise
//     FeatureLevel to N+1. Its readers (decoders, projectors) ship in the
//     same build.
//  2. Operators roll that build out to every instance. Until then the cluster
//     stays at level N and CheckEmit refuses the new event, so the command
//     service does not emit it (the command that would is refused).
//  3. Once no older build runs, operators raise the cluster level to N+1 and
//     the new event is emitted. A level is never lowered again: from then on
//     an older build would meet records it cannot read.
//
// A new version of an existing type takes the same levels, with one caveat:
// the registry writes only the current version, so until the cluster level
// is raised CheckEmit refuses the type altogether, not just its new shape.
// That suits a type that can wait; one that must keep being written registers
// a downcaster (AddDowncaster) to the previous version: EncodeAt then writes
// the previous version while the cluster is below the new one's level, as
// long as the payload uses nothing new (CheckEmitEvent tells).
//
// A build must not run against a cluster level above its FeatureLevel.
//
// Level 2 brings session.revoked (token revocation, docs/adr/0007). Level 3
// brings room.rejected (an admin turns a proposal down), user.renamed and
// member.renamed (a rename keeps the user), message.sent v2 (reply_to,
// mentions), message.edited, message.deleted and the reaction events
// (issue 18). Level 4 brings conversation.created, member.added and
// invite.created (private rooms, invites, direct messages: issue 20), and
// message.sent v3 and message.edited v2, whose text is sealed under a
// per-message key (docs/adr/0009). Level 5 brings readmark.moved v2, a read
// mark as a room event that the room sees (docs/adr/0010), member.removed,
// member.banned, member.unbanned and room.closed (moderation of rooms), and
// block.added, block.removed, report.filed and report.resolved (blocks and
// reports; both issue 20). Level 6 brings no event: from it, command
// instances append through one transaction per instance (docs/adr/0011),
// which every instance of a level-6 build can take partitions over from.
const FeatureLevel = 6

// ErrFeatureDisabled is wrapped by CheckEmit when an event needs a higher
// feature level than the cluster's: some instance may still run a build that
// cannot read it, so the event must not be written until operators raise the
// level.
var ErrFeatureDisabled = errors.New("event needs a higher cluster feature level")

// DefineOption adjusts what Define registers.
type DefineOption func(*spec)

// AtLevel sets the cluster feature level from which the defined version may
// be emitted (at least 1). The default is 1, the level of every event that
// predates feature levels; a new event type or version needs FeatureLevel+1
// (see FeatureLevel).
func AtLevel(level int) DefineOption {
	return func(s *spec) { s.levels[s.version] = level }
}

// VersionAtLevel records the level of an earlier version of the type, one
// that this build only reads through upcasters, for LevelOf. Without it an
// earlier version is reported at level 1.
func VersionAtLevel(version, level int) DefineOption {
	return func(s *spec) { s.levels[version] = level }
}

// VersionScope records that an earlier version of the type lived on another
// topic: its records are validated, and written through a downcaster, with
// that scope's rules (a user event carries no seq).
func VersionScope(version int, scope Scope) DefineOption {
	return func(s *spec) { s.scopes[version] = scope }
}

// scopeAt is the scope of version of the type.
func (s *spec) scopeAt(version int) Scope {
	if sc, ok := s.scopes[version]; ok {
		return sc
	}
	return s.scope
}

func decodeAs[T Event](v jsontext.Value) (Event, error) {
	var e T
	if err := StrictUnmarshal(v, &e); err != nil {
		return nil, err
	}
	return e, nil
}

// Define registers the current version of event type T. check validates
// type-specific envelope rules (may be nil). The version is at feature level 1
// unless an option says otherwise.
func Define[T Event](r *Registry, version int, scope Scope, check func(Envelope) error, opts ...DefineOption) {
	var zero T
	if r.specs == nil {
		r.specs = map[string]*spec{}
	}
	s := &spec{
		version: version, scope: scope, decode: decodeAs[T], check: check,
		upcasters: map[int]Upcaster{}, downcasters: map[int]Downcaster{}, levels: map[int]int{}, scopes: map[int]Scope{},
	}
	for _, o := range opts {
		o(s)
	}
	r.specs[zero.EventType()] = s
}

// AddUpcaster registers how to read version from of typ as version from+1.
func (r *Registry) AddUpcaster(typ string, from int, up Upcaster) {
	r.specs[typ].upcasters[from] = up
}

// AddDowncaster registers how to write version from of typ as version
// from-1 (see EncodeAt).
func (r *Registry) AddDowncaster(typ string, from int, down Downcaster) {
	r.specs[typ].downcasters[from] = down
}

// Version returns the current version of typ (0 if unknown).
func (r *Registry) Version(typ string) int {
	if s, ok := r.specs[typ]; ok {
		return s.version
	}
	return 0
}

// ScopeOf returns the scope of typ (0 if unknown).
func (r *Registry) ScopeOf(typ string) Scope {
	if s, ok := r.specs[typ]; ok {
		return s.scope
	}
	return 0
}

// LevelOf returns the cluster feature level that version of typ needs (0 if
// this build does not know typ or that version). A consumer can ask it with
// the type and version headers to learn, without decoding, whether this build
// reads a record.
func (r *Registry) LevelOf(typ string, version int) int {
	s, ok := r.specs[typ]
	if !ok || version < 1 || version > s.version {
		return 0
	}
	if l, ok := s.levels[version]; ok {
		return l
	}
	return 1
}

// CheckEmit reports whether typ may be emitted while the cluster is at
// clusterLevel, in its current version or, through downcasters, an earlier
// one: it returns an error wrapping ErrFeatureDisabled when no version the
// level allows can be reached (see FeatureLevel for the upgrade procedure),
// and one wrapping ErrUnknownType for a type this build does not know. A
// downcaster may still refuse a given payload: CheckEmitEvent tells.
func (r *Registry) CheckEmit(typ string, clusterLevel int) error {
	s, ok := r.specs[typ]
	if !ok {
		return fmt.Errorf("emit event: %w %q", ErrUnknownType, typ)
	}
	for v := s.version; v >= 1; v-- {
		if r.LevelOf(typ, v) <= clusterLevel {
			return nil
		}
		if _, ok := s.downcasters[v]; !ok {
			break
		}
	}
	return fmt.Errorf("emit %s v%d: %w: level %d, the cluster is at %d",
		typ, s.version, ErrFeatureDisabled, r.LevelOf(typ, s.version), clusterLevel)
}

// CheckEmitEvent reports whether this payload may be emitted while the
// cluster is at clusterLevel: like CheckEmit, and the downcasters on the way
// must accept it (a send with a reply cannot be written as message.sent v1).
func (r *Registry) CheckEmitEvent(ev Event, clusterLevel int) error {
	typ := ev.EventType()
	if err := r.CheckEmit(typ, clusterLevel); err != nil {
		return err
	}
	s := r.specs[typ]
	if r.LevelOf(typ, s.version) <= clusterLevel {
		return nil
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("emit %s: %w", typ, err)
	}
	_, _, err = r.downcast(typ, s, payload, clusterLevel)
	return err
}

// Types lists the registered wire names.
func (r *Registry) Types() []string {
	out := make([]string, 0, len(r.specs))
	for t := range r.specs {
		out = append(out, t)
	}
	return out
}

var (
	errNoID     = errors.New("id is required")
	errNoRoom   = errors.New("room_id is required")
	errNoUser   = errors.New("user_id is required")
	errNoSeq    = errors.New("seq must be positive on room events")
	errSeqUser  = errors.New("seq must be absent on user events")
	errNoTime   = errors.New("occurred_at is required")
	errBadField = errors.New("invalid field")
	errRoomUser = errors.New("room_id must be absent on user.registered")
	errNUL      = errors.New("strings must not contain U+0000")
)
