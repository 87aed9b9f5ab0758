package main

import (
	"context"
	"fmt"

	"happychat/cmd/internal/httpserver"
)

// runDev runs every service in one process on one address, with an embedded
// Kafka-protocol broker unless KAFKA_BROKERS is set.
func runDev(ctx context.Context, env Env, _ []string) error {
	p, err := newProcess(env)
	if err != nil {
		return err
	}
	defer p.close()
	if err := p.embedKafkaIfUnset(); err != nil {
		return err
	}
	if err := p.ensureTopics(ctx); err != nil {
		return err
	}
	cl, err := p.kafkaClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	checks := []httpserver.Check{{Name: "kafka", Ping: cl.Ping}}
	engine := httpserver.NewEngine(p.reg, checks, p.log)
	ready := func(addr string) {
		p.log.Info("happychat dev is up", "url", "http://"+addr+"/", "kafka", p.brokers)
		fmt.Fprintf(env.Stdout, "happychat is running: open http://%s/\n", addr)
		if env.Ready != nil {
			env.Ready(addr)
		}
	}
	return httpserver.Serve(ctx, p.cfg.HTTPAddr, engine, ready, p.log)
}
