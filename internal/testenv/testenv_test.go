package testenv

import (
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"testing"
)

// recorder is a testing.TB that records how the test was ended, and ends
// only the goroutine that run started, as testing would end the test's.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with r in a goroutine of its own, as testing runs a test.
func (r *recorder) run(f func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
}

// A server that does not answer skips the test, except under CI, where
// every server is started and a skip would hide a broken set-up.
func TestUnreachable(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			r := &recorder{TB: t}
			r.run(func(tb testing.TB) {
				Unreachable(tb, "Kafka", "127.0.0.1:1", errors.New("connection refused"))
				t.Error("Unreachable returned")
			})
			got, other := r.skipped, r.failed
			if ci != "" {
				got, other = r.failed, r.skipped
			}
			if other != "" {
				t.Errorf("both skipped (%q) and failed (%q)", r.skipped, r.failed)
			}
			if want := regexp.MustCompile(`^Kafka at 127\.0\.0\.1:1 is not reachable.*: connection refused$`); !want.MatchString(got) {
				t.Errorf("message %q does not match %s", got, want)
			}
		})
	}
}

func TestGetenv(t *testing.T) {
	t.Setenv("TESTENV_SET", "x")
	t.Setenv("TESTENV_EMPTY", "")
	if got := Getenv("TESTENV_SET", "d"); got != "x" {
		t.Errorf("set: %q, want x", got)
	}
	if got := Getenv("TESTENV_EMPTY", "d"); got != "d" {
		t.Errorf("empty: %q, want the default", got)
	}
}

func TestKafkaBrokers(t *testing.T) {
	t.Setenv("KAFKA_BROKERS", "")
	if got := KafkaBrokers(); len(got) != 1 || got[0] != DefaultKafkaBrokers {
		t.Errorf("default: %q", got)
	}
	t.Setenv("KAFKA_BROKERS", "a:1,b:2")
	if got := KafkaBrokers(); len(got) != 2 || got[0] != "a:1" || got[1] != "b:2" {
		t.Errorf("list: %q", got)
	}
}

func TestRandomName(t *testing.T) {
	a, b := RandomName("t_"), RandomName("t_")
	if !regexp.MustCompile(`^t_[0-9a-f]{12}$`).MatchString(a) {
		t.Errorf("RandomName = %q, want t_ and 12 hex digits", a)
	}
	if a == b {
		t.Errorf("two names alike: %q", a)
	}
	if h := RandomHex(3); !regexp.MustCompile(`^[0-9a-f]{6}$`).MatchString(h) {
		t.Errorf("RandomHex(3) = %q", h)
	}
}
