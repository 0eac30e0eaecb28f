package state

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
)

// BenchmarkShardSeedAndMerge measures what sharding adds to a project of
// 10,000 users of 10 copied messages each (the 10,000-user benchmark's
// shape): starting 4 shard states from the project state, and merging the
// 4 back. It reports the seconds of each, per run of all 4.
func BenchmarkShardSeedAndMerge(b *testing.B) {
	const users, perUser, shards = 10000, 10, 4
	dir := b.TempDir()
	projPath := filepath.Join(dir, "mailshift.db")
	proj, err := Open(projPath)
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	names := make([]string, users)
	var ps []Pair
	for i := range users {
		names[i] = fmt.Sprintf("user%05d", i)
		if err := proj.PutUser(names[i], names[i]+"@new", ""); err != nil {
			b.Fatal(err)
		}
		if err := proj.SaveAccount(Account{User: names[i], Side: SideSource, CollectedAt: at,
			Folders: []mailbox.Folder{{Name: "INBOX", Messages: perUser, Bytes: perUser * 4000}}}); err != nil {
			b.Fatal(err)
		}
		for k := range perUser {
			ps = append(ps, Pair{User: names[i], SourceFolder: "INBOX", SourceUIDValidity: 1, SourceKey: fmt.Sprint(k + 1),
				SourceUID: uint32(k + 1), Size: 4000, Hash: "00", Status: Copied, TargetUID: uint32(k + 1)})
		}
	}
	if err := proj.PutPairs(ps); err != nil {
		b.Fatal(err)
	}
	if _, err := proj.SaveApproval(Approval{Hash: "h", By: "Bench", At: at, Users: names}); err != nil {
		b.Fatal(err)
	}
	var seedTime, mergeTime time.Duration
	for n := range b.N {
		var paths []string
		start := time.Now()
		for i := range shards {
			path := filepath.Join(dir, fmt.Sprintf("run%d-%d-of-%d.db", n, i+1, shards))
			s, err := Open(path)
			if err != nil {
				b.Fatal(err)
			}
			var mine []string
			for k := i; k < users; k += shards {
				mine = append(mine, names[k])
			}
			info := ShardInfo{Index: i + 1, Count: shards, PlanHash: "p", SplitHash: fmt.Sprint("s", n), Users: mine, SeededAt: at}
			if err := s.SeedShard(projPath, info); err != nil {
				b.Fatal(err)
			}
			if err := s.CountShardRun(); err != nil {
				b.Fatal(err)
			}
			s.Close()
			paths = append(paths, path)
		}
		seedTime += time.Since(start)
		start = time.Now()
		for _, path := range paths {
			if _, err := proj.MergeShard(path, at.Add(time.Hour)); err != nil {
				b.Fatal(err)
			}
		}
		mergeTime += time.Since(start)
	}
	proj.Close()
	b.ReportMetric(seedTime.Seconds()/float64(b.N), "seed-s")
	b.ReportMetric(mergeTime.Seconds()/float64(b.N), "merge-s")
	b.ReportMetric(0, "ns/op")
}
