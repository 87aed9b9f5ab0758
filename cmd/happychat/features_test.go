package main

import (
	"bytes"
	"context"
	"io"
	"maps"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// background runs `happychat <sub>` in-process until stop is called, and
// returns once it serves.
func background(t *testing.T, sub string, env map[string]string) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, Env{Getenv: func(k string) string { return env[k] }, Stdout: io.Discard, Stderr: os.Stderr,
			Ready: func(string) { close(ready) }}, []string{sub})
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("happychat %s did not start: %v", sub, err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("happychat %s did not start", sub)
	}
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatalf("happychat %s did not stop", sub)
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// features runs `happychat features args…` and returns its output.
func features(ctx context.Context, env map[string]string, args ...string) (string, error) {
	return runTool(ctx, env, append([]string{"features"}, args...)...)
}

// runTool runs a subcommand that ends by itself (topics, acls, features…)
// in-process with env, and returns its output.
func runTool(ctx context.Context, env map[string]string, args ...string) (string, error) {
	var out bytes.Buffer
	err := run(ctx, Env{Getenv: func(k string) string { return env[k] }, Stdout: &out, Stderr: io.Discard}, args)
	return out.String(), err
}

// TestFeaturesAcrossRoles: `happychat features` lists the live projector
// and realtime instances with their build's level (schemas.FeatureLevel,
// "this build" below); --set to the level above it (a next build's) is
// refused while they run (naming them) and leaves the level as it was;
// once they are gone (withdrawn on a clean stop) it is allowed, and this
// build of either role then refuses to start.
func TestFeaturesAcrossRoles(t *testing.T) {
	env := devEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := features(ctx, env); err != nil { // creates the topics
		t.Fatal(err)
	}
	names := schemas.NamesFor(env["CHAT_TOPIC_PREFIX"])
	t.Cleanup(func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(env["KAFKA_BROKERS"], ",")...))
		if err != nil {
			return
		}
		defer cl.Close()
		_, _ = kadm.NewClient(cl).DeleteTopics(context.Background(), names.Rooms, names.Users, names.Features, names.Typing)
	})
	build, next := strconv.Itoa(schemas.FeatureLevel), strconv.Itoa(schemas.FeatureLevel+1)
	rtEnv := maps.Clone(env)
	rtEnv["CHAT_COMMAND_URL"] = "http://127.0.0.1:1" // never called: no socket opens
	rtEnv["CHAT_HTTP_ADDR"] = "127.0.0.1:0"
	rtEnv["CHAT_ADVERTISE_ADDR"] = "rt-test:8085"
	stopProjector := background(t, "projector", env)
	stopRealtime := background(t, "realtime", rtEnv)

	var out string
	eventually(t, "both roles listed", func() error {
		var err error
		if out, err = features(ctx, env); err != nil {
			return err
		}
		for _, want := range []string{
			"cluster feature level: 1",
			"projector-postgres instance projector-postgres-0: understands up to " + build,
			"projector-clickhouse instance projector-clickhouse-0: understands up to " + build,
			"realtime instance ",
		} {
			if !strings.Contains(out, want) {
				return &listingError{out, want}
			}
		}
		return nil
	})
	if !strings.Contains(out, "@rt-test:8085: understands up to "+build) {
		t.Errorf("the realtime instance is not named by its address:\n%s", out)
	}

	_, err := features(ctx, env, "--set", next)
	if err == nil {
		t.Fatalf("--set %s allowed while level-%s instances run", next, build)
	}
	for _, want := range []string{"below feature level " + next, "projector-postgres projector-postgres-0 (level " + build + ")", "projector-clickhouse", "realtime "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal %q does not name %q", err, want)
		}
	}
	if out, err = features(ctx, env); err != nil || !strings.Contains(out, "cluster feature level: 1") || strings.Contains(out, "warning") {
		t.Fatalf("after the refusal (%v):\n%s", err, out)
	}

	if err := stopProjector(); err != nil {
		t.Fatal(err)
	}
	if err := stopRealtime(); err != nil {
		t.Fatal(err)
	}
	if out, err = features(ctx, env, "--set", next); err != nil {
		t.Fatalf("--set %s refused once every instance is gone: %v", next, err)
	}
	if !strings.Contains(out, "cluster feature level: "+next) || strings.Contains(out, " instance ") || strings.Contains(out, "warning") {
		t.Errorf("after --set 2:\n%s", out)
	}

	for sub, e := range map[string]map[string]string{"projector": env, "realtime": rtEnv} {
		err := run(ctx, Env{Getenv: func(k string) string { return e[k] }, Stdout: io.Discard, Stderr: io.Discard}, []string{sub})
		if err == nil || !strings.Contains(err.Error(), "feature level is above this build's") {
			t.Errorf("a level-%s %s started against cluster level %s: %v", build, sub, next, err)
		}
	}
}

type listingError struct{ out, want string }

func (e *listingError) Error() string { return "no " + e.want + " in:\n" + e.out }
