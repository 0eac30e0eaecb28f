package phase

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/mailshift/mailshift/internal/users"
)

// forEachUser runs fn for every row, copy.workers at a time. One user's
// failure never stops the others; the failures are returned in row order.
// When ctx ends, users not yet started are not started.
func (p *Project) forEachUser(ctx context.Context, rows []users.Row, fn func(ctx context.Context, r users.Row) error) []UserFailure {
	workers := max(1, p.Config.Copy.Workers)
	var mu sync.Mutex
	failed := map[int]UserFailure{}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, len(rows)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				err := fn(ctx, rows[i])
				p.progress().Done(rows[i].SourceUser, err)
				if err != nil {
					mu.Lock()
					failed[i] = UserFailure{User: rows[i].SourceUser, Reason: err.Error(), err: err}
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for i := range rows {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	idx := make([]int, 0, len(failed))
	for i := range failed {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	all := len(failed) == len(rows)
	out := make([]UserFailure, 0, len(idx))
	for _, i := range idx {
		f := failed[i]
		f.all = all
		out = append(out, f)
	}
	return out
}

// stepResult turns a step's failures into its error: the context's error
// when interrupted, a partial error when some users failed (exit 4), which
// unwraps to ErrUnreachable instead (exit 1) when every user failed on the
// connection: nobody reached the servers (see partialError.Unwrap).
func stepResult(ctx context.Context, step string, failures []UserFailure) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(failures) > 0 {
		return &partialError{step: step, failures: failures}
	}
	return nil
}

// isInterrupt tells whether err is the run being stopped.
func isInterrupt(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
