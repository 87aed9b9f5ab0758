package projector

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/fleet"
	"happychat/schemas"
)

// nextBuild is the registry of a hypothetical next build: message.sent at
// v2 (the level above this build's, same payload), read by upcasting v1. A record it
// writes is an event this build (schemas.Events) does not know.
func nextBuild() *schemas.Registry {
	r := &schemas.Registry{}
	schemas.Define[schemas.UserRegistered](r, 1, schemas.ScopeUser, nil)
	schemas.Define[schemas.RoomCreated](r, 1, schemas.ScopeRoom, nil)
	schemas.Define[schemas.RoomJoined](r, 1, schemas.ScopeRoom, nil)
	// message.sent one version above this build's.
	next := schemas.Events.Version(schemas.TypeMessageSent) + 1
	schemas.Define[schemas.MessageSent](r, next, schemas.ScopeRoom, nil, schemas.AtLevel(schemas.FeatureLevel+1))
	for v := 1; v < next; v++ {
		r.AddUpcaster(schemas.TypeMessageSent, v, func(v jsontext.Value) (jsontext.Value, error) { return v, nil })
	}
	return r
}

// TestProjectorBlocksAtANewerEvent: the PostgreSQL projector of this build
// stops its partition at an event of the next build (no dead letter, no
// skip, position kept before it, /readyz and the gauge say so) while it
// advertises this build's level; the next build's projector then applies it and what
// follows, and advertises the level above.
func TestProjectorBlocksAtANewerEvent(t *testing.T) {
	needServers(t)
	names := newTopics(t, 1, 1)
	st := newStores(t)
	next := nextBuild()
	room, user := schemas.ID(7267000000000000100), schemas.ID(7267000000000000200)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	rec := func(reg *schemas.Registry, seq int64, uid schemas.ID, p schemas.Event) *kgo.Record {
		v, err := reg.Encode(schemas.Envelope{ID: schemas.ID(7267000000000001000 + seq), RoomID: room, UserID: uid, Seq: seq, OccurredAt: at, Payload: p})
		if err != nil {
			t.Fatal(err)
		}
		return &kgo.Record{Topic: names.Rooms, Key: schemas.Key(room), Value: v}
	}
	produce(t, newProducer(t), []*kgo.Record{
		rec(schemas.Events, 1, 0, schemas.RoomCreated{Title: "upgrades"}),
		rec(schemas.Events, 2, user, schemas.RoomJoined{Nickname: "n"}),
		rec(next, 3, user, schemas.MessageSent{Text: "from the next build", ClientMsgID: "c3", Nickname: "n"}), // offset 2
		rec(schemas.Events, 4, user, schemas.MessageSent{Text: "after it", ClientMsgID: "c4", Nickname: "n"}),
	})
	ctx := context.Background()
	position := func() (int64, error) {
		var off int64
		err := st.pg.QueryRow(ctx, `SELECT coalesce(max(next_offset), 0) FROM projector_offsets WHERE projector = 'postgres' AND topic = $1`, names.Rooms).Scan(&off)
		return off, err
	}
	counts := func() (messages, dead int64) {
		t.Helper()
		if err := st.pg.QueryRow(ctx, `SELECT coalesce((SELECT message_count FROM rooms WHERE room_id = $1), 0),
			(SELECT count(*) FROM dead_letters WHERE topic = $2)`, int64(room), names.Rooms).Scan(&messages, &dead); err != nil {
			t.Fatal(err)
		}
		return messages, dead
	}
	advertised := func(role string) []fleet.Member {
		t.Helper()
		s, err := fleet.Read(ctx, kafkaOpts(), names.Features)
		if err != nil {
			t.Fatal(err)
		}
		var out []fleet.Member
		for _, m := range s.Members {
			if m.Role == role {
				out = append(out, m)
			}
		}
		return out
	}

	// No static member ids: the next build takes the partition at once
	// (a static member's partitions wait out its session timeout).
	reg := prometheus.NewRegistry()
	old, err := NewPostgres(PostgresConfig{Pool: st.pg, Names: names, Kafka: kafkaOpts(), Log: testLog(t), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	stop := runInBackground(t, old.Run)
	waitFor(t, 60*time.Second, "the partition to block before the newer event", func() (bool, error) {
		off, err := position()
		return off == 2 && old.Ready(ctx) != nil, err
	})
	if err := old.Ready(ctx); !strings.Contains(err.Error(), names.Rooms+"/0 at offset 2") {
		t.Errorf("Ready = %v, want the partition and offset named", err)
	}
	if g := testutil.ToFloat64(old.m.blocked.WithLabelValues(pgProjectorName)); g != 1 {
		t.Errorf("blocked partitions gauge = %v, want 1", g)
	}
	if m := advertised("projector-postgres"); len(m) != 1 || m[0].Level != schemas.FeatureLevel {
		t.Errorf("advertised %+v, want one instance at level %d", m, schemas.FeatureLevel)
	}
	// The block holds while the loop goes on: a user event appended now is
	// applied, and the rooms partition stays where it was.
	reg1, err := schemas.Events.Encode(schemas.Envelope{ID: 7267000000000002000, UserID: user, OccurredAt: at, Payload: schemas.UserRegistered{Nickname: "n"}})
	if err != nil {
		t.Fatal(err)
	}
	produce(t, newProducer(t), []*kgo.Record{{Topic: names.Users, Key: schemas.Key(user), Value: reg1}})
	waitFor(t, 30*time.Second, "the users partition to be applied beside the blocked one", func() (bool, error) {
		var n int64
		err := st.pg.QueryRow(ctx, `SELECT count(*) FROM users WHERE user_id = $1`, int64(user)).Scan(&n)
		return n == 1, err
	})
	if off, err := position(); err != nil || off != 2 || old.Ready(ctx) == nil {
		t.Fatalf("rooms position %d (%v), ready %v: the block did not hold", off, err, old.Ready(ctx))
	}
	if messages, dead := counts(); messages != 0 || dead != 0 {
		t.Fatalf("the old build applied %d messages and dead-lettered %d records, want 0 and 0", messages, dead)
	}
	stop()
	if m := advertised("projector-postgres"); len(m) != 0 {
		t.Errorf("still advertised after a clean stop: %+v", m)
	}

	upgraded, err := NewPostgres(PostgresConfig{Pool: st.pg, Names: names, Kafka: kafkaOpts(), Log: testLog(t),
		Registry: next, FeatureLevel: schemas.FeatureLevel + 1})
	if err != nil {
		t.Fatal(err)
	}
	stop = runInBackground(t, upgraded.Run)
	defer stop()
	waitFor(t, 60*time.Second, "the next build to apply the partition to its end", func() (bool, error) {
		off, err := position()
		return off == 4, err
	})
	if messages, dead := counts(); messages != 2 || dead != 0 {
		t.Errorf("after the upgrade: %d messages, %d dead letters; want 2 and 0", messages, dead)
	}
	if err := upgraded.Ready(ctx); err != nil {
		t.Errorf("the next build is not ready: %v", err)
	}
	if m := advertised("projector-postgres"); len(m) != 1 || m[0].Level != schemas.FeatureLevel+1 {
		t.Errorf("advertised %+v, want one instance at level %d", m, schemas.FeatureLevel+1)
	}
}
