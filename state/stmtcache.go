package state

import (
	"database/sql"
	"sync"
)

// maxCachedStatements bounds the statements a store keeps prepared. The
// SQL of a store is a fixed set, but for a few queries whose IN lists
// have as many placeholders as their arguments: past the bound, those are
// prepared for the one call, as before.
const maxCachedStatements = 256

// cachedDB is a database whose Query, QueryRow and Exec prepare each
// statement once and keep it. Parsing the SQL again at every call was an
// eighth to a sixth of mailshift's own CPU time in the steps of a
// project of many small mailboxes (a handful of reads and writes per user
// and pass). Transactions (Begin) and Prepare are the database's own.
type cachedDB struct {
	*sql.DB

	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func newCachedDB(db *sql.DB) *cachedDB {
	return &cachedDB{DB: db, stmts: map[string]*sql.Stmt{}}
}

// stmt is query prepared, from the cache or now; nil when the cache is
// full (the caller runs query unprepared).
func (c *cachedDB) stmt(query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	if len(c.stmts) >= maxCachedStatements {
		return nil, nil
	}
	st, err := c.DB.Prepare(query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = st
	return st, nil
}

func (c *cachedDB) Query(query string, args ...any) (*sql.Rows, error) {
	st, err := c.stmt(query)
	if err != nil || st == nil {
		return c.DB.Query(query, args...) // the same error, from the database
	}
	return st.Query(args...)
}

func (c *cachedDB) QueryRow(query string, args ...any) *sql.Row {
	st, err := c.stmt(query)
	if err != nil || st == nil {
		return c.DB.QueryRow(query, args...)
	}
	return st.QueryRow(args...)
}

func (c *cachedDB) Exec(query string, args ...any) (sql.Result, error) {
	st, err := c.stmt(query)
	if err != nil || st == nil {
		return c.DB.Exec(query, args...)
	}
	return st.Exec(args...)
}

// Close closes the statements, then the database.
func (c *cachedDB) Close() error {
	c.mu.Lock()
	for _, st := range c.stmts {
		st.Close()
	}
	clear(c.stmts)
	c.mu.Unlock()
	return c.DB.Close()
}
