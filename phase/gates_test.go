package phase

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
)

// setPassword gives user's row another password on one side ("source" or
// "target"), as if the users file said so.
func (e *testEnv) setPassword(user, side, pw string) {
	e.t.Helper()
	rows, err := users.Parse("users.csv", strings.NewReader("source_user,source_password,target_user,target_password\nx,"+pw+",x,"+pw+"\n"))
	must(e.t, err)
	for i, r := range e.p.Users {
		if r.SourceUser != user {
			continue
		}
		if side == "source" {
			e.p.Users[i].SourcePassword = rows[0].SourcePassword
		} else {
			e.p.Users[i].TargetPassword = rows[0].TargetPassword
		}
		return
	}
	e.t.Fatalf("no user %s", user)
}

// setBatch moves user's row to another batch, as an edited users file would.
func (e *testEnv) setBatch(user, batch string) {
	e.t.Helper()
	for i, r := range e.p.Users {
		if r.SourceUser == user {
			e.p.Users[i].Batch = batch
			return
		}
	}
	e.t.Fatalf("no user %s", user)
}

// targetCount is the number of messages in user's target INBOX.
func (e *testEnv) targetCount(user string) int {
	e.t.Helper()
	return len(imaptest.Snapshot(e.t, e.dst.Addr, user, e.pw[user])["INBOX"])
}

// newMail appends a message to user's source INBOX and returns its body.
func (e *testEnv) newMail(user string, seed int64) []byte {
	e.t.Helper()
	c := imaptest.Login(e.t, e.src.Addr, user, e.pw[user])
	defer func() { c.Logout().Wait() }()
	body := corpus.Generate(seed, 1, 1500)[0].Body
	imaptest.Append(e.t, c, "INBOX", nil, time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC), body)
	return body
}

// hasBody tells whether user's target INBOX holds a message with body.
func (e *testEnv) hasBody(user string, body []byte) bool {
	e.t.Helper()
	for _, m := range imaptest.Snapshot(e.t, e.dst.Addr, user, e.pw[user])["INBOX"] {
		if string(m.Body) == string(body) {
			return true
		}
	}
	return false
}

func waitingUsers(ws []UserFailure) map[string]string {
	out := map[string]string{}
	for _, w := range ws {
		out[w.User] = w.Reason
	}
	return out
}

func userStatus(t *testing.T, p *Project, name string) UserStatus {
	t.Helper()
	st, err := Status(p, Selection{Users: []string{name}})
	must(t, err)
	return st.Users[0]
}

