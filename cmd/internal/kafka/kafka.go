// Package kafka holds the binary's Kafka wiring: client options, how every
// client connects (TLS, SASL/SCRAM: conn.go), topic creation with explicit
// configs, the services' ACLs (acls.go), and the embedded broker of the dev
// mode.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/kafkalog"
	"happychat/internal/kafkaretry"
	"happychat/schemas"
)

// TopicSpec says how many partitions and replicas the event topics get.
type TopicSpec struct {
	RoomPartitions int
	UserPartitions int
	Replication    int
	MinISR         int
}

// topicConfigs are explicit so that a broker's defaults never decide
// durability: events are kept forever (views are rebuilt from them), a write
// needs min.insync.replicas acknowledgements, and leaders never come from
// out-of-sync replicas.
func topicConfigs(minISR int) map[string]*string {
	return map[string]*string{
		"retention.ms":                   kadm.StringPtr("-1"),
		"retention.bytes":                kadm.StringPtr("-1"),
		"cleanup.policy":                 kadm.StringPtr("delete"),
		"min.insync.replicas":            kadm.StringPtr(strconv.Itoa(minISR)),
		"unclean.leader.election.enable": kadm.StringPtr("false"),
		"max.message.bytes":              kadm.StringPtr(strconv.Itoa(1 << 20)),
		"message.timestamp.type":         kadm.StringPtr("CreateTime"),
	}
}

// featuresConfigs are those of the fleet's topic (internal/fleet): one
// partition, compacted, so that it keeps the last heartbeat of each
// instance and the cluster's level. Short segments and an eager cleaner keep
// it small, since every instance reads it whole at each heartbeat; deleted
// advertisements (tombstones) go after an hour.
func featuresConfigs(minISR int) map[string]*string {
	return map[string]*string{
		"cleanup.policy":                 kadm.StringPtr("compact"),
		"segment.ms":                     kadm.StringPtr("600000"),
		"min.cleanable.dirty.ratio":      kadm.StringPtr("0.1"),
		"delete.retention.ms":            kadm.StringPtr("3600000"),
		"min.insync.replicas":            kadm.StringPtr(strconv.Itoa(minISR)),
		"unclean.leader.election.enable": kadm.StringPtr("false"),
	}
}

// typingConfigs are those of the typing indicators' topic: what is older
// than a few seconds is useless, so a minute is kept, in short segments;
// one replica's acknowledgement is enough for a hint that expires anyway.
func typingConfigs() map[string]*string {
	return map[string]*string{
		"cleanup.policy":      kadm.StringPtr("delete"),
		"retention.ms":        kadm.StringPtr("60000"),
		"segment.ms":          kadm.StringPtr("60000"),
		"min.insync.replicas": kadm.StringPtr("1"),
	}
}

