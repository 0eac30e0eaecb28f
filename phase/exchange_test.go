package phase

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailshift/mailshift/internal/identity"
	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/exchangelike"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
	"github.com/mailshift/mailshift/internal/throttle"
	"github.com/mailshift/mailshift/state"
)

// exchangeEnv is a Dovecot source, an Exchange-like target
// (internal/testrig/exchangelike) and a project between them with the
// microsoft365 preset on the target.
type exchangeEnv struct {
	*testEnv
	ex    *exchangelike.Server
	clock *throttle.ManualClock
}

func newExchangeEnv(t *testing.T, o exchangelike.Options, names ...string) *exchangeEnv {
	t.Helper()
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, names...)
	clock := throttle.NewManualClock(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	o.Clock = clock
	ex, err := exchangelike.Start("127.0.0.1:0", o)
	must(t, err)
	t.Cleanup(func() { ex.Close() })
	for _, n := range names {
		must(t, ex.AddUser(n, e.pw[n]))
	}
	e.p.Config.Target.URL = "imap://" + ex.Addr + "?tls=none"
	e.p.Config.Target.Provider = "microsoft365"
	e.p.Config.Target.MaxMessageSize = "200KB" // smaller than the server's, so that collect foresees it
	must(t, e.p.Config.Validate())
	e.p.Clock = clock
	return &exchangeEnv{testEnv: e, ex: ex, clock: clock}
}

// advance moves the manual clock past every wait as soon as one is
// pending, and records each wait, until stop is called.
func (e *exchangeEnv) advance() (waits func() []time.Duration, stop func()) {
	var (
		mu   sync.Mutex
		seen []time.Duration
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if at, ok := e.clock.NextTimer(); ok {
				d := at.Sub(e.clock.Now())
				mu.Lock()
				seen = append(seen, d)
				mu.Unlock()
				e.clock.Advance(d)
			}
		}
	})
	return func() []time.Duration {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(seen)
		}, func() {
			close(done)
			wg.Wait()
		}
}

// sameIdentities checks that every source folder's messages are on the
// target exactly once, by identity (the target re-renders them), with the
// system flags; want is how many messages the target refused.
func (e *exchangeEnv) sameIdentities(user string, refused int) {
	e.t.Helper()
	src := imaptest.Snapshot(e.t, e.src.Addr, user, e.pw[user])
	dst := imaptest.Snapshot(e.t, e.ex.Addr, user, e.pw[user])
	missing := 0
	rerendered := 0
	for folder, msgs := range src {
		ids := func(ms []imaptest.Message) []string {
			var out []string
			for _, m := range ms {
				id, err := identity.Of(bytes.NewReader(m.Body))
				must(e.t, err)
				out = append(out, id.Key()+" "+strings.Join(normFlags(systemFlagsOf(m.Flags)), ","))
			}
			slices.Sort(out)
			return out
		}
		want, got := ids(msgs), ids(dst[folder])
		for _, w := range want {
			if i := slices.Index(got, w); i >= 0 {
				got = slices.Delete(got, i, i+1)
			} else {
				missing++
				e.t.Logf("%s %s: not on the target: %s", user, folder, w)
			}
		}
		if len(got) > 0 {
			e.t.Errorf("%s %s: %d messages on the target that are not on the source (copied twice?): %v", user, folder, len(got), got)
		}
		for i, m := range msgs {
			if i < len(dst[folder]) && !bytes.Equal(m.Body, dst[folder][i].Body) {
				rerendered++
			}
		}
	}
	if missing != refused {
		e.t.Errorf("%s: %d source messages missing on the target, want the %d refused", user, missing, refused)
	}
	if rerendered == 0 {
		e.t.Errorf("%s: the target served every message byte for byte: no re-rendering shown", user)
	}
}

