package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// servers stops and starts the shared servers (Kafka, PostgreSQL,
// ClickHouse) through the project's own scripts, deploy/local/<server>.sh,
// which every other test also relies on: the suite must therefore never
// run beside other tests.
type servers struct {
	dir      string // deploy/local
	stateDir string // where the scripts keep pid files
	env      []string
}

func (s servers) script(server string) string { return filepath.Join(s.dir, server+".sh") }

// check fails early when the scripts are missing.
func (s servers) check() error {
	for _, srv := range []string{"kafka", "postgres", "clickhouse"} {
		if _, err := os.Stat(s.script(srv)); err != nil {
			return fmt.Errorf("server script: %w (run from the repository root or pass --deploy)", err)
		}
	}
	return nil
}

// run calls `<server>.sh <action>` and returns its output on failure.
func (s servers) run(ctx context.Context, server, action string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.script(server), action)
	cmd.Env = s.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", s.script(server), action, err, lastLines(out.String(), 20))
	}
	return nil
}

// killKafka sends SIGKILL to the broker whose pid kafka.sh recorded. The
// suite only does so after it restarted the broker itself in the same run,
// so the process it kills is one it started.
func (s servers) killKafka() error {
	path := filepath.Join(s.stateDir, "kafka", "kafka.pid")
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("kafka pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return fmt.Errorf("kafka pid file %s holds %q", path, b)
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || !bytes.Contains(cmdline, []byte("kafka.Kafka")) {
		return errors.New("the pid in " + path + " is not a Kafka broker")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill kafka (pid %d): %w", pid, err)
	}
	for range 100 {
		if !alive(pid) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("kafka (pid %d) still alive after SIGKILL", pid)
}

// alive reports whether pid runs (a zombie does not: it only waits to be
// reaped by whoever is its parent now).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses, which may hold
	// spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	st := b[i+2]
	return st != 'Z' && st != 'X'
}
