// The vocabulary's rules: what each event type must hold to be written or
// read (the checks Define takes), and the registry of every event of the
// log (newEvents). The mechanics of the registry are in registry.go.

package schemas

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// checkNUL refuses U+0000 in every string of the envelope and its payload.
// JSON allows "\u0000", but PostgreSQL text cannot hold it, so such an event
// would stall the projector on every replay; the log refuses it at both ends
// (Encode and Decode) instead.
func checkNUL(env Envelope) error {
	if strings.IndexByte(env.CorrelationID, 0) >= 0 || strings.IndexByte(env.CausationID, 0) >= 0 {
		return errNUL
	}
	v := reflect.Indirect(reflect.ValueOf(env.Payload))
	if v.Kind() != reflect.Struct {
		return nil
	}
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.String && strings.IndexByte(f.String(), 0) >= 0 {
			return fmt.Errorf("%w: %s", errNUL, v.Type().Field(i).Name)
		}
	}
	return nil
}

// validate checks env by the rules of version (the version on the wire:
// its scope may differ from the current version's, see VersionScope).
func (s *spec) validate(env Envelope, version int) error {
	switch {
	case env.ID <= 0:
		return errNoID
	case env.OccurredAt.IsZero():
		return errNoTime
	}
	if err := checkNUL(env); err != nil {
		return err
	}
	switch s.scopeAt(version) {
	case ScopeRoom:
		if env.RoomID <= 0 {
			return errNoRoom
		}
		if env.Seq <= 0 {
			return errNoSeq
		}
	case ScopeUser:
		if env.UserID <= 0 {
			return errNoUser
		}
		if env.Seq != 0 {
			return errSeqUser
		}
	}
	if s.check != nil {
		return s.check(env)
	}
	return nil
}

func needUser(env Envelope) error {
	if env.UserID <= 0 {
		return errNoUser
	}
	return nil
}

func nonEmpty(name, v string) error {
	if v == "" {
		return fmt.Errorf("%w: %s must not be empty", errBadField, name)
	}
	return nil
}

// The bounds the events of feature level 3 enforce at both ends of the log.
const (
	// MaxMentions bounds the users a message mentions (a room holds far
	// fewer members).
	MaxMentions = 50
	// MaxEmojiBytes bounds a reaction's emoji: one grapheme, the longest
	// family sequences take some 35 bytes.
	MaxEmojiBytes = 64
)

func checkMessageSent(e Envelope) error {
	if err := needUser(e); err != nil {
		return err
	}
	p := e.Payload.(MessageSent)
	if err := textOrSealed(p.Text, p.Sealed); err != nil {
		return err
	}
	if err := nonEmpty("client_msg_id", p.ClientMsgID); err != nil {
		return err
	}
	if rt := p.ReplyTo; rt != nil {
		if rt.MessageID <= 0 || rt.UserID <= 0 {
			return fmt.Errorf("%w: reply_to needs message_id and user_id", errBadField)
		}
		if rt.PreviewSealed != nil {
			if rt.Preview != "" {
				return fmt.Errorf("%w: reply_to has both preview and preview_sealed", errBadField)
			}
			if err := checkSealed(rt.PreviewSealed); err != nil {
				return err
			}
		}
		if strings.IndexByte(rt.Nickname, 0) >= 0 || strings.IndexByte(rt.Preview, 0) >= 0 {
			return errNUL
		}
	}
	if len(p.Mentions) > MaxMentions {
		return fmt.Errorf("%w: more than %d mentions", errBadField, MaxMentions)
	}
	for i, u := range p.Mentions {
		if u <= 0 || slices.Contains(p.Mentions[:i], u) {
			return fmt.Errorf("%w: mentions must be distinct user ids", errBadField)
		}
	}
	return nil
}

// messageSentV1 is the v1 payload of message.sent, for the up- and
// downcasters: decoding into it strictly refuses a member v1 never had.
type messageSentV1 struct {
	Text        string `json:"text"`
	ClientMsgID string `json:"client_msg_id"`
	Nickname    string `json:"nickname"`
}

// upcastMessageSentV1 reads a v1 payload as v2: the same members, no reply,
// no mentions.
func upcastMessageSentV1(v jsontext.Value) (jsontext.Value, error) {
	var p messageSentV1
	if err := StrictUnmarshal(v, &p); err != nil {
		return nil, err
	}
	return json.Marshal(p)
}

// errNeedsV2 is a send that message.sent v1 cannot carry.
var errNeedsV2 = errors.New("reply_to and mentions need message.sent v2")

