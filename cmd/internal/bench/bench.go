package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"happychat/schemas"
)

// Config is one benchmark run.
type Config struct {
	// BaseURL is the HTTP API (http://host:port): the all-in-one server, or
	// the command service when split. WSURL is the realtime service
	// (ws://host:port); empty derives it from BaseURL.
	BaseURL    string
	WSURL      string
	AdminToken string
	// Rooms × Members sockets; Members is at most the room capacity.
	Rooms   int
	Members int
	// Rate is the total sends per second over all members (open loop),
	// spread round-robin over every member of every room.
	Rate     float64
	Duration time.Duration
	// Drain is the longest wait for the last deliveries after the last send.
	Drain     time.Duration
	BodyBytes int
	Log       *slog.Logger
}

func (c *Config) setDefaults() {
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

// Result is the JSON report of a run.
type Result struct {
	Rooms       int     `json:"rooms"`
	Members     int     `json:"members_per_room"`
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
	// every socket of its room. Lost is what did not within the drain.
	Expected   int64            `json:"expected_deliveries"`
	Lost       int64            `json:"lost"`
	Duplicated int64            `json:"duplicated"`
	OutOfOrder int64            `json:"out_of_order"`
	Latency    Percentiles      `json:"send_to_deliver_ms"`
	AckLatency Percentiles      `json:"send_to_ack_ms"`
	Closes     map[string]int64 `json:"unexpected_closes"`
	Errors     []string         `json:"errors"`
}

// member is one benchmark user with its socket.
type member struct {
	room   int
	roomID schemas.ID
	id     schemas.ID
	token  string
	body   string
	ws     *websocket.Conn
	out    chan sendReq
	// lastSeq and seen are touched by the socket's reader only.
	lastSeq int64
	seen    map[string]bool
}

type sendReq struct {
	id string
	at time.Time
}

// pending is one scheduled send.
type pending struct {
	at        time.Time
	room      int
	acked     bool
	delivered int
}

// recorder holds the shared tallies.
type recorder struct {
	mu         sync.Mutex
	sends      map[string]*pending
	res        *Result
	latencies  []float64
	ackLats    []float64
	lastDeliv  time.Time
	deliveries int64
}

func (r *recorder) errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.res.Errors) < 20 {
		r.res.Errors = append(r.res.Errors, fmt.Sprintf(format, args...))
	}
}

// Run sets up the rooms and sockets, runs the load for cfg.Duration, drains,
// and reports.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.setDefaults()
	base := strings.TrimSuffix(cfg.BaseURL, "/")
	wsBase := cfg.WSURL
	if wsBase == "" {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("base URL %q must be http(s)", cfg.BaseURL)
		}
		wsBase = "ws" + strings.TrimPrefix(base, "http")
	}
	wsBase = strings.TrimSuffix(wsBase, "/")
	api := &apiClient{base: base, http: &http.Client{Timeout: 30 * time.Second}}

	res := &Result{Rooms: cfg.Rooms, Members: cfg.Members, TargetRate: cfg.Rate, DurationSec: cfg.Duration.Seconds(),
		BodyBytes: cfg.BodyBytes, SendErrors: map[string]int64{}, Closes: map[string]int64{}, Errors: []string{}}
	rec := &recorder{sends: map[string]*pending{}, res: res}

	cfg.Log.Info("bench: setting up", "rooms", cfg.Rooms, "members", cfg.Members)
	members, err := setup(ctx, api, cfg)
	if err != nil {
		return nil, err
	}
	dialer := websocket.Dialer{HandshakeTimeout: 15 * time.Second}
	for _, m := range members {
		q := url.Values{"room": {m.roomID.String()}, "token": {m.token}}
		ws, resp, err := dialer.DialContext(ctx, wsBase+"/v1/ws?"+q.Encode(), nil)
		if err != nil {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			closeAll(members)
			return nil, fmt.Errorf("open socket (status %d): %w", status, err)
		}
		m.ws = ws
		_ = ws.SetReadDeadline(time.Now().Add(15 * time.Second))
		if _, _, err := ws.ReadMessage(); err != nil { // presence
			closeAll(members)
			return nil, fmt.Errorf("read presence: %w", err)
		}
		_ = ws.SetReadDeadline(time.Time{})
	}
	cfg.Log.Info("bench: sockets open", "sockets", len(members))

	var wg sync.WaitGroup
	for _, m := range members {
		wg.Go(func() { m.read(rec) })
		wg.Go(func() { m.write(rec) })
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
			rec.mu.Lock()
			rec.sends[id] = &pending{at: at, room: m.room}
			rec.mu.Unlock()
			scheduled++
			select {
			case m.out <- sendReq{id: id, at: at}:
			default:
				rec.mu.Lock()
				res.SendsSkipped++
				delete(rec.sends, id)
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
		rec.mu.Lock()
		missing := 0
		for _, p := range rec.sends {
			if !p.acked || p.delivered < cfg.Members {
				missing++
			}
		}
		rec.mu.Unlock()
		if missing == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, m := range members {
		close(m.out)
	}
	closeAll(members)
	wg.Wait()

	rec.mu.Lock()
	defer rec.mu.Unlock()
	elapsed := sendEnd.Sub(start).Seconds()
	lastDeliv := rec.lastDeliv
	if lastDeliv.Before(sendEnd) {
		lastDeliv = sendEnd
	}
	res.Deliveries = rec.deliveries
	res.SendsPerSec = round(float64(res.SendsWritten) / elapsed)
	res.DeliveriesPerSec = round(float64(rec.deliveries) / lastDeliv.Sub(start).Seconds())
	for _, p := range rec.sends {
		if p.acked {
			res.Expected += int64(cfg.Members)
			if p.delivered < cfg.Members {
				res.Lost += int64(cfg.Members - p.delivered)
			}
		}
	}
	res.Latency = percentiles(rec.latencies)
	res.AckLatency = percentiles(rec.ackLats)
	return res, nil
}

// setup creates the rooms and members and joins them.
func setup(ctx context.Context, api *apiClient, cfg Config) ([]*member, error) {
	var members []*member
	for r := range cfg.Rooms {
		var room schemas.Room
		if err := api.call(ctx, http.MethodPost, "/v1/rooms", cfg.AdminToken,
			map[string]string{"title": fmt.Sprintf("bench %s #%d", time.Now().Format("15:04:05"), r), "description": "happychat bench"}, &room); err != nil {
			return nil, fmt.Errorf("create room (is the admin token right?): %w", err)
		}
		if room.Status != schemas.RoomStatusOpen {
			return nil, fmt.Errorf("room %s is %q: the admin token was not accepted", room.ID, room.Status)
		}
		for i := range cfg.Members {
			var s schemas.Session
			if err := api.call(ctx, http.MethodPost, "/v1/sessions", "", map[string]string{"nickname": fmt.Sprintf("bench%d-%d", r, i)}, &s); err != nil {
				return nil, fmt.Errorf("session: %w", err)
			}
			var j schemas.JoinResult
			if err := api.call(ctx, http.MethodPost, "/v1/rooms/"+room.ID.String()+"/join", s.Token, struct{}{}, &j); err != nil {
				return nil, fmt.Errorf("join: %w", err)
			}
			members = append(members, &member{room: r, roomID: room.ID, id: s.UserID, token: s.Token,
				body: strings.Repeat("x", cfg.BodyBytes), out: make(chan sendReq, 64), seen: map[string]bool{}})
		}
	}
	return members, nil
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
			rec.mu.Lock()
			delete(rec.sends, req.id)
			rec.mu.Unlock()
			// Keep draining so the scheduler never blocks on this socket.
			continue
		}
		rec.mu.Lock()
		rec.res.SendsWritten++
		rec.mu.Unlock()
	}
}

