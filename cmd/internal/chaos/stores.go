package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// ownStores are a PostgreSQL and a ClickHouse of the suite's own, started
// through deploy/local's scripts under a state directory and on ports of
// their own, for the scenarios that pause or fill a store: the shared
// servers other tests use are never touched.
type ownStores struct {
	srv        servers
	dir        string
	pgURL      string
	chAddr     string
	chDataPath string
	// tmpfs is set when the ClickHouse data path is a size-limited tmpfs
	// the suite mounted (so that it can be filled); skipped says why not.
	tmpfs   bool
	skipped string
}

// chTmpfsSize bounds the ClickHouse data path: small, since the disk-full
// scenario fills what is left of it.
const chTmpfsSize = "256m"

// freePort is a port nothing listens on now.
func freePort() (string, error) {
	a, err := freeAddr()
	if err != nil {
		return "", err
	}
	_, port, err := net.SplitHostPort(a)
	return port, err
}

// startOwnStores starts the stores and returns cfg pointed at them (the
// system's servers, its scripts' state and environment included).
func startOwnStores(ctx context.Context, cfg Config) (_ *ownStores, _ Config, err error) {
	dir, err := os.MkdirTemp("", "happychat-chaos-stores-")
	if err != nil {
		return nil, cfg, err
	}
	// PostgreSQL runs as the postgres OS user, which must enter it.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, cfg, err
	}
	ports := map[string]string{}
	for _, k := range []string{"HAPPYCHAT_PG_PORT", "HAPPYCHAT_CH_TCP_PORT", "HAPPYCHAT_CH_HTTP_PORT"} {
		if ports[k], err = freePort(); err != nil {
			return nil, cfg, err
		}
	}
	env := append(slices.Clone(cfg.Environ), "HAPPYCHAT_STATE_DIR="+dir)
	for k, v := range ports {
		env = append(env, k+"="+v)
	}
	s := &ownStores{srv: servers{dir: cfg.DeployDir, stateDir: dir, env: env}, dir: dir,
		pgURL:      "postgres://happychat:happychat@127.0.0.1:" + ports["HAPPYCHAT_PG_PORT"] + "/happychat?sslmode=disable",
		chAddr:     "127.0.0.1:" + ports["HAPPYCHAT_CH_TCP_PORT"],
		chDataPath: filepath.Join(dir, "clickhouse", "data")}
	defer func() {
		if err != nil {
			s.stop(context.WithoutCancel(ctx))
		}
	}()
	if err := os.MkdirAll(s.chDataPath, 0o755); err != nil {
		return s, cfg, err
	}
	// A size-limited tmpfs under ClickHouse's data, if this machine lets
	// the suite mount one (CI runs as root).
	out, merr := exec.CommandContext(ctx, "mount", "-t", "tmpfs", "-o", "size="+chTmpfsSize, "tmpfs", s.chDataPath).CombinedOutput()
	if merr != nil {
		s.skipped = fmt.Sprintf("mount -t tmpfs on %s not permitted: %v %s", s.chDataPath, merr, strings.TrimSpace(string(out)))
	} else {
		s.tmpfs = true
	}
	for _, server := range []string{"postgres", "clickhouse"} {
		if err := s.srv.run(ctx, server, "start"); err != nil {
			return s, cfg, fmt.Errorf("the suite's own %s: %w", server, err)
		}
	}
	cfg.PGURL, cfg.CHAddr, cfg.StateDir, cfg.Environ = s.pgURL, s.chAddr, dir, env
	return s, cfg, nil
}

// stop stops both stores, unmounts the tmpfs and removes their state.
func (s *ownStores) stop(ctx context.Context) {
	for _, server := range []string{"postgres", "clickhouse"} {
		_ = s.srv.run(ctx, server, "stop")
	}
	if s.tmpfs {
		_ = exec.CommandContext(ctx, "umount", s.chDataPath).Run()
	}
	_ = os.RemoveAll(s.dir)
}

// storePID is the pid of a store's main process, from the file its script
// keeps: the postmaster's or ClickHouse's.
func (s servers) storePID(server string) (int, error) {
	var path string
	switch server {
	case "postgres":
		path = filepath.Join(s.stateDir, "postgres", "data", "postmaster.pid")
	case "clickhouse":
		path = filepath.Join(s.stateDir, "clickhouse", "clickhouse.pid")
	default:
		return 0, fmt.Errorf("no pid file for %s", server)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("%s pid: %w", server, err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("%s pid file %s holds %q", server, path, first)
	}
	return pid, nil
}

// signalStore sends sig to a store's main process and every process it
// started. A process group is not enough: PostgreSQL's postmaster makes
// each backend the leader of a session of its own (ps shows each in its own
// group), so a SIGSTOP to the postmaster's group pauses only the postmaster
// and the pooled connections' backends go on answering. The main process
// is signalled first, so that no child is forked after the scan.
func (s servers) signalStore(server string, sig syscall.Signal) error {
	pid, err := s.storePID(server)
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("%s to %s (pid %d): %w", sig, server, pid, err)
	}
	kids, err := descendants(pid)
	if err != nil {
		return fmt.Errorf("%s to %s's processes: %w", sig, server, err)
	}
	var errs []error
	for _, k := range kids {
		if err := syscall.Kill(k, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("%s to %s's process %d: %w", sig, server, k, err))
		}
	}
	return errors.Join(errs...)
}

// descendants lists the processes below pid, from /proc.
func descendants(pid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		if ppid, ok := parentOf(string(b)); ok {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	for queue := children[pid]; len(queue) > 0; queue = queue[1:] {
		out = append(out, queue[0])
		queue = append(queue, children[queue[0]]...)
	}
	return out, nil
}

// parentOf reads the parent pid from a /proc/<pid>/stat line: "pid (comm)
// state ppid ...", where comm may hold spaces and parentheses.
func parentOf(stat string) (int, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// fillDisk writes a file into path until its filesystem is full; the
// returned undo removes it.
func fillDisk(path string) (undo func() error, err error) {
	name := filepath.Join(path, "chaos-filler")
	f, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	undo = func() error { return os.Remove(name) }
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			f.Close()
			if errors.Is(err, syscall.ENOSPC) {
				return undo, nil
			}
			return undo, fmt.Errorf("fill %s: %w", path, err)
		}
	}
}
