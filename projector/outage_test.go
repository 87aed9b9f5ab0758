package projector

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"happychat/internal/testenv"
)

// proxy is a TCP proxy the test can cut: while cut, it drops every open
// connection and closes new ones at once, as a server that went away would.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() { _ = ln.Close(); p.setCut(true) })
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

func (p *proxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			_ = c.Close()
		}
	}
}

// TestClickHouseOutage: ClickHouse goes away in the middle of a load (the
// test cuts a proxy in front of it) and comes back; the projector retries,
// catches up, and ClickHouse ends with exactly the messages of the log.
func TestClickHouseOutage(t *testing.T) {
	needServers(t)
	names := newTopics(t, 4, 1)
	st := newStores(t)
	px := newProxy(t, testenv.ClickHouseAddr())
	viaProxy := openCH(t, px.addr(), st.chDB)
	defer func() { _ = viaProxy.Close() }()

	reg := prometheus.NewRegistry()
	rules := rulesWith(t, "darn")
	ch, err := NewClickHouse(ClickHouseConfig{Conn: viaProxy, Names: names, Kafka: kafkaOpts(), Rules: rules,
		Log: testLog(t), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	runInBackground(t, ch.Run)

	prod := newProducer(t)
	g := newGen(names, uint64(time.Now().UnixNano()))
	produce(t, prod, g.run(3000, chatty))
	waitFor(t, 60*time.Second, "the first load in ClickHouse", func() (bool, error) {
		h, err := readHistory(context.Background(), st.ch)
		return err == nil && h.Messages > 0, err
	})

	px.setCut(true)
	for range 10 {
		produce(t, prod, g.run(1000, chatty))
		time.Sleep(200 * time.Millisecond)
	}
	// Let the projector fail a few times against the dead server.
	waitFor(t, 30*time.Second, "insert failures while ClickHouse is away", func() (bool, error) {
		return counter(ch.m.errors.WithLabelValues(chProjectorName, "flush")) >= 2, nil
	})
	px.setCut(false)

	end := endOffsets(t, names.Rooms)
	waitFor(t, 90*time.Second, "ClickHouse to catch up after the outage", func() (bool, error) {
		return chCaughtUp(context.Background(), st.ch, names.Rooms, end)
	})
	_, want := fold(names, g.recs)
	got, err := readHistory(context.Background(), st.ch)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("after the outage: want %+v, got %+v", want, got)
	}
	checkSoftened(t, st, rules)
	t.Logf("failed inserts during the outage: %v; history %+v",
		counter(ch.m.errors.WithLabelValues(chProjectorName, "flush")), got)
}

func counter(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}
