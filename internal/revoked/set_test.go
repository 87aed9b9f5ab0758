package revoked

import (
	"errors"
	"testing"
	"time"

	"happychat/schemas"
	"happychat/schemas/token"
)

var t0 = time.Date(2026, 12, 2, 21, 0, 0, 0, time.UTC)

func revocation(user schemas.ID, sid string, at, until time.Time) schemas.Envelope {
	return schemas.Envelope{ID: 1, UserID: user, OccurredAt: at,
		Payload: schemas.SessionRevoked{SessionID: sid, ExpiresAt: schemas.FormatTime(until)}}
}

func TestSetNotReadyUntilMarked(t *testing.T) {
	s := NewSet(func() time.Time { return t0 })
	c := token.Claims{UserID: 1, SessionID: "a", Expires: t0.Add(time.Hour)}
	if err := s.Check(c); !errors.Is(err, token.ErrNotReady) {
		t.Fatalf("before ready: %v, want ErrNotReady", err)
	}
	if s.Ready(t.Context()) == nil {
		t.Fatal("Ready before MarkReady")
	}
	s.MarkReady()
	s.MarkReady() // twice is fine
	if err := s.Check(c); err != nil {
		t.Fatalf("after ready: %v", err)
	}
	if err := s.Ready(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestSetRevokesOneSession(t *testing.T) {
	s := NewSet(func() time.Time { return t0 })
	s.MarkReady()
	if ok, err := s.Add(revocation(1, "a", t0, t0.Add(time.Hour))); !ok || err != nil {
		t.Fatalf("Add = %v, %v", ok, err)
	}
	checkCases(t, s, []checkCase{
		{"the revoked session", token.Claims{UserID: 1, SessionID: "a", IssuedAt: t0.Add(-time.Minute)}, token.ErrRevoked},
		{"another session of the user", token.Claims{UserID: 1, SessionID: "b", IssuedAt: t0.Add(-time.Minute)}, nil},
		{"the same jti of another user", token.Claims{UserID: 2, SessionID: "a", IssuedAt: t0.Add(-time.Minute)}, nil},
		{"a token of the user without jti", token.Claims{UserID: 1, IssuedAt: t0.Add(-time.Minute)}, nil},
	})
}

type checkCase struct {
	name string
	c    token.Claims
	want error // nil: not revoked
}

func checkCases(t *testing.T, s *Set, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		if err := s.Check(tc.c); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestSetWatermarkRevokesOlderTokensWithoutJTI(t *testing.T) {
	s := NewSet(func() time.Time { return t0 })
	s.MarkReady()
	if ok, err := s.Add(revocation(1, "", t0, t0.Add(time.Hour))); !ok || err != nil {
		t.Fatalf("Add = %v, %v", ok, err)
	}
	checkCases(t, s, []checkCase{
		{"issued before", token.Claims{UserID: 1, IssuedAt: t0.Add(-time.Hour)}, token.ErrRevoked},
		{"issued at the watermark", token.Claims{UserID: 1, IssuedAt: t0}, token.ErrRevoked},
		{"without iat", token.Claims{UserID: 1}, token.ErrRevoked},
		{"issued after", token.Claims{UserID: 1, IssuedAt: t0.Add(time.Second)}, nil},
		{"a token with jti", token.Claims{UserID: 1, SessionID: "a", IssuedAt: t0.Add(-time.Hour)}, nil},
		{"another user", token.Claims{UserID: 2, IssuedAt: t0.Add(-time.Hour)}, nil},
	})
	// A replayed older watermark does not move it back.
	if _, err := s.Add(revocation(1, "", t0.Add(-time.Hour), t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(token.Claims{UserID: 1, IssuedAt: t0}); !errors.Is(err, token.ErrRevoked) {
		t.Errorf("an older watermark moved it back: %v", err)
	}
}

func TestSetForgetsExpiredRevocations(t *testing.T) {
	now := t0
	s := NewSet(func() time.Time { return now })
	s.MarkReady()
	if ok, _ := s.Add(revocation(1, "gone", t0.Add(-2*time.Hour), t0.Add(-time.Hour))); ok {
		t.Fatal("a revocation of expired tokens was kept")
	}
	for i := range 10 {
		if _, err := s.Add(revocation(schemas.ID(10+i), "s", now, now.Add(time.Duration(i+1)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Add(revocation(99, "", now, now.Add(30*time.Minute))); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 11 {
		t.Fatalf("Len = %d, want 11", s.Len())
	}
	// Five sessions have expired by then; the sweep runs at the next Add
	// a minute or more after the previous one.
	now = t0.Add(5*time.Minute + 30*time.Second)
	if _, err := s.Add(revocation(100, "s", now, now.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 7 {
		t.Fatalf("Len = %d after a sweep, want 7 (5 sessions + watermark + the new one)", s.Len())
	}
	now = t0.Add(2 * time.Hour)
	if _, err := s.Add(revocation(101, "s", now, now.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 1 {
		t.Fatalf("Len = %d after everything expired, want 1", s.Len())
	}
}

func TestSetWatchersSeeAHeldRevocation(t *testing.T) {
	s := NewSet(func() time.Time { return t0 })
	s.MarkReady()
	var seen []schemas.ID
	s.Watch(func(u schemas.ID) {
		// The watcher runs once the set holds the revocation.
		if err := s.Check(token.Claims{UserID: u, SessionID: "a"}); !errors.Is(err, token.ErrRevoked) {
			t.Errorf("watcher ran before the set held it: %v", err)
		}
		seen = append(seen, u)
	})
	if _, err := s.Add(revocation(7, "a", t0, t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(revocation(8, "a", t0, t0.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != 7 {
		t.Fatalf("watchers saw %v, want [7] (an expired revocation is not news)", seen)
	}
}

func TestSetAddRefuses(t *testing.T) {
	s := NewSet(func() time.Time { return t0 })
	if _, err := s.Add(schemas.Envelope{UserID: 1, Payload: schemas.UserRegistered{Nickname: "n"}}); err == nil {
		t.Error("another event type was added")
	}
	if _, err := s.Add(schemas.Envelope{UserID: 1, Payload: schemas.SessionRevoked{SessionID: "a", ExpiresAt: "soon"}}); err == nil {
		t.Error("a bad expires_at was added")
	}
}
