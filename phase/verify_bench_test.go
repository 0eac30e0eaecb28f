package phase

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
)

// BenchmarkVerifyDovecot copies mailboxes between two real Dovecots (a
// few hundred small ones, and a few larger ones), then times a
// nothing-changed sync (for comparison), a full verification, incremental
// ones with nothing changed (verify.sample 1% and 0) and one after new mail
// reached a tenth of the users and was synced; then the cutover window of
// half the users verified incrementally, half in full. Run with `make
// bench`; it prints the figures.
func BenchmarkVerifyDovecot(b *testing.B) {
	for _, prof := range []struct {
		name                  string
		users, messages, size int
	}{
		{"200users-10x2kB", 200, 10, 2000},
		{"4users-100x50kB", 4, 100, 50000},
	} {
		b.Run(prof.name, func(b *testing.B) {
			for range b.N {
				benchVerify(b, prof.users, prof.messages, prof.size)
			}
		})
	}
}

func benchVerify(b *testing.B, nusers, messages, size int) {
	b.StopTimer()
	names := make([]string, nusers)
	for i := range names {
		names[i] = fmt.Sprintf("user%03d", i)
	}
	e := newEnv(b, dovecot.Options{}, dovecot.Options{}, names...)
	e.p.Config.Copy.Workers = 8
	for i, n := range names {
		e.seed(n, corpus.Generate(int64(i+1), messages, size))
	}
	e.approved()
	ctx := context.Background()
	if _, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true}); err != nil {
		b.Fatal(err)
	}
	timed := func(what string, full bool, sample string) (time.Duration, VerifyResult) {
		e.p.Config.Verify.Sample = SampleSetting(sample)
		start := time.Now()
		res, err := VerifyWith(ctx, e.p, VerifyOptions{Full: full})
		d := time.Since(start)
		if err != nil {
			b.Fatalf("%s: %v", what, err)
		}
		b.Logf("%-44s %8v  %d messages, content of %d read, %d of %d folders unchanged", what, d.Round(time.Millisecond), res.Messages, res.Sample, res.Unchanged, res.Folders)
		return d, res
	}
	b.StartTimer()
	start := time.Now()
	if _, err := Sync(ctx, e.p, SyncOptions{}); err != nil {
		b.Fatal(err)
	}
	nochange := time.Since(start)
	b.Logf("%-44s %8v", "sync, nothing changed (for comparison)", nochange.Round(time.Millisecond))
	full, _ := timed("verify --full", true, "1%")
	inc, _ := timed("verify, nothing changed (sample 1%)", false, "1%")
	none, _ := timed("verify, nothing changed (sample 0)", false, "0")
	for i := 0; i < nusers; i += max(nusers/10, 1) {
		e.seed(names[i], corpus.Generate(int64(1000+i), 1, size))
	}
	if _, err := Sync(ctx, e.p, SyncOptions{}); err != nil {
		b.Fatal(err)
	}
	after, _ := timed("verify, new mail for some users (sample 1%)", false, "1%")
	// The cutover window, nothing changed since the last verification:
	// half the users verified incrementally, the other half in full.
	e.p.Config.Verify.Sample = "1%"
	window := func(batch string, full bool) float64 {
		cu, err := Cutover(ctx, e.p, CutoverOptions{Selection: Selection{Batch: batch}, Yes: true, FullVerify: full})
		if err != nil {
			b.Fatalf("cutover of %s: %v", batch, err)
		}
		b.Logf("%-44s %8.3fs  %d users, %d messages, content of %d read", fmt.Sprintf("cutover %s (full verify %v)", batch, full), cu.WindowSecs, len(cu.Users), cu.Verify.Messages, cu.Verify.Sample)
		return cu.WindowSecs
	}
	cutInc, cutFull := window("wave1", false), window("wave2", true)
	b.StopTimer()
	b.ReportMetric(cutInc*1000, "cutover-incremental-ms")
	b.ReportMetric(cutFull*1000, "cutover-full-ms")
	b.ReportMetric(full.Seconds()*1000, "full-ms")
	b.ReportMetric(inc.Seconds()*1000, "incremental-ms")
	b.ReportMetric(none.Seconds()*1000, "nosample-ms")
	b.ReportMetric(after.Seconds()*1000, "aftersync-ms")
	b.ReportMetric(nochange.Seconds()*1000, "nochange-sync-ms")
	b.Logf("%d users x %d messages of ~%d bytes: full %v, incremental %v (%.1fx faster)", nusers, messages, size,
		full.Round(time.Millisecond), inc.Round(time.Millisecond), full.Seconds()/inc.Seconds())
}
