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
		"KAFKA_BROKERS=", "CHAT_HTTP_ADDR=127.0.0.1:0", "HAPPYCHAT_STATE_DIR="+state, "CHAT_ADMIN_TOKEN=",
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
	// The first lines name the URL and, without CHAT_ADMIN_TOKEN, the
	// generated dev admin token.
	urlc := make(chan [2]string, 1)
	go func() {
		buf := make([]byte, 4096)
		var out strings.Builder
		word := func(after string) string {
			i := strings.Index(out.String(), after)
			if i < 0 {
				return ""
			}
			rest := out.String()[i+len(after):]
			if j := strings.IndexAny(rest, "\n "); j > 0 {
				return rest[:j]
			}
			return ""
		}
		for {
			n, err := stdout.Read(buf)
			out.Write(buf[:n])
			if u, tok := word("open "), word("dev admin token "); u != "" && tok != "" {
				urlc <- [2]string{strings.TrimSuffix(u, "/"), tok}
				_, _ = io.Copy(io.Discard, stdout)
				return
			}
			if err != nil {
				return
			}
		}
	}()
	var base, admin string
	select {
	case got := <-urlc:
		base, admin = got[0], got[1]
	case <-time.After(90 * time.Second):
		t.Fatalf("dev mode did not print its URL and admin token; stderr:\n%s", stderr.String())
	}
	// The printed token is the one kept in the state directory, and it is
	// the admin's: proposals are for admins only.
	if b, err := os.ReadFile(filepath.Join(state, "dev-admin-token")); err != nil || strings.TrimSpace(string(b)) != admin {
		t.Fatalf("dev-admin-token holds %q (%v), printed %q", b, err, admin)
	}
	// Reads need the migrated stores: wait until ready.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev mode not ready within 60 s; stderr:\n%s", stderr.String())
		}
	}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, base+"/v1/rooms?status=proposed", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("proposals with the printed admin token: %v %v; stderr:\n%s", resp, err, stderr.String())
	} else {
		resp.Body.Close()
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
