// Package netfault cuts the network between one process and its Kafka
// brokers, and heals it, for the fault suite and tests: an in-process
// Toxiproxy (github.com/Shopify/toxiproxy/v2) TCP proxy in front of each
// broker, which only the process under test dials (through the binary's
// test-only CHAT_KAFKA_DIAL_MAP), so every other client of the same
// brokers is untouched.
//
// Toxiproxy rather than a proxy of our own: it is the well-kept tool for
// exactly this, and its toxics also give latency, bandwidth and reset
// faults should a scenario want them. It runs in-process (its Go
// packages) so the suite needs no server binary on the machine.
package netfault

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// cut is the pair of toxics a partition adds to every proxy: Toxiproxy's
// timeout toxic with timeout 0 drops every byte in its direction and
// never closes the connection, which is what a partition looks like to
// both ends (no reset, no FIN: requests hang until their own timeouts).
var cut = []string{
	`{"name":"cut-up","type":"timeout","stream":"upstream","attributes":{"timeout":0}}`,
	`{"name":"cut-down","type":"timeout","stream":"downstream","attributes":{"timeout":0}}`,
}

// Proxies are one TCP proxy per upstream address (a broker's advertised
// host:port), each on a free loopback port.
type Proxies struct {
	mu      sync.Mutex
	proxies map[string]*toxiproxy.Proxy // by upstream
	cut     bool
}

// Open starts a proxy in front of each upstream address.
func Open(upstreams []string) (_ *Proxies, err error) {
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	ps := &Proxies{proxies: map[string]*toxiproxy.Proxy{}}
	defer func() {
		if err != nil {
			ps.Close()
		}
	}()
	for i, up := range upstreams {
		// Port 0: the proxy keeps the port it was given, also across the
		// restart of Heal.
		p := toxiproxy.NewProxy(server, fmt.Sprintf("broker-%d", i), "127.0.0.1:0", up)
		if err := p.Start(); err != nil {
			return nil, fmt.Errorf("proxy for %s: %w", up, err)
		}
		ps.proxies[up] = p
	}
	return ps, nil
}

// DialMap is the value of CHAT_KAFKA_DIAL_MAP that sends a process's
// connections to each upstream through its proxy:
// upstream=proxy,upstream=proxy (sorted, for stable logs).
func (ps *Proxies) DialMap() string {
	var out []string
	for up, p := range ps.Targets() {
		out = append(out, up+"="+p)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// Targets maps each upstream to its proxy's address: for a client in the
// same process (a test), what DialMap is for another one.
func (ps *Proxies) Targets() map[string]string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	out := make(map[string]string, len(ps.proxies))
	for up, p := range ps.proxies {
		out[up] = p.Listen
	}
	return out
}

// Cut partitions the process from every upstream: from now on no byte
// passes either way, on the open connections and on new ones (a new
// connection reaches the proxy, then hangs, as a dial into a partition
// would until its timeout).
func (ps *Proxies) Cut() error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.cut {
		return nil
	}
	var errs []error
	for up, p := range ps.proxies {
		for _, t := range cut {
			if _, err := p.Toxics.AddToxicJson(strings.NewReader(t)); err != nil {
				errs = append(errs, fmt.Errorf("cut %s: %w", up, err))
			}
		}
	}
	ps.cut = true
	return errors.Join(errs...)
}

// Heal ends the partition. The connections that lost bytes during it are
// closed (the proxy is restarted): their streams are torn, and after a
// partition this long the kernel would have given up on them too; the
// process dials afresh.
func (ps *Proxies) Heal(ctx context.Context) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if !ps.cut {
		return nil
	}
	var errs []error
	for up, p := range ps.proxies {
		p.Stop()
		p.Toxics.ResetToxics(ctx)
		if err := p.Start(); err != nil {
			errs = append(errs, fmt.Errorf("heal %s: %w", up, err))
		}
	}
	ps.cut = false
	return errors.Join(errs...)
}

// Close stops every proxy, closing its connections.
func (ps *Proxies) Close() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, p := range ps.proxies {
		p.Stop()
	}
}
