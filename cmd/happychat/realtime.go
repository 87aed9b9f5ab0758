package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/gin-gonic/gin"
	"github.com/go-json-experiment/json"

	"happychat/cmd/internal/httpserver"
	"happychat/cmd/internal/kafka"
	"happychat/command"
	"happychat/realtime"
	"happychat/realtime/web"
	"happychat/schemas"
)

// runRealtime runs the realtime service alone: GET /v1/ws and the web
// client, tailing the rooms topic (KAFKA_BROKERS), sending through the
// command service at CHAT_COMMAND_URL, and locating resumes in the
// ClickHouse history (CLICKHOUSE_ADDR, CLICKHOUSE_DB).
func runRealtime(ctx context.Context, env Env, _ []string) error {
	p, err := newProcess(env)
	if err != nil {
		return err
	}
	defer p.close()
	if err := p.requireSecret(); err != nil {
		return err
	}
	if p.cfg.CommandURL == "" {
		return errors.New("CHAT_COMMAND_URL must be set: the realtime service sends through the command service")
	}
	if env.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(realtimeGOGC))
	}
	cmds, err := newRemoteCommands(p.cfg.CommandURL, p.internalSecret())
	if err != nil {
		return err
	}
	svc, err := p.realtimeService(cmds, p.clickhouseLocator())
	if err != nil {
		return err
	}
	engine := httpserver.NewEngine(p.reg, []httpserver.Check{{Name: "kafka_tail", Ping: svc.Ready}}, p.log)
	svc.Register(engine)
	engine.NoRoute(gin.WrapH(web.Handler()))
	return p.serveWith(ctx, env, engine, func(ctx context.Context, _ string) error { return svc.Run(ctx) })
}

// realtimeGOGC is the realtime process's GC target unless GOGC is set. Its
// heap is mostly long-lived per-socket state, and the runtime lets the heap
// grow by GOGC% of that (stacks included) before collecting: at the default
// 100 the headroom made an idle socket cost 16 KiB instead of 11. An idle
// socket allocates nothing, so collecting sooner costs little CPU
// (docs/benchmarks.md, "Memory per idle connection").
const realtimeGOGC = 25

// realtimeService builds the realtime service from the configuration.
func (p *process) realtimeService(cmds realtime.Commands, loc realtime.OffsetLocator) (*realtime.Service, error) {
	keys, err := p.tokenKeys()
	if err != nil {
		return nil, err
	}
	rules, err := p.rules()
	if err != nil {
		return nil, err
	}
	return realtime.New(realtime.Config{
		Brokers: p.brokers, KafkaOpts: kafka.LogOpts(p.log), Names: p.cfg.Names(),
		Commands: cmds, Keys: keys, Rules: rules, Locator: loc,
		AllowedOrigins: p.cfg.AllowedOrigins, MaxConnsPerUser: p.cfg.WSMaxPerUser,
		SendQueue: p.cfg.WSSendQueue, SocketSendBuffer: p.cfg.WSSendBuffer, MaxFrameBytes: p.cfg.WSMaxFrameBytes,
		// The socket path takes the same per-user send limit as HTTP.
		UserSendRate: p.cfg.SendRate, UserSendBurst: p.cfg.SendBurst,
		Log: p.log.With("service", "realtime"), Metrics: p.reg,
	})
}

// clickhouseLocator positions resumes through the history's room_events
// index. The connection is lazy: while ClickHouse is down, resumes read
// their partition from the start (slower, still complete).
func (p *process) clickhouseLocator() realtime.OffsetLocator {
	ch, err := clickhouse.Open(&clickhouse.Options{
		Addr:         []string{p.cfg.CHAddr},
		Auth:         clickhouse.Auth{Database: p.cfg.CHDatabase},
		MaxOpenConns: 8,
		DialTimeout:  2 * time.Second,
	})
	if err != nil {
		p.log.Warn("clickhouse unavailable: resumes read partitions from the start", "err", err)
		return realtime.FromStart{}
	}
	p.cleanup = append(p.cleanup, func() { _ = ch.Close() })
	return realtime.NewClickHouseLocator(ch)
}