// EnsureTopics creates the rooms, users, features and typing topics if
// missing.
// Existing topics are left alone (their partition count is part of the key
// rule and must never change under a running system).
//
// On a secured cluster only the setup principal may create topics
// (docs/adr/0006-kafka-principals.md): a service's principal is refused,
// which is fine as long as the topics exist. A topic the principal may not
// even describe is not one its service uses, and is not waited for.
func EnsureTopics(ctx context.Context, cl *kgo.Client, names schemas.Names, spec TopicSpec) error {
	adm := kadm.NewClient(cl)
	want := []struct {
		topic   string
		parts   int
		configs map[string]*string
	}{
		{names.Rooms, spec.RoomPartitions, topicConfigs(spec.MinISR)},
		{names.Users, spec.UserPartitions, topicConfigs(spec.MinISR)},
		{names.Features, 1, featuresConfigs(spec.MinISR)},
		{names.Typing, 1, typingConfigs()},
	}
	var denied, wait []string
	for _, w := range want {
		resp, err := adm.CreateTopic(ctx, int32(w.parts), int16(spec.Replication), w.configs, w.topic)
		if err == nil {
			err = resp.Err
		}
		switch {
		case err == nil || errors.Is(err, kerr.TopicAlreadyExists):
			wait = append(wait, w.topic)
		case errors.Is(err, kerr.TopicAuthorizationFailed) || errors.Is(err, kerr.ClusterAuthorizationFailed):
			denied = append(denied, w.topic)
		default:
			return fmt.Errorf("create topic %s: %w", w.topic, err)
		}
	}
	if len(denied) > 0 {
		visible, err := existing(ctx, adm, denied)
		if err != nil {
			return err
		}
		wait = append(wait, visible...)
		if len(wait) == 0 {
			return fmt.Errorf("this principal may neither create nor describe the topics %s: it has no ACLs on them (run `happychat acls` as the setup principal): %w",
				strings.Join(denied, ", "), kerr.TopicAuthorizationFailed)
		}
	}
	// A new topic takes a moment to reach every broker's metadata; callers
	// start consuming right after, so wait until each partition has a leader.
	for {
		details, err := adm.ListTopics(ctx, wait...)
		if err == nil && allLed(details, len(wait)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topics not ready: %w", errors.Join(ctx.Err(), err))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// existing returns those of topics that exist and that the principal may
// describe, and fails on one that is missing: the principal was refused its
// creation, so it is the setup principal's to create.
func existing(ctx context.Context, adm *kadm.Client, topics []string) ([]string, error) {
	var out []string
	for _, t := range topics {
		// One topic a request: kadm fails the whole answer on one topic
		// the principal may not describe.
		details, err := adm.ListTopics(ctx, t)
		if errors.Is(err, kerr.TopicAuthorizationFailed) {
			continue // not this service's topic: nothing to wait for
		}
		if err != nil {
			return nil, fmt.Errorf("list topic %s: %w", t, err)
		}
		if d, ok := details[t]; !ok || d.Err != nil {
			return nil, fmt.Errorf("topic %s is missing and this principal may not create it: run `happychat topics` as the setup principal: %w",
				t, errors.Join(d.Err, kerr.TopicAuthorizationFailed))
		}
		out = append(out, t)
	}
	return out, nil
}

func allLed(details kadm.TopicDetails, n int) bool {
	if len(details) != n {
		return false
	}
	for _, d := range details {
		if d.Err != nil || len(d.Partitions) == 0 {
			return false
		}
		for _, p := range d.Partitions {
			if p.Err != nil || p.Leader < 0 {
				return false
			}
		}
	}
	return true
}

// Partitions returns the partition count of topic.
func Partitions(ctx context.Context, cl *kgo.Client, topic string) (int, error) {
	details, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("list topic %s: %w", topic, err)
	}
	d, ok := details[topic]
	if !ok || d.Err != nil {
		return 0, fmt.Errorf("topic %s missing: %w", topic, d.Err)
	}
	return len(d.Partitions), nil
}

// Ping waits until the brokers answer a metadata request or ctx ends.
func Ping(ctx context.Context, cl *kgo.Client) error {
	return cl.Ping(ctx)
}

// BaseOpts are the options every client of the system uses.
func BaseOpts(brokers []string, log *slog.Logger) []kgo.Opt {
	return append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.WithLogger(kafkalog.New(log)),
		kgo.ProducerBatchMaxBytes(1 << 20),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.DialTimeout(5 * time.Second),
	}, kafkaretry.Opts()...)
}

// Embedded starts an in-process Kafka-protocol broker (franz-go's kfake) that
// persists its log under dataDir, so restarting the dev mode keeps history.
func Embedded(dataDir string) (*kfake.Cluster, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(0)}
	if dataDir != "" {
		opts = append(opts, kfake.DataDir(dataDir), kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded kafka: %w", err)
	}
	return c, nil
}

// LogOpts routes a client's logs to log.
func LogOpts(log *slog.Logger) []kgo.Opt { return []kgo.Opt{kgo.WithLogger(kafkalog.New(log))} }
