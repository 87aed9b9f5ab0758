package notifier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	webpush "github.com/SherClockHolmes/webpush-go"

	"happychat/schemas"
)

// maxPreviewRunes bounds the text a push carries: a notification shows a
// line or two, and a push payload must stay under 4 KiB once encrypted.
const maxPreviewRunes = 200

// Payload is the JSON a push carries to the service worker (the client's
// sw.js reads it): the room, the latest message of the window, and how
// many were sent in it.
type Payload struct {
	RoomID    schemas.ID `json:"room_id"`
	RoomTitle string     `json:"room_title"`
	MessageID schemas.ID `json:"message_id"`
	Seq       int64      `json:"seq"`
	Nickname  string     `json:"nickname"`
	Text      string     `json:"text"`
	Count     int        `json:"count"`
	Mention   bool       `json:"mention,omitzero"`
}

func payloadOf(p pending) Payload {
	text := p.latest.text
	if utf8.RuneCountInString(text) > maxPreviewRunes {
		text = string([]rune(text)[:maxPreviewRunes-1]) + "…"
	}
	return Payload{
		RoomID: p.room, RoomTitle: p.latest.roomTitle, MessageID: p.latest.id, Seq: p.latest.seq,
		Nickname: p.latest.nickname, Text: text, Count: p.count, Mention: p.mention,
	}
}

// outcome of one push to one subscription.
type outcome int

const (
	delivered outcome = iota
	gone              // 404/410: the subscription is dropped
	refused           // another 4xx, or retries exhausted: given up
)

// pushTo sends body to sub, retrying transient failures (network errors,
// 429 and 5xx: the push service's own trouble, RFC 8030 section 8) with a
// doubling backoff, or the Retry-After of a 429/503 when it is longer.
func (s *Service) pushTo(ctx context.Context, sub Subscription, room schemas.ID, body []byte, urgent bool) outcome {
	opts := &webpush.Options{
		HTTPClient: s.http, Subscriber: s.subscriber,
		VAPIDPublicKey: s.cfg.VAPIDPublicKey, VAPIDPrivateKey: s.cfg.VAPIDPrivateKey,
		TTL: int(s.cfg.TTL / time.Second), Urgency: webpush.UrgencyNormal,
		// The push service keeps one undelivered push per topic: a phone
		// that was off gets the room's latest, not each of them.
		Topic: "room" + room.String(),
	}
	if urgent {
		opts.Urgency = webpush.UrgencyHigh
	}
	ws := webpush.Subscription{Endpoint: sub.Endpoint, Keys: webpush.Keys{P256dh: sub.Keys.P256dh, Auth: sub.Keys.Auth}}
	wait := s.cfg.Backoff
	for attempt := 1; ; attempt++ {
		status, retryAfter, err := s.postOnce(ctx, body, &ws, opts)
		switch {
		case err == nil && status >= 200 && status < 300:
			s.metrics.pushes.WithLabelValues("delivered").Inc()
			return delivered
		case err == nil && (status == http.StatusNotFound || status == http.StatusGone):
			s.metrics.pushes.WithLabelValues("gone").Inc()
			return gone
		case err == nil && status != http.StatusTooManyRequests && status < 500:
			s.log.Warn("push refused", "status", status, "endpoint_host", hostOf(sub.Endpoint))
			s.metrics.pushes.WithLabelValues("refused").Inc()
			return refused
		}
		if attempt >= s.cfg.Attempts || ctx.Err() != nil {
			s.log.Warn("push failed, giving up", "status", status, "err", err, "attempts", attempt, "endpoint_host", hostOf(sub.Endpoint))
			s.metrics.pushes.WithLabelValues("failed").Inc()
			return refused
		}
		s.metrics.retries.Inc()
		select {
		case <-ctx.Done():
		case <-time.After(max(wait, min(retryAfter, 30*time.Second))):
		}
		wait *= 2
	}
}

// postOnce makes one request; an error is a request that got no answer.
func (s *Service) postOnce(ctx context.Context, body []byte, sub *webpush.Subscription, opts *webpush.Options) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	resp, err := webpush.SendNotificationWithContext(ctx, body, sub, opts)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	var after time.Duration
	if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n > 0 {
		after = time.Duration(n) * time.Second
	}
	return resp.StatusCode, after, nil
}

func hostOf(endpoint string) string {
	if _, rest, ok := strings.Cut(endpoint, "://"); ok {
		host, _, _ := strings.Cut(rest, "/")
		return host
	}
	return "?"
}

// errPrivateAddr is a dial refused because the endpoint's name resolved
// to an address inside a network: checked at dial time, so that a name
// that resolves differently later is caught too.
var errPrivateAddr = errors.New("push endpoint resolves to a private or reserved address")

// newHTTPClient is the client pushes go out with: it dials public
// addresses only (and loopback when allowLoopback).
func newHTTPClient(allowLoopback bool) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("push endpoint address %q: %w", address, err)
		}
		if ip := ap.Addr().Unmap(); publicAddr(ip) || (allowLoopback && ip.IsLoopback()) {
			return nil
		}
		return errPrivateAddr
	}}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = d.DialContext
	tr.Proxy = nil
	return &http.Client{Transport: tr, Timeout: 20 * time.Second,
		// A push service answers; it does not send the notifier elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
