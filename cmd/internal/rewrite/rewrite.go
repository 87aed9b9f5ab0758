// Package rewrite is `happychat rewrite-log`: the one-off migration of a
// log written before feature level 4 into the sealed form (docs/adr/0009).
// It copies the rooms and users topics of one topic prefix into the (new,
// empty) topics of another, record by record into the same partitions and
// in the same order, sealing every plaintext text on the way under a new
// per-message key, and every text of a message that was deleted (by a
// message.deleted anywhere in the log) under a key that is never stored:
// the copy holds no deleted text, and no readable one in the clear. Keys of
// texts already sealed are copied to the new topics' scope. The operator
// then switches the deployment's CHAT_TOPIC_PREFIX and rebuilds the views
// (docs/adr/0009, the runbook).
package rewrite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/logread"
	"happychat/internal/msgkeys"
	"happychat/schemas"
)

// Config says what to rewrite where.
type Config struct {
	// Kafka are the client options (seeds, TLS, SASL, logger).
	Kafka []kgo.Opt
	// From are the topics read; To the topics written, which must exist
	// (same partition counts) and be empty.
	From, To schemas.Names
	// Keys is the PostgreSQL of the message keys (message_keys).
	Keys *pgxpool.Pool
	// Batch is the records per key transaction and produce (1000).
	Batch int
}

// Result counts what the rewrite did.
type Result struct {
	Records int // copied, both topics
	Sealed  int // plaintext texts sealed under a stored key
	Erased  int // texts of deleted messages sealed under a discarded key
}

// Run rewrites the log. A failed run leaves the new topics partly
// written: delete and recreate them before running again.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Batch <= 0 {
		cfg.Batch = 1000
	}
	if cfg.From.Rooms == cfg.To.Rooms {
		return Result{}, errors.New("rewrite-log: the new topic prefix must differ from the current one")
	}
	if _, err := cfg.Keys.Exec(ctx, msgkeys.Schema); err != nil {
		return Result{}, fmt.Errorf("message keys table: %w", err)
	}
	cl, err := kgo.NewClient(append(slices.Clone(cfg.Kafka), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(schemas.MaxEventSize+4096))...)
	if err != nil {
		return Result{}, err
	}
	defer cl.Close()
	if err := checkEmpty(ctx, cl, cfg.To); err != nil {
		return Result{}, err
	}
	deleted, err := deletedMessages(ctx, cfg)
	if err != nil {
		return Result{}, err
	}
	// Keys of texts sealed already, under the new topics' scope, before
	// any record that names them is written.
	if _, err := cfg.Keys.Exec(ctx, `INSERT INTO message_keys (scope, key_id, message_id, secret, held, erase_on_release)
		SELECT $2, key_id, message_id, secret, held, erase_on_release FROM message_keys WHERE scope = $1
		ON CONFLICT (scope, key_id) DO NOTHING`, cfg.From.Rooms, cfg.To.Rooms); err != nil {
		return Result{}, fmt.Errorf("copy message keys: %w", err)
	}
	w := &writer{ctx: ctx, cfg: cfg, cl: cl, deleted: deleted}
	for _, t := range [][2]string{{cfg.From.Rooms, cfg.To.Rooms}, {cfg.From.Users, cfg.To.Users}} {
		w.to = t[1]
		if err := logread.ReadWith(ctx, cfg.Kafka, t[0], logread.HighWatermark, w.add); err != nil {
			return w.res, fmt.Errorf("rewrite %s: %w", t[0], err)
		}
		if err := w.flush(ctx); err != nil {
			return w.res, err
		}
	}
	return w.res, nil
}

// checkEmpty refuses target topics that are missing or hold records.
func checkEmpty(ctx context.Context, cl *kgo.Client, to schemas.Names) error {
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, to.Rooms, to.Users)
	if err != nil {
		return fmt.Errorf("list the new topics: %w", err)
	}
	for _, topic := range []string{to.Rooms, to.Users} {
		if _, ok := ends[topic]; !ok {
			return fmt.Errorf("topic %s does not exist: create it first (happychat topics with the new prefix)", topic)
		}
	}
	var errs []error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", o.Topic, o.Partition, o.Err))
		} else if o.Offset > 0 {
			errs = append(errs, fmt.Errorf("%s[%d] is not empty", o.Topic, o.Partition))
		}
	})
	return errors.Join(errs...)
}

