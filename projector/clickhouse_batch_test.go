package projector

import (
	"context"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"happychat/internal/testenv"
)

// A caller that cancels its context right after an insert (a deferred
// cancel) must not break the pooled connection the insert gave back: with
// clickhouse-go's batch watchdog racing that cancel, the next query on the
// connection failed with "use of closed network connection"
// (batchContext). One connection in the pool, so every query reuses it.
func TestInsertThenCancelKeepsTheConnection(t *testing.T) {
	needServers(t)
	_, db := newCH(t)
	opts := chOptions(testenv.ClickHouseAddr(), db)
	opts.MaxOpenConns, opts.MaxIdleConns = 1, 1
	conn, err := clickhouse.Open(&opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.Exec(t.Context(), "CREATE TABLE kv (k UInt64) ENGINE = Memory"); err != nil {
		t.Fatal(err)
	}
	const rounds = 300
	for i := range rounds {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err := chInsertRow(ctx, conn, "INSERT INTO kv (k)", uint64(i))
		cancel()
		if err != nil {
			t.Fatalf("insert %d: %v", i, err)
		}
		var n uint64
		if err := conn.QueryRow(t.Context(), "SELECT count() FROM kv").Scan(&n); err != nil {
			t.Fatalf("query after insert %d and its caller's cancel: %v", i, err)
		}
		if n != uint64(i+1) {
			t.Fatalf("after insert %d: %d rows", i, n)
		}
	}
}
