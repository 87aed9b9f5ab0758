package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one happychat process of the system under test. It keeps its
// addresses (public and internal) across restarts, so clients reach the new life where they reached
// the old one, and appends every life's output to one log file.
type proc struct {
	name string
	bin  string
	args []string
	env  []string
	addr string
	// internal is its internal listener (CHAT_INTERNAL_ADDR): /metrics,
	// and for a command instance the address its peers forward to.
	internal string
	logPath  string

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	expected bool // the suite killed or stopped it on purpose
	starts   int
	// crashes are exits the suite did not cause.
	crashes []string
	// exitState is how the last life ended (its wait status and last
	// words), once it did.
	exitState string
}

func newProc(name, bin, addr, internal, logPath string, env []string, args ...string) *proc {
	return &proc{name: name, bin: bin, args: args, addr: addr, internal: internal, logPath: logPath,
		env: append(env, "CHAT_HTTP_ADDR="+addr, "CHAT_INTERNAL_ADDR="+internal)}
}

// start launches a new life of the process.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.exited:
		default:
			return fmt.Errorf("%s is already running", p.name)
		}
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.starts++
	fmt.Fprintf(logf, "%s%d of %s at %s =====\n", lifeMarker, p.starts, p.name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a signal to the suite (Ctrl-C) does not reach
	// it, the suite stops it in order. Killed if the suite dies (a panic,
	// a SIGKILL): a process left running keeps its port, and the next run's
	// process on it fails to start.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited, p.expected, p.exitState = cmd, exited, false, ""
	go func() {
		err := cmd.Wait()
		logf.Close()
		words := p.lastWords()
		p.mu.Lock()
		if p.cmd == cmd {
			p.exitState = fmt.Sprint(err)
			if words != "" {
				p.exitState += ": " + words
			}
		}
		if !p.expected && p.cmd == cmd {
			p.crashes = append(p.crashes, fmt.Sprintf("%s (pid %d) exited on its own: %s", p.name, cmd.Process.Pid, p.exitState))
		}
		p.mu.Unlock()
		close(exited)
	}()
	return nil
}

// withEnv adds settings to the environment of the process's next lives
// (a later setting of the same name wins); undo takes them away again.
func (p *proc) withEnv(kv ...string) (undo func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	base := p.env
	p.env = append(slices.Clone(base), kv...)
	return func() {
		p.mu.Lock()
		p.env = base
		p.mu.Unlock()
	}
}

// setBin makes the process's next lives run another binary (a release's
// deploy).
func (p *proc) setBin(bin string) {
	p.mu.Lock()
	p.bin = bin
	p.mu.Unlock()
}

// pid is the current life's process id (0 when not running).
func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// signal sends sig to the current life; SIGKILL and SIGTERM mark the exit
// as the suite's doing and wait for it (bounded).
func (p *proc) signal(sig syscall.Signal) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	if cmd == nil {
		p.mu.Unlock()
		return fmt.Errorf("%s is not running", p.name)
	}
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM {
		p.expected = true
	}
	p.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %s to %s: %w", sig, p.name, err)
	}
	if sig != syscall.SIGKILL && sig != syscall.SIGTERM {
		return nil
	}
	select {
	case <-exited:
		return nil
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("%s did not exit within 30 s of %s", p.name, sig)
	}
}

// stop ends the process (SIGTERM, then SIGKILL) if it runs.
func (p *proc) stop() {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	// A stopped process ignores SIGTERM until continued.
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = p.signal(syscall.SIGTERM)
}

// takeCrashes returns and forgets the unexpected exits seen so far.
func (p *proc) takeCrashes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.crashes
	p.crashes = nil
	return c
}

// running reports whether the current life has not exited.
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func (p *proc) url() string { return "http://" + p.addr }

// internalURL is the base URL of its internal listener.
func (p *proc) internalURL() string { return "http://" + p.internal }

// ready reports whether /readyz answers 200.
func (p *proc) ready(ctx context.Context, hc *http.Client) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url()+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitReady polls /readyz until it answers 200 or timeout passes.
func (p *proc) waitReady(ctx context.Context, hc *http.Client, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if p.ready(ctx, hc) {
			return nil
		}
		if !p.running() {
			return fmt.Errorf("%s exited while starting (%s); this life's log ends:\n%s", p.name, p.endState(), p.lifeTail(20))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s; this life's log ends:\n%s", p.name, timeout, p.lifeTail(30))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// logSize is the current length of the process's log: a mark for logSince.
func (p *proc) logSize() int64 {
	st, err := os.Stat(p.logPath)
	if err != nil {
		return 0
	}
	return st.Size()
}

// logSince returns the log written after mark.
func (p *proc) logSince(mark int64) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil || int64(len(b)) < mark {
		return ""
	}
	return string(b[mark:])
}

// lifeMarker starts each life's part of the log (start).
const lifeMarker = "\n===== chaos: start #"

// endState is how the last life ended, once it did: its wait status and
// last words, for a report read where the log is not at hand (CI's).
func (p *proc) endState() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exitState == "" {
		return "exit not seen yet"
	}
	return p.exitState
}

// lastWords is the last line of the current life that says why a process
// stopped: the error main prints, a panic, or an ERROR log line.
func (p *proc) lastWords() string {
	life := p.life()
	lines := strings.Split(strings.TrimRight(life, "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := lines[i]
		if strings.HasPrefix(l, "happychat:") || strings.HasPrefix(l, "panic:") ||
			strings.HasPrefix(l, "fatal error:") || strings.Contains(l, "level=ERROR") {
			return l
		}
	}
	return ""
}

// life returns the current life's part of the log.
func (p *proc) life() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndex(s, lifeMarker); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// lifeTail returns the last n lines of the current life's log.
func (p *proc) lifeTail(n int) string { return lastLines(p.life(), n) }

// logTail returns the last n lines of the process's log, every life's.
func (p *proc) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return lastLines(string(b), n)
}

// runOnce runs a one-shot subcommand (topics, migrate, replay) to its end.
func runOnce(ctx context.Context, bin string, env []string, logPath string, timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	_ = os.WriteFile(logPath, out.Bytes(), 0o644)
	if err != nil {
		return out.String(), fmt.Errorf("happychat %s: %w\n%s", strings.Join(args, " "), err, lastLines(out.String(), 30))
	}
	return out.String(), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// rssBytes reads a process's resident set size from /proc.
func rssBytes(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}