// deletedMessages reads the rooms topic for the messages deleted in it.
func deletedMessages(ctx context.Context, cfg Config) (map[schemas.ID]bool, error) {
	out := map[schemas.ID]bool{}
	err := logread.ReadWith(ctx, cfg.Kafka, cfg.From.Rooms, logread.HighWatermark, func(r *kgo.Record) error {
		if string(header(r, schemas.HeaderType)) != schemas.TypeMessageDeleted {
			return nil
		}
		env, err := schemas.Events.Decode(r.Value)
		if err != nil {
			return nil // copied as is
		}
		out[env.Payload.(schemas.MessageDeleted).MessageID] = true
		return nil
	})
	return out, err
}

func header(r *kgo.Record, key string) []byte {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return nil
}

// writer buffers the copies of one topic's records and writes them in
// batches: keys first, then the records.
type writer struct {
	ctx     context.Context // the run's
	cfg     Config
	cl      *kgo.Client
	deleted map[schemas.ID]bool
	to      string
	recs    []*kgo.Record
	keys    []msgkeys.Key
	res     Result
}

func (w *writer) add(r *kgo.Record) error {
	value, version, err := w.transform(r.Value)
	if err != nil {
		return err
	}
	headers := slices.Clone(r.Headers)
	if version > 0 {
		for i := range headers {
			if headers[i].Key == schemas.HeaderVersion {
				headers[i].Value = []byte(strconv.Itoa(version))
			}
		}
	}
	w.recs = append(w.recs, &kgo.Record{Topic: w.to, Partition: r.Partition, Key: r.Key, Value: value, Headers: headers})
	if len(w.recs) >= w.cfg.Batch {
		return w.flush(w.ctx)
	}
	return nil
}

// transform returns the record's value with its plaintext texts sealed,
// and the version written (0: the value is copied unchanged).
func (w *writer) transform(value []byte) ([]byte, int, error) {
	env, err := schemas.Events.Decode(value)
	if err != nil {
		return value, 0, nil // poison or a newer build's event: as it was
	}
	changed := false
	switch p := env.Payload.(type) {
	case schemas.MessageSent:
		if p.Text != "" {
			if p.Sealed, err = w.seal(env.ID, p.Text); err != nil {
				return nil, 0, err
			}
			p.Text, changed = "", true
		}
		if rt := p.ReplyTo; rt != nil && rt.Preview != "" {
			c := *rt
			if c.PreviewSealed, err = w.seal(rt.MessageID, rt.Preview); err != nil {
				return nil, 0, err
			}
			c.Preview, p.ReplyTo, changed = "", &c, true
		}
		env.Payload = p
	case schemas.MessageEdited:
		if p.Text != "" {
			if p.Sealed, err = w.seal(p.MessageID, p.Text); err != nil {
				return nil, 0, err
			}
			p.Text, changed = "", true
		}
		env.Payload = p
	}
	if !changed {
		return value, 0, nil
	}
	b, err := schemas.Events.Encode(env)
	if err != nil {
		return nil, 0, fmt.Errorf("event %s: %w", env.ID, err)
	}
	return b, schemas.Events.Version(env.Type), nil
}

// seal seals text under a new key of message: stored, unless the message
// was deleted (then the key is dropped at once: the text is erased).
func (w *writer) seal(message schemas.ID, text string) (*schemas.Sealed, error) {
	k, err := msgkeys.New(message)
	if err != nil {
		return nil, err
	}
	s, err := k.Seal(text)
	if err != nil {
		return nil, err
	}
	if w.deleted[message] {
		w.res.Erased++
	} else {
		w.keys = append(w.keys, k)
		w.res.Sealed++
	}
	return s, nil
}

// flush stores the batch's keys, then writes its records.
func (w *writer) flush(ctx context.Context) error {
	if len(w.keys) > 0 {
		if err := pgx.BeginFunc(ctx, w.cfg.Keys, func(tx pgx.Tx) error {
			return msgkeys.Write(ctx, tx, w.cfg.To.Rooms, w.keys, nil)
		}); err != nil {
			return err
		}
		w.keys = w.keys[:0]
	}
	if len(w.recs) == 0 {
		return nil
	}
	if err := w.cl.ProduceSync(ctx, w.recs...).FirstErr(); err != nil {
		return fmt.Errorf("write %s: %w", w.to, err)
	}
	w.res.Records += len(w.recs)
	w.recs = w.recs[:0]
	return nil
}
