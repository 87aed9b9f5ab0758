package main

import "context"

func runQuery(_ context.Context, _ Env, _ []string) error { return errNotImplemented }
