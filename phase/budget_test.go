package phase

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/gmaillike"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
	"github.com/mailshift/mailshift/internal/throttle"
	"github.com/mailshift/mailshift/state"
)

// sourceBytes is the size of user's source mail.
func (e *testEnv) sourceBytes(user string) int64 {
	var n int64
	for _, msgs := range imaptest.Snapshot(e.t, e.src.Addr, user, e.pw[user]) {
		for _, m := range msgs {
			n += int64(len(m.Body))
		}
	}
	return n
}

// fakeClock gives the project a manual clock, for Now and for its waits.
func (e *testEnv) fakeClock(start time.Time) *throttle.ManualClock {
	c := throttle.NewManualClock(start)
	e.p.Now, e.p.Clock = c.Now, c
	return c
}

// waitPaused waits (in real time) until status shows user paused, and
// returns its entry.
func (e *testEnv) waitPaused(user string, done <-chan bulkOutcome) UserStatus {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := Status(e.p, Selection{Users: []string{user}})
		must(e.t, err)
		if st.Users[0].PausedUntil != nil {
			return st.Users[0]
		}
		select {
		case out := <-done:
			e.t.Fatalf("bulk ended (%v) before %s was paused", out.err, user)
		default:
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("status never showed %s paused", user)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDailyBudgetPausesOneUser: with throttle.daily_per_user, the user
// whose mail is larger than a day's budget copies what fits, pauses until
// the budget renews (status says until when and why) while the other user
// finishes, and after a day, on the fake clock, copies the rest: every
// message exactly once. The budget is kept in the state: a new run
// during the pause waits too.
func TestDailyBudgetPausesOneUser(t *testing.T) {
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "kim", "lou")
	e.seed("kim", corpus.Generate(61, 40, 4000))
	e.seed("lou", corpus.Generate(62, 10, 4000))
	kim, lou := e.sourceBytes("kim"), e.sourceBytes("lou")
	budget := max(kim*2/5, lou+1)
	e.p.Config.Throttle.DailyPerUser = fmt.Sprintf("%dB", budget)
	e.p.Config.Copy.BatchSize = 5
	must(t, e.p.Config.Validate())
	day := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	clock := e.fakeClock(day)
	e.approved()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := e.bulkInBackground(ctx)
	us := e.waitPaused("kim", done)
	if want := day.Add(24 * time.Hour); !us.PausedUntil.Equal(want) || us.PausedFor != state.PauseBudget {
		t.Errorf("kim paused until %v for %q, want %v for the budget", us.PausedUntil, us.PausedFor, want)
	}
	st, err := Status(e.p, Selection{})
	must(t, err)
	if text := RenderStatus(st); !strings.Contains(text, "paused until") || !strings.Contains(text, "throttle.daily_per_user spent") {
		t.Errorf("status does not say kim is paused for the budget:\n%s", text)
	}
	js, err := json.Marshal(st)
	must(t, err)
	validate(t, schemaFor(t, "status.schema.json"), "status --json with a user paused for its budget", string(js))
	b, err := e.p.Store.Budget("kim")
	must(t, err)
	if b.Bytes > budget || b.Bytes < budget/2 {
		t.Errorf("kim copied %d bytes of a %d-byte budget before pausing", b.Bytes, budget)
	}
	// lou finishes while kim waits.
	deadline := time.Now().Add(20 * time.Second)
	for e.targetCount("lou") < 10 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	e.compare("lou")

	// A new run while kim's budget is spent waits as well: the count is
	// in the state.
	cancel()
	if out := <-done; !isInterrupt(out.err) {
		t.Fatalf("bulk ended with %v, want the interruption", out.err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel2()
	done = e.bulkInBackground(ctx2)
	us = e.waitPaused("kim", done)
	if !us.PausedUntil.Equal(day.Add(24 * time.Hour)) {
		t.Errorf("second run: kim paused until %v", us.PausedUntil)
	}
	// A day later the budget renews, and the rest is copied (kim's mail
	// needs three days' budgets).
	for i := 0; ; i++ {
		clock.BlockUntil(1)
		clock.Advance(24 * time.Hour)
		select {
		case out := <-done:
			must(t, out.err)
			e.exactlyOnce("kim", "lou")
			return
		case <-time.After(2 * time.Second):
		}
		if i > 4 {
			t.Fatal("bulk did not finish after four renewals")
		}
	}
}

// TestGmailOverQuotaPausesUser: Gmail's "[OVERQUOTA] Account exceeded
// command or bandwidth limits" to a FETCH pauses that user for a day (it
// is not a mailbox quota, and retrying at once would only be refused);
// when Gmail's day is over, the rest is copied, each message once.
func TestGmailOverQuotaPausesUser(t *testing.T) {
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "max")
	g, err := gmaillike.Start(io.Discard)
	must(t, err)
	t.Cleanup(func() { g.Close() })
	must(t, g.AddUser("max", e.pw["max"]))
	var total int64
	for i, m := range corpus.Generate(63, 20, 3000) {
		labels := []string{`\Inbox`}
		if i%3 == 0 {
			labels = nil // archived
		}
		_, err := g.Add("max", gmaillike.Message{Body: m.Body, Date: m.InternalDate, Flags: m.Flags, Labels: labels})
		must(t, err)
		total += int64(len(m.Body))
	}
	g.SetDailyQuota("max", total/3)
	e.p.Config.Source.URL = "imap://" + g.Addr + "?tls=none"
	e.p.Config.Copy.BatchSize = 4
	must(t, e.p.Config.Validate())
	day := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	clock := e.fakeClock(day)
	e.approved()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := e.bulkInBackground(ctx)
	us := e.waitPaused("max", done)
	if us.PausedFor != state.PauseLimits || !us.PausedUntil.Equal(day.Add(24*time.Hour)) {
		t.Errorf("paused until %v for %q, want a day for the server's limits", us.PausedUntil, us.PausedFor)
	}
	g.ResetQuota("max")
	g.SetDailyQuota("max", 0)
	clock.BlockUntil(1)
	clock.Advance(24 * time.Hour)
	out := <-done
	must(t, out.err)
	got := imaptest.Snapshot(t, e.dst.Addr, "max", e.pw["max"])
	if n := len(got["INBOX"]) + len(got["Archive"]); n != 20 || len(got["Archive"]) != 7 {
		t.Errorf("target holds %d in INBOX and %d in Archive, want 13 and 7", len(got["INBOX"]), len(got["Archive"]))
	}
	vr, err := Verify(context.Background(), e.p, Selection{})
	must(t, err)
	if vr.Differences != 0 || vr.Extra != 0 {
		t.Errorf("verify: %+v", vr)
	}
}

// TestGmailTargetReported: collect says when the target is Gmail that
// mailshift sets no labels there and what duplicates cost.
func TestGmailTargetReported(t *testing.T) {
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "nia")
	e.seed("nia", corpus.Generate(64, 3, 2000))
	g, err := gmaillike.Start(io.Discard)
	must(t, err)
	t.Cleanup(func() { g.Close() })
	must(t, g.AddUser("nia", e.pw["nia"]))
	e.p.Config.Target.URL = "imap://" + g.Addr + "?tls=none"
	_, err = Collect(context.Background(), e.p, Selection{})
	must(t, err)
	ps, err := e.p.Store.Problems()
	must(t, err)
	found := false
	for _, p := range ps {
		found = found || (p.Kind == "gmail-target" && p.User == "nia" && strings.Contains(p.Action, "throttle.daily_per_user"))
	}
	if !found {
		t.Errorf("collect did not say the target is Gmail: %+v", ps)
	}
}

// TestPausedUserFreesItsWorker: with one worker, the user whose daily
// budget is spent does not hold it for the day: its pass ends paused, the
// next user is copied meanwhile, and the paused one runs again when its
// budget renews, in the same bulk, each message copied once.
func TestPausedUserFreesItsWorker(t *testing.T) {
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "kim", "lou")
	e.seed("kim", corpus.Generate(64, 30, 4000))
	e.seed("lou", corpus.Generate(65, 10, 4000))
	kim, lou := e.sourceBytes("kim"), e.sourceBytes("lou")
	e.p.Config.Throttle.DailyPerUser = fmt.Sprintf("%dB", max(kim*3/5, lou+1))
	e.p.Config.Copy.BatchSize, e.p.Config.Copy.Workers = 5, 1
	must(t, e.p.Config.Validate())
	day := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	clock := e.fakeClock(day)
	e.approved()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := e.bulkInBackground(ctx)
	e.waitPaused("kim", done)
	// lou is copied while kim waits for its budget: nothing moves the
	// clock meanwhile.
	deadline := time.Now().Add(20 * time.Second)
	for e.targetCount("lou") < 10 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	e.compare("lou")
	st, err := Status(e.p, Selection{Users: []string{"kim"}})
	must(t, err)
	if st.Users[0].PausedUntil == nil || st.Users[0].Error != "" {
		t.Errorf("kim while paused: %+v", st.Users[0])
	}
	clock.BlockUntil(1)
	clock.Advance(24 * time.Hour)
	out := <-done
	must(t, out.err)
	e.exactlyOnce("kim", "lou")
	st, err = Status(e.p, Selection{Users: []string{"kim"}})
	must(t, err)
	if st.Users[0].PausedUntil != nil || st.Users[0].BulkDoneAt == nil {
		t.Errorf("kim after its budget renewed: %+v", st.Users[0])
	}
}

