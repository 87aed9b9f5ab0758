package cmdproto

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/msgkeys"
	"happychat/schemas"
)

// Client is a split realtime service's way to the command service. Sends
// use the public route with the user's own bearer token, so the command
// service applies exactly its HTTP rules; presence uses the internal route,
// authenticated with the secret.
type Client struct {
	base   string
	secret string
	http   *http.Client
	// OnKeys, if set, is given the keys a send's answer carries
	// (KeysHeader); it must not block.
	OnKeys func([]msgkeys.Key)
	// OnCommitted, if set, is given the records a send's answer carries
	// (CommittedHeader), after OnKeys; it must not block.
	OnCommitted func([]*kgo.Record)
}

// clientIdlePerHost: a realtime service talks to one command address, so
// every idle connection may go to it.
const clientIdlePerHost = 512

// NewClient returns a client of the command service at base, an http(s)
// URL, authenticated on internal routes with secret.
func NewClient(base, secret string) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q must be an http(s) URL", base)
	}
	return &Client{
		base: strings.TrimSuffix(base, "/"), secret: secret,
		http: NewHTTPClient(clientIdlePerHost),
	}, nil
}

// Send appends a message to room as the bearer of token, as POST
// /v1/rooms/{id}/messages does, and returns it once durable. Errors are
// *schemas.Error, except an answer that cannot be decoded.
func (c *Client) Send(ctx context.Context, token string, room schemas.ID, body, clientMsgID string) (schemas.Message, error) {
	return c.SendReply(ctx, token, room, body, clientMsgID, 0, nil)
}

// SendReply is Send with the message it answers and the members it
// mentions (absent when zero).
func (c *Client) SendReply(ctx context.Context, token string, room schemas.ID, body, clientMsgID string, replyTo schemas.ID, mentions []schemas.ID) (schemas.Message, error) {
	payload, err := schemas.Marshal(struct {
		Body        string       `json:"body"`
		ClientMsgID string       `json:"client_msg_id"`
		ReplyTo     schemas.ID   `json:"reply_to,omitzero"`
		Mentions    []schemas.ID `json:"mentions,omitzero"`
	}{body, clientMsgID, replyTo, mentions})
	if err != nil {
		return schemas.Message{}, schemas.Errorf(schemas.CodeBadRequest, "body is not valid text")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/rooms/"+room.String()+"/messages", bytes.NewReader(payload))
	if err != nil {
		return schemas.Message{}, fmt.Errorf("send request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+token)
	// The secret asks for the message's keys (KeysHeader) and records
	// (CommittedHeader); the caller is still the token's user.
	req.Header.Set(SecretHeader, c.secret)
	var m schemas.Message
	hdr, err := c.doHeader(req, &m)
	if err == nil && c.OnKeys != nil {
		// A malformed header costs a query to the key store, no more.
		if keys, kerr := DecodeKeys(hdr.Get(KeysHeader)); kerr == nil && len(keys) > 0 {
			c.OnKeys(keys)
		}
	}
	if err == nil && c.OnCommitted != nil {
		// A malformed one leaves the message to the tail.
		if recs, rerr := DecodeRecords(hdr.Get(CommittedHeader)); rerr == nil && len(recs) > 0 {
			c.OnCommitted(recs)
		}
	}
	return m, err
}

// Presence returns the room's authoritative members and its seq at that
// moment. An unknown room is a *schemas.Error with CodeNotFound.
func (c *Client) Presence(ctx context.Context, room schemas.ID) ([]schemas.Member, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+PresencePath(room), nil)
	if err != nil {
		return nil, 0, fmt.Errorf("presence request: %w", err)
	}
	req.Header.Set(SecretHeader, c.secret)
	var out Presence
	if err := c.do(req, &out); err != nil {
		return nil, 0, err
	}
	return out.Members, out.Seq, nil
}

// do sends req and decodes a 2xx answer into v, or returns the answer's
// error envelope as a *schemas.Error.
func (c *Client) do(req *http.Request, v any) error {
	_, err := c.doHeader(req, v)
	return err
}

// doHeader is do that also returns the answer's header (nil without one).
func (c *Client) doHeader(req *http.Request, v any) (http.Header, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		// The user's token is in the request, never in this error's text:
		// url.Error quotes the URL only, which carries none.
		return nil, &schemas.Error{Code: schemas.CodeUnavailable, Message: "the command service is unreachable", RetryAfter: time.Second}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, &schemas.Error{Code: schemas.CodeUnavailable, Message: "the command service's answer was cut", RetryAfter: time.Second}
	}
	if resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, v); err != nil {
			return nil, fmt.Errorf("command service answer (status %d): %w", resp.StatusCode, err)
		}
		return resp.Header, nil
	}
	var eb schemas.ErrorBody
	if err := json.Unmarshal(b, &eb); err != nil || eb.Error == nil {
		return nil, &schemas.Error{Code: schemas.CodeUnavailable, Message: fmt.Sprintf("the command service answered %d", resp.StatusCode)}
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		eb.Error.RetryAfter = time.Duration(s) * time.Second
	}
	return nil, eb.Error
}
