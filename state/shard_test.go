package state

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
)

// TestSeedAndMergeShard starts a shard state from a project state, lets it
// copy, merges it back twice (the second time after more progress) and
// checks that only the shard's users moved and nothing was doubled.
func TestSeedAndMergeShard(t *testing.T) {
	dir := t.TempDir()
	projPath := filepath.Join(dir, "mailshift.db")
	proj := openFile(t, projPath)
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, u := range []string{"alice", "bob", "carol"} {
		if err := proj.PutUser(u, u+"@new", "w1"); err != nil {
			t.Fatal(err)
		}
		if err := proj.SaveAccount(Account{User: u, Side: SideSource, Login: u, CollectedAt: at,
			Description: mailbox.Description{Kind: "imap"}, Folders: []mailbox.Folder{{Name: "INBOX", Messages: 2, Bytes: 200}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := proj.ReplaceProblems("bob", []Problem{{User: "bob", Kind: "quota", Detail: "d", Action: "a"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := proj.SaveApproval(Approval{Hash: "h1", By: "Jane", At: at, Users: []string{"alice", "bob", "carol"}}); err != nil {
		t.Fatal(err)
	}
	// alice already has a copied message in the project state (an
	// earlier split): the shard must start knowing it.
	putPairs(t, proj, Pair{User: "alice", SourceFolder: "INBOX", SourceUIDValidity: 1, SourceKey: "1", SourceUID: 1, Size: 100, Status: Copied, TargetUID: 1})
	proj.Close()

	shardPath := filepath.Join(dir, "mailshift-1-of-2.db")
	shard := openFile(t, shardPath)
	info := ShardInfo{Index: 1, Count: 2, PlanHash: "plan", SplitHash: "split", Users: []string{"alice", "bob"}, SeededFrom: projPath, SeededAt: at}
	if err := shard.SeedShard(projPath, info); err != nil {
		t.Fatalf("SeedShard: %v", err)
	}
	if err := shard.SeedShard(projPath, info); err == nil || !strings.Contains(err.Error(), "already holds 2 users") {
		t.Errorf("seeding a seeded state: %v", err)
	}
	got, err := shard.Shard()
	if err != nil || got.Name() != "1/2" || !slices.Equal(got.Users, info.Users) || got.SplitHash != "split" {
		t.Fatalf("Shard() = %+v, %v", got, err)
	}
	us, _ := shard.Users()
	if len(us) != 2 || us[0].SourceUser != "alice" || us[1].SourceUser != "bob" {
		t.Errorf("shard users: %+v", us)
	}
	if a, err := shard.Account("bob", SideSource); err != nil || len(a.Folders) != 1 || a.Folders[0].Bytes != 200 {
		t.Errorf("bob's inventory in the shard: %+v, %v", a, err)
	}
	if _, err := shard.Account("carol", SideSource); !errors.Is(err, ErrNotFound) {
		t.Errorf("carol (another shard's) in the shard: %v", err)
	}
	if ps, _ := shard.Problems(); len(ps) != 1 || ps[0].User != "bob" {
		t.Errorf("problems: %+v", ps)
	}
	if a, err := shard.LatestApproval(); err != nil || a.Hash != "h1" || len(a.Users) != 3 {
		t.Errorf("approval in the shard: %+v, %v", a, err)
	}
	if c, _ := shard.Counts("alice"); c.Copied != 1 {
		t.Errorf("alice's earlier copy in the shard: %+v", c)
	}

	// The shard copies: bob's two messages, one of them failed first.
	putPairs(t, shard, Pair{User: "bob", SourceFolder: "INBOX", SourceUIDValidity: 1, SourceKey: "1", SourceUID: 1, Size: 100, Status: Copied, TargetUID: 1},
		Pair{User: "bob", SourceFolder: "INBOX", SourceUIDValidity: 1, SourceKey: "2", SourceUID: 2, Size: 100, Status: Failed, Error: "refused"})
	if err := shard.MarkStep("bob", StepBulk, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := shard.PutSample(StepBulk, at, Sample{At: at.Add(time.Second), Messages: 1, Bytes: 100}); err != nil {
		t.Fatal(err)
	}

	proj = openFile(t, projPath)
	if _, err := proj.MergeShard(projPath, at); err == nil {
		t.Error("merging the project state into itself was accepted")
	}
	if _, err := shard.MergeShard(projPath, at); err == nil || !strings.Contains(err.Error(), "is itself a shard") {
		t.Errorf("merging into a shard state: %v", err)
	}
	merge := func() {
		t.Helper()
		got, err := proj.MergeShard(shardPath, at.Add(2*time.Hour))
		if err != nil || got.Name() != "1/2" {
			t.Fatalf("MergeShard: %+v, %v", got, err)
		}
	}
	merge()
	merge() // again: nothing doubles
	if c, _ := proj.Counts("bob"); c.Copied != 1 || c.Failed != 1 {
		t.Errorf("bob after merging: %+v", c)
	}
	if u, _ := proj.User("bob"); !u.BulkDoneAt.Equal(at.Add(time.Hour)) {
		t.Errorf("bob's bulk after merging: %v", u.BulkDoneAt)
	}
	if ps, _ := proj.Problems(); len(ps) != 1 {
		t.Errorf("problems after merging: %+v", ps)
	}

	// Newer shard file: the refused message went through.
	putPairs(t, shard, Pair{User: "bob", SourceFolder: "INBOX", SourceUIDValidity: 1, SourceKey: "2", SourceUID: 2, Size: 100, Status: Copied, TargetUID: 2})
	merge()
	if c, _ := proj.Counts("bob"); c.Copied != 2 || c.Failed != 0 {
		t.Errorf("bob after merging the newer shard state: %+v", c)
	}
	if _, xs, _ := proj.LatestSamples(StepBulk); len(xs) != 1 {
		t.Errorf("samples merged: %+v", xs)
	}
	if c, _ := proj.Counts("carol"); c.Copied != 0 {
		t.Errorf("carol touched: %+v", c)
	}
	ms, err := proj.MergedShards()
	if err != nil || len(ms) != 1 || ms[0].Path != shardPath || ms[0].Name() != "1/2" || !ms[0].SeededAt.Equal(at) {
		t.Errorf("MergedShards: %+v, %v", ms, err)
	}
	// An older copy of the same shard's state (fewer runs), and a shard
	// state of an earlier split holding bob too, would put back older
	// rows: refused.
	if err := shard.CountShardRun(); err != nil {
		t.Fatal(err)
	}
	merge()
	older := openFile(t, filepath.Join(dir, "older.db"))
	if err := older.SeedShard(projPath, info); err != nil {
		t.Fatal(err)
	}
	older.Close()
	if _, err := proj.MergeShard(filepath.Join(dir, "older.db"), at); !errors.Is(err, ErrStaleShard) || !strings.Contains(err.Error(), "newest copy") {
		t.Errorf("merging an older copy: %v", err)
	}
	earlier := openFile(t, filepath.Join(dir, "earlier.db"))
	if err := earlier.SeedShard(projPath, ShardInfo{Index: 2, Count: 3, PlanHash: "plan0", SplitHash: "split0", Users: []string{"bob", "carol"}, SeededAt: at.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	earlier.Close()
	if _, err := proj.MergeShard(filepath.Join(dir, "earlier.db"), at); !errors.Is(err, ErrStaleShard) || !strings.Contains(err.Error(), "earlier split") {
		t.Errorf("merging a shard of an earlier split: %v", err)
	}
	// A step on the merged project state for one of the shard's users:
	// merging the shard again would undo it.
	if err := proj.MarkStep("bob", StepCutover, at.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := proj.MergeShard(shardPath, at.Add(4*time.Hour)); !errors.Is(err, ErrStaleShard) || !strings.Contains(err.Error(), "ran cutover for bob") {
		t.Errorf("merging again after a cutover on the project state: %v", err)
	}
	if _, err := proj.MergeShard(filepath.Join(dir, "nope.db"), at); err == nil {
		t.Error("merging a missing file was accepted")
	}
	if _, err := os.Stat(filepath.Join(dir, "nope.db")); err == nil {
		t.Error("merging a missing file created it")
	}
}
