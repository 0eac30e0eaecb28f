package phase

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
)

// shardVolumes are the users of the split tests and their collected bytes.
var shardVolumes = map[string]int64{"u900": 900, "u500": 500, "u400": 400, "a300": 300, "b300": 300, "u100": 100, "u0": 0}

// splitProject is a project of shardVolumes' users, collected with their
// volumes and approved, and one user ("late") not approved, on store.
func splitProject(t *testing.T, store *state.Store) *Project {
	t.Helper()
	p := &Project{Config: Defaults(), Store: store}
	p.Config.Source.URL, p.Config.Target.URL = "imap://old.example", "imap://new.example"
	var approved []users.Row
	for _, n := range []string{"u0", "u100", "b300", "a300", "u400", "u500", "u900"} {
		r := users.Row{SourceUser: n, TargetUser: n + "@new"}
		p.Users = append(p.Users, r)
		approved = append(approved, r)
		must(t, store.PutUser(n, n+"@new", ""))
		must(t, store.SaveAccount(state.Account{User: n, Side: state.SideSource, Login: n, CollectedAt: time.Now(),
			Folders: []mailbox.Folder{{Name: "INBOX", Messages: uint32(shardVolumes[n] / 100), Bytes: shardVolumes[n]}}}))
	}
	p.Users = append(p.Users, users.Row{SourceUser: "late", TargetUser: "late@new"})
	_, err := store.SaveApproval(state.Approval{Hash: p.planHash(approved), By: "Jane", At: time.Now(), Users: []string{"u0", "u100", "b300", "a300", "u400", "u500", "u900"}})
	must(t, err)
	return p
}

func slotNames(plan ShardPlan) [][]string {
	var out [][]string
	for _, s := range plan.Shards {
		var names []string
		for _, u := range s.Users {
			names = append(names, u.User)
		}
		out = append(out, names)
	}
	return out
}

// TestSplitPlanByVolume checks the split: largest first onto the shard
// with the fewest bytes (then users, then the lowest index), ties between
// users by name, the approved users only, whatever the users file's order.
func TestSplitPlanByVolume(t *testing.T) {
	store, err := state.OpenMemory()
	must(t, err)
	defer store.Close()
	p := splitProject(t, store)
	plan, err := SplitPlan(p, 3)
	must(t, err)
	want := [][]string{{"u900"}, {"u500", "b300", "u0"}, {"u400", "a300", "u100"}}
	if got := slotNames(plan); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("split = %v, want %v", got, want)
	}
	if plan.Shards[1].Bytes != 800 || plan.Shards[2].Messages != 8 {
		t.Errorf("shard volumes: %+v", plan.Shards)
	}
	if !slices.Equal(plan.NotApproved, []string{"late"}) {
		t.Errorf("not approved: %v", plan.NotApproved)
	}

	slices.Reverse(p.Users)
	again, err := SplitPlan(p, 3)
	must(t, err)
	if again.SplitHash != plan.SplitHash || again.PlanHash != plan.PlanHash || !slices.EqualFunc(slotNames(again), want, slices.Equal) {
		t.Errorf("the users file's order changed the split: %v", slotNames(again))
	}

	// Collected again with other volumes: same plan, another split.
	must(t, store.SaveAccount(state.Account{User: "u0", Side: state.SideSource, Folders: []mailbox.Folder{{Name: "INBOX", Bytes: 5000}}}))
	moved, err := SplitPlan(p, 3)
	must(t, err)
	if moved.PlanHash != plan.PlanHash || moved.SplitHash == plan.SplitHash || moved.Shards[0].Users[0].User != "u0" {
		t.Errorf("after collecting again: plan %s split %s, shards %v", moved.PlanHash, moved.SplitHash, slotNames(moved))
	}

	var cfgErr *ConfigError
	if _, err := SplitPlan(p, 0); !errors.As(err, &cfgErr) {
		t.Errorf("0 shards: %v", err)
	}
	p.Config.Target.URL = "imap://other.example" // voids the approval
	if _, err := SplitPlan(p, 3); !errors.Is(err, ErrNotApproved) {
		t.Errorf("split without an approval that holds: %v", err)
	}
	if text := RenderShards(plan); !strings.Contains(text, "3/3") || !strings.Contains(text, "late") {
		t.Errorf("RenderShards:\n%s", text)
	}
}

// TestStartShardRefuses starts a shard state from a project state and
// checks each refusal: another shard's state, a project state that now
// holds another split, a configuration that makes another plan, and a
// shard state read before it was started.
func TestStartShardRefuses(t *testing.T) {
	dir := t.TempDir()
	projStore, err := state.Open(filepath.Join(dir, "mailshift.db"))
	must(t, err)
	defer projStore.Close()
	proj := splitProject(t, projStore)
	shardPath := filepath.Join(dir, "mailshift-2-of-3.db")
	var last *state.Store
	open := func() *Project { // closing the one opened before
		if last != nil {
			last.Close()
		}
		s, err := state.Open(shardPath)
		must(t, err)
		last = s
		t.Cleanup(func() { s.Close() })
		return &Project{Config: proj.Config, Users: proj.Users, Store: s}
	}

	reader, err := state.OpenReader(filepath.Join(dir, "unstarted.db"))
	must(t, err)
	defer reader.Close()
	if err := StartShard(&Project{Config: proj.Config, Users: proj.Users, Store: reader}, nil, 1, 3); !errors.Is(err, ErrOutOfOrder) {
		t.Errorf("a shard state never started, read without a project state: %v", err)
	}

	p := open()
	must(t, StartShard(p, projStore, 2, 3))
	if p.Shard == nil || !slices.Equal(p.Shard.Users, []string{"b300", "u0", "u500"}) {
		t.Fatalf("shard 2/3: %+v", p.Shard)
	}
	rows, err := p.selectUsers(Selection{})
	must(t, err)
	if len(rows) != 3 {
		t.Errorf("shard 2/3 selects %d users", len(rows))
	}

	// Started again, alone on its station (no project state): fine.
	must(t, StartShard(open(), nil, 2, 3))

	if err := StartShard(open(), projStore, 1, 3); !errors.Is(err, ErrPlanChanged) || !strings.Contains(err.Error(), "2/3's, not 1/3's") {
		t.Errorf("another shard's state: %v", err)
	}

	changed := open()
	changed.Config.Folders.Prefix = "Archive"
	if err := StartShard(changed, nil, 2, 3); !errors.Is(err, ErrPlanChanged) || !strings.Contains(err.Error(), "mailshift merge") {
		t.Errorf("a configuration that makes another plan: %v", err)
	}

	must(t, projStore.SaveAccount(state.Account{User: "u0", Side: state.SideSource, Folders: []mailbox.Folder{{Name: "INBOX", Bytes: 5000}}}))
	if err := StartShard(open(), projStore, 2, 3); !errors.Is(err, ErrPlanChanged) || !strings.Contains(err.Error(), "collected again") {
		t.Errorf("a project state split otherwise since: %v", err)
	}
}
