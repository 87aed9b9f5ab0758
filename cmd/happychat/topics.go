package main

import (
	"context"
	"fmt"
)

func runTopics(ctx context.Context, env Env, _ []string) error {
	p, err := newProcess(env)
	if err != nil {
		return err
	}
	defer p.close()
	if err := p.ensureTopics(ctx); err != nil {
		return err
	}
	n := p.cfg.Names()
	fmt.Fprintf(env.Stdout, "topics ready: %s (%d partitions), %s (%d)\n",
		n.Rooms, p.cfg.RoomParts, n.Users, p.cfg.UserParts)
	return nil
}
