package phase

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
)

// BulkEstimate is how long bulk copy is expected to take. Users are
// copied Workers at a time (copy.workers, but never more than there are
// users with data to copy), each at PerUserRate: the rate one user was
// measured at by the last passed test, else estimate.bandwidth shared by
// the workers, and never above throttle.bandwidth all workers together.
// Copying is the time the workers need when they take the users in the
// users file's order, as bulk does: never less than the longest user's
// own estimate, nor than Bytes at Rate.
type BulkEstimate struct {
	Bytes       int64                    `json:"bytes"`
	Copying     time.Duration            `json:"copying_ns"`
	Wall        time.Duration            `json:"wall_ns"`                   // from now, with the windows; -1 if the windows never open
	Finish      time.Time                `json:"finish"`                    // zero if the windows never open
	Rate        float64                  `json:"bytes_per_second"`          // all workers together
	PerUserRate float64                  `json:"bytes_per_second_per_user"` // one worker copying one user
	Workers     int                      `json:"workers"`                   // users copied at once
	RateFrom    string                   `json:"rate_from"`
	Users       map[string]time.Duration `json:"users_ns"` // copying time of each user's remaining data
	WindowsNote string                   `json:"windows,omitempty"`
	// Schedule is the estimate on a timeline: from now to the finish,
	// when copying runs (inside the windows) and when it waits.
	Schedule []EstimateSpan `json:"schedule"`
}

// EstimateSpan is a stretch of the estimated bulk copy's timeline.
type EstimateSpan struct {
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Copying bool      `json:"copying"` // false: waiting for a copy window
}

// estimateBulk plans the bulk copy of the users' remaining data (bytes in
// the inventory less those of its messages copied already).
func (p *Project) estimateBulk() (BulkEstimate, error) {
	return p.estimateBulkOf(p.Users)
}

// estimateBulkOf is estimateBulk for some users only (a wave's plan).
func (p *Project) estimateBulkOf(rows []users.Row) (BulkEstimate, error) {
	est := BulkEstimate{Users: map[string]time.Duration{}}
	var order []string // users with data to copy, in rows' order
	remaining := map[string]int64{}
	for _, r := range rows {
		a, err := p.account(r.SourceUser, state.SideSource)
		if err != nil {
			continue // not collected: nothing known to plan with
		}
		// Mail copied that collect did not count (new since) is no part
		// of the inventory's bytes: only what it counted is taken off,
		// folder by folder.
		t, err := p.inventoryTally(r.SourceUser, a)
		if err != nil {
			return est, err
		}
		left := t.LeftBytes
		if _, seen := remaining[r.SourceUser]; !seen && left > 0 {
			order = append(order, r.SourceUser)
		}
		remaining[r.SourceUser] = left
		est.Bytes += left
	}
	est.Workers = max(1, min(p.Config.Copy.Workers, len(order)))
	est.PerUserRate, est.RateFrom = p.estimateRate(est.Workers)
	est.Rate = est.PerUserRate * float64(est.Workers)
	for u, b := range remaining {
		est.Users[u] = seconds(float64(b) / est.PerUserRate)
	}
	// The workers take the users in order, each the next user when it is
	// free: the copying ends when the busiest worker is done.
	busy := make([]time.Duration, est.Workers)
	for _, u := range order {
		i := slices.Index(busy, slices.Min(busy))
		busy[i] += est.Users[u]
	}
	est.Copying = slices.Max(busy)

	w := p.throttling().windows
	now := p.now()
	if w.Always() {
		est.Wall, est.Finish = est.Copying, now.Add(est.Copying)
		est.Schedule = []EstimateSpan{{Start: now, End: est.Finish, Copying: true}}
		return est, nil
	}
	est.WindowsNote = w.String()
	t, left := now, est.Copying
	for i := 0; left > 0; i++ {
		open, change := w.At(t)
		if change.IsZero() || i > 10000 {
			if !open {
				est.Wall, est.Schedule = -1, nil
				return est, nil
			}
			est.Schedule = append(est.Schedule, EstimateSpan{Start: t, End: t.Add(left), Copying: true})
			t = t.Add(left)
			break
		}
		if open {
			if step := change.Sub(t); step < left {
				left -= step
			} else {
				est.Schedule = append(est.Schedule, EstimateSpan{Start: t, End: t.Add(left), Copying: true})
				t = t.Add(left)
				break
			}
		}
		est.Schedule = append(est.Schedule, EstimateSpan{Start: t, End: change, Copying: open})
		t = change
	}
	est.Wall, est.Finish = t.Sub(now), t
	return est, nil
}

