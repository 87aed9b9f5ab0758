package schemas

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Envelope wraps every event on the log.
type Envelope struct {
	// ID is the event's snowflake id; for message.sent it is the message id.
	ID ID
	// Type and Version name the payload's schema; Encode fills them in from
	// the payload and the registry, Decode reports the current version after
	// upcasting.
	Type    string
	Version int
	// RoomID is set on every room event and on read marks; UserID on every
	// user event and on room events caused by a user.
	RoomID ID
	UserID ID
	// Seq is the event's position in its room's log (1, 2, 3, … without gaps);
	// zero on user-topic events.
	Seq        int64
	OccurredAt time.Time
	// CorrelationID ties together the events of one request; CausationID names
	// the event (or request) that caused this one.
	CorrelationID string
	CausationID   string
	Payload       Event
}

// wireEnvelope is the JSON form of an Envelope.
type wireEnvelope struct {
	ID            ID             `json:"id"`
	Type          string         `json:"type"`
	Version       int            `json:"version"`
	RoomID        ID             `json:"room_id,omitzero"`
	UserID        ID             `json:"user_id,omitzero"`
	Seq           int64          `json:"seq,omitzero"`
	OccurredAt    string         `json:"occurred_at"`
	CorrelationID string         `json:"correlation_id,omitzero"`
	CausationID   string         `json:"causation_id,omitzero"`
	Payload       jsontext.Value `json:"payload"`
}

// Decoding errors. Every failure wraps ErrDecode, so consumers can tell a
// poison record from an infrastructure error with errors.Is.
var (
	ErrDecode         = errors.New("decode event")
	ErrUnknownType    = errors.New("unknown event type")
	ErrUnknownVersion = errors.New("unknown event version")
	// ErrUnknownEvent is wrapped too when a well-formed envelope names a
	// type this build does not know, or a version of its type above this
	// build's: most likely a newer build wrote it during a rolling upgrade
	// (see FeatureLevel), so it is not malformed, and a consumer may treat it
	// apart from poison. A missing type or a version below 1 is malformed and
	// does not wrap it.
	ErrUnknownEvent = errors.New("not known to this build")
)

// MaxEventSize bounds an encoded envelope; the broker is configured above it.
const MaxEventSize = 64 << 10

// strictOptions make decoding refuse anything ambiguous: unknown members,
// duplicate names (v2 rejects them by default), case variants of names
// (matching is case-sensitive by default) and invalid UTF-8.
var strictOptions = json.JoinOptions(
	json.RejectUnknownMembers(true),
	json.MatchCaseInsensitiveNames(false),
)

// StrictUnmarshal decodes data into v with the same strict rules as events:
// one JSON value, no trailing data, no unknown, duplicate or case-variant
// member names, valid UTF-8, matching types. HTTP bodies use it too.
func StrictUnmarshal(data []byte, v any) error {
	return json.Unmarshal(data, v, strictOptions)
}

// Marshal encodes v as JSON the way the whole system does.
func Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Encode renders env with its payload in the registry's current version.
func (r *Registry) Encode(env Envelope) ([]byte, error) {
	b, _, err := r.EncodeAt(env, math.MaxInt)
	return b, err
}

// EncodeAt renders env in the newest version of its type that the cluster
// feature level allows: the current version, or an earlier one reached
// through the type's downcasters (AddDowncaster) when the current one needs
// a higher level. It returns the version written (for the record's
// headers) and fails, wrapping ErrFeatureDisabled, when no allowed version
// can carry this payload.
func (r *Registry) EncodeAt(env Envelope, clusterLevel int) ([]byte, int, error) {
	if env.Payload == nil {
		return nil, 0, errors.New("encode event: nil payload")
	}
	typ := env.Payload.EventType()
	spec, ok := r.specs[typ]
	if !ok {
		return nil, 0, fmt.Errorf("encode event: %w %q", ErrUnknownType, typ)
	}
	payload, err := json.Marshal(env.Payload)
	if err != nil {
		return nil, 0, fmt.Errorf("encode %s payload: %w", typ, err)
	}
	version, payload, err := r.downcast(typ, spec, payload, clusterLevel)
	if err != nil {
		return nil, 0, err
	}
	// Validated with the rules of the version written: its scope may be
	// another's (VersionScope).
	if err := spec.validate(env, version); err != nil {
		return nil, 0, fmt.Errorf("encode %s: %w", typ, err)
	}
	w := wireEnvelope{
		ID: env.ID, Type: typ, Version: version,
		RoomID: env.RoomID, UserID: env.UserID, Seq: env.Seq,
		OccurredAt:    FormatTime(env.OccurredAt),
		CorrelationID: env.CorrelationID, CausationID: env.CausationID,
		Payload: payload,
	}
	out, err := json.Marshal(w)
	if err != nil {
		return nil, 0, fmt.Errorf("encode %s: %w", typ, err)
	}
	// Refuse here what every consumer's Decode would refuse: a record the
	// log accepts but no reader can decode is worse than a failed write.
	if len(out) > MaxEventSize {
		return nil, 0, fmt.Errorf("encode %s: %d bytes exceeds %d", typ, len(out), MaxEventSize)
	}
	return out, version, nil
}