// TestOneFailedLoginBlocksNoOne: a user whose target login fails is left
// out of the plan and of bulk copy, named with the reason; the other user
// is approved and migrated.
func TestOneFailedLoginBlocksNoOne(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "amy", "ben")
	e.seed("amy", corpus.Mailbox(21, 30, 2000))
	e.seed("ben", corpus.Mailbox(22, 20, 2000))
	e.setPassword("ben", "target", "wrong-password")

	cr, err := Collect(ctx, e.p, Selection{})
	mustErr(t, err, ErrPartial)
	if len(cr.Failed) != 1 || cr.Failed[0].User != "ben" {
		t.Fatalf("collect failed: %+v", cr.Failed)
	}

	ar, err := Approve(ctx, e.p, ApproveOptions{Yes: true, By: "Jane"})
	mustErr(t, err, ErrPartial)
	if !ar.Recorded || len(ar.Users) != 1 || ar.Users[0] != "amy" {
		t.Fatalf("approve recorded %v for %v", ar.Recorded, ar.Users)
	}
	if w := waitingUsers(ar.Waiting); !strings.HasPrefix(w["ben"], "collect failed: ") || !strings.Contains(w["ben"], "mailshift collect --users ben") {
		t.Errorf("approve's left-out users: %+v", ar.Waiting)
	}
	if !strings.Contains(ar.Text, "## Not in this plan") || !strings.Contains(ar.Text, "| ben | collect failed") {
		t.Errorf("the scope of work does not name ben as left out:\n%s", ar.Text)
	}
	if !strings.Contains(err.Error(), "ben: collect failed") {
		t.Errorf("approve's error does not name ben: %v", err)
	}
	a, err := e.p.Store.LatestApproval()
	must(t, err)
	if len(a.Users) != 1 || a.Users[0] != "amy" || a.Hash != ar.Hash {
		t.Errorf("recorded approval: users %v, hash %s (want %s)", a.Users, a.Hash, ar.Hash)
	}

	br, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	mustErr(t, err, ErrPartial)
	if br.Users != 1 || br.Messages != 30 || len(br.Failed) != 0 {
		t.Errorf("bulk: %d users, %d messages, failed %+v", br.Users, br.Messages, br.Failed)
	}
	if w := waitingUsers(br.Waiting); !strings.Contains(w["ben"], "collect failed") || len(w) != 1 {
		t.Errorf("bulk's waiting users: %+v", br.Waiting)
	}
	e.compare("amy")
	if n := e.targetCount("ben"); n != 0 {
		t.Errorf("ben's target holds %d messages though ben was left out", n)
	}

	// Verify leaves out ben, of whom nothing was copied.
	vr, err := Verify(ctx, e.p, Selection{})
	mustErr(t, err, ErrPartial)
	if vr.Users != 1 || vr.Messages != 30 || vr.Differences != 0 || !strings.HasPrefix(waitingUsers(vr.Waiting)["ben"], "nothing copied yet") {
		t.Errorf("verify: %d users, %d messages, %d differences, waiting %+v", vr.Users, vr.Messages, vr.Differences, vr.Waiting)
	}

	// ben alone cannot run: exit 3, saying why.
	_, err = Bulk(ctx, e.p, BulkOptions{SkipTest: true, Selection: Selection{Users: []string{"ben"}}})
	mustErr(t, err, ErrNotApproved)
	if !strings.Contains(err.Error(), "collect failed") {
		t.Errorf("bulk --users ben: %v", err)
	}

	st, err := Status(e.p, Selection{})
	must(t, err)
	if st.PlanValid || len(st.Approvals) != 1 || !st.Approvals[0].Holds {
		t.Errorf("status: plan valid %v, approvals %+v", st.PlanValid, st.Approvals)
	}
	for _, u := range st.Users {
		switch u.SourceUser {
		case "amy":
			if !u.Approved || u.Waiting != "" || u.Stage != "bulk-done" {
				t.Errorf("amy's status: %+v", u)
			}
		case "ben":
			if u.Approved || !strings.HasPrefix(u.Waiting, "collect failed: ") {
				t.Errorf("ben's status: %+v", u)
			}
		}
	}
	if text := RenderStatus(st); !strings.Contains(text, "waiting: collect failed") {
		t.Errorf("status does not show ben waiting:\n%s", text)
	}

	// ben's password is fixed: ben collects, is approved with his wave and
	// migrated; amy's approval stays as it was.
	e.setPassword("ben", "target", e.pw["ben"])
	_, err = Collect(ctx, e.p, Selection{Users: []string{"ben"}})
	must(t, err)
	_, err = Approve(ctx, e.p, ApproveOptions{Yes: true, By: "Jane", Selection: Selection{Batch: "wave2"}})
	must(t, err)
	br, err = Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	if br.Messages != 20 {
		t.Errorf("bulk after ben's approval copied %d messages, want ben's 20", br.Messages)
	}
	e.compare("ben")
	if u := userStatus(t, e.p, "amy"); !u.Approved || u.ApprovedAt == nil {
		t.Errorf("amy's approval after ben's: %+v", u)
	}
}

// TestSyncRunsUsersWhoseBulkFinished: a user whose bulk copy never
// finished waits; the others are synced and cut over.
func TestSyncRunsUsersWhoseBulkFinished(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "amy", "ben")
	e.seed("amy", corpus.Mailbox(23, 25, 2000))
	e.seed("ben", corpus.Mailbox(24, 25, 2000))
	e.approved()
	e.p.Config.Copy.Retries = 1
	e.setPassword("ben", "source", "wrong-password")
	br, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	mustErr(t, err, ErrPartial)
	if len(br.Failed) != 1 || br.Failed[0].User != "ben" || len(br.Waiting) != 0 {
		t.Fatalf("bulk: failed %+v, waiting %+v", br.Failed, br.Waiting)
	}

	fresh := e.newMail("amy", 230)
	sr, err := Sync(ctx, e.p, SyncOptions{})
	mustErr(t, err, ErrPartial)
	if sr.Users != 1 || sr.Messages != 1 || len(sr.Failed) != 0 {
		t.Errorf("sync: %d users, %d messages, failed %+v", sr.Users, sr.Messages, sr.Failed)
	}
	want := "bulk copy has not finished; run `mailshift bulk --users ben`"
	if w := waitingUsers(sr.Waiting); w["ben"] != want || len(w) != 1 {
		t.Errorf("sync's waiting users: %+v", sr.Waiting)
	}
	if !strings.Contains(err.Error(), "ben: "+want) {
		t.Errorf("sync's error: %v", err)
	}
	if !e.hasBody("amy", fresh) {
		t.Error("the new message did not reach amy's target")
	}
	e.compare("amy")
	if u := userStatus(t, e.p, "ben"); u.Waiting != want || u.Error == "" {
		t.Errorf("ben's status: %+v", u)
	}

	// Nobody selected can go on: exit 3.
	_, err = Sync(ctx, e.p, SyncOptions{Selection: Selection{Users: []string{"ben"}}})
	mustErr(t, err, ErrBulkNotDone)
	_, err = Cutover(ctx, e.p, CutoverOptions{Selection: Selection{Users: []string{"ben"}}, Yes: true})
	mustErr(t, err, ErrBulkNotDone)

	cu, err := Cutover(ctx, e.p, CutoverOptions{Yes: true})
	mustErr(t, err, ErrPartial)
	if len(cu.Users) != 1 || cu.Users[0].User != "amy" || !cu.Users[0].Verified || waitingUsers(cu.Waiting)["ben"] != want {
		t.Errorf("cutover: users %+v, waiting %+v", cu.Users, cu.Waiting)
	}
	// Everyone selected is cut over or waits for bulk copy: sync refuses.
	_, err = Sync(ctx, e.p, SyncOptions{})
	mustErr(t, err, ErrOutOfOrder)
	if msg := err.Error(); !strings.Contains(msg, "amy: cut over") || !strings.Contains(msg, "ben: bulk copy") {
		t.Errorf("sync with no one to run: %v", err)
	}

}

