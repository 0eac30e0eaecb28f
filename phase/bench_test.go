package phase

import (
	"context"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
)

// BenchmarkBulkDovecot copies generated mailboxes between two real Dovecots
// and reports messages/s and MB/s of the bulk copy, and the time of a
// re-run with nothing changed. Run with `make bench`.
func BenchmarkBulkDovecot(b *testing.B) {
	for _, prof := range []struct {
		name     string
		users    int
		messages int
		size     int
	}{
		{"small-4users", 4, 1000, 20000},
		{"large-1user", 1, 100, 1000000},
	} {
		b.Run(prof.name, func(b *testing.B) {
			for range b.N {
				benchBulk(b, prof.users, prof.messages, prof.size)
			}
		})
	}
}

func benchBulk(b *testing.B, nusers, messages, size int) {
	b.StopTimer()
	names := make([]string, nusers)
	for i := range names {
		names[i] = "user" + string(rune('a'+i))
	}
	e := newEnv(b, dovecot.Options{}, dovecot.Options{Separator: "."}, names...)
	e.p.Config.Copy.BatchSize = 200
	var bytes int64
	for i, n := range names {
		msgs := corpus.Mailbox(int64(i+1), messages, size)
		for _, m := range msgs {
			bytes += int64(len(m.Body))
		}
		e.seed(n, msgs)
	}
	ctx := context.Background()
	if _, err := Collect(ctx, e.p, Selection{}); err != nil {
		b.Fatal(err)
	}
	if _, err := Approve(ctx, e.p, ApproveOptions{Yes: true, By: "bench"}); err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	start := time.Now()
	res, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	if _, err := Sync(ctx, e.p, SyncOptions{}); err != nil {
		b.Fatal(err)
	}
	rerun := time.Since(start)
	b.ReportMetric(float64(res.Messages)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(bytes)/1e6/elapsed.Seconds(), "MB/s")
	b.ReportMetric(rerun.Seconds()*1000, "nochange-ms")
	b.Logf("%d users, %d messages, %.1f MB: bulk %v, nothing-changed sync %v", nusers, res.Messages, float64(bytes)/1e6, elapsed.Round(time.Millisecond), rerun.Round(time.Millisecond))
}
