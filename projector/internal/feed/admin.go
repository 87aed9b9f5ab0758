package feed

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Topic describes one topic as the broker knows it.
type Topic struct {
	// ID is the topic id, base64; empty if the broker has none (its absence
	// disables the log-identity check).
	ID         string
	Partitions []int32
}

// DescribeTopics returns the id and partitions of each topic; a missing topic
// is an error.
func DescribeTopics(ctx context.Context, opts []kgo.Opt, topics []string) (map[string]Topic, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	details, err := kadm.NewClient(cl).ListTopics(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	out := make(map[string]Topic, len(topics))
	for _, t := range topics {
		d, ok := details[t]
		if !ok {
			return nil, fmt.Errorf("topic %s does not exist", t)
		}
		if d.Err != nil {
			return nil, fmt.Errorf("topic %s: %w", t, d.Err)
		}
		var id string
		if d.ID != (kadm.TopicID{}) {
			id = d.ID.String()
		}
		out[t] = Topic{ID: id, Partitions: slices.Sorted(func(yield func(int32) bool) {
			for p := range d.Partitions {
				if !yield(p) {
					return
				}
			}
		})}
	}
	return out, nil
}

// ListPartitions returns the partitions of each topic.
func ListPartitions(ctx context.Context, opts []kgo.Opt, topics []string) (map[string][]int32, error) {
	desc, err := DescribeTopics(ctx, opts, topics)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]int32, len(desc))
	for t, d := range desc {
		out[t] = d.Partitions
	}
	return out, nil
}

// EndOffsets returns the end offset (the next offset to be written) of every
// partition of the topics.
func EndOffsets(ctx context.Context, opts []kgo.Opt, topics []string) (map[TP]int64, error) {
	return listOffsets(ctx, opts, topics, "list end offsets", (*kadm.Client).ListEndOffsets)
}

// StartOffsets returns the first offset still on the log of every partition
// of the topics.
func StartOffsets(ctx context.Context, opts []kgo.Opt, topics []string) (map[TP]int64, error) {
	return listOffsets(ctx, opts, topics, "list start offsets", (*kadm.Client).ListStartOffsets)
}

// listOffsets asks a short-lived client for one kind of offset of every
// partition of the topics; what names the request in errors.
func listOffsets(ctx context.Context, opts []kgo.Opt, topics []string, what string,
	list func(*kadm.Client, context.Context, ...string) (kadm.ListedOffsets, error),
) (map[TP]int64, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	listed, err := list(kadm.NewClient(cl), ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := listed.Error(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out := map[TP]int64{}
	listed.Each(func(o kadm.ListedOffset) {
		out[TP{o.Topic, o.Partition}] = o.Offset
	})
	return out, nil
}
