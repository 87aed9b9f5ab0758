package main

import "context"

func runMigrate(_ context.Context, _ Env, _ []string) error { return errNotImplemented }
