package store

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps the store's statements prepared, so SQLite parses each
// query once per connection instead of on every call (parsing was about a
// third of a simple indexed read). The store's queries are constants, so
// the set is small; maxPrepared bounds it anyway, and past it queries run
// unprepared. A nil *stmtCache prepares nothing.
type stmtCache struct {
	db *sql.DB

	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

const maxPrepared = 512

func newStmtCache(db *sql.DB) *stmtCache { return &stmtCache{db: db, m: map[string]*sql.Stmt{}} }

// get returns query prepared, or nil when it is not (a nil cache, a full
// one, or a query that fails to prepare: running it unprepared then reports
// the error where it belongs).
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	st, ok := c.m[query]
	c.mu.RUnlock()
	if ok {
		return st
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st
	}
	if len(c.m) >= maxPrepared {
		return nil
	}
	// Prepared statements outlive the request that first needed them.
	st, err := c.db.PrepareContext(context.WithoutCancel(ctx), query)
	if err != nil {
		return nil
	}
	c.m[query] = st
	return st
}

func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		_ = st.Close()
		delete(c.m, q)
	}
}