// frame is any server frame, decoded leniently.
type frame struct {
	Type        string           `json:"type"`
	Message     *schemas.Message `json:"message"`
	Seq         int64            `json:"seq"`
	ClientMsgID string           `json:"client_msg_id"`
	Error       *schemas.Error   `json:"error"`
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
				rec.mu.Lock()
				rec.res.Closes[strconv.Itoa(ce.Code)]++
				rec.mu.Unlock()
			default:
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
			m.checkSeq(rec, f.Seq)
		case "ack":
			rec.mu.Lock()
			if p := rec.sends[f.ClientMsgID]; p != nil && !p.acked {
				p.acked = true
				rec.res.Acks++
				rec.ackLats = append(rec.ackLats, ms(now.Sub(p.at)))
			}
			rec.mu.Unlock()
		case "error":
			code := "unknown"
			if f.Error != nil {
				code = string(f.Error.Code)
			}
			rec.mu.Lock()
			rec.res.SendErrors[code]++
			delete(rec.sends, f.ClientMsgID)
			rec.mu.Unlock()
		}
	}
}

// checkSeq counts a seq that does not increase on this socket.
func (m *member) checkSeq(rec *recorder, seq int64) bool {
	if seq <= m.lastSeq {
		rec.mu.Lock()
		rec.res.OutOfOrder++
		rec.mu.Unlock()
		return false
	}
	m.lastSeq = seq
	return true
}

func (m *member) onMessage(rec *recorder, msg *schemas.Message, now time.Time) {
	if msg == nil {
		return
	}
	if m.seen[msg.ClientMsgID] {
		rec.mu.Lock()
		rec.res.Duplicated++
		rec.mu.Unlock()
		return
	}
	m.checkSeq(rec, msg.Seq)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	p := rec.sends[msg.ClientMsgID]
	if p == nil {
		return // not this run's message
	}
	m.seen[msg.ClientMsgID] = true
	p.delivered++
	rec.deliveries++
	rec.lastDeliv = now
	rec.latencies = append(rec.latencies, ms(now.Sub(p.at)))
}

func closeAll(members []*member) {
	for _, m := range members {
		if m.ws != nil {
			_ = m.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			_ = m.ws.Close()
		}
	}
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

// apiClient calls the HTTP API, retrying rate limits and unavailability.
type apiClient struct {
	base string
	http *http.Client
}

func (a *apiClient) call(ctx context.Context, method, path, bearer string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, a.base+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := a.http.Do(req)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode/100 == 2 {
			return json.Unmarshal(b, out)
		}
		if (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) && attempt < 30 {
			wait := time.Second
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
			continue
		}
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
}
