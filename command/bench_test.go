package command

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"happychat/schemas"
)

// BenchmarkSends measures acknowledged sends through the HTTP API against the
// real Kafka: saturation throughput with many concurrent clients, and send
// latency under an open-loop offered rate. Run with:
//
//	go test -run '^$' -bench Sends -benchtime 1x ./command
//
// BENCH_INSTANCES (1 or 2), BENCH_ROOMS (1000), BENCH_SECONDS (10),
// BENCH_RATE (5000, open loop), BENCH_CLIENTS (256, saturation).
func BenchmarkSends(b *testing.B) {
	env := func(k string, def int) int {
		if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
			return v
		}
		return def
	}
	instances, rooms, seconds := env("BENCH_INSTANCES", 1), env("BENCH_ROOMS", 1000), env("BENCH_SECONDS", 10)
	rate, clients := env("BENCH_RATE", 5000), env("BENCH_CLIENTS", 256)

	c := newCluster(b, env("BENCH_PARTITIONS", 12))
	var ins []*instance
	for i := range instances {
		ins = append(ins, c.start(i, 20))
	}
	c.waitOwned(ins...)
	ctx := context.Background()
	type seat struct {
		room  schemas.ID
		token string
		addr  string
	}
	seats := make([]seat, rooms)
	for i := range rooms {
		in := ins[i%len(ins)]
		room := c.openRoom(in, fmt.Sprint("bench ", i))
		user := schemas.ID(10_000_000 + i)
		if _, err := retry(c.t, func() (schemas.JoinResult, error) {
			return in.svc.Join(ctx, testCaller(user, "b"), room)
		}); err != nil {
			b.Fatal(err)
		}
		tok, _, err := c.keys.Issue(user, "b")
		if err != nil {
			b.Fatal(err)
		}
		seats[i] = seat{room, tok, in.addr}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024, MaxConnsPerHost: 1024}}
	var seqNo atomic.Int64
	send := func(s seat) (time.Duration, error) {
		n := seqNo.Add(1)
		body := fmt.Sprintf(`{"body":"hello %d","client_msg_id":"b-%d"}`, n, n)
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.addr+"/v1/rooms/"+s.room.String()+"/messages", bytes.NewBufferString(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+s.token)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		// Drain the body so the connection is reused.
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return 0, fmt.Errorf("status %d", resp.StatusCode)
		}
		return time.Since(start), nil
	}

	// Saturation: closed loop, many clients.
	var ok, failed atomic.Int64
	deadline := time.Now().Add(time.Duration(seconds) * time.Second)
	var wg sync.WaitGroup
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; time.Now().Before(deadline); i += clients {
				if _, err := send(seats[i%len(seats)]); err != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(ok.Load())/float64(seconds), "acked_sends/s")
	b.ReportMetric(float64(failed.Load()), "failed")

	// Latency at an offered rate, open loop: requests start on schedule
	// whether or not earlier ones finished.
	var (
		mu   sync.Mutex
		lats []time.Duration
		errs atomic.Int64
	)
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	total := rate * seconds
	var wg2 sync.WaitGroup
	for i := range total {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			_, err := send(seats[i%len(seats)])
			if err != nil {
				errs.Add(1)
				return
			}
			// Count from the scheduled start, so a lagging server is not
			// flattered by late starts.
			d := time.Since(at)
			mu.Lock()
			lats = append(lats, d)
			mu.Unlock()
		}()
	}
	wg2.Wait()
	slices.Sort(lats)
	q := func(p float64) float64 {
		if len(lats) == 0 {
			return 0
		}
		return float64(lats[int(p*float64(len(lats)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "p50_ms@rate")
	b.ReportMetric(q(0.99), "p99_ms@rate")
	b.ReportMetric(float64(errs.Load()), "errors@rate")
	var events, batches float64
	for _, in := range ins {
		m := &dto.Metric{}
		if err := in.svc.metrics.batchEvents.Write(m); err == nil {
			events += m.GetHistogram().GetSampleSum()
			batches += float64(m.GetHistogram().GetSampleCount())
		}
	}
	if batches > 0 {
		b.ReportMetric(events/batches, "events/txn")
	}
}
