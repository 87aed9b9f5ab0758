package kafka

import (
	"context"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/testenv"
	"happychat/schemas"
)

// TestTopicsAndRoundTrip creates the event topics with their explicit
// configs (twice: the second run is a no-op), then produces an event with
// acks=all and idempotence, consumes it, decodes it and compares.
func TestTopicsAndRoundTrip(t *testing.T) {
	b := testenv.Kafka(t)
	names := schemas.NamesFor(testenv.RandomName("t"))
	log := slog.New(slog.DiscardHandler)
	cl, err := kgo.NewClient(append(BaseOpts(b, log), kgo.ConsumeTopics(names.Rooms),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	spec := TopicSpec{RoomPartitions: 3, UserPartitions: 2, Replication: 1, MinISR: 1}
	for range 2 {
		if err := EnsureTopics(ctx, cl, names, spec); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	defer func() {
		_, _ = adm.DeleteTopics(context.Background(), names.Rooms, names.Users, names.Features, names.Typing)
	}()
	checkTopic := func(topic string, parts int, want map[string]string) {
		t.Helper()
		if n, err := Partitions(ctx, cl, topic); err != nil || n != parts {
			t.Fatalf("%s partitions %d, %v; want %d", topic, n, err, parts)
		}
		cfgs, err := adm.DescribeTopicConfigs(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := cfgs.On(topic, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range rc.Configs {
			if w, ok := want[c.Key]; ok {
				if c.MaybeValue() != w {
					t.Fatalf("%s: %s = %s, want %s", topic, c.Key, c.MaybeValue(), w)
				}
				delete(want, c.Key)
			}
		}
		if len(want) > 0 {
			t.Fatalf("%s: configs not found: %v", topic, want)
		}
	}
	checkTopic(names.Rooms, 3, map[string]string{"retention.ms": "-1", "retention.bytes": "-1", "min.insync.replicas": "1", "unclean.leader.election.enable": "false"})
	// The fleet's topic: one compacted partition (internal/fleet).
	checkTopic(names.Features, 1, map[string]string{"cleanup.policy": "compact", "min.insync.replicas": "1"})
	// Typing indicators: one partition, kept a minute.
	checkTopic(names.Typing, 1, map[string]string{"cleanup.policy": "delete", "retention.ms": "60000", "segment.ms": "60000"})

	env := schemas.Envelope{ID: 7267000000000000001, RoomID: 7267000000000000002, UserID: 7267000000000000003, Seq: 1,
		OccurredAt: time.Date(2026, 11, 22, 21, 21, 13, 123e6, time.UTC), CorrelationID: "c-1",
		Payload: schemas.MessageSent{Text: "안녕 🎉", ClientMsgID: "m-1", Nickname: "toracle"}}
	val, err := schemas.Events.Encode(env)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: names.Rooms, Key: schemas.Key(env.RoomID), Value: val}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var got *kgo.Record
	for got == nil {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("no record came back")
		}
		fs.EachRecord(func(r *kgo.Record) { got = r })
	}
	if want := schemas.Partition(env.RoomID, 3); got.Partition != want {
		t.Fatalf("record on partition %d, the key rule says %d", got.Partition, want)
	}
	dec, err := schemas.Events.Decode(got.Value)
	if err != nil {
		t.Fatal(err)
	}
	dec.Type, dec.Version = "", 0
	if dec.ID != env.ID || dec.Seq != env.Seq || !dec.OccurredAt.Equal(env.OccurredAt) || !reflect.DeepEqual(dec.Payload, env.Payload) || dec.CorrelationID != env.CorrelationID {
		t.Fatalf("round trip changed the event:\n got %+v\nwant %+v", dec, env)
	}
}

func TestEmbeddedBrokerPersists(t *testing.T) {
	dir := t.TempDir()
	names := schemas.NamesFor("embedded")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	produce := func() int64 {
		c, err := Embedded(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := EnsureTopics(ctx, cl, names, TopicSpec{RoomPartitions: 1, UserPartitions: 1, Replication: 1, MinISR: 1}); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: names.Rooms, Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		offs, err := kadm.NewClient(cl).ListEndOffsets(ctx, names.Rooms)
		if err != nil {
			t.Fatal(err)
		}
		o, _ := offs.Lookup(names.Rooms, 0)
		return o.Offset
	}
	if first, second := produce(), produce(); first != 1 || second != 2 {
		t.Fatalf("end offsets %d then %d: the embedded log did not survive a restart", first, second)
	}
}