// TestApprovalsPerWave: approving one wave leaves the other's approval as
// it is; changing one wave's rows voids that wave alone; changing the
// folder mapping voids every wave.
func TestApprovalsPerWave(t *testing.T) {
	ctx := context.Background()
	// amy and cal are wave1, ben and dot wave2.
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "amy", "ben", "cal", "dot")
	for i, n := range []string{"amy", "ben", "cal", "dot"} {
		e.seed(n, corpus.Mailbox(int64(30+i), 10, 1500))
	}
	_, err := Collect(ctx, e.p, Selection{})
	must(t, err)
	ar, err := Approve(ctx, e.p, ApproveOptions{Yes: true, By: "Jane", Selection: Selection{Batch: "wave1"}})
	must(t, err)
	if strings.Join(ar.Users, ",") != "amy,cal" || len(ar.Waiting) != 0 {
		t.Fatalf("approve --batch wave1: %v, waiting %+v", ar.Users, ar.Waiting)
	}

	br, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	mustErr(t, err, ErrPartial)
	w := waitingUsers(br.Waiting)
	if br.Users != 2 || len(w) != 2 || !strings.HasPrefix(w["ben"], "not approved") || !strings.Contains(w["dot"], "--batch wave2") {
		t.Errorf("bulk with wave1 approved: %d users, waiting %+v", br.Users, br.Waiting)
	}
	e.compare("amy")
	e.compare("cal")
	if n := e.targetCount("ben"); n != 0 {
		t.Errorf("ben's target holds %d messages before wave2 was approved", n)
	}

	_, err = Approve(ctx, e.p, ApproveOptions{Yes: true, By: "Joe", Selection: Selection{Batch: "wave2"}})
	must(t, err)
	st, err := Status(e.p, Selection{})
	must(t, err)
	if !st.PlanValid || len(st.Approvals) != 2 {
		t.Errorf("after both waves: plan valid %v, approvals %+v", st.PlanValid, st.Approvals)
	}
	if u := userStatus(t, e.p, "amy"); !u.Approved || u.ApprovedBy != "Jane" {
		t.Errorf("amy after wave2's approval: %+v", u)
	}
	// --show renders who approved which users.
	show, err := Approve(ctx, e.p, ApproveOptions{Show: true})
	must(t, err)
	if !strings.Contains(show.Text, "amy, cal: approved by **Jane**") || !strings.Contains(show.Text, "ben, dot: approved by **Joe**") {
		t.Errorf("approve --show sign-off:\n%s", show.Text[strings.Index(show.Text, "## Sign-off"):])
	}
	_, err = Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	e.compare("ben")
	e.compare("dot")

	// dot moves to another batch: wave2's plan changed, wave1's did not.
	e.setBatch("dot", "wave3")
	fresh := e.newMail("amy", 300)
	sr, err := Sync(ctx, e.p, SyncOptions{})
	mustErr(t, err, ErrPartial)
	w = waitingUsers(sr.Waiting)
	if sr.Users != 2 || len(w) != 2 || !strings.HasPrefix(w["ben"], "plan changed for this user since Joe approved it") || !strings.HasPrefix(w["dot"], "plan changed") {
		t.Errorf("sync after dot's row changed: %d users, waiting %+v", sr.Users, sr.Waiting)
	}
	if !e.hasBody("amy", fresh) {
		t.Error("amy's new message did not arrive")
	}
	if u := userStatus(t, e.p, "ben"); u.Approved || !strings.HasPrefix(u.Waiting, "plan changed for this user") {
		t.Errorf("ben's status: %+v", u)
	}
	b, err := json.Marshal(userStatus(t, e.p, "cal"))
	must(t, err)
	if !strings.Contains(string(b), `"approved":true`) || !strings.Contains(string(b), `"waiting":""`) {
		t.Errorf("cal's status as JSON: %s", b)
	}

	// Approving wave2 again covers ben; dot, now in wave3, waits for its own.
	_, err = Approve(ctx, e.p, ApproveOptions{Yes: true, By: "Joe", Selection: Selection{Batch: "wave2"}})
	must(t, err)
	sr, err = Sync(ctx, e.p, SyncOptions{})
	mustErr(t, err, ErrPartial)
	if w := waitingUsers(sr.Waiting); len(w) != 1 || w["dot"] == "" {
		t.Errorf("sync with dot in wave3: waiting %+v", sr.Waiting)
	}
	_, err = Approve(ctx, e.p, ApproveOptions{Yes: true, By: "Joe", Selection: Selection{Users: []string{"dot"}}})
	must(t, err)
	_, err = Sync(ctx, e.p, SyncOptions{})
	must(t, err)

	// A changed folder mapping is every user's plan: nobody runs.
	e.p.Config.Folders.Exclude = []string{"Trash"}
	_, err = Sync(ctx, e.p, SyncOptions{})
	mustErr(t, err, ErrPlanChanged)
}

