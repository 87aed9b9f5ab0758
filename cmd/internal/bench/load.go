package bench

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// loadRun is what a load run's goroutines share: the ledger (atomics), the
// run's tag, and the result's rare tallies (errors, closes, error frames)
// under mu.
type loadRun struct {
	led  *ledger
	tag  runTag
	body string
	// windowEnd is when the last slot was issued (Unix ns); deliveries read
	// up to then count toward deliveries/s.
	windowEnd atomic.Int64
	mu        sync.Mutex // guards res's maps and Errors
	res       *Result
}

func (r *loadRun) errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.res.Errors) < 20 {
		r.res.Errors = append(r.res.Errors, fmt.Sprintf(format, args...))
	}
}

// sendFrame appends slot k's send frame. The body and the id need no JSON
// escaping (x's, hex and dashes); the body ends with k so that no two
// bodies are the same.
func (r *loadRun) sendFrame(b []byte, k int64) []byte {
	b = append(b, `{"type":"send","body":"`...)
	b = append(b, r.body...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, k, 16)
	b = append(b, `","client_msg_id":"`...)
	b = r.tag.appendID(b, k)
	return append(b, `"}`...)
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
	pick, err := newPicker(cfg.Shape, cfg.Rooms, cfg.Members, cfg.Seed)
	if err != nil {
		return nil, err
	}
	tag, err := newRunTag()
	if err != nil {
		return nil, err
	}

	res := &Result{Mode: ModeLoad, Rooms: cfg.Rooms, Members: cfg.Members, Closes: map[string]int64{}, Errors: []string{},
		LoadResult: &LoadResult{TargetRate: cfg.Rate, DurationSec: cfg.Duration.Seconds(), BodyBytes: cfg.BodyBytes,
			Shape: cfg.Shape, Seed: cfg.Seed, SendErrors: map[string]int64{}}}

	cfg.Log.Info("bench: setting up", "rooms", cfg.Rooms, "members", cfg.Members)
	sizes := make([]int, cfg.Rooms)
	for r := range sizes {
		sizes[r] = cfg.Members
	}
	members, err := setup(ctx, api, cfg, sizes, cfg.SetupWorkers)
	if err != nil {
		return nil, err
	}
	byRoom := make([][]*member, cfg.Rooms)
	for _, m := range members {
		m.slot = len(byRoom[m.room])
		byRoom[m.room] = append(byRoom[m.room], m)
		m.out = make(chan int64, 64)
	}
	dialer := newDialer(cfg.SourceIPs, cfg.HandshakeTimeout, 0)
	var readers sync.WaitGroup
	// A load run needs every socket: the first failure ends it.
	if _, err := dialAll(ctx, dialer, wsBase, members, dialOpts{concurrency: cfg.DialConcurrency}); err != nil {
		closeSockets(members, &readers, time.Second)
		return nil, fmt.Errorf("open sockets: %w", err)
	}
	cfg.Log.Info("bench: sockets open", "sockets", len(members), "shape", cfg.Shape, "seed", cfg.Seed)

	// The slots start a little ahead, so that the readers and writers are
	// running when the first one is due.
	sched := newSchedule(time.Now().Add(10*time.Millisecond), cfg.Rate, cfg.Duration)
	run := &loadRun{led: newLedger(sched, cfg.Members), tag: tag, body: strings.Repeat("x", cfg.BodyBytes), res: res}
	run.windowEnd.Store(math.MaxInt64)
	L := run.led
	var writers sync.WaitGroup
	for _, m := range members {
		readers.Go(func() { m.read(run) })
		writers.Go(func() { m.write(run) })
	}

	endWatch, err := watch.window(ctx)
	if err != nil {
		cfg.Log.Warn("bench: cannot read the servers' /metrics; CPU and memory will be missing", "err", err)
	}
	cpu0 := selfCPU()
	// Open loop on absolute deadlines: whatever is due is issued at once,
	// then the scheduler sleeps until the next slot.
	var k int64
	for k < sched.total && ctx.Err() == nil {
		for due := sched.due(time.Now()); k < due; k++ {
			room, slot := pick.pick(k)
			L.room[k], L.slot[k] = int32(room), int32(slot)
			L.state[k].Store(stQueued)
			// Published before the send, so that no answer to k can reach a
			// reader that still thinks k is in the future.
			L.scheduled.Store(k + 1)
			select {
			case byRoom[room][slot].out <- k:
			default:
				L.state[k].Store(stSkipped)
			}
		}
		if k < sched.total {
			// At most 100 ms at a time, to notice a cancellation.
			sleepPrecise(min(time.Until(sched.slot(k)), 100*time.Millisecond))
		}
	}
	sendEnd := time.Now()
	run.windowEnd.Store(sendEnd.UnixNano())
	res.SendsScheduled = k

	// Drain: until every send is answered and every acked one reached its
	// whole room, or the drain time is up. Below low every send is settled.
	drainEnd := time.Now().Add(cfg.Drain)
	var low int64
	for time.Now().Before(drainEnd) && ctx.Err() == nil {
		for ; low < k; low++ {
			st := L.state[low].Load()
			if st == stQueued || st == stWritten || (st == stAcked && L.received(low) < cfg.Members) {
				break
			}
		}
		if low == k {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	drained := time.Now()
	cpu := selfCPU() - cpu0
	res.Servers = endWatch()
	for _, m := range members {
		close(m.out)
	}
	writers.Wait()
	closeSockets(members, &readers, 5*time.Second)
	readers.Wait()

	var t readTally
	var lags []float64
	for _, m := range members {
		res.SendsWritten += m.written
		lags = append(lags, m.lag...)
		mt := &m.tally
		t.total = append(t.total, mt.total...)
		t.fromWrite = append(t.fromWrite, mt.fromWrite...)
		t.toSentAt = append(t.toSentAt, mt.toSentAt...)
		t.fromSentAt = append(t.fromSentAt, mt.fromSentAt...)
		t.ackLats = append(t.ackLats, mt.ackLats...)
		res.Deliveries += mt.deliveries
		res.DeliveriesInWindow += mt.inWindow
		res.Duplicated += mt.duplicated
		res.OutOfOrder += mt.outOfOrder
		res.Acks += mt.acks
	}
	for i := range k {
		switch L.state[i].Load() {
		case stSkipped:
			res.SendsSkipped++
		case stAcked:
			res.Expected += int64(cfg.Members)
			if L.received(i) == cfg.Members {
				continue
			}
			for _, m := range byRoom[L.room[i]] {
				switch {
				case L.has(i, m.slot):
				case m.closed:
					res.MissedAfterClose++
				default:
					res.Lost++
				}
			}
		}
	}
	window := sendEnd.Sub(sched.start).Seconds()
	res.WindowSec = round(window)
	res.SendsPerSec = round(float64(res.SendsWritten) / window)
	res.DeliveriesPerSec = round(float64(res.DeliveriesInWindow) / window)
	res.GeneratorCPUSec = round(cpu)
	res.GeneratorCPUCores = round(cpu / drained.Sub(sched.start).Seconds())
	res.Latency = percentiles(t.total)
	res.IssueLag = percentiles(lags)
	res.FromWrite = percentiles(t.fromWrite)
	res.WriteToSentAt = percentiles(t.toSentAt)
	res.SentAtToDeliver = percentiles(t.fromSentAt)
	res.AckLatency = percentiles(t.ackLats)
	if d, ok := readDelay(res.LoadResult, res.Servers); ok {
		res.ReadDelayMean = &d
	}
	res.GeneratorBound = generatorBound(res.LoadResult)
	if cfg.PNG != "" {
		if err := writeLatencyPNG(cfg.PNG, t.total, res); err != nil {
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
