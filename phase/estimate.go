package phase

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
)

// BulkEstimate is how long bulk copy is expected to take: copying time at
// the planned rate (the measured test rate, else estimate.bandwidth, never
// above throttle.bandwidth), and the wall-clock time it spans from now when
// it may only run inside throttle.windows.
type BulkEstimate struct {
	Bytes       int64                    `json:"bytes"`
	Copying     time.Duration            `json:"copying_ns"`
	Wall        time.Duration            `json:"wall_ns"` // from now, with the windows; -1 if the windows never open
	Finish      time.Time                `json:"finish"`  // zero if the windows never open
	Rate        float64                  `json:"bytes_per_second"`
	RateFrom    string                   `json:"rate_from"`
	Users       map[string]time.Duration `json:"users_ns"` // copying time of each user's remaining data
	WindowsNote string                   `json:"windows,omitempty"`
}

// estimateBulk plans the bulk copy of the users' remaining data (bytes in
// the inventory less what is copied already).
func (p *Project) estimateBulk() (BulkEstimate, error) {
	return p.estimateBulkOf(p.Users)
}

// estimateBulkOf is estimateBulk for some users only (a wave's plan).
func (p *Project) estimateBulkOf(rows []users.Row) (BulkEstimate, error) {
	est := BulkEstimate{Users: map[string]time.Duration{}}
	rate, from := p.estimateRate()
	est.RateFrom = from
	remaining := map[string]int64{}
	for _, r := range rows {
		a, err := p.Store.Account(r.SourceUser, state.SideSource)
		if err != nil {
			continue // not collected: nothing known to plan with
		}
		var bytes int64
		for _, f := range a.Folders {
			bytes += max(f.Bytes, 0)
		}
		c, err := p.Store.Counts(r.SourceUser)
		if err != nil {
			return est, err
		}
		remaining[r.SourceUser] = max(bytes-c.CopiedBytes, 0)
		est.Bytes += remaining[r.SourceUser]
	}
	// The rate is that of the whole run; users run copy.workers at a time
	// and share it. throttle.bandwidth caps it.
	parallel := float64(max(1, min(p.Config.Copy.Workers, len(remaining))))
	if bw := p.Config.Throttle.Bandwidth; bw != "" {
		if cap, err := ParseRate(bw); err == nil && cap < rate {
			rate = cap
			est.RateFrom += ", capped by throttle.bandwidth"
		}
	}
	est.Rate = rate
	perUser := rate / parallel
	for u, b := range remaining {
		est.Users[u] = seconds(float64(b) / perUser)
	}
	est.Copying = seconds(float64(est.Bytes) / rate)

	w := p.throttling().windows
	now := p.now()
	if w.Always() {
		est.Wall, est.Finish = est.Copying, now.Add(est.Copying)
		return est, nil
	}
	est.WindowsNote = w.String()
	t, left := now, est.Copying
	for i := 0; left > 0; i++ {
		open, change := w.At(t)
		if change.IsZero() || i > 10000 {
			if !open {
				est.Wall = -1
				return est, nil
			}
			t = t.Add(left)
			break
		}
		if open {
			if step := change.Sub(t); step < left {
				left -= step
			} else {
				t = t.Add(left)
				break
			}
		}
		t = change
	}
	est.Wall, est.Finish = t.Sub(now), t
	return est, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

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
