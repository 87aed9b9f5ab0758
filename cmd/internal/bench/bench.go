package bench

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"happychat/schemas"
)

// Modes of a run.
const (
	// ModeLoad has members send at an open-loop rate and measures the
	// deliveries.
	ModeLoad = "load"
	// ModeIdle opens many sockets that send nothing and measures the
	// server's memory per open socket.
	ModeIdle = "idle"
)

// Config is one benchmark run.
type Config struct {
	// Mode is ModeLoad (the default) or ModeIdle.
	Mode string
	// BaseURL is the HTTP API (http://host:port): the all-in-one server, or
	// the command service when split. WSURL is the realtime service
	// (ws://host:port); empty derives it from BaseURL.
	BaseURL    string
	WSURL      string
	AdminToken string
	// MetricsURLs are the base URLs of the servers whose /metrics are
	// scraped for CPU and memory; empty means BaseURL, plus WSURL's server
	// when it is another one.
	MetricsURLs []string
	// Rooms × Members sockets; Members is at most the room capacity. In
	// idle mode Members is the room size (default 20) and Rooms follows
	// from Conns.
	Rooms   int
	Members int
	// Rate is the total sends per second over all members (open loop),
	// spread round-robin over every member of every room.
	Rate     float64
	Duration time.Duration
	// Drain is the longest wait for the last deliveries after the last send.
	Drain     time.Duration
	BodyBytes int
	// PNG, if set, is where a load run draws its latency histogram.
	PNG string
	// Conns is the number of idle sockets (idle mode; default 20,000, or
	// Rooms × Members when Rooms is set); fewer when RLIMIT_NOFILE does not
	// allow as many.
	Conns int
	// Hold is how long idle sockets are kept open (default 60 s).
	Hold time.Duration
	// SettleWait is the longest wait for the server's memory to settle
	// before and after the idle sockets (default 20 s).
	SettleWait time.Duration
	// SourceIPs are the local addresses sockets are dialed from, in turn;
	// none lets the system choose.
	SourceIPs []netip.Addr
	// DialConcurrency bounds the socket dials in flight (default 64);
	// SetupWorkers the API calls during setup (default 32).
	DialConcurrency int
	SetupWorkers    int
	// HandshakeTimeout bounds one socket's dial, upgrade and presence frame
	// (default 15 s).
	HandshakeTimeout time.Duration
	Log              *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Mode == "" {
		c.Mode = ModeLoad
	}
	if c.Mode == ModeIdle {
		if c.Members <= 0 {
			c.Members = 20
		}
		if c.Conns <= 0 {
			c.Conns = 20000
			if c.Rooms > 0 {
				c.Conns = c.Rooms * c.Members
			}
		}
		if c.Hold <= 0 {
			c.Hold = 60 * time.Second
		}
		if c.SettleWait <= 0 {
			c.SettleWait = 20 * time.Second
		}
	}
	if c.Rooms <= 0 {
		c.Rooms = 5
	}
	if c.Members <= 0 {
		c.Members = 10
	}
	if c.Rate <= 0 {
		c.Rate = 50
	}
	if c.Duration <= 0 {
		c.Duration = 30 * time.Second
	}
	if c.Drain <= 0 {
		c.Drain = 10 * time.Second
	}
	if c.BodyBytes <= 0 {
		c.BodyBytes = 64
	}
	if c.DialConcurrency <= 0 {
		c.DialConcurrency = 64
	}
	if c.SetupWorkers <= 0 {
		c.SetupWorkers = 32
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 15 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Percentiles of a latency distribution, in milliseconds.
type Percentiles struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// Result is the JSON report of a run. The fields of the other mode are left
// out: LoadResult and IdleResult are inlined pointers, nil in the other
// mode, so each mode's report stays flat.
type Result struct {
	Mode        string `json:"mode"`
	Rooms       int    `json:"rooms"`
	Members     int    `json:"members_per_room"`
	*LoadResult `json:",inline"`
	*IdleResult `json:",inline"`
	// Servers is each scraped server's CPU and memory: over the load (the
	// first send to the end of the drain), or over the idle hold.
	Servers []ServerStats    `json:"servers"`
	Closes  map[string]int64 `json:"unexpected_closes"`
	Errors  []string         `json:"errors"`
}

// LoadResult is the load mode's part of the report.
type LoadResult struct {
	TargetRate  float64 `json:"target_sends_per_sec"`
	DurationSec float64 `json:"duration_sec"`
	BodyBytes   int     `json:"body_bytes"`

	SendsScheduled int64 `json:"sends_scheduled"`
	// SendsSkipped were scheduled while the member's socket still had 64
	// sends waiting to be written (the server was not reading).
	SendsSkipped     int64            `json:"sends_skipped"`
	SendsWritten     int64            `json:"sends_written"`
	Acks             int64            `json:"acks"`
	SendErrors       map[string]int64 `json:"send_errors"`
	SendsPerSec      float64          `json:"sends_per_sec"`
	Deliveries       int64            `json:"deliveries"`
	DeliveriesPerSec float64          `json:"deliveries_per_sec"`
	// Expected is acks × members: every acknowledged message must reach
	// every socket of its room. Lost is what did not within the drain, on
	// sockets that stayed open; MissedAfterClose is what sockets the server
	// closed (say, 4008 when the generator reads too slowly) did not get: a
	// real client resumes with since_seq and gets those.
	Expected         int64       `json:"expected_deliveries"`
	Lost             int64       `json:"lost"`
	MissedAfterClose int64       `json:"missed_after_close"`
	Duplicated       int64       `json:"duplicated"`
	OutOfOrder       int64       `json:"out_of_order"`
	Latency          Percentiles `json:"send_to_deliver_ms"`
	AckLatency       Percentiles `json:"send_to_ack_ms"`
}

// member is one benchmark user with its socket.
type member struct {
	room   int
	roomID schemas.ID
	id     schemas.ID
	token  string
	ws     *websocket.Conn
	// body, out, lastSeq and seen are the load mode's (nil in idle mode,
	// where 20,000 send queues would cost this process ~50 MiB for
	// nothing); lastSeq and seen are touched by the socket's reader only.
	body    string
	out     chan sendReq
	lastSeq int64
	seen    map[string]bool
	// The reader's own tallies, merged after the run: a delivery touches
	// nothing shared but its send's atomic counter, so that the generator
	// spends its CPU on reading frames rather than on one contended lock.
	latencies  []float64
	deliveries int64
	duplicated int64
	outOfOrder int64
	lastDeliv  time.Time
	closed     bool // the server closed the socket during the run
}

type sendReq struct {
	id string
	at time.Time
}

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

// Run runs one benchmark: in load mode it sets up the rooms and sockets,
// runs the load for cfg.Duration, drains and reports; in idle mode see
// runIdle. On a failure after the sockets opened it may return a partial
// result along with the error.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.setDefaults()
	base := strings.TrimSuffix(cfg.BaseURL, "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("base URL %q must be http(s)://host:port", cfg.BaseURL)
	}
	wsBase := strings.TrimSuffix(cfg.WSURL, "/")
	if wsBase == "" {
		wsBase = "ws" + strings.TrimPrefix(base, "http")
	}
	if u, err := url.Parse(wsBase); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, fmt.Errorf("realtime URL %q must be ws(s)://host:port", cfg.WSURL)
	}
	targets := slices.Clone(cfg.MetricsURLs)
	if len(targets) == 0 {
		targets = metricsTargets(base, wsBase)
	}
	for i, t := range targets {
		targets[i] = strings.TrimSuffix(t, "/")
	}
	api := &apiClient{base: base, http: httpClient(cfg.SetupWorkers)}
	watch := newServerWatch(targets)
	switch cfg.Mode {
	case ModeLoad:
		return runLoad(ctx, cfg, api, wsBase, watch)
	case ModeIdle:
		return runIdle(ctx, cfg, api, wsBase, watch)
	}
	return nil, fmt.Errorf("unknown mode %q (load or idle)", cfg.Mode)
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

// write sends the member's scheduled sends over its socket.
func (m *member) write(rec *recorder) {
	for req := range m.out {
		b, err := json.Marshal(map[string]string{"type": "send", "body": m.body + " " + req.id[:8], "client_msg_id": req.id})
		if err == nil {
			_ = m.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
			err = m.ws.WriteMessage(websocket.TextMessage, b)
		}
		if err != nil {
			rec.errorf("write send: %v", err)
			rec.sends.Delete(req.id)
			// Keep draining so the scheduler never blocks on this socket.
			continue
		}
		rec.mu.Lock()
		rec.res.SendsWritten++
		rec.mu.Unlock()
	}
}

// frame is any server frame, decoded leniently and only as far as the
// tallies need (the generator shares the machine with the server).
type frame struct {
	Type        string         `json:"type"`
	Message     *frameMessage  `json:"message"`
	Seq         int64          `json:"seq"`
	ClientMsgID string         `json:"client_msg_id"`
	Error       *schemas.Error `json:"error"`
}

type frameMessage struct {
	Seq         int64  `json:"seq"`
	ClientMsgID string `json:"client_msg_id"`
}

// read tallies the socket's frames until it closes.
func (m *member) read(rec *recorder) {
	for {
		_, data, err := m.ws.ReadMessage()
		now := time.Now()
		if err != nil {
			var ce *websocket.CloseError
			switch {
			case errors.As(err, &ce) && ce.Code == websocket.CloseNormalClosure:
			case errors.Is(err, net.ErrClosed):
				// Closed by Run at the end.
			case errors.As(err, &ce):
				m.closed = true
				rec.mu.Lock()
				rec.res.Closes[strconv.Itoa(ce.Code)]++
				rec.mu.Unlock()
			default:
				m.closed = true
				rec.mu.Lock()
				rec.res.Closes["abnormal"]++
				rec.mu.Unlock()
			}
			return
		}
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			rec.errorf("undecodable frame: %v", err)
			continue
		}
		switch f.Type {
		case "message":
			m.onMessage(rec, f.Message, now)
		case "member_joined", "member_left", "room_event":
			m.checkSeq(f.Seq)
		case "ack":
			if v, ok := rec.sends.Load(f.ClientMsgID); ok {
				p := v.(*pending)
				rec.mu.Lock()
				if !p.acked {
					p.acked = true
					rec.res.Acks++
					rec.ackLats = append(rec.ackLats, ms(now.Sub(p.at)))
				}
				rec.mu.Unlock()
			}
		case "error":
			code := "unknown"
			if f.Error != nil {
				code = string(f.Error.Code)
			}
			rec.sends.Delete(f.ClientMsgID)
			rec.mu.Lock()
			rec.res.SendErrors[code]++
			rec.mu.Unlock()
		}
	}
}

// checkSeq counts a seq that does not increase on this socket.
func (m *member) checkSeq(seq int64) bool {
	if seq <= m.lastSeq {
		m.outOfOrder++
		return false
	}
	m.lastSeq = seq
	return true
}

func (m *member) onMessage(rec *recorder, msg *frameMessage, now time.Time) {
	if msg == nil {
		return
	}
	if m.seen[msg.ClientMsgID] {
		m.duplicated++
		return
	}
	m.checkSeq(msg.Seq)
	v, ok := rec.sends.Load(msg.ClientMsgID)
	if !ok {
		return // not this run's message
	}
	p := v.(*pending)
	m.seen[msg.ClientMsgID] = true
	p.delivered.Add(1)
	m.deliveries++
	m.lastDeliv = now
	m.latencies = append(m.latencies, ms(now.Sub(p.at)))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func round(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return math.Round(v*100) / 100
}

func percentiles(v []float64) Percentiles {
	if len(v) == 0 {
		return Percentiles{}
	}
	slices.Sort(v)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(v)))) - 1
		return round(v[max(0, min(i, len(v)-1))])
	}
	return Percentiles{Count: len(v), P50: at(.50), P95: at(.95), P99: at(.99), Max: round(v[len(v)-1])}
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
