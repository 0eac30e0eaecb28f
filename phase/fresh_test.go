package phase

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
)

// TestRemovedUserLeavesDocuments: a user removed from the users file
// leaves the scope of work (its problems too), status and every report
// format at once, while its state is kept; forget deletes that state and
// refuses users still in the file.
func TestRemovedUserLeavesDocuments(t *testing.T) {
	ctx := context.Background()
	p, _ := newFakeProject(t, "ann", "bob", "cid")
	approvedAndCopied(t, p)
	must(t, p.Store.ReplaceProblems("cid", []state.Problem{{Kind: "quota", Detail: "cid-quota-too-small", Action: "ask for more"}}))

	p.Users = p.Users[:2] // cid's row is deleted from users.csv
	mentions := func(what, text string) {
		t.Helper()
		// The one place cid may be named: why the others' approval no
		// longer holds (the plan it signed had cid in it).
		text = strings.ReplaceAll(text, "users removed from the users file: cid", "")
		if strings.Contains(text, "cid") {
			t.Errorf("%s still speaks of cid:\n%s", what, text)
		}
	}
	sow, err := Approve(ctx, p, ApproveOptions{Show: true})
	must(t, err)
	mentions("scope of work", sow.Text)
	st, err := Status(p, Selection{})
	must(t, err)
	if len(st.Users) != 2 || st.Removed != 1 {
		t.Errorf("status: %d users, %d removed; want 2, 1", len(st.Users), st.Removed)
	}
	text := RenderStatus(st)
	mentions("status", text)
	if !strings.Contains(text, "1 user(s) no longer in the users file") {
		t.Errorf("status does not say a user's state is kept:\n%s", text)
	}
	rep, err := BuildReport(p, Selection{})
	must(t, err)
	for _, f := range []string{"md", "html", "csv", "json"} {
		out, err := rep.Render(f)
		must(t, err)
		mentions("report --format "+f, out)
	}
	if c, err := p.Store.Counts("cid"); err != nil || c.Copied != 60 {
		t.Fatalf("cid's state before forget: %+v, %v", c, err)
	}

	// forget refuses without --yes, for users in the file, and for names
	// the state does not know; then deletes cid's state.
	var cfg *ConfigError
	if _, err := Forget(p, ForgetOptions{Users: []string{"cid"}}); !errors.As(err, &cfg) || cfg.Key != "--yes" {
		t.Errorf("forget without --yes: %v", err)
	}
	if _, err := Forget(p, ForgetOptions{Users: []string{"bob", "cid"}, Yes: true}); err == nil || !strings.Contains(err.Error(), "bob still in the users file") {
		t.Errorf("forget of a listed user: %v", err)
	}
	if _, err := Forget(p, ForgetOptions{Users: []string{"dan"}, Yes: true}); err == nil || !strings.Contains(err.Error(), "not in the users file: cid") {
		t.Errorf("forget of an unknown user: %v", err)
	}
	if c, _ := p.Store.Counts("cid"); c.Copied != 60 {
		t.Fatalf("a refused forget deleted state: %+v", c)
	}
	res, err := Forget(p, ForgetOptions{Users: []string{"cid"}, Yes: true})
	must(t, err)
	if len(res.Users) != 1 || res.Copied != 60 {
		t.Errorf("forget: %+v", res)
	}
	if _, err := p.Store.User("cid"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("cid after forget: %v", err)
	}
	if ps, _ := p.Store.Problems(); len(ps) != 0 {
		t.Errorf("problems after forget: %v", ps)
	}
	if c, _ := p.Store.Counts("ann"); c.Copied != 60 {
		t.Errorf("ann's pairs after forgetting cid: %+v", c)
	}
	if st, _ := Status(p, Selection{}); st.Removed != 0 || strings.Contains(RenderStatus(st), "no longer in the users file") {
		t.Errorf("status after forget: %d removed", st.Removed)
	}
}

