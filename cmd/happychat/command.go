package main

import "context"

func runCommand(_ context.Context, _ Env, _ []string) error { return errNotImplemented }
