package query

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"happychat/schemas"
)

// fakeHistory is a room's message ids, sorted, standing in for the
// messages table: read answers a window the way windowSQL asks ClickHouse.
type fakeHistory struct {
	ids     []schemas.ID
	queries int
	scanned int // rows inside the windows read: what ClickHouse would read
	seeks   int
}

func (f *fakeHistory) read(desc bool, sink *[]schemas.ID) readFunc {
	return func(w idWindow, limit int) (int, schemas.ID, error) {
		f.queries++
		var in []schemas.ID
		for _, id := range f.ids {
			if (w.lo == 0 || id >= w.lo) && (w.hi == 0 || id < w.hi) {
				in = append(in, id)
			}
		}
		f.scanned += len(in)
		if desc {
			slices.Reverse(in)
		}
		if len(in) > limit {
			in = in[:limit]
		}
		*sink = append(*sink, in...)
		if len(in) == 0 {
			return 0, 0, nil
		}
		return len(in), in[len(in)-1], nil
	}
}

// seekIn is a seekFunc over index, standing in for room_messages (which
// may lag the history, run ahead of it, or be empty).
func (f *fakeHistory) seekIn(index []schemas.ID) seekFunc {
	return func(cursor schemas.ID, desc bool, k int) (schemas.ID, int, error) {
		f.seeks++
		var (
			n    int
			edge schemas.ID
		)
		if desc {
			for i := len(index) - 1; i >= 0 && n < k; i-- {
				if cursor == 0 || index[i] < cursor {
					n, edge = n+1, index[i]
				}
			}
			return edge, n, nil
		}
		for _, id := range index {
			if id >= cursor && n < k {
				n, edge = n+1, id
			}
		}
		return edge, n, nil
	}
}

// roomOf describes the fake room the way the PostgreSQL view would.
func (f *fakeHistory) roomOf(created time.Time) roomRow {
	r := roomRow{CreatedAt: created, MessageCount: int64(len(f.ids))}
	if len(f.ids) > 0 {
		last := f.ids[len(f.ids)-1]
		at := schemas.IDTime(last)
		id := int64(last)
		r.LastMessageAt, r.LastMessageID = &at, &id
	}
	return r
}

