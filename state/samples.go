package state

import (
	"fmt"
	"time"
)

// Sample is how far a run of a copying step had got at a point in time:
// the messages and bytes it had copied since it started.
type Sample struct {
	At       time.Time
	Messages int64
	Bytes    int64
}

// PutSample records a sample of the run of step that started at started.
func (s *Store) PutSample(step Step, started time.Time, x Sample) error {
	if _, err := s.db.Exec(`INSERT OR REPLACE INTO samples (step, started, at, messages, bytes) VALUES (?, ?, ?, ?, ?)`,
		step, started.UnixNano(), x.At.UnixNano(), x.Messages, x.Bytes); err != nil {
		return fmt.Errorf("record a sample of %s: %w", step, err)
	}
	return nil
}

// LatestSamples returns the samples of the latest run of step, oldest
// first, and when that run started; no samples and the zero time if step
// never ran.
func (s *Store) LatestSamples(step Step) (time.Time, []Sample, error) {
	var started int64
	err := s.db.QueryRow(`SELECT coalesce(max(started), 0) FROM samples WHERE step = ?`, step).Scan(&started)
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("find the latest run of %s: %w", step, err)
	}
	if started == 0 {
		return time.Time{}, nil, nil
	}
	xs, err := queryAll(s.db, func(r scanner) (Sample, error) {
		var x Sample
		var at int64
		err := r.Scan(&at, &x.Messages, &x.Bytes)
		x.At = time.Unix(0, at).UTC()
		return x, err
	}, `SELECT at, messages, bytes FROM samples WHERE step = ? AND started = ? ORDER BY at`, step, started)
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("read the samples of %s: %w", step, err)
	}
	return time.Unix(0, started).UTC(), xs, nil
}