// TestExchangeTargetLifecycle drives the six steps into an Exchange-like
// target with the microsoft365 preset: collect foresees the oversize
// message and reports the keywords that will be lost; the scope of work
// says which preset applies and why copies are verified by identity; bulk
// copy is throttled with a suggested backoff that is waited exactly (on a
// manual clock); verification is clean at the identity level (and would
// not be at the bytes level); nothing is copied twice.
func TestExchangeTargetLifecycle(t *testing.T) {
	ctx := context.Background()
	e := newExchangeEnv(t, exchangelike.Options{ThrottleEvery: 25, Backoff: 1500 * time.Millisecond, Throttles: 3, MaxMessageSize: 200_000}, "alice", "bob")
	e.seed("alice", corpus.Mailbox(11, 60, 3000))
	bob := corpus.Mailbox(12, 50, 3000)
	big := padTo(corpus.Generate(13, 1, 1000)[0], 300_000)
	big.Folder, big.Flags = "INBOX", []string{`\Seen`}
	bob = append(bob, big)
	var messy []corpus.Message
	all := corpus.Messy(t)
	for _, name := range keys(all) {
		if !exchangelike.Servable(corpus.DovecotServes(all[name])) {
			continue // the behaviour server cannot serve it back (see Servable)
		}
		messy = append(messy, corpus.Message{Folder: "Messy", Body: all[name], Flags: []string{`\Seen`, "$Work"}, InternalDate: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)})
	}
	e.seed("bob", append(bob, messy...))

	cr, err := Collect(ctx, e.p, Selection{})
	must(t, err)
	kinds := map[string]int{}
	problems, err := e.p.Store.Problems()
	must(t, err)
	for _, pr := range problems {
		kinds[pr.Kind]++
	}
	if kinds["oversize"] != 1 || kinds["keywords"] == 0 {
		t.Fatalf("collect: problems %v, want one oversize message and lost keywords (%d messages)", kinds, cr.Messages)
	}
	ar, err := Approve(ctx, e.p, ApproveOptions{Yes: true, By: "Jane Doe"})
	must(t, err)
	for _, want := range []string{"Microsoft 365 (Exchange Online)", "`target.max_connections` | `20`", "**identity**", "Keywords are lost", "`200KB` (the configuration's; the preset says `35MiB`)", "$Work"} {
		if !strings.Contains(ar.Text, want) {
			t.Errorf("scope of work lacks %q", want)
		}
	}

	waits, stop := e.advance()
	tr, err := Test(ctx, e.p, TestOptions{})
	must(t, err)
	if !tr.Passed {
		t.Fatalf("test did not pass: %+v", tr)
	}
	_, err = Bulk(ctx, e.p, BulkOptions{})
	mustErr(t, err, ErrPartial) // bob's oversize message is refused
	stop()
	st := e.ex.Stats()
	if st.Throttled == 0 || st.Closed == 0 {
		t.Fatalf("the server never throttled: %+v", st)
	}
	ws := waits()
	if len(ws) == 0 {
		t.Fatal("no wait on the project's clock")
	}
	for _, w := range ws {
		if w != 1500*time.Millisecond {
			t.Errorf("waited %v after a throttling answer, want exactly the suggested 1.5s (all waits %v)", w, ws)
		}
	}
	if st.RefusedSize != 1 {
		t.Errorf("server refused %d messages for their size, want 1", st.RefusedSize)
	}
	if st.MaxConns > 20 {
		t.Errorf("%d connections to one mailbox at once, over the cap", st.MaxConns)
	}
	e.sameIdentities("alice", 0)
	e.sameIdentities("bob", 1)

	// New mail on the source, then sync and cutover.
	c := imaptest.Login(t, e.src.Addr, "alice", e.pw["alice"])
	imaptest.Append(t, c, "INBOX", []string{"$Later"}, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), corpus.Generate(99, 1, 1000)[0].Body)
	c.Logout().Wait()
	sr, err := Sync(ctx, e.p, SyncOptions{Selection: Selection{Users: []string{"alice"}}})
	must(t, err)
	if sr.Messages != 1 {
		t.Errorf("sync copied %d messages, want 1", sr.Messages)
	}
	vr, err := Verify(ctx, e.p, Selection{Users: []string{"alice"}})
	must(t, err)
	if vr.Differences != 0 {
		t.Errorf("verify at the identity level: %d differences: %v", vr.Differences, vr.List)
	}
	// An incremental verification reads its sample's content at the
	// identity level too: every copy, with the sample at 100%, after a
	// flag changed on the source (that folder is checked by its changes).
	c = imaptest.Login(t, e.src.Addr, "alice", e.pw["alice"])
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	c.Logout().Wait()
	_, err = Sync(ctx, e.p, SyncOptions{Selection: Selection{Users: []string{"alice"}}})
	must(t, err)
	e.p.Config.Verify.Sample = "100%"
	vr, err = VerifyWith(ctx, e.p, VerifyOptions{Selection: Selection{Users: []string{"alice"}}})
	must(t, err)
	if vr.Kind != VerifyIncremental || vr.Differences != 0 || vr.Sample == 0 {
		t.Errorf("incremental verify at the identity level: %s; %d differences: %v", DescribeVerifyKind(vr), vr.Differences, vr.List)
	}
	cu, err := Cutover(ctx, e.p, CutoverOptions{Selection: Selection{Users: []string{"alice"}}, Yes: true})
	must(t, err)
	if len(cu.Users) != 1 || !cu.Users[0].Verified {
		t.Fatalf("cutover: %+v", cu.Users)
	}
	e.sameIdentities("alice", 0)

	// The same copies compared byte for byte all differ.
	e.p.Config.Verify.Level = VerifyBytes
	vr, err = Verify(ctx, e.p, Selection{Users: []string{"alice"}})
	mustErr(t, err, ErrDifferences)
	if vr.Differences == 0 {
		t.Error("verify at the bytes level found no difference: the target did not re-render")
	}
}

