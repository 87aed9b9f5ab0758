package main

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"

	"happychat/cmd/internal/httpserver"
	"happychat/command"
	"happychat/internal/cmdproto"
	"happychat/internal/msgkeys"
	"happychat/realtime"
	"happychat/realtime/web"
	"happychat/schemas"
)

// runRealtime runs the realtime service alone: GET /v1/ws and the web
// client, tailing the rooms topic (KAFKA_BROKERS), sending through the
// command service's internal listener at CHAT_COMMAND_URL, and locating
// resumes in the
// ClickHouse history (CLICKHOUSE_ADDR, CLICKHOUSE_DB), and opening sealed
// message texts with the keys in PostgreSQL (PG_URL).
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
	// The message key store (PG_URL) opens sealed texts (docs/adr/0009);
	// the pool connects on first use.
	pg, err := pgxpool.New(ctx, p.cfg.PGURL)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer pg.Close()
	keys := msgkeys.NewReader(pg, p.cfg.Names().Rooms)
	cmds, err := newRemoteCommands(p.cfg.CommandURL, cmdproto.PresenceSecret(p.cfg.TokenSecret))
	if err != nil {
		return err
	}
	// The answers to the sends this instance forwards carry their keys:
	// its tail then opens those messages without a query (issue 16).
	cmds.OnKeys = keys.Seed
	svc, err := p.realtimeService(cmds, p.clickhouseLocator(), keys)
	if err != nil {
		return err
	}
	// And their committed records: the room's sockets here get the
	// message when the send is answered, before the tail fetches it.
	cmds.OnCommitted = svc.Committed
	checks := []httpserver.Check{
		{Name: "kafka_tail", Ping: svc.Ready},
		{Name: "rooms", Ping: svc.Blocked},
		{Name: "revocations", Ping: p.revocations().Ready},
	}
	engine := httpserver.NewEngine(checks, p.log)
	svc.Register(engine)
	engine.NoRoute(gin.WrapH(web.Handler()))
	internal := httpserver.NewInternalEngine(p.reg, checks, p.log)
	return p.serveWith(ctx, env, engine, internal, func(ctx context.Context, _ listeners) error {
		return p.withRevocations(ctx, svc.Run)
	})
}

// realtimeGOGC is the realtime process's GC target unless GOGC is set. Its
// heap is mostly long-lived per-socket state, and the runtime lets the heap
// grow by GOGC% of that (stacks included) before collecting: at the default
// 100 the headroom made an idle socket cost 16 KiB instead of 11. An idle
// socket allocates nothing, so collecting sooner costs little CPU
// (docs/benchmarks.md, "Memory per idle connection").
const realtimeGOGC = 25

// realtimeService builds the realtime service from the configuration.
func (p *process) realtimeService(cmds realtime.Commands, loc realtime.OffsetLocator, mk *msgkeys.Reader) (*realtime.Service, error) {
	keys, err := p.tokenKeys()
	if err != nil {
		return nil, err
	}
	rules, err := p.rules()
	if err != nil {
		return nil, err
	}
	svc, err := realtime.New(realtime.Config{
		Brokers: p.brokers, KafkaOpts: p.serviceKafkaOpts(), Names: p.cfg.Names(),
		Commands: cmds, Keys: keys, Rules: rules, Locator: loc, MessageKeys: mk,
		AllowedOrigins: p.cfg.AllowedOrigins, MaxConnsPerUser: p.cfg.WSMaxPerUser,
		SendQueue: p.cfg.WSSendQueue, SocketSendBuffer: p.cfg.WSSendBuffer, WriteTimeout: p.cfg.WSWriteTimeout, MaxFrameBytes: p.cfg.WSMaxFrameBytes,
		// The socket path takes the same per-user send limit as HTTP.
		UserSendRate: p.cfg.SendRate, UserSendBurst: p.cfg.SendBurst,
		Addresses: p.cfg.Limits.Addresses(), HandshakesPerAddress: p.cfg.Limits.Handshakes,
		Instance: p.instanceName(),
		Log:      p.log.With("service", "realtime"), Metrics: p.reg,
	})
	if err != nil {
		return nil, err
	}
	// A revocation closes the sockets its token opened here.
	p.revocations().Watch(svc.Revoke)
	return svc, nil
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
	return l.svc.Send(ctx, command.Caller{UserID: c.UserID, Nickname: c.Nickname, Token: c.Token}, room, body, clientMsgID)
}

func (l localCommands) SendReply(ctx context.Context, c realtime.Caller, room schemas.ID, body, clientMsgID string, r realtime.Replies) (schemas.Message, error) {
	return l.svc.SendMessage(ctx, command.Caller{UserID: c.UserID, Nickname: c.Nickname, Token: c.Token}, room,
		command.SendInput{Body: body, ClientMsgID: clientMsgID, ReplyTo: r.ReplyTo, Mentions: r.Mentions})
}

func (l localCommands) Presence(ctx context.Context, room schemas.ID) ([]schemas.Member, int64, error) {
	return l.svc.Presence(ctx, room)
}

// remoteCommands is realtime.Commands over HTTP, for split mode: the
// protocol's client, sending with each caller's own token.
type remoteCommands struct{ *cmdproto.Client }

func newRemoteCommands(base, secret string) (remoteCommands, error) {
	c, err := cmdproto.NewClient(base, secret)
	if err != nil {
		return remoteCommands{}, fmt.Errorf("CHAT_COMMAND_URL %w", err)
	}
	return remoteCommands{c}, nil
}

func (r remoteCommands) Send(ctx context.Context, c realtime.Caller, room schemas.ID, body, clientMsgID string) (schemas.Message, error) {
	return r.Client.Send(ctx, c.Token, room, body, clientMsgID)
}

func (r remoteCommands) SendReply(ctx context.Context, c realtime.Caller, room schemas.ID, body, clientMsgID string, rp realtime.Replies) (schemas.Message, error) {
	return r.Client.SendReply(ctx, c.Token, room, body, clientMsgID, rp.ReplyTo, rp.Mentions)
}
