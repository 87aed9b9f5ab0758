package bench

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// pending is one scheduled send. Readers find it through recorder.sends
// and count its deliveries atomically; acked is set under recorder.mu.
type pending struct {
	at        time.Time
	room      int
	acked     bool
	delivered atomic.Int32
}

// recorder holds the shared tallies. sends (client_msg_id → *pending) is
// a sync.Map: written once per send by the scheduler, read on every
// delivery by every socket's reader.
type recorder struct {
	sends   sync.Map
	mu      sync.Mutex // guards res, ackLats and pending.acked
	res     *Result
	ackLats []float64
}

func (r *recorder) errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.res.Errors) < 20 {
		r.res.Errors = append(r.res.Errors, fmt.Sprintf(format, args...))
	}
}

// runLoad is the load mode.
func runLoad(ctx context.Context, cfg Config, api *apiClient, wsBase string, watch *serverWatch) (*Result, error) {
	sockets := cfg.Rooms * cfg.Members
	fdLimit, err := raiseFDLimit()
	if err != nil {
		return nil, err
	}
	if clampConns(sockets, fdLimit, fdMargin) < sockets {
		return nil, fmt.Errorf("%d sockets need more file descriptors than RLIMIT_NOFILE (%d) allows with %d kept free: fewer rooms or members, or -mode idle to measure connections",
			sockets, fdLimit, fdMargin)
	}
	if err := checkSources(ctx, cfg.SourceIPs, wsBase); err != nil {
		return nil, err
	}
	if err := checkWritable(cfg.PNG); err != nil {
		return nil, fmt.Errorf("latency histogram: %w", err)
	}

	res := &Result{Mode: ModeLoad, Rooms: cfg.Rooms, Members: cfg.Members, Closes: map[string]int64{}, Errors: []string{},
		LoadResult: &LoadResult{TargetRate: cfg.Rate, DurationSec: cfg.Duration.Seconds(), BodyBytes: cfg.BodyBytes, SendErrors: map[string]int64{}}}
	rec := &recorder{res: res}

	cfg.Log.Info("bench: setting up", "rooms", cfg.Rooms, "members", cfg.Members)
	sizes := make([]int, cfg.Rooms)
	for r := range sizes {
		sizes[r] = cfg.Members
	}
	members, err := setup(ctx, api, cfg, sizes, cfg.SetupWorkers)
	if err != nil {
		return nil, err
	}
	body := strings.Repeat("x", cfg.BodyBytes)
	for _, m := range members {
		m.body, m.out, m.seen = body, make(chan sendReq, 64), map[string]bool{}
	}
	dialer := newDialer(cfg.SourceIPs, cfg.HandshakeTimeout, 0)
	var readers sync.WaitGroup
	// A load run needs every socket: the first failure ends it.
	if _, err := dialAll(ctx, dialer, wsBase, members, dialOpts{concurrency: cfg.DialConcurrency}); err != nil {
		closeSockets(members, &readers, time.Second)
		return nil, fmt.Errorf("open sockets: %w", err)
	}
	cfg.Log.Info("bench: sockets open", "sockets", len(members))

	var writers sync.WaitGroup
	for _, m := range members {
		readers.Go(func() { m.read(rec) })
		writers.Go(func() { m.write(rec) })
	}

	endWatch, err := watch.window(ctx)
	if err != nil {
		cfg.Log.Warn("bench: cannot read the servers' /metrics; CPU and memory will be missing", "err", err)
	}
	start := time.Now()
	end := start.Add(cfg.Duration)
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	var scheduled int64
	func() {
		for i := int64(0); ; i++ {
			at := start.Add(time.Duration(i) * interval)
			if !at.Before(end) {
				return
			}
			if d := time.Until(at); d > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(d):
				}
			}
			m := members[i%int64(len(members))]
			id := uuid.NewString()
			rec.sends.Store(id, &pending{at: at, room: m.room})
			scheduled++
			select {
			case m.out <- sendReq{id: id, at: at}:
			default:
				rec.sends.Delete(id)
				rec.mu.Lock()
				res.SendsSkipped++
				rec.mu.Unlock()
			}
		}
	}()
	sendEnd := time.Now()
	res.SendsScheduled = scheduled

	// Drain: until every acked send reached its room, or nothing arrived for
	// a while, or the drain time is up.
	drainEnd := time.Now().Add(cfg.Drain)
	for time.Now().Before(drainEnd) && ctx.Err() == nil {
		missing := 0
		rec.mu.Lock()
		rec.sends.Range(func(_, v any) bool {
			if p := v.(*pending); !p.acked || int(p.delivered.Load()) < cfg.Members {
				missing++
			}
			return true
		})
		rec.mu.Unlock()
		if missing == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	res.Servers = endWatch()
	for _, m := range members {
		close(m.out)
	}
	writers.Wait()
	closeSockets(members, &readers, 5*time.Second)
	readers.Wait()

	rec.mu.Lock()
	defer rec.mu.Unlock()
	elapsed := sendEnd.Sub(start).Seconds()
	lastDeliv := sendEnd
	var latencies []float64
	for _, m := range members {
		res.Deliveries += m.deliveries
		res.Duplicated += m.duplicated
		res.OutOfOrder += m.outOfOrder
		latencies = append(latencies, m.latencies...)
		if m.lastDeliv.After(lastDeliv) {
			lastDeliv = m.lastDeliv
		}
	}
	res.SendsPerSec = round(float64(res.SendsWritten) / elapsed)
	res.DeliveriesPerSec = round(float64(res.Deliveries) / lastDeliv.Sub(start).Seconds())
	byRoom := make([][]*member, cfg.Rooms)
	for _, m := range members {
		byRoom[m.room] = append(byRoom[m.room], m)
	}
	rec.sends.Range(func(k, v any) bool {
		p, id := v.(*pending), k.(string)
		if !p.acked {
			return true
		}
		res.Expected += int64(cfg.Members)
		if int(p.delivered.Load()) == cfg.Members {
			return true
		}
		for _, m := range byRoom[p.room] {
			switch {
			case m.seen[id]:
			case m.closed:
				res.MissedAfterClose++
			default:
				res.Lost++
			}
		}
		return true
	})
	res.Latency = percentiles(latencies)
	res.AckLatency = percentiles(rec.ackLats)
	if cfg.PNG != "" {
		if err := writeLatencyPNG(cfg.PNG, latencies, res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// checkWritable fails if path (when set) cannot be written, so that a run
// fails before its load rather than after it. It leaves no file behind.
func checkWritable(path string) error {
	if path == "" {
		return nil
	}
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	f.Close()
	if errors.Is(statErr, fs.ErrNotExist) {
		return os.Remove(path)
	}
	return nil
}
