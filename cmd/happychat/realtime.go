package main

import "context"

func runRealtime(_ context.Context, _ Env, _ []string) error { return errNotImplemented }