// TestStatusComparesWithSource: a collected user shows its source size;
// copied counts compare with the source as collect counted it, new mail
// copied by sync is shown apart, never as more copied than there is.
func TestStatusComparesWithSource(t *testing.T) {
	ctx := context.Background()
	p, be := newFakeProject(t, "ann")
	_, err := Collect(ctx, p, Selection{})
	must(t, err)
	st, err := Status(p, Selection{})
	must(t, err)
	u := st.Users[0]
	if u.Messages != 60 || u.Bytes <= 0 || u.Copied != 0 {
		t.Fatalf("collected: %+v", u)
	}
	text := RenderStatus(st)
	header := strings.Fields(strings.Split(strings.SplitN(text, "\n\n", 2)[1], "\n")[0])
	if !strings.Contains(text, "COPIED/SOURCE") || !strings.Contains(text, "SIZE COPIED/SOURCE") || !strings.Contains(text, "FAILED") || header[0] != "USER" {
		t.Errorf("status header: %q\n%s", header, text)
	}
	if want := "0 B/" + FormatBytes(u.Bytes); !strings.Contains(text, "0/60") || !strings.Contains(text, want) {
		t.Errorf("collected user: want 0/60 and %s\n%s", want, text)
	}

	_, err = Approve(ctx, p, ApproveOptions{Yes: true, By: "Test"})
	must(t, err)
	_, err = Bulk(ctx, p, BulkOptions{SkipTest: true})
	must(t, err)
	for _, m := range corpus.Generate(7, 5, 1500) {
		be.src.Put("ann", "INBOX", m.Body, nil, m.InternalDate)
	}
	_, err = Sync(ctx, p, SyncOptions{})
	must(t, err)
	st, err = Status(p, Selection{})
	must(t, err)
	u = st.Users[0]
	if u.Copied != 65 || u.CopiedSource != 60 || u.CopiedNew != 5 || u.CopiedSourceBytes != u.Bytes || u.CopiedNewBytes <= 0 || u.CopiedGone != 0 {
		t.Errorf("after sync of 5 new: %+v", u)
	}
	text = RenderStatus(st)
	if !strings.Contains(text, "60/60 +5") || strings.Contains(text, "65/60") || !strings.Contains(text, "+N: messages new on the source") {
		t.Errorf("after sync:\n%s", text)
	}
	b, err := json.Marshal(st)
	must(t, err)
	for _, k := range []string{`"copied_source_messages":60`, `"copied_new_messages":5`, `"source_messages":60`, `"removed_users_kept":0`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("status --json lacks %s", k)
		}
	}
}

// TestStatusFolderByFolder: messages of one folder deleted on the source
// after they were copied never count for another folder's messages not
// copied yet.
func TestStatusFolderByFolder(t *testing.T) {
	store, err := state.OpenMemory()
	must(t, err)
	defer store.Close()
	p := &Project{Config: Defaults(), Store: store, Users: []users.Row{{SourceUser: "ann", TargetUser: "ann"}}}
	must(t, store.PutUser("ann", "ann", ""))
	must(t, store.SaveAccount(state.Account{User: "ann", Side: state.SideSource, Folders: []mailbox.Folder{
		{Name: "INBOX", Messages: 5, Bytes: 500, UIDValidity: 1, UIDNext: 11},
		{Name: "Sent", Messages: 5, Bytes: 500, UIDValidity: 1, UIDNext: 6},
	}}))
	var ps []state.Pair
	for uid := uint32(1); uid <= 10; uid++ { // INBOX: 10 copied, 5 deleted on the source since
		ps = append(ps, state.Pair{User: "ann", SourceFolder: "INBOX", SourceUIDValidity: 1, SourceKey: fmt.Sprint(uid), SourceUID: uid, Size: 100, Status: state.Copied})
	}
	must(t, store.PutPairs(ps))
	st, err := Status(p, Selection{})
	must(t, err)
	u := st.Users[0]
	if u.Copied != 10 || u.CopiedSource != 5 || u.CopiedGone != 5 || u.CopiedNew != 0 || u.CopiedSourceBytes != 500 {
		t.Errorf("status: %+v", u)
	}
	if text := RenderStatus(st); !strings.Contains(text, "5/10") || !strings.Contains(text, "5 copied message(s) no longer on the source") {
		t.Errorf("status:\n%s", text)
	}
	if e, err := p.estimateBulk(); err != nil || e.Bytes != 500 {
		t.Errorf("estimate: %d bytes left, want Sent's 500 (%v)", e.Bytes, err)
	}
}
