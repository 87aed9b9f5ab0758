package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// measure starts the service in a child process and prints the tables of
// docs/benchmarks.md: pages, analytics and the export of the big room.
func measure(ctx context.Context, o options, admin driver.Conn) error {
	var big uint64
	var bigCount uint64
	if err := admin.QueryRow(ctx, "SELECT room_id, count() AS n FROM "+name+".messages GROUP BY room_id ORDER BY n DESC LIMIT 1").Scan(&big, &bigCount); err != nil {
		return err
	}
	var total uint64
	if err := admin.QueryRow(ctx, "SELECT count() FROM "+name+".messages").Scan(&total); err != nil {
		return err
	}
	// Cursors at the middle and the oldest end of the big room.
	var mid, oldest51 uint64
	if err := admin.QueryRow(ctx, "SELECT id FROM "+name+".messages WHERE room_id = ? ORDER BY id LIMIT ?, 1", big, bigCount/2).Scan(&mid); err != nil {
		return err
	}
	if err := admin.QueryRow(ctx, "SELECT id FROM "+name+".messages WHERE room_id = ? ORDER BY id LIMIT 50, 1", big).Scan(&oldest51); err != nil {
		return err
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "serve", "-pg", o.pgURL, "-ch", o.chAddr)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("server did not start: %w", err)
	}
	baseURL := "http://" + strings.TrimSpace(addr)
	pid := cmd.Process.Pid
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}}
	room := strconv.FormatUint(big, 10)

	get := func(path string) (time.Duration, error) {
		start := time.Now()
		resp, err := client.Get(baseURL + path)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("GET %s: %d", path, resp.StatusCode)
		}
		return time.Since(start), err
	}
	// Warm up: caches, connections, the Go heap.
	for range 200 {
		if _, err := get("/v1/rooms/" + room + "/messages?limit=50"); err != nil {
			return err
		}
	}

	fmt.Printf("\nHistory: %d messages in %d rooms; the big room %s holds %d. GOMAXPROCS %d, %d CPUs.\n\n",
		total, o.rooms, room, bigCount, runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Println("| 50-message page of the big room | p50 | p99 | max |")
	fmt.Println("|---|---|---|---|")
	positions := []struct{ label, query string }{
		{"newest end (no cursor)", ""},
		{"middle (before = the 1,000,000th id)", "&before=" + strconv.FormatUint(mid, 10)},
		{"oldest end (before = the 51st id)", "&before=" + strconv.FormatUint(oldest51, 10)},
		{"oldest end, forward (after = 1)", "&after=1"},
		{"middle, forward (after = the middle id)", "&after=" + strconv.FormatUint(mid, 10)},
	}
	// Round robin over the positions, so that each sees the same machine
	// (this one is shared: a burst of other work would otherwise land on
	// one position only).
	lat := make([][]time.Duration, len(positions))
	for range o.pages {
		for i, p := range positions {
			d, err := get("/v1/rooms/" + room + "/messages?limit=50" + p.query)
			if err != nil {
				return err
			}
			lat[i] = append(lat[i], d)
		}
	}
	for i, p := range positions {
		l := lat[i]
		slices.Sort(l)
		fmt.Printf("| %s | %s | %s | %s |\n", p.label, ms(l[len(l)/2]), ms(l[len(l)*99/100]), ms(l[len(l)-1]))
	}
	fmt.Println("\n| analytics (median of 3) | time |\n|---|---|")
	now := time.Now().UTC()
	at := func(d time.Duration) string { return now.Add(-d).Format(time.RFC3339) }
	const day = 24 * time.Hour
	analytics := []struct{ label, path string }{
		{"activity, all rooms, by day over 1,095 days", "/v1/analytics/activity?bucket=day&from=" + at(1095*day)},
		{"activity, all rooms, by hour over 91 days", "/v1/analytics/activity?bucket=hour&from=" + at(91*day)},
		{"activity, all rooms, by minute over 23 h", "/v1/analytics/activity?bucket=minute&from=" + at(23*time.Hour)},
		{"activity, the big room, by hour over 91 days", "/v1/analytics/activity?bucket=hour&room=" + room + "&from=" + at(91*day)},
		{"top senders, all rooms, 30 days", "/v1/analytics/top-senders"},
		{"top senders, all rooms, 1 year", "/v1/analytics/top-senders?from=" + at(366*day)},
		{"top senders, the big room, 1 year", "/v1/analytics/top-senders?room=" + room + "&from=" + at(366*day)},
	}
	for _, a := range analytics {
		var ds []time.Duration
		for range 3 {
			d, err := get(a.path)
			if err != nil {
				return err
			}
			ds = append(ds, d)
		}
		slices.Sort(ds)
		fmt.Printf("| %s | %s |\n", a.label, ms(ds[1]))
	}

	// Export: reset the peak RSS, stream the whole room, read the peak.
	time.Sleep(2 * time.Second)
	restRSS := rss(pid, "VmRSS")
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		logf("cannot reset the peak RSS (%v); sampling only", err)
	}
	sampled := restRSS
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sampled = max(sampled, rss(pid, "VmRSS"))
			}
		}
	}()
	start := time.Now()
	resp, err := client.Get(baseURL + "/v1/rooms/" + room + "/messages/export")
	if err != nil {
		return err
	}
	lines, bytesRead, err := countLines(resp.Body)
	resp.Body.Close()
	elapsed := time.Since(start)
	close(done)
	if err != nil {
		return err
	}
	if lines != int64(bigCount) {
		return fmt.Errorf("export returned %d lines, the room holds %d", lines, bigCount)
	}
	peak := max(rss(pid, "VmHWM"), sampled)
	fmt.Printf("\n| export of the big room | value |\n|---|---|\n")
	fmt.Printf("| messages | %d (%.0f MiB of NDJSON) |\n", lines, float64(bytesRead)/(1<<20))
	fmt.Printf("| time | %s |\n", elapsed.Round(time.Millisecond))
	fmt.Printf("| rate | %.0f messages/s |\n", float64(lines)/elapsed.Seconds())
	fmt.Printf("| RSS at rest | %.1f MiB |\n", float64(restRSS)/(1<<20))
	fmt.Printf("| peak RSS while exporting | %.1f MiB |\n", float64(peak)/(1<<20))
	fmt.Printf("| peak growth | %.1f MiB |\n", float64(peak-restRSS)/(1<<20))
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func countLines(r io.Reader) (lines, n int64, err error) {
	buf := make([]byte, 256<<10)
	for {
		k, err := r.Read(buf)
		n += int64(k)
		lines += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if errors.Is(err, io.EOF) {
			return lines, n, nil
		}
		if err != nil {
			return lines, n, err
		}
	}
}

// rss reads a memory field of /proc/<pid>/status in bytes.
func rss(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
