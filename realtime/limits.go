package realtime

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"happychat/internal/ratelimit"
	"happychat/schemas"
)

// users holds the per-user limits of this instance: open sockets (a cap),
// connection attempts and socket sends (token buckets). They are per
// instance: N instances admit up to N times the cap, which bounds the load
// each instance takes, not a user's total; the command service enforces the
// authoritative send rate.
//
// handshakes limits handshakes by client address, before the token is
// even read: a per-instance bucket too, so N instances admit N times its
// rate from one address at most.
type users struct {
	mu         sync.Mutex
	m          map[schemas.ID]*userState
	cfg        *Config
	maxIdle    time.Duration
	handshakes *ratelimit.PerAddress
}

// userState is one user's limits. send is safe for concurrent use (a
// rate.Limiter is); conns is guarded by users.mu.
type userState struct {
	conns   int
	send    *rate.Limiter
	connect *rate.Limiter
	typing  *rate.Limiter
	seen    time.Time
}

func newUsers(cfg *Config) *users {
	return &users{m: map[schemas.ID]*userState{}, cfg: cfg, maxIdle: 10 * time.Minute,
		handshakes: ratelimit.NewPerAddress(cfg.Addresses, cfg.HandshakesPerAddress, "too many connections from this address", ratelimit.Options{})}
}

// admit counts a new socket of user, or refuses it: rate_limited when the
// user connects too often or already has the maximum of open sockets here.
func (u *users) admit(user schemas.ID, now time.Time) (*userState, *schemas.Error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	st := u.stateLocked(user, now)
	if st.conns >= u.cfg.MaxConnsPerUser {
		return nil, &schemas.Error{Code: schemas.CodeRateLimited, Message: "too many open sockets for this user", RetryAfter: 5 * time.Second}
	}
	if !st.connect.AllowN(now, 1) {
		return nil, &schemas.Error{Code: schemas.CodeRateLimited, Message: "connecting too often", RetryAfter: time.Second}
	}
	st.conns++
	return st, nil
}

// stateLocked returns user's state, made if new.
func (u *users) stateLocked(user schemas.ID, now time.Time) *userState {
	st := u.m[user]
	if st == nil {
		st = &userState{
			send:    rate.NewLimiter(rate.Limit(u.cfg.UserSendRate), u.cfg.UserSendBurst),
			connect: rate.NewLimiter(rate.Limit(u.cfg.UserConnectRate), u.cfg.UserConnectBurst),
			typing:  rate.NewLimiter(rate.Every(u.cfg.TypingInterval), 1),
		}
		u.m[user] = st
	}
	st.seen = now
	return st
}

// typing reports whether user may publish a typing indicator now (one per
// Config.TypingInterval across its sockets and HTTP here).
func (u *users) typing(user schemas.ID, now time.Time) bool {
	u.mu.Lock()
	st := u.stateLocked(user, now)
	u.mu.Unlock()
	return st.typing.AllowN(now, 1)
}

// leave uncounts a socket admitted by admit.
func (u *users) leave(user schemas.ID, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if st := u.m[user]; st != nil {
		st.conns--
		st.seen = now
	}
}

// sweep forgets users without sockets who have been quiet for a while.
func (u *users) sweep(now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for id, st := range u.m {
		if st.conns == 0 && now.Sub(st.seen) > u.maxIdle {
			delete(u.m, id)
		}
	}
}
