package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// testPoolKeepsConnections: every connection the pool may open taken at once
// and given back at once, then bursts of concurrent reads, more than the
// pool holds: the pool never closes a connection because too many were
// idle (on PostgreSQL each reopened one is a new backend and a new
// authentication), and never opens more than its bound.
func testPoolKeepsConnections(t *testing.T, b backend) {
	s := b.store(t)
	ctx := context.Background()
	const workers, reads = 48, 50
	burst := func() {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range reads {
					name := fmt.Sprintf("missing-%d-%d", w, i)
					if _, err := s.Q().PackageByName(ctx, name); !fault.Is(err, fault.NotFound) {
						t.Errorf("%s: %v, want not found", name, err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	bound := s.DB().Stats().MaxOpenConnections
	if bound == 0 {
		t.Fatal("the pool has no bound on open connections")
	}
	held := make([]*sql.Conn, 0, bound)
	for range bound {
		c, err := s.DB().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	for _, c := range held {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	burst()
	burst()
	st := s.DB().Stats()
	if st.OpenConnections > st.MaxOpenConnections {
		t.Errorf("%d connections open, bound %d", st.OpenConnections, st.MaxOpenConnections)
	}
	if st.MaxIdleClosed != 0 {
		t.Errorf("%d connections closed because too many were idle (of %d opened at most): the pool churns under bursts",
			st.MaxIdleClosed, st.MaxOpenConnections)
	}
}
