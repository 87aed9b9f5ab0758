// Package fleet is what every running instance of the projector and realtime
// roles says about itself, and what the cluster's feature level is, on one
// small compacted topic (schemas.Names.Features): each instance advertises
// {role, instance, the feature level its build understands} with a
// heartbeat that expires, and withdraws it (a tombstone) when it stops
// cleanly; `happychat features --set N` publishes the cluster's level there
// for the roles that have no PostgreSQL. Command instances advertise in their
// PostgreSQL node-id lease instead (command/features.go). docs/adr/0004 says
// why a topic, docs/command.md ("Rolling upgrades") how operators use it.
//
// Heartbeats carry their own expiry, written by the advertiser's clock and
// compared with the reader's: hosts' clocks must agree to a few seconds
// (NTP), a skew shifts when a crashed instance stops counting.
//
// It never imports a role package; the role packages run Run.
package fleet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/logread"
)

// levelKey keys the cluster's feature level; advertisement keys are
// "role/instance", which always hold a slash.
const levelKey = "cluster-level"

// Member is one live advertisement.
type Member struct {
	Role     string
	Instance string
	// Level is the highest feature level the instance's build understands.
	Level int
	// Expires is when the advertisement stops counting unless renewed.
	Expires time.Time
}

func (m Member) key() []byte { return []byte(m.Role + "/" + m.Instance) }

// String names the instance for operators.
func (m Member) String() string { return m.Role + " " + m.Instance }

// heartbeat is the wire form of an advertisement. Decoding ignores members
// it does not know, so that a later build may add some.
type heartbeat struct {
	Role      string `json:"role"`
	Instance  string `json:"instance"`
	Level     int    `json:"level"`
	ExpiresAt int64  `json:"expires_at_ms"`
}

// clusterLevel is the wire form of the cluster's level.
type clusterLevel struct {
	Level int `json:"level"`
}

func encodeMember(m Member) ([]byte, error) {
	return json.Marshal(heartbeat{Role: m.Role, Instance: m.Instance, Level: m.Level, ExpiresAt: m.Expires.UnixMilli()})
}

func encodeLevel(level int) ([]byte, error) { return json.Marshal(clusterLevel{Level: level}) }

// State is what the topic says at one moment.
type State struct {
	// Level is the cluster's feature level as published on the topic (1
	// until raised).
	Level int
	// Members are the live advertisements, by role then instance.
	Members []Member
	// Malformed counts records that were neither (skipped).
	Malformed int
}

// Below returns the live members whose build is below level.
func (s State) Below(level int) []Member {
	var out []Member
	for _, m := range s.Members {
		if m.Level < level {
			out = append(out, m)
		}
	}
	return out
}

// folder replays the topic: the last record of each key wins, a tombstone
// (nil value) deletes it.
type folder struct {
	level     int
	members   map[string]Member
	malformed int
}

func newFolder() *folder { return &folder{level: 1, members: map[string]Member{}} }

func (f *folder) add(key, value []byte) {
	k := string(key)
	if k == levelKey {
		var l clusterLevel
		if value == nil {
			f.level = 1
		} else if json.Unmarshal(value, &l) == nil && l.Level >= 1 {
			f.level = l.Level
		} else {
			f.malformed++
		}
		return
	}
	if value == nil {
		delete(f.members, k)
		return
	}
	var h heartbeat
	if json.Unmarshal(value, &h) != nil || h.Role == "" || h.Level < 1 || k != h.Role+"/"+h.Instance {
		f.malformed++
		return
	}
	f.members[k] = Member{Role: h.Role, Instance: h.Instance, Level: h.Level, Expires: time.UnixMilli(h.ExpiresAt)}
}

// state returns the level and the advertisements live at now.
func (f *folder) state(now time.Time) State {
	s := State{Level: f.level, Malformed: f.malformed}
	for _, m := range f.members {
		if m.Expires.After(now) {
			s.Members = append(s.Members, m)
		}
	}
	slices.SortFunc(s.Members, func(a, b Member) int {
		return cmp.Or(strings.Compare(a.Role, b.Role), strings.Compare(a.Instance, b.Instance))
	})
	return s
}

// Read reads the whole topic (it is compacted and small) and returns what
// it says now. Records appended before the call are all read.
func Read(ctx context.Context, opts []kgo.Opt, topic string) (State, error) {
	f := newFolder()
	err := logread.ReadWith(ctx, opts, topic, logread.HighWatermark, func(r *kgo.Record) error {
		f.add(r.Key, r.Value)
		return nil
	})
	if err != nil {
		return State{}, fmt.Errorf("read %s: %w", topic, err)
	}
	return f.state(time.Now()), nil
}

// produce appends one record and waits for its acknowledgement.
func produce(ctx context.Context, cl *kgo.Client, topic string, key, value []byte) error {
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: key, Value: value}).FirstErr(); err != nil {
		return fmt.Errorf("write %s: %w", topic, err)
	}
	return nil
}

// SetLevel sets the cluster's feature level on the topic. Raising it is
// refused while a live advertisement is below it, and then also needs
// alsoCheck (the command instances' leases in PostgreSQL, which it may set
// there too) to succeed; on any refusal the previous level is published
// again.
//
// The new level is published before the advertisements are read, and an
// instance advertises before it reads the level (Run): of an instance
// starting meanwhile and this call, at least one sees the other, so a build
// below the new level either is named here or refuses to start.
func SetLevel(ctx context.Context, opts []kgo.Opt, topic string, level int, alsoCheck func(context.Context) error) error {
	if level < 1 {
		return errors.New("feature levels start at 1")
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	before, err := Read(ctx, opts, topic)
	if err != nil {
		return err
	}
	publish := func(l int) error {
		v, err := encodeLevel(l)
		if err != nil {
			return err
		}
		return produce(ctx, cl, topic, []byte(levelKey), v)
	}
	if err := publish(level); err != nil {
		return err
	}
	refuse := func(why error) error {
		if err := publish(before.Level); err != nil {
			return errors.Join(why, fmt.Errorf("restoring level %d: %w (run --set %d)", before.Level, err, before.Level))
		}
		return why
	}
	after, err := Read(ctx, opts, topic)
	if err != nil {
		return refuse(err)
	}
	if behind := after.Below(level); len(behind) > 0 {
		names := make([]string, len(behind))
		for i, m := range behind {
			names[i] = fmt.Sprintf("%s (level %d)", m, m.Level)
		}
		return refuse(fmt.Errorf("instances run a build below feature level %d: %s: upgrade them first", level, strings.Join(names, ", ")))
	}
	if alsoCheck != nil {
		if err := alsoCheck(ctx); err != nil {
			return refuse(err)
		}
	}
	return nil
}
