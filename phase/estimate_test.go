package phase

import (
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
)

// TestEstimateBulk plans a bulk copy from the inventory: the configured
// rate shared by the users copied at once, capped by throttle.bandwidth,
// and stretched over the copy windows.
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
	if e.Bytes != 5_400_000 || e.Copying != 90*time.Minute || e.Wall != 90*time.Minute {
		t.Errorf("no windows: %d bytes, copying %v, wall %v", e.Bytes, e.Copying, e.Wall)
	}
	// Two users at once share the 1000 B/s: 500 B/s each.
	if e.Users["ann"] != 2*time.Hour || e.Users["ben"] != time.Hour {
		t.Errorf("per user: %v", e.Users)
	}

	// One hour a day: 60 minutes tonight, the other 30 tomorrow night.
	p.Config.Throttle.Windows = []string{"daily 01:00-02:00"}
	p.Config.Throttle.TimeZone = "UTC"
	p.gentle = gentle{}
	e, err = p.estimateBulk()
	must(t, err)
	if want := 25*time.Hour + 30*time.Minute; e.Wall != want || !e.Finish.Equal(p.now().Add(want)) {
		t.Errorf("with windows: wall %v (want %v), finish %v", e.Wall, want, e.Finish)
	}

	// A bandwidth cap below the rate slows it down.
	p.Config.Throttle.Windows = nil
	p.Config.Throttle.Bandwidth = "500B/s"
	p.gentle = gentle{}
	e, err = p.estimateBulk()
	must(t, err)
	if e.Copying != 3*time.Hour || e.Rate != 500 {
		t.Errorf("capped: copying %v at %v B/s", e.Copying, e.Rate)
	}
}
