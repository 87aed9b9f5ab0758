package projector

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/testenv"
	"happychat/schemas"
)

// TestEmbeddedBrokerAndLogIdentity runs the projectors against the
// embedded broker of the dev mode (kfake), with static group membership as
// `happychat projector` configures it. Then the broker is replaced by a
// fresh one (a new log with new topic ids, as when the dev mode's state is
// wiped): the projectors notice on start, truncate the views and rebuild
// them from the new log alone.
func TestEmbeddedBrokerAndLogIdentity(t *testing.T) {
	needServers(t)
	st := newStores(t)
	names := schemas.NamesFor(testenv.RandomName("t"))
	rules := rulesWith(t, "darn")

	run := func(seed uint64, n int) {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		opts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
		cl, err := kgo.NewClient(append(opts, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))...)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		adm := kadm.NewClient(cl)
		for topic, parts := range map[string]int32{names.Rooms: 3, names.Users: 2, names.Features: 1} {
			if _, err := adm.CreateTopic(ctx, parts, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
		}
		g := newGen(names, seed)
		produce(t, cl, g.run(n, churn))

		pg, err := NewPostgres(PostgresConfig{Pool: st.pg, Names: names, Kafka: opts, InstanceID: "embedded-pg", Log: testLog(t)})
		if err != nil {
			t.Fatal(err)
		}
		ch, err := NewClickHouse(ClickHouseConfig{Conn: st.ch, Names: names, Kafka: opts, InstanceID: "embedded-ch",
			Rules: rules, Log: testLog(t)})
		if err != nil {
			t.Fatal(err)
		}
		stopPG := runInBackground(t, pg.Run)
		stopCH := runInBackground(t, ch.Run)
		defer func() { stopPG(); stopCH() }()
		end := map[string]map[int32]int64{}
		listed, err := adm.ListEndOffsets(ctx, names.Rooms, names.Users)
		if err != nil {
			t.Fatal(err)
		}
		listed.Each(func(o kadm.ListedOffset) {
			if end[o.Topic] == nil {
				end[o.Topic] = map[int32]int64{}
			}
			end[o.Topic][o.Partition] = o.Offset
		})
		waitFor(t, 60*time.Second, "the projectors to reach the end of the embedded log", func() (bool, error) {
			ok, err := pgCaughtUp(context.Background(), st.pg, end)
			if !ok || err != nil {
				return ok, err
			}
			return chCaughtUp(context.Background(), st.ch, names.Rooms, end)
		})
		checkFold(t, names, st, g, rules)
	}
	run(1, 1500)
	// Same topic names, another log: the views must hold the second log only.
	run(2, 1000)
}
