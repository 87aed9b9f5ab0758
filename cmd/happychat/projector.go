package main

import "context"

func runProjector(_ context.Context, _ Env, _ []string) error { return errNotImplemented }