// TestCutoverWaitsForABudget: a user whose final sync finds more new mail
// than its daily budget holds pauses without failing its cutover; the
// other user is cut over meanwhile, and the paused one once its budget
// renews, in the same cutover, listed once.
func TestCutoverWaitsForABudget(t *testing.T) {
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "kim", "lou")
	e.seed("kim", corpus.Generate(66, 5, 2000))
	e.seed("lou", corpus.Generate(67, 5, 2000))
	e.p.Config.Copy.Workers = 1
	must(t, e.p.Config.Validate())
	day := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	clock := e.fakeClock(day)
	e.approved()
	ctx := context.Background()
	_, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true, Now: true})
	must(t, err)
	// New mail for kim, three times a day's budget.
	c := imaptest.Login(t, e.src.Addr, "kim", e.pw["kim"])
	for _, m := range corpus.Generate(68, 6, 4000) {
		imaptest.Append(t, c, "INBOX", nil, m.InternalDate, m.Body)
	}
	c.Logout().Wait()
	e.p.Config.Throttle.DailyPerUser = "9000B"
	must(t, e.p.Config.Validate())

	done := make(chan error, 1)
	var res CutoverResult
	go func() {
		var err error
		res, err = Cutover(ctx, e.p, CutoverOptions{Yes: true})
		done <- err
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		lou, err := e.p.Store.User("lou")
		must(t, err)
		kim, err := e.p.Store.User("kim")
		must(t, err)
		if !lou.CutoverAt.IsZero() && !kim.PausedUntil.IsZero() {
			if kim.Error != "" || !kim.CutoverAt.IsZero() {
				t.Fatalf("kim while paused: %+v", kim)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lou not cut over while kim waits: lou %+v, kim %+v", lou, kim)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := 0; ; i++ {
		clock.BlockUntil(1)
		clock.Advance(24 * time.Hour)
		select {
		case err := <-done:
			must(t, err)
			if len(res.Users) != 2 || !res.Users[0].Verified || !res.Users[1].Verified || len(res.Failed) != 0 {
				t.Errorf("cutover: %+v, failed %+v", res.Users, res.Failed)
			}
			e.exactlyOnce("kim", "lou")
			return
		case <-time.After(2 * time.Second):
		}
		if i > 4 {
			t.Fatal("cutover did not finish after four renewals")
		}
	}
}
