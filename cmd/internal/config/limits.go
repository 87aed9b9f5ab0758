package config

import (
	"fmt"
	"net/netip"
	"strings"

	"happychat/internal/ratelimit"
)

// Limits are the per-door limits of every service (docs/command.md, "Rate
// limits"), besides the per-user send and join rates and the WebSocket
// limits of Config. Rates are per second per instance.
type Limits struct {
	TrustedProxies []netip.Prefix // CHAT_TRUSTED_PROXIES: addresses or CIDRs whose forwarding header is believed
	ProxyHeader    ratelimit.Header
	Exempt         []netip.Prefix // CHAT_RATE_LIMIT_EXEMPT: the operator's allowlist, exempt from address limits

	PerAddress        ratelimit.Rate // CHAT_ADDR_RATE, CHAT_ADDR_BURST: every public route, per address
	Sessions          ratelimit.Rate // CHAT_SESSION_RATE, CHAT_SESSION_BURST: sessions per address
	SessionsPerMinute int            // CHAT_SESSIONS_PER_MINUTE: all instances together (PostgreSQL)
	Proposals         ratelimit.Rate // CHAT_PROPOSAL_RATE, CHAT_PROPOSAL_BURST: per user
	Leaves            ratelimit.Rate // CHAT_LEAVE_RATE, CHAT_LEAVE_BURST: per user
	ReadMarks         ratelimit.Rate // CHAT_READ_MARK_RATE, CHAT_READ_MARK_BURST: per user
	RoomChurn         ratelimit.Rate // CHAT_ROOM_CHURN_RATE, CHAT_ROOM_CHURN_BURST: joins and leaves per room
	Reads             ratelimit.Rate // CHAT_READ_RATE, CHAT_READ_BURST: pages and room lists per user (or address)
	HeavyReads        ratelimit.Rate // CHAT_HEAVY_READ_RATE, CHAT_HEAVY_READ_BURST: exports and analytics
	Handshakes        ratelimit.Rate // CHAT_WS_HANDSHAKE_RATE, CHAT_WS_HANDSHAKE_BURST: per address
	PushSettings      ratelimit.Rate // CHAT_PUSH_RATE, CHAT_PUSH_BURST: subscriptions and mutes per user
}

// Addresses is how the services find and exempt client addresses.
func (l Limits) Addresses() ratelimit.Addresses {
	return ratelimit.Addresses{Trusted: l.TrustedProxies, Header: l.ProxyHeader, Exempt: l.Exempt}
}

// loadLimits reads the limits. The defaults leave a person with a browser
// (and a household behind one address) far from every limit, and stop a
// script: a session every 20 s per address after a burst of 10.
func (p *parser) loadLimits() Limits {
	rate := func(name string, perSecond float64, burst int) ratelimit.Rate {
		return ratelimit.Rate{PerSecond: p.float("CHAT_"+name+"_RATE", perSecond), Burst: p.int("CHAT_"+name+"_BURST", burst)}
	}
	return Limits{
		TrustedProxies:    p.prefixes("CHAT_TRUSTED_PROXIES"),
		ProxyHeader:       p.proxyHeader("CHAT_TRUSTED_PROXY_HEADER"),
		Exempt:            p.prefixes("CHAT_RATE_LIMIT_EXEMPT"),
		PerAddress:        rate("ADDR", 50, 200),
		Sessions:          rate("SESSION", 0.05, 10),
		SessionsPerMinute: p.int("CHAT_SESSIONS_PER_MINUTE", 600),
		Proposals:         rate("PROPOSAL", 0.02, 5),
		Leaves:            rate("LEAVE", 2, 10),
		ReadMarks:         rate("READ_MARK", 5, 20),
		RoomChurn:         rate("ROOM_CHURN", 10, 40),
		Reads:             rate("READ", 20, 60),
		HeavyReads:        rate("HEAVY_READ", 1, 5),
		Handshakes:        rate("WS_HANDSHAKE", 5, 20),
		PushSettings:      rate("PUSH", 0.2, 20),
	}
}

// validate reports every limit that is not a positive rate and burst.
func (l Limits) validate(check func(ok bool, format string, args ...any)) {
	for _, r := range []struct {
		name string
		r    ratelimit.Rate
	}{
		{"ADDR", l.PerAddress}, {"SESSION", l.Sessions}, {"PROPOSAL", l.Proposals}, {"LEAVE", l.Leaves},
		{"READ_MARK", l.ReadMarks}, {"ROOM_CHURN", l.RoomChurn}, {"READ", l.Reads},
		{"HEAVY_READ", l.HeavyReads}, {"WS_HANDSHAKE", l.Handshakes}, {"PUSH", l.PushSettings},
	} {
		check(!r.r.Off(), "CHAT_%s_RATE and CHAT_%s_BURST must be positive", r.name, r.name)
	}
	check(l.SessionsPerMinute >= 1, "CHAT_SESSIONS_PER_MINUTE must be positive")
}

// prefixes reads comma-separated addresses and CIDRs.
func (p *parser) prefixes(key string) []netip.Prefix {
	out, err := ratelimit.ParsePrefixes(p.list(key))
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %w", key, err))
	}
	return out
}

func (p *parser) proxyHeader(key string) ratelimit.Header {
	switch v := strings.ToLower(p.str(key, "x-forwarded-for")); v {
	case "x-forwarded-for":
		return ratelimit.XForwardedFor
	case "forwarded":
		return ratelimit.Forwarded
	default:
		p.errs = append(p.errs, fmt.Errorf("%s: %q is neither x-forwarded-for nor forwarded", key, v))
		return ratelimit.XForwardedFor
	}
}
