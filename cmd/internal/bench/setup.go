package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json"
	"golang.org/x/sync/errgroup"

	"happychat/schemas"
)

// setup opens len(sizes) rooms (as the admin) and gives room r sizes[r]
// members, each a fresh session that has joined it, with at most workers
// API calls in flight. Members come back room by room.
func setup(ctx context.Context, api *apiClient, cfg Config, sizes []int, workers int) ([]*member, error) {
	stamp := time.Now().Format("15:04:05")
	rooms := make([]schemas.Room, len(sizes))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for r := range sizes {
		g.Go(func() error {
			var room schemas.Room
			if err := api.call(gctx, http.MethodPost, "/v1/rooms", cfg.AdminToken,
				map[string]string{"title": fmt.Sprintf("bench %s #%d", stamp, r), "description": "happychat bench"}, &room); err != nil {
				return fmt.Errorf("create room (is the admin token right?): %w", err)
			}
			if room.Status != schemas.RoomStatusOpen {
				return fmt.Errorf("room %s is %q: the admin token was not accepted", room.ID, room.Status)
			}
			rooms[r] = room
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	var members []*member
	for r, n := range sizes {
		for range n {
			members = append(members, &member{room: r, roomID: rooms[r].ID})
		}
	}
	var done atomic.Int64
	progress := startProgress(cfg.Log, "bench: setup", len(members), &done)
	defer progress()
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for i, m := range members {
		g.Go(func() error {
			var s schemas.Session
			if err := api.call(gctx, http.MethodPost, "/v1/sessions", "", map[string]string{"nickname": fmt.Sprintf("bench%d-%d", m.room, i)}, &s); err != nil {
				return fmt.Errorf("session: %w", err)
			}
			var j schemas.JoinResult
			if err := api.call(gctx, http.MethodPost, "/v1/rooms/"+m.roomID.String()+"/join", s.Token, struct{}{}, &j); err != nil {
				return fmt.Errorf("join: %w", err)
			}
			m.id, m.token = s.UserID, s.Token
			done.Add(1)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return members, nil
}

// startProgress logs done/total every 5 s until the returned function is
// called: setting up 20,000 members takes a while, and silence looks hung.
func startProgress(log *slog.Logger, what string, total int, done *atomic.Int64) func() {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				log.Info(what, "done", done.Load(), "of", total)
			}
		}
	})
	return func() {
		close(stop)
		wg.Wait()
	}
}

// apiClient calls the HTTP API, retrying rate limits and unavailability.
type apiClient struct {
	base string
	http *http.Client
}

func (a *apiClient) call(ctx context.Context, method, path, bearer string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, a.base+path, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := a.http.Do(req)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		if resp.StatusCode/100 == 2 {
			if err := json.Unmarshal(b, out); err != nil {
				return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
			}
			return nil
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