// downcast walks the current version's payload down to the newest version
// the cluster level allows.
func (r *Registry) downcast(typ string, spec *spec, payload jsontext.Value, clusterLevel int) (int, jsontext.Value, error) {
	v := spec.version
	for ; r.LevelOf(typ, v) > clusterLevel; v-- {
		down, ok := spec.downcasters[v]
		if !ok {
			return 0, nil, fmt.Errorf("emit %s v%d: %w: level %d, the cluster is at %d",
				typ, v, ErrFeatureDisabled, r.LevelOf(typ, v), clusterLevel)
		}
		var err error
		if payload, err = down(payload); err != nil {
			return 0, nil, fmt.Errorf("emit %s as v%d: %w: %w", typ, v-1, ErrFeatureDisabled, err)
		}
	}
	return v, payload, nil
}

// Decode parses one encoded envelope strictly and upcasts its payload to the
// current version of its type. It never panics; every error wraps ErrDecode,
// and ErrUnknownEvent as well when the type or version is newer than this
// build's.
func (r *Registry) Decode(data []byte) (Envelope, error) {
	if len(data) > MaxEventSize {
		return Envelope{}, fmt.Errorf("%w: %d bytes exceeds %d", ErrDecode, len(data), MaxEventSize)
	}
	var w wireEnvelope
	if err := StrictUnmarshal(data, &w); err != nil {
		return Envelope{}, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	spec, ok := r.specs[w.Type]
	if !ok {
		if w.Type == "" {
			return Envelope{}, fmt.Errorf("%w: %w %q", ErrDecode, ErrUnknownType, w.Type)
		}
		return Envelope{}, fmt.Errorf("%w: %w %q: %w", ErrDecode, ErrUnknownType, w.Type, ErrUnknownEvent)
	}
	payload := w.Payload
	if w.Version < 1 {
		return Envelope{}, fmt.Errorf("%w: %w %s v%d", ErrDecode, ErrUnknownVersion, w.Type, w.Version)
	}
	if w.Version > spec.version {
		return Envelope{}, fmt.Errorf("%w: %w %s v%d: %w", ErrDecode, ErrUnknownVersion, w.Type, w.Version, ErrUnknownEvent)
	}
	if len(payload) == 0 || payload.Kind() != '{' {
		return Envelope{}, fmt.Errorf("%w: %s payload must be an object", ErrDecode, w.Type)
	}
	for v := w.Version; v < spec.version; v++ {
		up, ok := spec.upcasters[v]
		if !ok {
			return Envelope{}, fmt.Errorf("%w: no upcaster for %s v%d", ErrDecode, w.Type, v)
		}
		var err error
		if payload, err = up(payload); err != nil {
			return Envelope{}, fmt.Errorf("%w: upcast %s v%d: %w", ErrDecode, w.Type, v, err)
		}
	}
	if len(payload) == 0 || payload.Kind() != '{' {
		return Envelope{}, fmt.Errorf("%w: %s payload must be an object", ErrDecode, w.Type)
	}
	ev, err := spec.decode(payload)
	if err != nil {
		return Envelope{}, fmt.Errorf("%w: %s payload: %w", ErrDecode, w.Type, err)
	}
	at, err := ParseTime(w.OccurredAt)
	if err != nil {
		return Envelope{}, fmt.Errorf("%w: occurred_at: %w", ErrDecode, err)
	}
	env := Envelope{
		ID: w.ID, Type: w.Type, Version: spec.version,
		RoomID: w.RoomID, UserID: w.UserID, Seq: w.Seq,
		OccurredAt: at, CorrelationID: w.CorrelationID, CausationID: w.CausationID,
		Payload: ev,
	}
	if err := spec.validate(env, w.Version); err != nil {
		return Envelope{}, fmt.Errorf("%w: %s: %w", ErrDecode, w.Type, err)
	}
	return env, nil
}

// RoomSeqOf reads the room and seq of an encoded envelope without decoding
// its payload: what a consumer needs to place a record Decode refused with
// ErrUnknownEvent (a newer build's event) in its room's order. ok is false
// when it carries no positive seq (a user event, or no envelope at all);
// room is 0 if absent.
func RoomSeqOf(data []byte) (room ID, seq int64, ok bool) {
	var head struct {
		RoomID ID    `json:"room_id"`
		Seq    int64 `json:"seq"`
	}
	if json.Unmarshal(data, &head) != nil || head.Seq <= 0 {
		return 0, 0, false
	}
	return head.RoomID, head.Seq, true
}
