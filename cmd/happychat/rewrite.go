package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"happychat/cmd/internal/rewrite"
	"happychat/schemas"
)

// runRewriteLog copies the log of CHAT_TOPIC_PREFIX into the topics of a new
// prefix with every plaintext message text sealed and every deleted
// message's text erased (docs/adr/0009, the log migration):
//
//	happychat topics          # with CHAT_TOPIC_PREFIX=<new>: create the new topics
//	happychat rewrite-log --to-prefix <new>
//
// Run it with the services stopped (nothing may append meanwhile); then
// start them with CHAT_TOPIC_PREFIX=<new> and run `happychat replay --view
// all`.
func runRewriteLog(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("rewrite-log", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	to := fs.String("to-prefix", "", "topic prefix of the new, empty topics to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *to == "" {
		return errors.New("--to-prefix is required")
	}
	p, err := newBrokerProcess(env)
	if err != nil {
		return err
	}
	defer p.close()
	pg, err := pgxpool.New(ctx, p.cfg.PGURL)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer pg.Close()
	res, err := rewrite.Run(ctx, rewrite.Config{Kafka: p.kafkaOpts(), From: p.cfg.Names(), To: schemas.NamesFor(*to), Keys: pg})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "rewrote %d records into %s: %d texts sealed, %d texts of deleted messages erased\n",
		res.Records, schemas.NamesFor(*to).Rooms, res.Sealed, res.Erased)
	return nil
}
