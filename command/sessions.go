package command

import (
	"context"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/viewpos"
	"happychat/schemas"
)

// Register gives a nickname a fresh anonymous user and a signed token. The
// user.registered event is committed before the answer.
func (s *Service) Register(ctx context.Context, nickname string) (schemas.Session, error) {
	nickname, err := cleanName("nickname", nickname, maxNickname)
	if err != nil {
		return schemas.Session{}, err
	}
	if err := s.cap.take(ctx); err != nil {
		return schemas.Session{}, err
	}
	id, err := s.mintID()
	if err != nil {
		return schemas.Session{}, err
	}
	env := schemas.Envelope{ID: id, UserID: id, OccurredAt: s.now(), Payload: schemas.UserRegistered{Nickname: nickname}}
	if err := s.appendUserEvent(ctx, env); err != nil {
		return schemas.Session{}, err
	}
	tok, _, err := s.cfg.Keys.Issue(id, nickname)
	if err != nil {
		return schemas.Session{}, err
	}
	return schemas.Session{UserID: id, Nickname: nickname, Token: tok}, nil
}

// appendUserEvent appends a user-scoped event (acks=all, idempotent
// producer) and waits for the broker's acknowledgement.
func (s *Service) appendUserEvent(ctx context.Context, env schemas.Envelope) error {
	if err := s.checkEmit(env.Payload); err != nil {
		return err
	}
	// At the cluster's level: readmark.moved is written as v1 below level 5
	// (v2 is a room event).
	b, version, err := schemas.Events.EncodeAt(env, int(s.level.Load()))
	if err != nil {
		return err
	}
	typ := env.Payload.EventType()
	rec := &kgo.Record{Topic: s.cfg.Names.Users, Key: schemas.Key(env.UserID), Value: b,
		Headers: []kgo.RecordHeader{
			{Key: schemas.HeaderType, Value: []byte(typ)},
			{Key: schemas.HeaderVersion, Value: []byte(strconv.Itoa(version))},
		}}
	if err := s.userLog.ProduceSync(ctx, rec).FirstErr(); err != nil {
		s.log.Warn("append user event", "type", typ, "err", err)
		return unavailable("the event log did not confirm the write, retry")
	}
	viewpos.Note(ctx, viewpos.FromRecords([]*kgo.Record{rec}))
	return nil
}