// DowncastMessageSentV2 writes a v2 payload as v1 when it has no reply and
// no mentions (a plain send while the cluster is below level 3).
func DowncastMessageSentV2(v jsontext.Value) (jsontext.Value, error) {
	var p MessageSent
	if err := StrictUnmarshal(v, &p); err != nil {
		return nil, err
	}
	if p.ReplyTo != nil || len(p.Mentions) > 0 {
		return nil, errNeedsV2
	}
	return json.Marshal(messageSentV1{Text: p.Text, ClientMsgID: p.ClientMsgID, Nickname: p.Nickname})
}

func checkMessageEdited(e Envelope) error {
	if err := needUser(e); err != nil {
		return err
	}
	p := e.Payload.(MessageEdited)
	if p.MessageID <= 0 {
		return fmt.Errorf("%w: message_id is required", errBadField)
	}
	return textOrSealed(p.Text, p.Sealed)
}

// textOrSealed checks a message's text: in the clear (up to message.sent
// v2, message.edited v1) or sealed (v3, v2), never both, never neither.
func textOrSealed(text string, s *Sealed) error {
	if s == nil {
		return nonEmpty("text", text)
	}
	if text != "" {
		return fmt.Errorf("%w: text and sealed are exclusive", errBadField)
	}
	return checkSealed(s)
}

// minSealed is a GCM nonce and tag around at least one byte.
const minSealed = 12 + 16 + 1

func checkSealed(s *Sealed) error {
	if err := nonEmpty("key_id", s.KeyID); err != nil {
		return err
	}
	if len(s.KeyID) > 64 {
		return fmt.Errorf("%w: key_id longer than 64 bytes", errBadField)
	}
	if len(s.Ciphertext) < minSealed {
		return fmt.Errorf("%w: ciphertext shorter than %d bytes", errBadField, minSealed)
	}
	return nil
}

// errNeedsSealed is a payload whose text is sealed, which the previous
// version (plaintext only) cannot carry: a cluster below level 4 is never
// written sealed text (the command seals only from level 4).
var errNeedsSealed = errors.New("sealed text needs message.sent v3 / message.edited v2")

// upcastSame reads a plaintext payload of the previous version as the next:
// its members are a subset of the next version's.
func upcastSame(v jsontext.Value) (jsontext.Value, error) { return v, nil }

// DowncastMessageSentV3 writes a v3 payload as v2 when nothing is sealed.
func DowncastMessageSentV3(v jsontext.Value) (jsontext.Value, error) {
	var p MessageSent
	if err := StrictUnmarshal(v, &p); err != nil {
		return nil, err
	}
	if p.Sealed != nil || (p.ReplyTo != nil && p.ReplyTo.PreviewSealed != nil) {
		return nil, errNeedsSealed
	}
	return v, nil
}

// DowncastMessageEditedV2 writes a v2 payload as v1 when nothing is sealed.
func DowncastMessageEditedV2(v jsontext.Value) (jsontext.Value, error) {
	var p MessageEdited
	if err := StrictUnmarshal(v, &p); err != nil {
		return nil, err
	}
	if p.Sealed != nil {
		return nil, errNeedsSealed
	}
	return v, nil
}

func checkMessageDeleted(e Envelope) error {
	p := e.Payload.(MessageDeleted)
	if p.MessageID <= 0 || p.AuthorID <= 0 || p.MessageSeq <= 0 {
		return fmt.Errorf("%w: message_id, author_id and message_seq are required", errBadField)
	}
	if e.UserID <= 0 && !p.ByAdmin {
		return fmt.Errorf("%w: only an admin deletes without a user", errBadField)
	}
	if _, err := ParseTime(p.SentAt); err != nil {
		return fmt.Errorf("%w: sent_at: %w", errBadField, err)
	}
	return nil
}

func checkReaction(e Envelope, p MessageReaction) error {
	if err := needUser(e); err != nil {
		return err
	}
	if p.MessageID <= 0 {
		return fmt.Errorf("%w: message_id is required", errBadField)
	}
	if err := nonEmpty("emoji", p.Emoji); err != nil {
		return err
	}
	if len(p.Emoji) > MaxEmojiBytes {
		return fmt.Errorf("%w: emoji is longer than %d bytes", errBadField, MaxEmojiBytes)
	}
	return nil
}

// Events is the registry of this build: every event type, its current
// version and its feature level. Adding a version means: bump the number
// here, add the JSON Schema file for it, register an upcaster from the
// previous version, and give it the next feature level (see FeatureLevel and
// its caveat on versions), as a new event type needs too. Every event below
// predates feature levels and is at level 1, except session.revoked (2),
// room.rejected, user.renamed, member.renamed, message.sent v2 and the
// other message events of issue 18 (3), and message.sent v3 and
// message.edited v2, sealed text (4).
var Events = newEvents()

