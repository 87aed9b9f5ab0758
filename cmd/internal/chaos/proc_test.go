package chaos

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A process that dies while starting is reported with its wait status and
// the line that says why, from its current life only: a CI keeps only the
// head and the end of the output, not the log.
func TestExitedWhileStartingSaysWhy(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "p.log")
	p := newProc("command-x", "/bin/sh", "127.0.0.1:1", "127.0.0.1:2", logPath, nil,
		"-c", `echo 'level=ERROR msg="first life"'; exit 0`)
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	p.args = []string{"-c", `echo 'level=INFO msg=listening'; echo 'happychat: command: lease lost' >&2; exit 1`}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	err := p.waitReady(context.Background(), &http.Client{Timeout: time.Second}, 10*time.Second)
	if err == nil {
		t.Fatal("waitReady of a process that exited returned nil")
	}
	first, rest, _ := strings.Cut(err.Error(), "\n")
	if !strings.Contains(first, "exit status 1: happychat: command: lease lost") {
		t.Errorf("first line of the error does not say why: %q", first)
	}
	if strings.Contains(rest, "first life") {
		t.Errorf("the report quotes an earlier life:\n%s", rest)
	}
	if c := p.takeCrashes(); len(c) != 2 || !strings.Contains(c[1], "lease lost") {
		t.Errorf("crashes = %q, want the second to name its last words", c)
	}

	var out bytes.Buffer
	failed := &Result{Name: "rolling-upgrade"}
	failed.addFindings(finding(KindAborted, 0, "%v", err))
	digest(&out, &Report{Scenarios: []*Result{{Name: "baseline"}, failed}})
	if !strings.Contains(out.String(), "chaos: rolling-upgrade: "+KindAborted+": command-x exited while starting (exit status 1: happychat:") ||
		strings.Count(out.String(), "\n") != 1 {
		t.Errorf("digest = %q", out.String())
	}
}
