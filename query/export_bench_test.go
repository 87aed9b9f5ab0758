package query

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"happychat/internal/testenv"
	"happychat/schemas/token"
)

// BenchmarkExportBigRoom streams the big room of the querybench data set
// (go run ./query/querybench generates it) through the HTTP handler. It
// skips when the data set is absent.
func BenchmarkExportBigRoom(b *testing.B) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(testenv.PGURL())
	if err != nil {
		b.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = "bench_query"
	pg, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Skip(err)
	}
	defer pg.Close()
	ch, err := clickhouse.Open(&clickhouse.Options{Addr: []string{testenv.ClickHouseAddr()}, Auth: clickhouse.Auth{Database: "bench_query"}})
	if err != nil {
		b.Skip(err)
	}
	defer ch.Close()
	var room uint64
	if err := ch.QueryRow(ctx, "SELECT room_id FROM messages GROUP BY room_id ORDER BY count() DESC LIMIT 1").Scan(&room); err != nil {
		b.Skipf("no querybench data: %v", err)
	}
	keys, _ := token.New(testSecret, time.Hour)
	svc, err := New(Config{PG: pg, CH: ch, Keys: keys, Capacity: 20, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(testEngine(svc))
	defer srv.Close()
	b.ResetTimer()
	for range b.N {
		resp, err := http.Get(srv.URL + "/v1/rooms/" + strconv.FormatUint(room, 10) + "/messages/export")
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		b.SetBytes(n)
	}
	b.ReportMetric(testutil.ToFloat64(svc.metrics.exported)/b.Elapsed().Seconds(), "msgs/s")
}
