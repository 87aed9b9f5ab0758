package main

import (
	"context"
	"flag"
	"fmt"

	"happychat/cmd/internal/kafka"
)

// runACLs gives each service's principal what it needs on this
// deployment's topics and groups, and nothing more (docs/adr/0006): run it
// once, after `happychat topics`, as the setup principal (a super user of
// the brokers), on a cluster whose brokers run an authorizer. --dry-run
// prints the table without connecting.
func runACLs(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("acls", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	p := kafka.DefaultPrincipals
	fs.StringVar(&p.Command, "command", p.Command, "the command service's SCRAM user")
	fs.StringVar(&p.Projector, "projector", p.Projector, "the projectors' SCRAM user")
	fs.StringVar(&p.Realtime, "realtime", p.Realtime, "the realtime service's SCRAM user")
	fs.StringVar(&p.Query, "query", p.Query, "the query service's SCRAM user (it reads the revocations)")
	dry := fs.Bool("dry-run", false, "print the ACLs without creating them")
	if err := fs.Parse(args); err != nil {
		return err
	}
	proc, err := newProcess(env)
	if err != nil {
		return err
	}
	defer proc.close()
	grants := kafka.Grants(proc.cfg.Names(), p)
	for _, g := range grants {
		fmt.Fprintln(env.Stdout, g)
	}
	if *dry {
		return nil
	}
	cl, err := proc.kafkaClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := kafka.ApplyACLs(ctx, cl, grants); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%d ACL rows created\n", len(grants))
	return nil
}