func newEvents() *Registry {
	r := &Registry{}
	Define[UserRegistered](r, 1, ScopeUser, func(e Envelope) error {
		if e.RoomID != 0 {
			return errRoomUser
		}
		return nonEmpty("nickname", e.Payload.(UserRegistered).Nickname)
	})
	Define[RoomCreated](r, 1, ScopeRoom, func(e Envelope) error {
		return nonEmpty("title", e.Payload.(RoomCreated).Title)
	})
	Define[RoomProposed](r, 1, ScopeRoom, func(e Envelope) error {
		if err := needUser(e); err != nil {
			return err
		}
		return nonEmpty("title", e.Payload.(RoomProposed).Title)
	})
	Define[RoomApproved](r, 1, ScopeRoom, nil)
	Define[RoomRejected](r, 1, ScopeRoom, func(e Envelope) error {
		if n := utf8.RuneCountInString(e.Payload.(RoomRejected).Reason); n > MaxRejectReason {
			return fmt.Errorf("%w: reason of %d code points, at most %d", errBadField, n, MaxRejectReason)
		}
		return nil
	}, AtLevel(3))
	Define[RoomJoined](r, 1, ScopeRoom, needUser)
	Define[RoomLeft](r, 1, ScopeRoom, func(e Envelope) error {
		if err := needUser(e); err != nil {
			return err
		}
		switch p := e.Payload.(RoomLeft); p.Reason {
		case LeftReasonLeft:
			return nil
		case LeftReasonSwitched:
			if p.SwitchedTo <= 0 {
				return fmt.Errorf("%w: switched_to is required when reason is switched", errBadField)
			}
			return nil
		default:
			return fmt.Errorf("%w: reason %q", errBadField, p.Reason)
		}
	})
	Define[MessageSent](r, 3, ScopeRoom, checkMessageSent, AtLevel(4), VersionAtLevel(2, 3))
	r.AddUpcaster(TypeMessageSent, 1, upcastMessageSentV1)
	r.AddUpcaster(TypeMessageSent, 2, upcastSame)
	r.AddDowncaster(TypeMessageSent, 2, DowncastMessageSentV2)
	r.AddDowncaster(TypeMessageSent, 3, DowncastMessageSentV3)
	defineReadMark(r)
	Define[SessionRevoked](r, 1, ScopeUser, checkSessionRevoked, AtLevel(2))
	Define[UserRenamed](r, 1, ScopeUser, func(e Envelope) error {
		if e.RoomID != 0 {
			return fmt.Errorf("%w: room_id must be absent on user.renamed", errBadField)
		}
		return nonEmpty("nickname", e.Payload.(UserRenamed).Nickname)
	}, AtLevel(3))
	Define[MemberRenamed](r, 1, ScopeRoom, func(e Envelope) error {
		if err := needUser(e); err != nil {
			return err
		}
		return nonEmpty("nickname", e.Payload.(MemberRenamed).Nickname)
	}, AtLevel(3))
	Define[MessageEdited](r, 2, ScopeRoom, checkMessageEdited, AtLevel(4), VersionAtLevel(1, 3))
	r.AddUpcaster(TypeMessageEdited, 1, upcastSame)
	r.AddDowncaster(TypeMessageEdited, 2, DowncastMessageEditedV2)
	Define[MessageDeleted](r, 1, ScopeRoom, checkMessageDeleted, AtLevel(3))
	Define[ReactionAdded](r, 1, ScopeRoom, func(e Envelope) error {
		return checkReaction(e, MessageReaction(e.Payload.(ReactionAdded)))
	}, AtLevel(3))
	Define[ReactionRemoved](r, 1, ScopeRoom, func(e Envelope) error {
		return checkReaction(e, MessageReaction(e.Payload.(ReactionRemoved)))
	}, AtLevel(3))
	defineLevel4(r)
	defineLevel5Moderation(r)
	defineLevel5Reports(r)
	return r
}

// MaxRejectReason bounds the reason an admin gives for turning a proposal
// down, in code points.
const MaxRejectReason = 500

// maxSessionID bounds a revoked session id: the command service mints 22
// characters (128 bits, base64url).
const maxSessionID = 64

func checkSessionRevoked(e Envelope) error {
	if e.RoomID != 0 {
		return fmt.Errorf("%w: room_id must be absent on session.revoked", errBadField)
	}
	p := e.Payload.(SessionRevoked)
	if len(p.SessionID) > maxSessionID {
		return fmt.Errorf("%w: session_id is longer than %d bytes", errBadField, maxSessionID)
	}
	if _, err := ParseTime(p.ExpiresAt); err != nil {
		return fmt.Errorf("%w: expires_at: %w", errBadField, err)
	}
	return nil
}
