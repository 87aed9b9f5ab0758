package chaos

import (
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"
)

func TestParentOf(t *testing.T) {
	tests := []struct {
		stat string
		want int
		ok   bool
	}{
		{"3335 (postgres) S 3334 3335 3335 0 -1", 3334, true},
		{"42 (a (b) c) R 7 42 42", 7, true},
		{"42 (broken", 0, false},
		{"42 (x) S", 0, false},
	}
	for _, tt := range tests {
		got, ok := parentOf(tt.stat)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parentOf(%q) = %d, %v; want %d, %v", tt.stat, got, ok, tt.want, tt.ok)
		}
	}
}

// TestDescendants finds a grandchild that leads a session of its own, as a
// PostgreSQL backend does (the reason a process group is not enough).
func TestDescendants(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	cmd := exec.Command("sh", "-c", "setsid sleep 30 & wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var kids []int
	for range 100 {
		var err error
		if kids, err = descendants(os.Getpid()); err != nil {
			t.Fatal(err)
		}
		if len(kids) >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !slices.Contains(kids, cmd.Process.Pid) || len(kids) < 2 {
		t.Fatalf("descendants %v: want the shell %d and its session-leading child", kids, cmd.Process.Pid)
	}
	for _, k := range kids[1:] {
		_ = syscall.Kill(k, syscall.SIGKILL)
	}
}
