package projector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// fakeCH is the ClickHouse connection as the history sink uses it: the
// epoch in projector_meta, the positions query, and batch inserts, recorded
// per table. Methods the sink does not call are left to the embedded nil
// interface: calling one panics.
type fakeCH struct {
	driver.Conn

	mu        sync.Mutex
	epoch     string      // projector_meta's epoch; "" = no row
	positions [][2]uint64 // rows of the positions query: partition, max(offset)
	failQuery error       // the next positions query fails with it
	failNext  map[string]error
	inserts   []fakeInsert // successful inserts, in order
	attempts  []string     // tables of every insert tried, in order
	posArgs   []any        // the arguments of the last positions query
}

type fakeInsert struct {
	table   string
	columns []any
}

func newFakeCH(epoch string) *fakeCH { return &fakeCH{epoch: epoch, failNext: map[string]error{}} }

func (c *fakeCH) setEpoch(e string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch = e
}

// failInsert makes the next insert into table fail.
func (c *fakeCH) failInsert(table string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failNext[table] = err
}

// done returns the successful inserts into table.
func (c *fakeCH) done(table string) []fakeInsert {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []fakeInsert
	for _, in := range c.inserts {
		if in.table == table {
			out = append(out, in)
		}
	}
	return out
}

func (c *fakeCH) tried() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.attempts)
}

func (c *fakeCH) Query(_ context.Context, query string, args ...any) (driver.Rows, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case strings.Contains(query, "FROM projector_meta"):
		if c.epoch == "" {
			return &fakeRows{}, nil
		}
		return &fakeRows{rows: [][]any{{c.epoch}}}, nil
	case strings.Contains(query, "max(offset)"):
		if err := c.failQuery; err != nil {
			c.failQuery = nil
			return nil, err
		}
		c.posArgs = args
		r := &fakeRows{}
		for _, p := range c.positions {
			r.rows = append(r.rows, []any{uint32(p[0]), p[1]})
		}
		return r, nil
	}
	return nil, fmt.Errorf("fakeCH: unexpected query %q", query)
}

func (c *fakeCH) PrepareBatch(ctx context.Context, query string, _ ...driver.PrepareBatchOption) (driver.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // as the driver: no insert on an ended context
	}
	f := strings.Fields(query)
	if len(f) < 3 || f[0] != "INSERT" || f[1] != "INTO" {
		return nil, fmt.Errorf("fakeCH: unexpected batch %q", query)
	}
	return &fakeBatch{conn: c, table: f[2]}, nil
}

type fakeBatch struct {
	driver.Batch
	conn    *fakeCH
	table   string
	columns []any
}

func (b *fakeBatch) Column(i int) driver.BatchColumn { return fakeColumn{b: b, i: i} }

func (b *fakeBatch) Send() error {
	c := b.conn
	c.mu.Lock()
	defer c.mu.Unlock()
	c.attempts = append(c.attempts, b.table)
	if err := c.failNext[b.table]; err != nil {
		delete(c.failNext, b.table)
		return err
	}
	c.inserts = append(c.inserts, fakeInsert{table: b.table, columns: b.columns})
	return nil
}

func (b *fakeBatch) Close() error { return nil }

type fakeColumn struct {
	driver.BatchColumn
	b *fakeBatch
	i int
}

func (c fakeColumn) Append(v any) error {
	if c.i != len(c.b.columns) {
		return fmt.Errorf("fakeCH: column %d appended after %d columns", c.i, len(c.b.columns))
	}
	c.b.columns = append(c.b.columns, v)
	return nil
}

type fakeRows struct {
	driver.Rows
	rows [][]any
	next int
}

func (r *fakeRows) Next() bool {
	r.next++
	return r.next <= len(r.rows)
}

func (r *fakeRows) Scan(dest ...any) error {
	row := r.rows[r.next-1]
	if len(dest) != len(row) {
		return fmt.Errorf("fakeCH: scan of %d columns into %d", len(row), len(dest))
	}
	for i, d := range dest {
		switch d := d.(type) {
		case *string:
			*d = row[i].(string)
		case *uint32:
			*d = row[i].(uint32)
		case *uint64:
			*d = row[i].(uint64)
		default:
			return errors.New("fakeCH: unexpected scan type")
		}
	}
	return nil
}

func (r *fakeRows) Err() error   { return nil }
func (r *fakeRows) Close() error { return nil }