var base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// idsAt makes snowflake ids at the given offsets from base (several per
// millisecond get distinct steps).
func idsAt(offsets []time.Duration) []schemas.ID {
	out := make([]schemas.ID, 0, len(offsets))
	for i, d := range offsets {
		out = append(out, schemas.IDAt(base.Add(d))+schemas.ID(i%4096))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func histories() map[string][]schemas.ID {
	rng := rand.New(rand.NewPCG(1, 2))
	var (
		uniform, sparse, bursty, bigGaps []time.Duration
	)
	for i := range 3000 {
		uniform = append(uniform, time.Duration(i)*15*time.Second)
	}
	for i := range 40 {
		sparse = append(sparse, time.Duration(i)*72*time.Hour)
	}
	for b := range 30 { // 30 bursts of 100 messages, a day apart
		for i := range 100 {
			bursty = append(bursty, time.Duration(b)*24*time.Hour+time.Duration(i)*time.Duration(rng.IntN(3000))*time.Millisecond)
		}
	}
	var onSeconds []schemas.ID // ids exactly on window bounds (spans are whole ms)
	for i := range 2000 {
		onSeconds = append(onSeconds, schemas.IDAt(base.Add(time.Duration(i)*time.Second)))
	}
	bigGaps = []time.Duration{0, time.Millisecond, 3 * 365 * 24 * time.Hour, 3*365*24*time.Hour + time.Second}
	return map[string][]schemas.ID{
		"empty":            nil,
		"one":              idsAt([]time.Duration{time.Minute}),
		"uniform":          idsAt(uniform),
		"sparse":           idsAt(sparse),
		"bursty":           idsAt(bursty),
		"years apart":      idsAt(bigGaps),
		"same millisecond": idsAt(make([]time.Duration, 500)),
		"on bounds":        onSeconds,
	}
}

// Every walk must return exactly what a plain keyset query would: all ids,
// in order, each once, whatever the distribution of the ids in time.
func TestPagesAndExportAreComplete(t *testing.T) {
	now := base.Add(4 * 365 * 24 * time.Hour)
	// The room's stats only steer the window sizes: accurate, missing (the
	// PostgreSQL view lags) or far off, the answer must be the same.
	stats := map[string]func(f *fakeHistory) roomRow{
		"accurate": func(f *fakeHistory) roomRow { return f.roomOf(base.Add(-time.Minute)) },
		"missing":  func(*fakeHistory) roomRow { return roomRow{CreatedAt: base.Add(-time.Minute)} },
		"dense": func(f *fakeHistory) roomRow {
			r := f.roomOf(base.Add(-time.Minute))
			r.MessageCount *= 1000
			return r
		},
		"sparse": func(f *fakeHistory) roomRow {
			r := f.roomOf(base.Add(-time.Minute))
			r.MessageCount = 2
			return r
		},
	}
	// The index of ids that sizes windows: none, exact, lagging (the newest
	// third missing), thinned (every third id), or holding ids the history
	// does not have yet.
	indexes := map[string]func(ids []schemas.ID) []schemas.ID{
		"no index": nil,
		"exact":    func(ids []schemas.ID) []schemas.ID { return ids },
		"lagging":  func(ids []schemas.ID) []schemas.ID { return ids[:len(ids)*2/3] },
		"thinned": func(ids []schemas.ID) []schemas.ID {
			var out []schemas.ID
			for i := 0; i < len(ids); i += 3 {
				out = append(out, ids[i])
			}
			return out
		},
		"ahead": func(ids []schemas.ID) []schemas.ID {
			out := slices.Clone(ids)
			for i := range 50 {
				out = append(out, schemas.IDAt(base.Add(5*365*24*time.Hour))+schemas.ID(i))
			}
			for i := 0; i+1 < len(ids); i += 7 {
				out = append(out, ids[i]+1) // between two history ids
			}
			slices.Sort(out)
			return slices.Compact(out)
		},
	}
	for name, ids := range histories() {
		for statsName, roomOf := range stats {
			for indexName, index := range indexes {
				if statsName != "accurate" && indexName != "no index" && indexName != "lagging" {
					continue // enough combinations
				}
				for _, limit := range []int{1, 7, 50, 200} {
					t.Run(name+"/"+statsName+"/"+indexName, func(t *testing.T) {
						f := &fakeHistory{ids: ids}
						r := roomOf(f)
						var seek seekFunc
						if index != nil {
							seek = f.seekIn(index(ids))
						}
						pages := 0

						// Backward from the newest end.
						var got []schemas.ID
						q := HistoryQuery{Limit: limit}
						for {
							var page []schemas.ID
							sc := historyScan(q, limit+1, r, now)
							if _, err := walk(sc, limit+1, limit+1, seek, f.read(true, &page)); err != nil {
								t.Fatal(err)
							}
							pages++
							if len(page) <= limit {
								got = append(got, page...)
								break
							}
							got = append(got, page[:limit]...)
							q.Before = page[limit-1]
						}
						want := slices.Clone(ids)
						slices.Reverse(want)
						if !slices.Equal(got, want) {
							t.Fatalf("backward, limit %d: got %d ids, want %d (or order differs)", limit, len(got), len(want))
						}

						// Forward from the oldest end.
						got = nil
						q = HistoryQuery{After: 1, Limit: limit}
						for {
							var page []schemas.ID
							sc := historyScan(q, limit+1, r, now)
							if _, err := walk(sc, limit+1, limit+1, seek, f.read(false, &page)); err != nil {
								t.Fatal(err)
							}
							pages++
							if len(page) <= limit {
								got = append(got, page...)
								break
							}
							got = append(got, page[:limit]...)
							q.After = page[limit-1]
						}
						if !slices.Equal(got, ids) {
							t.Fatalf("forward, limit %d: got %d ids, want %d (or order differs)", limit, len(got), len(ids))
						}
						if per := f.queries / pages; per > 12 {
							t.Errorf("limit %d: %d queries per page", limit, per)
						}

						// Export in chunks of limit.
						f.queries = 0
						got = nil
						n, err := walk(exportScan(limit, r, now), limit, -1, seek, f.read(false, &got))
						if err != nil {
							t.Fatal(err)
						}
						if n != len(ids) || !slices.Equal(got, ids) {
							t.Fatalf("export, chunk %d: got %d ids, want %d (or order differs)", limit, len(got), len(ids))
						}
					})
				}
			}
		}
	}
}

// On a uniform history the estimate from the room's rate should make most
// pages one query that reads little more than the page.
func TestWindowsAreTight(t *testing.T) {
	now := base.Add(365 * 24 * time.Hour)
	offsets := make([]time.Duration, 20000)
	for i := range offsets {
		offsets[i] = time.Duration(i) * 10 * time.Second
	}
	f := &fakeHistory{ids: idsAt(offsets)}
	r := f.roomOf(base)
	for _, before := range []schemas.ID{0, f.ids[10000], f.ids[60]} {
		f.queries, f.scanned = 0, 0
		var page []schemas.ID
		sc := historyScan(HistoryQuery{Before: before, Limit: 50}, 51, r, now)
		if _, err := walk(sc, 51, 51, nil, f.read(true, &page)); err != nil {
			t.Fatal(err)
		}
		if len(page) != 51 || f.queries > 2 || f.scanned > 51*4 {
			t.Errorf("before %d: %d rows in %d queries scanning %d rows", before, len(page), f.queries, f.scanned)
		}
	}
	f.queries, f.scanned = 0, 0
	var all []schemas.ID
	if _, err := walk(exportScan(1000, r, now), 1000, -1, nil, f.read(false, &all)); err != nil {
		t.Fatal(err)
	}
	if len(all) != len(f.ids) || f.scanned > 3*len(f.ids) || f.queries > 3*len(f.ids)/1000 {
		t.Errorf("export: %d rows in %d queries scanning %d rows", len(all), f.queries, f.scanned)
	}
}

func TestScanEdges(t *testing.T) {
	now := base
	t.Run("after the largest id", func(t *testing.T) {
		sc := newAscScan(schemas.ID(1<<63-1), idCeiling(now), minSpanMS)
		if !sc.done {
			t.Fatal("a walk after the largest id must be done at once")
		}
	})
	t.Run("before 1", func(t *testing.T) {
		f := &fakeHistory{ids: []schemas.ID{5}}
		var got []schemas.ID
		n, err := walk(newDescScan(1, 1, minSpanMS), 10, 10, nil, f.read(true, &got))
		if err != nil || n != 0 || f.queries != 1 {
			t.Fatalf("n=%d queries=%d err=%v", n, f.queries, err)
		}
	})
	t.Run("spans stay bounded", func(t *testing.T) {
		sc := newAscScan(1, idCeiling(now), maxSpanMS)
		for range 100 {
			w := sc.window()
			if sc.done {
				break
			}
			sc.advance(w, 10, 0, 0)
			if sc.span <= 0 || sc.span > maxSpanMS<<idTimeShift {
				t.Fatalf("span %d out of bounds", sc.span)
			}
		}
		if !sc.done {
			t.Fatal("an empty ascending walk must end at the ceiling")
		}
	})
	t.Run("estimate", func(t *testing.T) {
		at := base.Add(1000 * time.Second)
		r := roomRow{CreatedAt: base, MessageCount: 1000, LastMessageAt: &at}
		if got := spanFor(50, r); got != 2*50*1001 {
			t.Fatalf("spanFor = %d ms", got)
		}
		if got := spanFor(50, roomRow{}); got != maxSpanMS {
			t.Fatalf("spanFor(no messages) = %d ms", got)
		}
		if got := spanFor(50, roomRow{MessageCount: 1}); got != defaultSpanMS {
			t.Fatalf("spanFor(one message) = %d ms", got)
		}
	})
}

// The invariant that makes walks exact: after a short read the next window
// starts exactly where the read one ended (no gap, no overlap), and after a
// full read it starts right after the last row read.
func TestWindowsTile(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	now := base.Add(24 * time.Hour)
	for _, desc := range []bool{false, true} {
		var sc *scan
		if desc {
			sc = newDescScan(0, schemas.IDAt(now), 1000)
		} else {
			sc = newAscScan(schemas.IDAt(base), idCeiling(now), 1000)
		}
		for i := 0; i < 200 && !sc.done; i++ {
			w := sc.window()
			if w.lo != 0 && w.hi != 0 && w.lo >= w.hi {
				t.Fatalf("desc=%v: empty window [%d, %d)", desc, w.lo, w.hi)
			}
			want := 1 + rng.IntN(100)
			full := rng.IntN(3) == 0
			got, last := rng.IntN(want), schemas.ID(0)
			if full {
				got = want
				lo, hi := w.lo, w.hi // an open side: pretend rows near the other
				if hi == 0 {
					hi = lo + 1<<40
				}
				if lo == 0 {
					lo = hi - 1<<40
				}
				if desc {
					last = lo + 1 + schemas.ID(rng.Int64N(int64(hi-lo-1)))
				} else {
					last = lo + schemas.ID(rng.Int64N(int64(hi-lo)))
				}
			}
			sc.advance(w, want, got, last)
			if sc.done {
				break
			}
			next := sc.window()
			switch {
			case desc && full && next.hi != last:
				t.Fatalf("desc full: next hi %d, last %d", next.hi, last)
			case desc && !full && next.hi != w.lo:
				t.Fatalf("desc short: next hi %d, window lo %d", next.hi, w.lo)
			case !desc && full && next.lo != last+1:
				t.Fatalf("asc full: next lo %d, last %d", next.lo, last)
			case !desc && !full && next.lo != w.hi:
				t.Fatalf("asc short: next lo %d, window hi %d", next.lo, w.hi)
			}
		}
	}
}

// With an index that agrees with the history, every page is one read of
// exactly the rows it returns, whatever the distribution and the cursor.
func TestIndexedWindowsAreExact(t *testing.T) {
	now := base.Add(4 * 365 * 24 * time.Hour)
	for name, ids := range histories() {
		if len(ids) < 100 {
			continue
		}
		t.Run(name, func(t *testing.T) {
			f := &fakeHistory{ids: ids}
			r := f.roomOf(base.Add(-time.Minute))
			seek := f.seekIn(ids)
			cursors := []HistoryQuery{
				{Limit: 50}, {Before: ids[len(ids)/2], Limit: 50}, {Before: ids[60], Limit: 50},
				{Before: ids[len(ids)-1] + 1<<50, Limit: 50}, {After: 1, Limit: 50}, {After: ids[len(ids)/3], Limit: 50},
			}
			for _, q := range cursors {
				f.queries, f.scanned = 0, 0
				var page []schemas.ID
				if _, err := walk(historyScan(q, 51, r, now), 51, 51, seek, f.read(q.After == 0, &page)); err != nil {
					t.Fatal(err)
				}
				if f.queries != 1 || f.scanned != len(page) {
					t.Errorf("%+v: %d rows in %d queries scanning %d rows", q, len(page), f.queries, f.scanned)
				}
			}
			f.queries, f.scanned = 0, 0
			var all []schemas.ID
			if _, err := walk(exportScan(100, r, now), 100, -1, seek, f.read(false, &all)); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(all, ids) || f.scanned != len(ids) || f.queries > len(ids)/100+2 {
				t.Errorf("export: %d rows in %d queries scanning %d rows", len(all), f.queries, f.scanned)
			}
		})
	}
}