// localCommands is realtime.Commands over an in-process command service
// (the all-in-one mode).
type localCommands struct{ svc *command.Service }

func (l localCommands) Send(ctx context.Context, c realtime.Caller, room schemas.ID, body, clientMsgID string) (schemas.Message, error) {
	return l.svc.Send(ctx, command.Caller{UserID: c.UserID, Nickname: c.Nickname}, room, body, clientMsgID)
}

func (l localCommands) Presence(ctx context.Context, room schemas.ID) ([]schemas.Member, int64, error) {
	return l.svc.Presence(ctx, room)
}

// remoteCommands is realtime.Commands over HTTP, for split mode. Sends use
// the public route with the user's own bearer token, so the command service
// applies exactly its HTTP rules; presence uses the internal route
// (authenticated with the secret the command instances share).
type remoteCommands struct {
	base   string
	secret string
	http   *http.Client
}

// presencePath and internalHeader are the command service's internal
// presence route and its authentication header.
const (
	presencePath   = "/internal/v1/rooms/%s/presence"
	internalHeader = "X-Happychat-Internal"
)

func newRemoteCommands(base, secret string) (*remoteCommands, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("CHAT_COMMAND_URL %q must be an http(s) URL", base)
	}
	return &remoteCommands{
		base: strings.TrimSuffix(base, "/"), secret: secret,
		http: &http.Client{Timeout: 15 * time.Second, Transport: keepAliveTransport()},
	}, nil
}

// keepAliveTransport keeps enough idle connections to the command service
// for every send in flight: the default two per host made each send beyond
// the second open and close a TCP connection (measured: it more than doubled
// the send latency at 1 000 sends/s).
func keepAliveTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 512
	return t
}

func (r *remoteCommands) Send(ctx context.Context, c realtime.Caller, room schemas.ID, body, clientMsgID string) (schemas.Message, error) {
	payload, err := schemas.Marshal(struct {
		Body        string `json:"body"`
		ClientMsgID string `json:"client_msg_id"`
	}{body, clientMsgID})
	if err != nil {
		return schemas.Message{}, schemas.Errorf(schemas.CodeBadRequest, "body is not valid text")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+"/v1/rooms/"+room.String()+"/messages", bytes.NewReader(payload))
	if err != nil {
		return schemas.Message{}, fmt.Errorf("send request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	var m schemas.Message
	return m, r.do(req, &m)
}

func (r *remoteCommands) Presence(ctx context.Context, room schemas.ID) ([]schemas.Member, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+fmt.Sprintf(presencePath, room.String()), nil)
	if err != nil {
		return nil, 0, fmt.Errorf("presence request: %w", err)
	}
	req.Header.Set(internalHeader, r.secret)
	var out struct {
		Members []schemas.Member `json:"members"`
		Seq     int64            `json:"seq"`
	}
	if err := r.do(req, &out); err != nil {
		return nil, 0, err
	}
	return out.Members, out.Seq, nil
}

// do sends req and decodes a 2xx answer into v, or returns the answer's
// error envelope as a *schemas.Error.
func (r *remoteCommands) do(req *http.Request, v any) error {
	resp, err := r.http.Do(req)
	if err != nil {
		// The user's token is in the request, never in this error's text:
		// url.Error quotes the URL only, which carries none.
		return &schemas.Error{Code: schemas.CodeUnavailable, Message: "the command service is unreachable", RetryAfter: time.Second}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return &schemas.Error{Code: schemas.CodeUnavailable, Message: "the command service's answer was cut", RetryAfter: time.Second}
	}
	if resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("command service answer (status %d): %w", resp.StatusCode, err)
		}
		return nil
	}
	var eb schemas.ErrorBody
	if err := json.Unmarshal(b, &eb); err != nil || eb.Error == nil {
		return &schemas.Error{Code: schemas.CodeUnavailable, Message: fmt.Sprintf("the command service answered %d", resp.StatusCode)}
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		eb.Error.RetryAfter = time.Duration(s) * time.Second
	}
	return eb.Error
}