// TestExchangeTargetSettlesByIdentity: copies stored whose pairs were not
// recorded (a crash between APPEND and its record) are found again by
// identity on the re-rendering target and not copied twice; intents never
// appended are copied.
func TestExchangeTargetSettlesByIdentity(t *testing.T) {
	ctx := context.Background()
	e := newExchangeEnv(t, exchangelike.Options{}, "carol")
	e.seed("carol", corpus.Mailbox(3, 60, 2500))
	e.approved()
	_, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)

	pairs, err := e.p.Store.UserPairs("carol")
	must(t, err)
	c := imaptest.Login(t, e.ex.Addr, "carol", e.pw["carol"])
	expunge := map[string][]uint32{}
	err = e.p.Store.Write(func(tx *state.Tx) error {
		for i, p := range pairs {
			switch i % 3 {
			case 0: // appended, pair not recorded
			case 1: // intent recorded, never appended
				expunge[p.TargetFolder] = append(expunge[p.TargetFolder], p.TargetUID)
			default:
				continue
			}
			p.Status, p.TargetUID, p.Hash = state.Intent, 0, ""
			if err := tx.PutPair(p); err != nil {
				return err
			}
		}
		return nil
	})
	must(t, err)
	want := 0
	for folder, uids := range expunge {
		_, err := c.Select(folder, nil).Wait()
		must(t, err)
		var set imap.UIDSet
		for _, u := range uids {
			set.AddNum(imap.UID(u))
		}
		must(t, c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close())
		must(t, c.UIDExpunge(set).Close())
		want += len(uids)
	}
	c.Logout().Wait()

	br, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	if br.Messages != int64(want) {
		t.Errorf("re-run copied %d messages, want the %d never appended", br.Messages, want)
	}
	e.sameIdentities("carol", 0)
	vr, err := Verify(ctx, e.p, Selection{})
	must(t, err)
	if vr.Differences != 0 || vr.Extra != 0 {
		t.Errorf("verify: %d differences, %d extra: %v", vr.Differences, vr.Extra, vr.List)
	}
}

// TestExchangeSource copies from an Exchange-like source (mail as
// Exchange serves it) to Dovecot: the bytes Exchange serves are what
// arrives, verified at the bytes level.
func TestExchangeSource(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "dave")
	ex, err := exchangelike.Start("127.0.0.1:0", exchangelike.Options{})
	must(t, err)
	t.Cleanup(func() { ex.Close() })
	must(t, ex.AddUser("dave", e.pw["dave"]))
	for _, m := range corpus.Mailbox(5, 40, 2000) {
		must(t, ex.Append("dave", m.Folder, m.Flags, m.InternalDate, m.Body))
	}
	e.p.Config.Source.URL = "imap://" + ex.Addr + "?tls=none"
	e.p.Config.Source.Provider = "exchange"
	must(t, e.p.Config.Validate())
	if e.p.Config.Source.MaxConnections != 16 || e.p.Config.identityLevel() {
		t.Fatalf("exchange preset on the source: cap %d, identity level %v", e.p.Config.Source.MaxConnections, e.p.Config.identityLevel())
	}
	e.approved()
	_, err = Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	src := imaptest.Snapshot(t, ex.Addr, "dave", e.pw["dave"])
	dst := imaptest.Snapshot(t, e.dst.Addr, "dave", e.pw["dave"])
	for folder, msgs := range src {
		imaptest.Compare(t, fmt.Sprintf("dave %s", folder), msgs, dst[folder])
	}
	vr, err := Verify(ctx, e.p, Selection{})
	must(t, err)
	if vr.Differences != 0 {
		t.Errorf("verify: %d differences: %v", vr.Differences, vr.List)
	}
}

// TestKeywordsLostSeenWithoutPreset: without a provider preset, collect
// still sees from PERMANENTFLAGS that the target keeps no keywords and
// reports them; target.keywords: kept silences it.
func TestKeywordsLostSeenWithoutPreset(t *testing.T) {
	ctx := context.Background()
	e := newExchangeEnv(t, exchangelike.Options{}, "erin")
	e.p.Config.Target.Provider, e.p.Config.Target.Keywords, e.p.Config.Target.MaxMessageSize = "", "", ""
	must(t, e.p.Config.Validate())
	msgs := corpus.Generate(21, 5, 1500)
	msgs[2].Flags = []string{`\Seen`, "Project-X"}
	e.seed("erin", msgs)
	_, err := Collect(ctx, e.p, Selection{})
	must(t, err)
	problems, err := e.p.Store.Problems()
	must(t, err)
	var found []string
	for _, pr := range problems {
		if pr.Kind == "keywords" {
			found = append(found, pr.Detail)
		}
	}
	if len(found) != 1 || !strings.Contains(found[0], "1 messages carry keywords the target does not keep: Project-X") {
		t.Fatalf("keyword problems: %v", found)
	}
	e.p.Config.Target.Keywords = "kept"
	_, err = Collect(ctx, e.p, Selection{})
	must(t, err)
	problems, err = e.p.Store.Problems()
	must(t, err)
	for _, pr := range problems {
		if pr.Kind == "keywords" {
			t.Errorf("keywords reported although configured kept: %v", pr.Detail)
		}
	}
}