// TestPlanHashPerApproval: an approval's hash is over its own users' rows;
// an approval recorded before approvals listed users (its users are every
// user of the time, its hash over all rows) still holds.
func TestPlanHashPerApproval(t *testing.T) {
	store, err := state.OpenMemory()
	must(t, err)
	defer store.Close()
	cfg := Defaults()
	cfg.Source.URL, cfg.Target.URL = "imap://127.0.0.1:1?tls=none", "imap://127.0.0.1:2?tls=none"
	p := &Project{Config: cfg, Store: store, Users: []users.Row{
		{SourceUser: "amy", TargetUser: "amy", Batch: "w1"},
		{SourceUser: "ben", TargetUser: "ben", Batch: "w2"},
	}}
	old, err := store.SaveApproval(state.Approval{Hash: p.PlanHash(), By: "Old", Users: []string{"amy", "ben"}})
	must(t, err)
	check := func(what string, want map[string]bool) {
		t.Helper()
		as, err := p.userApprovals()
		must(t, err)
		for u, holds := range want {
			if a, ok := as[u]; !ok || a.Holds != holds {
				t.Errorf("%s: %s's approval %+v, want holds=%v", what, u, a, holds)
			}
		}
	}
	check("an approval of every user", map[string]bool{"amy": true, "ben": true})

	_, err = store.SaveApproval(state.Approval{Hash: p.planHash(p.Users[1:]), By: "New", Users: []string{"ben"}})
	must(t, err)
	p.Users[1].TargetUser = "ben@new"
	check("ben's row changed", map[string]bool{"amy": false, "ben": false})
	as, _ := p.userApprovals()
	if as["amy"].ID != old.ID {
		t.Errorf("amy's approval is %d, want the old one %d", as["amy"].ID, old.ID)
	}
	_, err = store.SaveApproval(state.Approval{Hash: p.planHash(p.Users[:1]), By: "New", Users: []string{"amy"}})
	must(t, err)
	check("amy approved alone", map[string]bool{"amy": true, "ben": false})
	p.Users = p.Users[:1] // ben leaves the users file
	check("ben gone", map[string]bool{"amy": true})

	// A test run recorded with the hash of the whole plan still counts.
	_, err = store.SaveTestRun(state.TestRun{PlanHash: p.PlanHash(), Passed: true})
	must(t, err)
	must(t, p.requireTest())
	_, err = store.SaveTestRun(state.TestRun{PlanHash: "other", Passed: true})
	must(t, err)
	mustErr(t, p.requireTest(), ErrNotTested)
	_, err = store.SaveTestRun(state.TestRun{PlanHash: p.settingsHash(), Passed: true})
	must(t, err)
	p.Users = append(p.Users, users.Row{SourceUser: "cal", TargetUser: "cal", Batch: "w3"})
	must(t, p.requireTest()) // a new wave needs no new test
}
