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

// signalStore sends sig to a store's whole process group (PostgreSQL's
// backends with their postmaster: both scripts start the server in a
// session of its own), or to its main process when it leads no group.
func (s servers) signalStore(server string, sig syscall.Signal) error {
	pid, err := s.storePID(server)
	if err != nil {
		return err
	}
	target := pid
	if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
		target = -pid
	}
	if err := syscall.Kill(target, sig); err != nil {
		return fmt.Errorf("%s to %s (pid %d): %w", sig, server, pid, err)
	}
	return nil
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