// estimateRate returns the rate one worker copies one user at, in bytes
// per second, when workers users are copied at once, and where it comes
// from: the last passed test (its rate per user), else the configured
// estimate.bandwidth shared by the workers; throttle.bandwidth caps all
// workers together.
func (p *Project) estimateRate(workers int) (float64, string) {
	workers = max(1, workers)
	var perUser float64
	var from string
	if t, err := p.Store.LatestTestRun(); err == nil && t.Passed && t.Seconds > 0 && t.Bytes > 0 {
		tested := float64(max(1, min(p.Config.Copy.Workers, len(t.Users))))
		perUser = float64(t.Bytes) / t.Seconds / tested
		from = fmt.Sprintf("measured by the test migration of %s", t.At.UTC().Format("2006-01-02 15:04"))
	} else {
		r, err := ParseRate(p.Config.Estimate.Bandwidth)
		if err != nil || r <= 0 {
			r = 10e6
		}
		perUser = r / float64(workers)
		from = "configured estimate.bandwidth; run `mailshift test` to measure it"
	}
	if bw := p.Config.Throttle.Bandwidth; bw != "" {
		if cap, err := ParseRate(bw); err == nil && cap > 0 && cap < perUser*float64(workers) {
			perUser = cap / float64(workers)
			from += ", capped by throttle.bandwidth"
		}
	}
	return perUser, from
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// text says how long the copying takes, for how much data, how many
// users at once and at which rate; bold marks the duration (Markdown).
func (e BulkEstimate) text() string {
	if e.Bytes == 0 {
		return "Nothing left to copy."
	}
	users := 0
	for _, d := range e.Users {
		if d > 0 {
			users++
		}
	}
	at := fmt.Sprintf("%d users at a time, each at %s/s, %s/s together", e.Workers, FormatBytes(int64(e.PerUserRate)), FormatBytes(int64(e.Rate)))
	if e.Workers == 1 {
		at = fmt.Sprintf("one user at a time, at %s/s", FormatBytes(int64(e.PerUserRate)))
	}
	return fmt.Sprintf("**%s** of copying for %s of %d users: %s (%s).", formatDuration(e.Copying), FormatBytes(e.Bytes), users, at, e.RateFrom)
}

// windowsText says what the copy windows do to the estimate.
func (e BulkEstimate) windowsText() string {
	switch {
	case e.WindowsNote == "":
		return "No copy windows (throttle.windows): bulk copy runs around the clock."
	case e.Wall < 0:
		return "Copy windows " + e.WindowsNote + ": they never open; bulk copy cannot run (or use `bulk --now`)."
	default:
		return fmt.Sprintf("Inside the copy windows %s, bulk copy started now would take **%s** of wall-clock time and end around %s.",
			e.WindowsNote, formatDuration(e.Wall), e.Finish.Format("Mon 2006-01-02 15:04 MST"))
	}
}

// maxEstimateRows bounds the per-user table of estimates in reports.
const maxEstimateRows = 50

// writeUserEstimates writes the users' copying times, longest first.
func writeUserEstimates(w func(string, ...any), e BulkEstimate) {
	if len(e.Users) == 0 {
		return
	}
	users := make([]string, 0, len(e.Users))
	for u := range e.Users {
		users = append(users, u)
	}
	slices.SortFunc(users, func(a, b string) int {
		if d := e.Users[b] - e.Users[a]; d != 0 {
			return int(d / time.Millisecond)
		}
		return strings.Compare(a, b)
	})
	w("| user | estimated copying time |\n|---|---|\n")
	for i, u := range users {
		if i == maxEstimateRows {
			w("| … %d more | |\n", len(users)-i)
			break
		}
		w("| %s | %s |\n", u, formatDuration(e.Users[u]))
	}
	w("\n")
}
