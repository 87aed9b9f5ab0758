package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/logread"
	"happychat/internal/testenv"
	"happychat/schemas"
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is a happychat subprocess.
type proc struct {
	cmd  *exec.Cmd
	addr string
	log  *bytes.Buffer
}

func startProc(t *testing.T, bin string, env []string, args ...string) *proc {
	t.Helper()
	addr := freePort(t)
	cmd := exec.Command(bin, args...)
	// A free port of its own for the internal listener too (the default,
	// the public port + 1000, may be taken).
	cmd.Env = append(append(os.Environ(), env...), "CHAT_HTTP_ADDR="+addr, "CHAT_INTERNAL_ADDR="+freePort(t))
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, addr: addr, log: &log}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v did not become ready:\n%s", args, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type apiClient struct {
	t     *testing.T
	token string
}

// call POSTs JSON and decodes the answer; it returns the status.
func (c apiClient) call(addr, path string, in, out any) int {
	c.t.Helper()
	body, _ := json.Marshal(in)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return 0 // indeterminate: connection refused, reset or timed out
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// TestCommandOwnerSIGKILL kills the owner of a room's partition mid-stream
// while a client keeps sending, retrying each message with the same
// client_msg_id until it is acknowledged. The other instance takes the
// partition over; every acknowledged message is in the log exactly once,
// with the acknowledged id, and the room's seq has no gap.
// killAdmin is the admin token of the SIGKILL test's processes (32+ characters,
// as the services require).
const killAdmin = "kill-admin-0123456789abcdefghijklmn"

func TestCommandOwnerSIGKILL(t *testing.T) {
	brokers := testenv.Kafka(t)
	bin := buildBinary(t)
	prefix := "kill" + testenv.RandomHex(4)
	env := []string{
		"KAFKA_BROKERS=" + strings.Join(brokers, ","), "CHAT_TOPIC_PREFIX=" + prefix,
		"CHAT_ROOM_PARTITIONS=2", "CHAT_TOKEN_SECRET=kill-test-secret-0123456789",
		"CHAT_ADMIN_TOKEN=" + killAdmin, "CHAT_SEND_RATE=1000", "CHAT_SEND_BURST=1000",
		"CHAT_RATE_LIMIT_EXEMPT=" + loopbackExempt,
	}
	a := startProc(t, bin, append(env, "CHAT_INSTANCE_ID=1"), "command")
	b := startProc(t, bin, append(env, "CHAT_INSTANCE_ID=2"), "command")
	admin := apiClient{t: t, token: killAdmin}

	var room schemas.Room
	for admin.call(a.addr, "/v1/rooms", map[string]string{"title": "kill"}, &room) != http.StatusCreated {
		time.Sleep(200 * time.Millisecond)
	}
	var sess schemas.Session
	if st := (apiClient{t: t}).call(a.addr, "/v1/sessions", map[string]string{"nickname": "survivor"}, &sess); st != http.StatusCreated {
		t.Fatalf("session: %d", st)
	}
	user := apiClient{t: t, token: sess.Token}
	for user.call(b.addr, "/v1/rooms/"+room.ID.String()+"/join", struct{}{}, nil) != http.StatusOK {
		time.Sleep(200 * time.Millisecond)
	}

	acked := map[string]schemas.ID{}
	killed := false
	for i := range 60 {
		id := fmt.Sprintf("m-%03d", i)
		for attempt := 0; ; attempt++ {
			// Send through both instances alternately: one of them
			// forwards to the owner.
			target := []*proc{a, b}[(i+attempt)%2]
			if killed && target == a {
				target = b
			}
			var msg schemas.Message
			st := user.call(target.addr, "/v1/rooms/"+room.ID.String()+"/messages",
				map[string]string{"body": "hello " + id, "client_msg_id": id}, &msg)
			if st == http.StatusCreated {
				if prev, ok := acked[id]; ok && prev != msg.ID {
					t.Fatalf("%s acknowledged twice with different ids", id)
				}
				acked[id] = msg.ID
				break
			}
			if st != 0 && st != http.StatusServiceUnavailable {
				t.Fatalf("send %s: status %d", id, st)
			}
			if attempt > 300 {
				t.Fatalf("send %s never succeeded", id)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if i == 20 {
			// Kill the room's owner without any chance to clean up; the
			// survivor must take its partition over.
			if ownerAddr(t, brokers, prefix, room.ID, 2) == b.addr {
				a, b = b, a
			}
			if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}

	// The log: every acknowledged message exactly once with its id; seq
	// 1..n without gaps.
	events := readRoomsTopic(t, brokers, schemas.NamesFor(prefix).Rooms)
	seen := map[string]int{}
	var seq int64
	for _, e := range events {
		if e.RoomID != room.ID {
			continue
		}
		if e.Seq != seq+1 {
			t.Fatalf("seq %d after %d", e.Seq, seq)
		}
		seq = e.Seq
		if m, ok := e.Payload.(schemas.MessageSent); ok {
			seen[m.ClientMsgID]++
			if want, ok := acked[m.ClientMsgID]; ok && want != e.ID {
				t.Fatalf("%s in the log as %d, acknowledged as %d", m.ClientMsgID, e.ID, want)
			}
		}
	}
	for id := range acked {
		if seen[id] != 1 {
			t.Fatalf("%s is in the log %d times", id, seen[id])
		}
	}
	if len(acked) != 60 {
		t.Fatalf("%d acknowledged, want 60", len(acked))
	}
}

// ownerAddr returns the advertised address of the owner of room's partition.
func ownerAddr(t *testing.T, brokers []string, prefix string, room schemas.ID, parts int) string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	want := schemas.Partition(room, parts)
	// The group may be rebalancing (the second instance joins while the
	// first serves): ask again until it is stable with an owner.
	var state string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		groups, err := kadm.NewClient(cl).DescribeGroups(ctx, schemas.NamesFor(prefix).CommandGroup)
		cancel()
		if err != nil {
			continue
		}
		for _, g := range groups {
			state = g.State
			if g.State != "Stable" {
				continue
			}
			for _, m := range g.Members {
				if a, ok := m.Assigned.AsConsumer(); ok {
					for _, tp := range a.Topics {
						if slices.Contains(tp.Partitions, want) {
							return strings.TrimPrefix(m.ClientID, "happychat-command@")
						}
					}
				}
			}
		}
	}
	t.Fatalf("no owner found for the room's partition (group state %q)", state)
	return ""
}

// readRoomsTopic reads every committed event of topic.
func readRoomsTopic(t *testing.T, brokers []string, topic string) []schemas.Envelope {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []schemas.Envelope
	err := logread.Read(ctx, brokers, topic, logread.HighWatermark, func(r *kgo.Record) error {
		e, err := schemas.Events.Decode(r.Value)
		if err != nil {
			return fmt.Errorf("undecodable record: %w", err)
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
