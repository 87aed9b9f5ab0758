package chaos

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json"

	"happychat/schemas"
)

// api speaks the public HTTP contract to the command instances (writes) and
// the query service (reads), like any client would.
type api struct {
	hc *http.Client
	// commands are the base URLs of the command instances; a scenario that
	// adds an instance adds it here (setCommands), so clients use it too.
	commands atomic.Pointer[[]string]
	query    string
	admin    string
	rr       atomic.Uint64
}

func newAPI(commands []string, query, admin string) *api {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
	}
	// 20 s: longer than a forward between command instances may take (15 s),
	// so a stalled owner is answered by the forwarding instance first.
	a := &api{hc: &http.Client{Transport: tr, Timeout: 20 * time.Second}, query: query, admin: admin}
	a.setCommands(commands)
	return a
}

// setCommands replaces the command instances the clients write to; the
// index of each stays its attempt target.
func (a *api) setCommands(urls []string) { a.commands.Store(&urls) }

// answer is one HTTP exchange; status 0 means no answer (refused, reset,
// timed out).
type answer struct {
	status     int
	body       []byte
	retryAfter time.Duration
	err        error
}

func (a *api) do(ctx context.Context, method, url, token string, in any) answer {
	var body io.Reader
	if in != nil {
		b, err := schemas.Marshal(in)
		if err != nil {
			return answer{err: err}
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return answer{err: err}
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return answer{err: err}
	}
	ans := answer{status: resp.StatusCode, body: b}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		ans.retryAfter = time.Duration(s) * time.Second
	}
	return ans
}

// decode reads a 2xx answer's JSON into v.
func (ans answer) decode(v any) error {
	if err := json.Unmarshal(ans.body, v); err != nil {
		return fmt.Errorf("decode %d answer: %w: %.200s", ans.status, err, ans.body)
	}
	return nil
}

func (ans answer) String() string {
	if ans.status == 0 {
		return fmt.Sprintf("no answer (%v)", ans.err)
	}
	return fmt.Sprintf("%d %.200s", ans.status, ans.body)
}

// retryable reports answers worth another attempt: none, unavailable, rate
// limited.
func (ans answer) retryable() bool {
	return ans.status == 0 || ans.status == http.StatusServiceUnavailable || ans.status == http.StatusTooManyRequests
}

// pause is how long to wait before retrying ans.
func (ans answer) pause(attempt int) time.Duration {
	if ans.retryAfter > 0 {
		return min(ans.retryAfter, 2*time.Second)
	}
	return min(time.Duration(attempt+1)*100*time.Millisecond, time.Second)
}

// command picks the next command instance, round robin; attempt shifts the
// pick so that a retry goes to another instance.
func (a *api) command(attempt int) (int, string) {
	cs := *a.commands.Load()
	i := (int(a.rr.Add(1)) + attempt) % len(cs)
	return i, cs[i]
}

// write POSTs to a command instance, retrying answers that say "try again"
// until one says something else or timeout passes.
func (a *api) write(ctx context.Context, path, token string, in any, timeout time.Duration) answer {
	deadline := time.Now().Add(timeout)
	for attempt := 0; ; attempt++ {
		_, base := a.command(attempt)
		ans := a.do(ctx, http.MethodPost, base+path, token, in)
		if !ans.retryable() || time.Now().After(deadline) || ctx.Err() != nil {
			return ans
		}
		select {
		case <-ctx.Done():
			return ans
		case <-time.After(ans.pause(attempt)):
		}
	}
}

// user is one anonymous user of the load.
type user struct {
	id    schemas.ID
	nick  string
	token string
}

func (a *api) register(ctx context.Context, nick string) (*user, error) {
	ans := a.write(ctx, "/v1/sessions", "", map[string]string{"nickname": nick}, time.Minute)
	if ans.status != http.StatusCreated {
		return nil, fmt.Errorf("register %s: %s", nick, ans)
	}
	var s schemas.Session
	if err := ans.decode(&s); err != nil {
		return nil, err
	}
	return &user{id: s.UserID, nick: s.Nickname, token: s.Token}, nil
}

// openRoom creates an open room with the admin token.
func (a *api) openRoom(ctx context.Context, title string) (schemas.ID, error) {
	ans := a.write(ctx, "/v1/rooms", a.admin, map[string]string{"title": title, "description": "chaos suite"}, time.Minute)
	if ans.status != http.StatusCreated {
		return 0, fmt.Errorf("open room %q: %s", title, ans)
	}
	var r schemas.Room
	if err := ans.decode(&r); err != nil {
		return 0, err
	}
	return r.ID, nil
}

// openPrivate opens a private room of which u is the first member
// (feature level 4).
func (a *api) openPrivate(ctx context.Context, u *user, title string) (schemas.ID, error) {
	ans := a.write(ctx, "/v1/rooms", u.token, map[string]string{"title": title, "visibility": "private"}, time.Minute)
	if ans.status != http.StatusCreated {
		return 0, fmt.Errorf("open private room %q: %s", title, ans)
	}
	var r schemas.Room
	if err := ans.decode(&r); err != nil {
		return 0, err
	}
	return r.ID, nil
}

// invite makes an invite of room for uses people, by its member u.
func (a *api) invite(ctx context.Context, u *user, room schemas.ID, uses int) (string, error) {
	ans := a.write(ctx, "/v1/rooms/"+room.String()+"/invites", u.token, map[string]int{"max_uses": uses}, time.Minute)
	if ans.status != http.StatusCreated {
		return "", fmt.Errorf("invite to room %d: %s", room, ans)
	}
	var inv struct {
		Code string `json:"code"`
	}
	if err := ans.decode(&inv); err != nil {
		return "", err
	}
	return inv.Code, nil
}

// accept makes u a member by an invite; the answer is the final one.
func (a *api) accept(ctx context.Context, u *user, code string) answer {
	return a.write(ctx, "/v1/invites/"+url.PathEscape(code)+"/accept", u.token, nil, time.Minute)
}

// join makes u a member of room; the answer is the final one.
func (a *api) join(ctx context.Context, u *user, room schemas.ID) answer {
	return a.write(ctx, "/v1/rooms/"+room.String()+"/join", u.token, nil, time.Minute)
}
