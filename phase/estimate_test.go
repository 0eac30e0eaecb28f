package phase

import (
	"strings"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
)

// TestEstimateBulk plans a bulk copy from the inventory: the configured
// rate shared by the users copied at once, capped by throttle.bandwidth,
// and stretched over the copy windows. The total is the time the workers
// need, never less than the longest user's own.
func TestEstimateBulk(t *testing.T) {
	store, err := state.OpenMemory()
	must(t, err)
	defer store.Close()
	cfg := Defaults()
	cfg.Estimate.Bandwidth = "1000B/s"
	p := &Project{Config: cfg, Store: store, Now: func() time.Time { return time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) }}
	for _, u := range []struct {
		name  string
		bytes int64
	}{{"ann", 3_600_000}, {"ben", 1_800_000}} {
		p.Users = append(p.Users, users.Row{SourceUser: u.name, TargetUser: u.name})
		must(t, store.PutUser(u.name, u.name, ""))
		must(t, store.SaveAccount(state.Account{User: u.name, Side: state.SideSource, Folders: []mailbox.Folder{{Name: "INBOX", Bytes: u.bytes}}}))
	}

	e, err := p.estimateBulk()
	must(t, err)
	// Two users at once (not copy.workers' 4) share the 1000 B/s: 500
	// B/s each; ann's two hours are the whole copy.
	if e.Workers != 2 || e.PerUserRate != 500 || e.Rate != 1000 {
		t.Errorf("workers %d at %v B/s each, %v B/s together", e.Workers, e.PerUserRate, e.Rate)
	}
	if e.Users["ann"] != 2*time.Hour || e.Users["ben"] != time.Hour {
		t.Errorf("per user: %v", e.Users)
	}
	if e.Bytes != 5_400_000 || e.Copying != 2*time.Hour || e.Wall != 2*time.Hour {
		t.Errorf("no windows: %d bytes, copying %v, wall %v", e.Bytes, e.Copying, e.Wall)
	}

	// One hour a day: 60 minutes tonight, the other 60 tomorrow night.
	p.Config.Throttle.Windows = []string{"daily 01:00-02:00"}
	p.Config.Throttle.TimeZone = "UTC"
	p.gentle = gentle{}
	e, err = p.estimateBulk()
	must(t, err)
	if want := 26 * time.Hour; e.Wall != want || !e.Finish.Equal(p.now().Add(want)) {
		t.Errorf("with windows: wall %v (want %v), finish %v", e.Wall, want, e.Finish)
	}

	// A bandwidth cap below the rate slows it down.
	p.Config.Throttle.Windows = nil
	p.Config.Throttle.Bandwidth = "500B/s"
	p.gentle = gentle{}
	e, err = p.estimateBulk()
	must(t, err)
	if e.Copying != 4*time.Hour || e.Rate != 500 {
		t.Errorf("capped: copying %v at %v B/s", e.Copying, e.Rate)
	}
}

// TestEstimateFewerUsersThanWorkers: three users and four workers copy
// three at a time, the text says so, and the total is never shorter than
// one user's estimate.
func TestEstimateFewerUsersThanWorkers(t *testing.T) {
	store, err := state.OpenMemory()
	must(t, err)
	defer store.Close()
	cfg := Defaults()
	cfg.Copy.Workers = 4
	cfg.Estimate.Bandwidth = "3000B/s"
	p := &Project{Config: cfg, Store: store}
	sizes := map[string]int64{"ann": 5_400_000, "ben": 600_000, "cid": 600_000, "dee": 0}
	for _, u := range []string{"ann", "ben", "cid", "dee"} {
		p.Users = append(p.Users, users.Row{SourceUser: u, TargetUser: u})
		must(t, store.PutUser(u, u, ""))
		must(t, store.SaveAccount(state.Account{User: u, Side: state.SideSource, Folders: []mailbox.Folder{{Name: "INBOX", Bytes: sizes[u]}}}))
	}
	e, err := p.estimateBulk()
	must(t, err)
	if e.Workers != 3 || e.PerUserRate != 1000 {
		t.Errorf("%d workers at %v B/s each, want 3 at 1000", e.Workers, e.PerUserRate)
	}
	var longest time.Duration
	for _, d := range e.Users {
		longest = max(longest, d)
	}
	if longest != 90*time.Minute || e.Copying < longest {
		t.Errorf("total %v, longest user %v (users %v)", e.Copying, longest, e.Users)
	}
	if text := e.text(); !strings.Contains(text, "3 users at a time") || !strings.Contains(text, "**1h30m**") || strings.Contains(text, "4 users") {
		t.Errorf("text: %s", text)
	}

	// One worker: the users one after the other, at the whole rate.
	p.Config.Copy.Workers = 1
	e, err = p.estimateBulk()
	must(t, err)
	if e.Workers != 1 || e.Copying != 2_200*time.Second || !strings.Contains(e.text(), "one user at a time") {
		t.Errorf("one worker: %d, %v, %s", e.Workers, e.Copying, e.text())
	}
}
