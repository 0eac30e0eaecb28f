package state

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// The range of times a Unix nanosecond count can hold.
var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

// timeArg is how t is stored: NULL for the zero time, UTC Unix nanoseconds
// when they can hold it, RFC 3339 text in UTC otherwise (dates before 1678
// or after 2262, which broken mail does carry).
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	if t.Before(minNanoTime) || t.After(maxNanoTime) {
		return t.UTC().Format(time.RFC3339Nano)
	}
	return t.UnixNano()
}

// timeCol scans what timeArg stored back into a time in UTC.
type timeCol struct{ t *time.Time }

// Scan implements sql.Scanner.
func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.t = time.Time{}
	case int64:
		*c.t = time.Unix(0, v).UTC()
	case string:
		return c.parse(v)
	case []byte:
		return c.parse(string(v))
	default:
		return fmt.Errorf("time column holds %T", src)
	}
	return nil
}

func (c timeCol) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("time column: %w", err)
	}
	*c.t = t.UTC()
	return nil
}

// listArg stores a list of strings as a JSON array.
func listArg(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, err := json.Marshal(l)
	if err != nil {
		// Marshalling []string cannot fail.
		panic(err)
	}
	return string(b)
}

// listCol scans a JSON array of strings; an empty array reads as nil.
type listCol struct{ l *[]string }

// Scan implements sql.Scanner.
func (c listCol) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*c.l = nil
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("list column holds %T", src)
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("list column: %w", err)
	}
	if len(l) == 0 {
		l = nil
	}
	*c.l = l
	return nil
}

// u64Arg stores a uint64 (HIGHESTMODSEQ) bit for bit in SQLite's int64.
func u64Arg(v uint64) int64 { return int64(v) }

// u64Col scans what u64Arg stored.
type u64Col struct{ v *uint64 }

// Scan implements sql.Scanner.
func (c u64Col) Scan(src any) error {
	v, ok := src.(int64)
	if !ok {
		return fmt.Errorf("integer column holds %T", src)
	}
	*c.v = uint64(v)
	return nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// querier is a *sql.DB or *sql.Tx.
type querier interface {
	Query(query string, args ...any) (*sql.Rows, error)
}

// queryAll runs query and reads every row with scan.
func queryAll[T any](q querier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.Query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
