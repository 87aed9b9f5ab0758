package main

import (
	"bytes"
	"context"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"happychat/cmd/internal/bench"
)

// TestBenchAgainstDev runs happychat-bench's command line (bench.Main),
// flags included, against happychat dev in-process on the real Kafka,
// PostgreSQL and ClickHouse: a tiny load run and a tiny idle run. The
// server and the generator share this process, so the memory numbers are
// only checked to be there.
func TestBenchAgainstDev(t *testing.T) {
	sys := startDev(t)
	dir := t.TempDir()

	runBenchArgs := func(t *testing.T, args ...string) *bench.Result {
		t.Helper()
		out := filepath.Join(t.TempDir(), "result.json")
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		var stderr bytes.Buffer
		// The dev server's internal listener is on an ephemeral port, not the
		// default one -metrics would guess.
		args = append([]string{"-url", sys.base, "-metrics", internalBase(sys.base), "-admin-token", e2eAdmin, "-out", out}, args...)
		if err := bench.Main(ctx, args, func(string) string { return "" }, io.Discard, &stderr); err != nil {
			t.Fatalf("bench: %v\n%s", err, stderr.String())
		}
		t.Logf("%s", stderr.String())
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var res bench.Result
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		return &res
	}

	t.Run("load", func(t *testing.T) {
		pngPath := filepath.Join(dir, "latency.png")
		res := runBenchArgs(t, "-rooms", "2", "-members", "3", "-rate", "20", "-duration", "3s", "-drain", "10s", "-png", pngPath)
		if res.Mode != bench.ModeLoad || res.LoadResult == nil || res.IdleResult != nil {
			t.Fatalf("result of mode %q: load %v idle %v", res.Mode, res.LoadResult != nil, res.IdleResult != nil)
		}
		if res.Acks == 0 || res.Lost != 0 || res.MissedAfterClose != 0 || res.Duplicated != 0 || res.OutOfOrder != 0 || len(res.SendErrors) != 0 || len(res.Closes) != 0 {
			t.Fatalf("acks %d lost %d missed after close %d duplicated %d out of order %d errors %v closes %v",
				res.Acks, res.Lost, res.MissedAfterClose, res.Duplicated, res.OutOfOrder, res.SendErrors, res.Closes)
		}
		if res.Deliveries != res.Acks*3 {
			t.Errorf("deliveries %d, want acks × members = %d", res.Deliveries, res.Acks*3)
		}
		if len(res.Servers) != 1 || res.Servers[0].Samples < 2 || res.Servers[0].RSSMaxMiB <= 0 || res.Servers[0].CPUSeconds <= 0 {
			t.Errorf("server stats: %+v", res.Servers)
		}
		f, err := os.Open(pngPath)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := png.Decode(f); err != nil {
			t.Fatalf("latency histogram: %v", err)
		}
	})

	t.Run("idle", func(t *testing.T) {
		res := runBenchArgs(t, "-mode", "idle", "-conns", "60", "-hold", "2s", "-settle-wait", "4s")
		if res.Mode != bench.ModeIdle || res.IdleResult == nil || res.LoadResult != nil {
			t.Fatalf("result of mode %q: load %v idle %v", res.Mode, res.LoadResult != nil, res.IdleResult != nil)
		}
		if res.ConnsRequested != 60 || res.ConnsTarget != 60 || res.ConnsOpen != 60 || res.DialErrors != 0 || res.ConnsDropped != 0 {
			t.Fatalf("requested %d target %d open %d dial errors %d %v dropped %d",
				res.ConnsRequested, res.ConnsTarget, res.ConnsOpen, res.DialErrors, res.DialErrorKinds, res.ConnsDropped)
		}
		if res.Rooms != 3 || res.Members != 20 || res.SourceIPs != 8 {
			t.Errorf("rooms %d × %d members from %d source IPs, want 3 × 20 from 8", res.Rooms, res.Members, res.SourceIPs)
		}
		if res.RSSBeforeMiB <= 0 || res.RSSAfterMiB <= 0 || res.RSSServer != sys.base || res.HoldSec < 2 {
			t.Errorf("rss before %v after %v of %q, hold %v s", res.RSSBeforeMiB, res.RSSAfterMiB, res.RSSServer, res.HoldSec)
		}
		if len(res.Servers) != 1 || res.Servers[0].Samples < 2 {
			t.Errorf("server stats: %+v", res.Servers)
		}
	})
}
