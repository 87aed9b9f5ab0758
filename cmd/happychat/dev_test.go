package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"happychat/internal/testenv"
)

// buildBinary builds cmd/happychat once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "happychat")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

// TestDevStartsAnswersAndStopsOnSIGTERM runs the real binary in dev mode
// with the embedded broker, waits for /healthz, and checks that SIGTERM
// stops it cleanly (exit status 0) within the shutdown budget.
func TestDevStartsAnswersAndStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary; needs PostgreSQL and ClickHouse")
	}
	requireStores(t)
	bin := buildBinary(t)
	state := t.TempDir()
	cmd := exec.Command(bin, "dev")
	cmd.Env = append(os.Environ(),
		"KAFKA_BROKERS=", "CHAT_HTTP_ADDR=127.0.0.1:0", "HAPPYCHAT_STATE_DIR="+state,
		"CHAT_TOPIC_PREFIX=dev"+testenv.RandomHex(4))
	cmd.Env = append(cmd.Env, freshStores(t)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	urlc := make(chan string, 1)
	go func() {
		buf := make([]byte, 4096)
		var out strings.Builder
		for {
			n, err := stdout.Read(buf)
			out.Write(buf[:n])
			if i := strings.Index(out.String(), "open http://"); i >= 0 {
				rest := out.String()[i+len("open "):]
				if j := strings.IndexAny(rest, "\n "); j > 0 {
					urlc <- strings.TrimSuffix(rest[:j], "/")
					_, _ = io.Copy(io.Discard, stdout)
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	var base string
	select {
	case base = <-urlc:
	case <-time.After(90 * time.Second):
		t.Fatalf("dev mode did not print its URL; stderr:\n%s", stderr.String())
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %d", resp.StatusCode)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("dev mode exited with %v after SIGTERM; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dev mode did not stop within 30 s of SIGTERM")
	}
}

// TestVersionAndUnknownSubcommand covers the binary's entry point.
func TestVersionAndUnknownSubcommand(t *testing.T) {
	var out strings.Builder
	env := Env{Getenv: func(string) string { return "" }, Stdout: &out, Stderr: io.Discard}
	if err := run(context.Background(), env, []string{"version"}); err != nil || !strings.HasPrefix(out.String(), "happychat ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
	if err := run(context.Background(), env, []string{"nope"}); err == nil {
		t.Fatal("unknown subcommand must fail")
	}
	if err := run(context.Background(), env, nil); err == nil {
		t.Fatal("missing subcommand must fail")
	}
}
