// Lookups: who leads a partition, who coordinates a transactional id or a
// group, asked of the brokers rather than a client's cache.

package kafkacluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// PartitionLeader returns the broker leading the partition. While it has no
// leader (an election after a failure) or the topic is unknown, it asks
// again until ctx ends.
func (c *Injector) PartitionLeader(ctx context.Context, topic string, partition int32) (int32, error) {
	var leader int32 = -1
	var last error
	err := poll(ctx, func() (bool, error) {
		td, err := c.topic(ctx, topic)
		if err != nil {
			last = err
			return false, nil
		}
		p, ok := td.Partitions[partition]
		switch {
		case !ok:
			last = fmt.Errorf("topic %s has no partition %d", topic, partition)
		case p.Leader < 0:
			last = fmt.Errorf("%s/%d has no leader (%w)", topic, partition, p.Err)
		default:
			leader = p.Leader
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return -1, fmt.Errorf("leader of %s/%d: %w: %w", topic, partition, last, err)
	}
	return leader, nil
}

// topic describes one topic afresh: its metadata request's error or the
// topic's own error code (unknown yet, no leader) both come back as err.
func (c *Injector) topic(ctx context.Context, topic string) (kadm.TopicDetail, error) {
	m, err := c.adm.Metadata(fresh(ctx), topic)
	if err != nil {
		return kadm.TopicDetail{}, err
	}
	td := m.Topics[topic]
	if td.Err != nil {
		return kadm.TopicDetail{}, fmt.Errorf("topic %s: %w", topic, td.Err)
	}
	return td, nil
}

// LeaderOfMost returns the broker that leads most partitions of the topic
// (the lowest id on a tie), once every partition has a leader.
func (c *Injector) LeaderOfMost(ctx context.Context, topic string) (int32, error) {
	var best int32 = -1
	var last error
	err := poll(ctx, func() (bool, error) {
		td, err := c.topic(ctx, topic)
		if err == nil && len(td.Partitions) == 0 {
			err = fmt.Errorf("topic %s has no partitions yet", topic)
		}
		if err != nil {
			last = err
			return false, nil
		}
		count := map[int32]int{}
		for _, p := range td.Partitions {
			if p.Leader < 0 {
				last = fmt.Errorf("%s/%d has no leader", topic, p.Partition)
				return false, nil
			}
			count[p.Leader]++
		}
		best = -1
		for id, n := range count {
			if best < 0 || n > count[best] || n == count[best] && id < best {
				best = id
			}
		}
		return true, nil
	})
	if err != nil {
		return -1, fmt.Errorf("leader of most partitions of %s: %w: %w", topic, last, err)
	}
	return best, nil
}

// TxnCoordinator returns the broker coordinating the transactional id (the
// leader of its __transaction_state partition). While the coordinator is
// loading or moving, it asks again until ctx ends.
func (c *Injector) TxnCoordinator(ctx context.Context, transactionalID string) (int32, error) {
	return c.coordinator(ctx, "transactional id", transactionalID, c.adm.FindTxnCoordinators)
}

// GroupCoordinator returns the broker coordinating the consumer group (the
// leader of its __consumer_offsets partition). While the coordinator is
// loading or moving, it asks again until ctx ends.
func (c *Injector) GroupCoordinator(ctx context.Context, group string) (int32, error) {
	return c.coordinator(ctx, "group", group, c.adm.FindGroupCoordinators)
}

func (c *Injector) coordinator(ctx context.Context, kind, key string,
	find func(context.Context, ...string) kadm.FindCoordinatorResponses,
) (int32, error) {
	var node int32 = -1
	var last error
	err := poll(ctx, func() (bool, error) {
		r, ok := find(ctx, key)[key]
		switch {
		case !ok:
			last = errors.New("no answer")
		case r.Err == nil:
			node = r.NodeID
			return true, nil
		case ctx.Err() == nil && (kerr.IsRetriable(r.Err) || errors.Is(r.Err, context.DeadlineExceeded) || isNetErr(r.Err)):
			last = r.Err
		default:
			return false, r.Err
		}
		return false, nil
	})
	if err != nil {
		return -1, fmt.Errorf("coordinator of %s %q: %w: %w", kind, key, last, err)
	}
	return node, nil
}

// isNetErr: a broker that went away mid-request (kgo errors of that kind
// are not Kafka error codes).
func isNetErr(err error) bool {
	var ke *kerr.Error
	return !errors.As(err, &ke)
}

// fresh makes kadm's Metadata, BrokerMetadata and ApiVersions ask a broker:
// without it they answer from the client's cache, whose broker list is only
// refreshed every MetadataMaxAge (a broker seen gone would stay gone).
// Authorized operations come with the answer, unused.
func fresh(ctx context.Context) context.Context { return kadm.WithAuthorizedOps(ctx) }

// ActiveController returns the node that is the KRaft quorum's leader (the
// active controller), through DescribeQuorum on the metadata log. Each
// node of the local cluster is broker and controller at once, so killing
// the active controller's node adds a controller election before the
// survivors can fence the dead broker and move its partitions.
func (c *Injector) ActiveController(ctx context.Context) (int32, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = "__cluster_metadata"
	p := kmsg.NewDescribeQuorumRequestTopicPartition()
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	var leader int32 = -1
	var last error
	err := poll(ctx, func() (bool, error) {
		resp, err := req.RequestWith(ctx, c.cl)
		switch {
		case err != nil:
			last = err
		case resp.ErrorCode != 0:
			last = kerr.ErrorForCode(resp.ErrorCode)
		case len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1:
			last = errors.New("no metadata quorum partition in the answer")
		default:
			rp := resp.Topics[0].Partitions[0]
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				last = err
				return false, nil
			}
			if rp.LeaderID < 0 {
				last = errors.New("the metadata quorum has no leader")
				return false, nil
			}
			leader = rp.LeaderID
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return -1, fmt.Errorf("active controller: %w: %w", last, err)
	}
	return leader, nil
}
