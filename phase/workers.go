package phase

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/mailshift/mailshift/internal/throttle"

	"github.com/mailshift/mailshift/internal/users"
)

// forEachUser runs fn for every row, copy.workers at a time. One user's
// failure never stops the others; the failures are returned in row order.
// A user whose pass ended paused (a pausedError: its daily budget spent)
// frees its worker for the others and runs again when the pause is over;
// the step ends when every user has finished. When ctx ends, users not yet
// started are not started.
func (p *Project) forEachUser(ctx context.Context, rows []users.Row, fn func(ctx context.Context, r users.Row) error) []UserFailure {
	workers := max(1, p.Config.Copy.Workers)
	var mu sync.Mutex
	failed := map[int]UserFailure{}
	next := make(chan int)
	// Buffered: a worker never waits to report, even once the feeder has
	// stopped on an interruption.
	finished, paused := make(chan int, len(rows)), make(chan pausedRun, len(rows))
	var wg sync.WaitGroup
	for range min(workers, len(rows)) {
		wg.Go(func() {
			for i := range next {
				err := fn(ctx, rows[i])
				if pe, ok := asPaused(err); ok && ctx.Err() == nil {
					paused <- pausedRun{row: i, until: pe.until}
					continue
				}
				p.progress().Done(rows[i].SourceUser, err)
				if err != nil {
					mu.Lock()
					failed[i] = UserFailure{User: rows[i].SourceUser, Reason: err.Error(), err: err}
					mu.Unlock()
				}
				finished <- i
			}
		})
	}
	p.feedUsers(ctx, rows, next, finished, paused)
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

// pausedRun is a row whose pass ended paused, and when it may run again.
type pausedRun struct {
	row   int
	until time.Time
}

// feedUsers hands the rows to the workers on next, in order, and the
// paused ones again once their pause is over (on the project's clock),
// until every row has finished or ctx ends.
func (p *Project) feedUsers(ctx context.Context, rows []users.Row, next chan<- int, finished <-chan int, paused <-chan pausedRun) {
	queue := make([]int, len(rows))
	for i := range queue {
		queue[i] = i
	}
	var later []pausedRun
	for left := len(rows); left > 0; {
		now := p.now()
		later = slices.DeleteFunc(later, func(r pausedRun) bool {
			if now.Before(r.until) {
				return false
			}
			if err := p.Store.SetPausedFor(rows[r.row].SourceUser, time.Time{}, ""); err != nil {
				p.log().Warn("the end of a pause not recorded", "user", rows[r.row].SourceUser, "error", err.Error())
			}
			p.log().Info("pause over: copying", "user", rows[r.row].SourceUser)
			queue = append(queue, r.row)
			return true
		})
		var send chan<- int
		var first int
		if len(queue) > 0 {
			send, first = next, queue[0]
		}
		var wake <-chan time.Time
		var timer throttle.Timer
		if len(later) > 0 {
			soonest := slices.MinFunc(later, func(a, b pausedRun) int { return a.until.Compare(b.until) })
			timer = projectClock{p}.NewTimer(soonest.until.Sub(now))
			wake = timer.C()
		}
		select {
		case send <- first:
			queue = queue[1:]
		case <-finished:
			left--
		case r := <-paused:
			later = append(later, r)
		case <-wake:
		case <-ctx.Done():
			left = 0
		}
		if timer != nil {
			timer.Stop()
		}
	}
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
