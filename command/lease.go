package command

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"happychat/schemas"
)

// Node id leases. User ids, room ids and user-topic event ids are minted
// with node id InstanceNodeBase + the instance id, so two live instances
// must never share an instance id. Each instance leases its id in
// PostgreSQL (command_node_leases) for leaseTTL, renews it every third of
// that, and stops minting once it could not renew for leaseTTL/2: by then
// nobody else can have taken it, since a lease is only granted to another
// holder after it expired, by PostgreSQL's clock alone.
const leaseTTL = 20 * time.Second

type nodeLease struct {
	pool   *pgxpool.Pool
	scope  string
	holder string
	level  atomic.Int32  // the feature level this instance can run, advertised to operators
	wait   time.Duration // how long an explicit id held by another is waited for
	log    *slog.Logger

	mu      sync.Mutex
	node    int
	renewed time.Time // local monotonic time of the last confirmed renewal
}

func newNodeLease(pool *pgxpool.Pool, scope string, level int, log *slog.Logger) *nodeLease {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	l := &nodeLease{pool: pool, scope: scope, holder: hex.EncodeToString(b), log: log, node: -1,
		wait: leaseTTL + 2*time.Second}
	l.level.Store(int32(level))
	return l
}

// advertise sets the level written at the next renewal.
func (l *nodeLease) advertise(level int) { l.level.Store(int32(level)) }

// errLeaseTaken is returned when the instance id is held by a live instance.
var errLeaseTaken = errors.New("instance id is in use by another live command instance")

// acquire leases want (or, for AutoInstanceID, the first free id).
func (l *nodeLease) acquire(ctx context.Context, want int) (int, error) {
	ids := []int{want}
	if want == AutoInstanceID {
		ids = make([]int, schemas.MaxInstanceID+1)
		for i := range ids {
			ids[i] = i
		}
	}
	// An explicit id may still be leased by this instance's previous
	// process, killed a moment ago: wait for that lease to expire before
	// concluding that another live instance holds it.
	deadline := time.Now().Add(l.wait)
	for {
		for _, id := range ids {
			start := time.Now()
			ok, err := l.claim(ctx, id)
			if err != nil {
				return 0, fmt.Errorf("lease instance id %d: %w", id, err)
			}
			if ok {
				l.mu.Lock()
				l.node, l.renewed = id, start
				l.mu.Unlock()
				return id, nil
			}
		}
		if want == AutoInstanceID || time.Now().After(deadline) {
			break
		}
		l.log.Info("instance id leased by another process: waiting for its lease to expire", "id", want)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	if want == AutoInstanceID {
		return 0, errors.New("no free instance id: every one is leased by a live command instance")
	}
	return 0, fmt.Errorf("CHAT_INSTANCE_ID=%d: %w (give each instance its own, or leave it unset to lease a free one)", want, errLeaseTaken)
}

func (l *nodeLease) claim(ctx context.Context, id int) (bool, error) {
	var got int
	err := l.pool.QueryRow(ctx, `INSERT INTO command_node_leases (scope, node, holder, expires_at, level)
		VALUES ($1, $2, $3, now() + $4::interval, $5)
		ON CONFLICT (scope, node) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at, level = EXCLUDED.level
		WHERE command_node_leases.expires_at < now() OR command_node_leases.holder = EXCLUDED.holder
		RETURNING node`, l.scope, id, l.holder, leaseTTL.String(), l.level.Load()).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// keep renews the lease until ctx ends, calling also after each renewal.
// Losing the lease to another holder (only possible after it expired) ends
// the service: its ids are no longer its own.
func (l *nodeLease) keep(ctx context.Context, also func(context.Context) error) error {
	t := time.NewTicker(leaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		start := time.Now()
		rctx, cancel := context.WithTimeout(ctx, leaseTTL/4)
		tag, err := l.pool.Exec(rctx, `UPDATE command_node_leases SET expires_at = now() + $4::interval, level = $5
			WHERE scope = $1 AND node = $2 AND holder = $3`, l.scope, l.node, l.holder, leaseTTL.String(), l.level.Load())
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			l.log.Warn("node id lease not renewed (minting stops if this lasts)", "node", l.node, "err", err)
		case tag.RowsAffected() == 0:
			l.mu.Lock()
			l.renewed = time.Time{}
			l.mu.Unlock()
			return fmt.Errorf("instance id %d: lease lost to another instance", l.node)
		default:
			l.mu.Lock()
			l.renewed = start
			l.mu.Unlock()
		}
		if err := also(ctx); err != nil {
			return err
		}
	}
}

// valid reports whether ids may be minted now.
func (l *nodeLease) valid() bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.renewed.IsZero() && time.Since(l.renewed) < leaseTTL/2
}

// release gives the id back at a clean shutdown: ctx is usually done by
// then, so only its values are kept.
func (l *nodeLease) release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_, _ = l.pool.Exec(ctx, `DELETE FROM command_node_leases WHERE scope = $1 AND node = $2 AND holder = $3`, l.scope, l.node, l.holder)
}
