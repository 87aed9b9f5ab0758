package realtime

import (
	"context"
	"errors"
	"testing"
	"time"

	"happychat/schemas"
)

// flakyLocator fails its first fails calls, then answers offset.
type flakyLocator struct {
	fails, calls int
	offset       int64
}

func (l *flakyLocator) Locate(context.Context, schemas.ID, int32, int64) (int64, bool, error) {
	l.calls++
	if l.calls <= l.fails {
		return 0, false, errors.New("use of closed network connection")
	}
	return l.offset, true, nil
}

func TestLocateRetryingAsksAgainOnceAfterAnError(t *testing.T) {
	loc := &flakyLocator{fails: 1, offset: 42}
	off, ok, err := locateRetrying(context.Background(), loc, 7, 0, 300, time.Second)
	if err != nil || !ok || off != 42 || loc.calls != 2 {
		t.Fatalf("got (%d, %v, %v) after %d calls, want (42, true, nil) after 2", off, ok, err, loc.calls)
	}

	loc = &flakyLocator{fails: 5, offset: 42}
	if _, ok, err = locateRetrying(context.Background(), loc, 7, 0, 300, time.Second); err == nil || ok || loc.calls != locateAttempts {
		t.Fatalf("a locator that keeps failing: ok=%v err=%v after %d calls, want an error after %d", ok, err, loc.calls, locateAttempts)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	loc = &flakyLocator{fails: 5}
	if _, _, err = locateRetrying(ctx, loc, 7, 0, 300, time.Second); err == nil || loc.calls != 1 {
		t.Fatalf("a closed socket's resume asked %d times (err %v), want once", loc.calls, err)
	}
}
