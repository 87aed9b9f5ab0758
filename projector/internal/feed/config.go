package feed

import (
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// Config says what to consume and how.
type Config struct {
	// Opts are the base client options (seed brokers, logger, ...).
	Opts []kgo.Opt
	// Group, when set, spreads partitions among the instances sharing it;
	// when empty every partition of Topics is consumed from its resume
	// position by this instance alone (the replay).
	Group string
	// InstanceID, with a Group, makes the membership static: a restarted
	// instance takes its partitions back at once instead of waiting for the
	// session timeout of its previous life. Must be unique among live
	// instances of the group.
	InstanceID string
	Topics     []string
	// MaxPoll bounds the records handed to one Apply (default 500).
	MaxPoll int
	// Registry decodes the records (default schemas.Events).
	Registry *schemas.Registry
	Log      *slog.Logger
	Observer Observer
	// Idle, if set, is called from the loop after a poll that returned no
	// records within IdleAfter (default 500 ms): the replay uses it to notice
	// that it reached the end of the log.
	Idle      func()
	IdleAfter time.Duration
	// SessionTimeout of the group (default: the client's, 45 s).
	SessionTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.MaxPoll <= 0 {
		c.MaxPoll = 500
	}
	if c.Registry == nil {
		c.Registry = schemas.Events
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.IdleAfter <= 0 {
		c.IdleAfter = 500 * time.Millisecond
	}
}
