package main

import "context"

func runReplay(_ context.Context, _ Env, _ []string) error { return errNotImplemented }
