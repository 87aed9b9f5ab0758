package feed

import (
	"testing"
	"time"

	"happychat/schemas"
)

func TestConfigDefaults(t *testing.T) {
	var c Config
	c.setDefaults()
	if c.MaxPoll != 500 || c.Registry != schemas.Events || c.Log == nil || c.IdleAfter != 500*time.Millisecond {
		t.Fatalf("defaults: MaxPoll %d, registry default %v, log %v, IdleAfter %s", c.MaxPoll, c.Registry == schemas.Events, c.Log != nil, c.IdleAfter)
	}
	// A zero or negative value means "the default"; a set one is kept.
	for _, idle := range []time.Duration{0, -time.Second} {
		c := Config{IdleAfter: idle, MaxPoll: -1}
		c.setDefaults()
		if c.IdleAfter != 500*time.Millisecond || c.MaxPoll != 500 {
			t.Errorf("IdleAfter %s, MaxPoll -1: got %s, %d", idle, c.IdleAfter, c.MaxPoll)
		}
	}
	c = Config{IdleAfter: 20 * time.Millisecond, MaxPoll: 7}
	c.setDefaults()
	if c.IdleAfter != 20*time.Millisecond || c.MaxPoll != 7 {
		t.Errorf("set values replaced: IdleAfter %s, MaxPoll %d", c.IdleAfter, c.MaxPoll)
	}
}
