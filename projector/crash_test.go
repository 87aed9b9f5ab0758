package projector

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"happychat/internal/testenv"
	"happychat/schemas"
)

// TestCrashHelper is not a test: TestCrashRecovery runs the test binary
// again with PROJECTOR_CRASH_HELPER set, and this function then runs both
// projectors, as `happychat projector` does, until it is killed.
func TestCrashHelper(t *testing.T) {
	if os.Getenv("PROJECTOR_CRASH_HELPER") == "" {
		t.Skip("helper process of TestCrashRecovery")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	names := schemas.NamesFor(os.Getenv("PROJECTOR_CRASH_PREFIX"))
	st := stores{ch: openCH(t, testenv.ClickHouseAddr(), os.Getenv("PROJECTOR_CRASH_CHDB"))}
	pool, err := pgxpool.New(ctx, os.Getenv("PROJECTOR_CRASH_PGURL"))
	if err != nil {
		t.Fatal(err)
	}
	st.pg = pool
	if err := Migrate(ctx, st.pg, st.ch, nil); err != nil {
		t.Fatal(err)
	}
	pg, err := NewPostgres(PostgresConfig{Pool: st.pg, Names: names, Kafka: kafkaOpts(), InstanceID: "crash-pg", Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := NewClickHouse(ClickHouseConfig{Conn: st.ch, Names: names, Kafka: kafkaOpts(), InstanceID: "crash-ch",
		Rules: rulesWith(t, "darn"), Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 2)
	go func() { _ = pg.Run(ctx); done <- struct{}{} }()
	go func() { _ = ch.Run(ctx); done <- struct{}{} }()
	<-done
	<-done
}

// TestCrashRecovery kills the projectors (SIGKILL) at random points while a
// load is appended, restarting them each time. At the end ClickHouse holds
// exactly the acknowledged messages, the PostgreSQL views equal the fold of
// the log (so every counter is exact), and the stored positions equal the
// end of every partition. PROJECTOR_CRASH_EVENTS sets the load (default
// 50000, the size; CI may use less).
func TestCrashRecovery(t *testing.T) {
	needServers(t)
	n := 50000
	if v, err := strconv.Atoi(os.Getenv("PROJECTOR_CRASH_EVENTS")); err == nil && v > 0 {
		n = v
	}
	names := newTopics(t, 6, 2)
	st := newStores(t)
	prefix := names.Rooms[:len(names.Rooms)-len(".rooms.v1")]
	g := newGen(names, uint64(time.Now().UnixNano()))
	g.poison = 0.002
	recs := g.run(n, chatty)
	prod := newProducer(t)

	// The load: appended in chunks over several seconds, while the
	// projectors are killed and restarted.
	var produced atomic.Bool
	go func() {
		defer produced.Store(true)
		chunk := max(200, n/40)
		for start := 0; start < len(recs); start += chunk {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			err := prod.ProduceSync(ctx, recs[start:min(start+chunk, len(recs))]...).FirstErr()
			cancel()
			if err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			time.Sleep(150 * time.Millisecond)
		}
	}()

	helper := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(),
			"PROJECTOR_CRASH_HELPER=1",
			"PROJECTOR_CRASH_PREFIX="+prefix,
			"PROJECTOR_CRASH_PGURL="+st.pgURL,
			"PROJECTOR_CRASH_CHDB="+st.chDB,
		)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if os.Getenv("PROJECTOR_TEST_LOG") == "" {
			cmd.Stdout, cmd.Stderr = nil, nil
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	kills := 0
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	deadline := time.Now().Add(90 * time.Second)
	for !produced.Load() || kills < 12 {
		if time.Now().After(deadline) {
			t.Fatal("the load did not finish in time")
		}
		cmd := helper()
		time.Sleep(time.Duration(300+rng.IntN(1500)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		kills++
	}
	if t.Failed() {
		t.FailNow()
	}
	last := helper()
	defer func() {
		_ = last.Process.Signal(syscall.SIGTERM)
		_ = last.Wait()
	}()
	waitCaughtUp(t, names, st, 90*time.Second)
	t.Logf("%d records appended, projectors killed %d times", len(recs), kills)

	ctx := context.Background()
	// ClickHouse: exactly the acknowledged messages (every produced record
	// was acknowledged: ProduceSync failed the test otherwise).
	acked := map[int64]bool{}
	for _, r := range g.recs {
		if r.Topic != names.Rooms {
			continue
		}
		env, err := schemas.Events.Decode(r.Value)
		if err != nil {
			continue
		}
		if _, ok := env.Payload.(schemas.MessageSent); ok {
			acked[int64(env.ID)] = true
		}
	}
	var final, distinct, raw uint64
	if err := st.ch.QueryRow(ctx, "SELECT count(), uniqExact(id) FROM messages FINAL").Scan(&final, &distinct); err != nil {
		t.Fatal(err)
	}
	if err := st.ch.QueryRow(ctx, "SELECT count() FROM messages").Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if int(final) != len(acked) || int(distinct) != len(acked) {
		t.Errorf("ClickHouse holds %d messages (%d distinct ids), %d were acknowledged", final, distinct, len(acked))
	}
	t.Logf("ClickHouse: %d messages, %d rows before collapsing duplicates", final, raw)
	// PostgreSQL: the views equal the fold of the log, counters included.
	checkFold(t, names, st, g, rulesWith(t, "darn"))
	// Positions: exactly the end of every partition (no transactions in this
	// load, so no markers at the end).
	end := endOffsets(t, names.Rooms, names.Users)
	if ok, err := pgCaughtUp(ctx, st.pg, end); err != nil || !ok {
		t.Errorf("PostgreSQL positions differ from the end offsets %v (err %v)", end, err)
	}
	got, err := chPositions(ctx, st.ch)
	if err != nil {
		t.Fatal(err)
	}
	for p, e := range end[names.Rooms] {
		if got[p] != e {
			t.Errorf("ClickHouse position of partition %d: %d, end %d", p, got[p], e)
		}
	}
}
