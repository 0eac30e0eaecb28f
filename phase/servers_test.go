package phase

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
)

// TestSeveralSourceServers migrates one project from two source Dovecots
// into one target: ann reads source.url, ben and cat their own server
// (the users file's source_url column), dan an imapsync-style
// host of the second server. Collect tallies each server; a test with no
// test_users migrates the first user of each server in one run; bulk
// copies everyone from the right server; and changing a user's server
// voids that user's approval only, saying what changed.
func TestSeveralSourceServers(t *testing.T) {
	ctx := context.Background()
	src1, src2 := dovecot.Start(t, dovecot.Options{}), dovecot.Start(t, dovecot.Options{Separator: "."})
	dst := dovecot.Start(t, dovecot.Options{})
	names := []string{"ann", "ben", "cat", "dan"}
	servers := map[string]*dovecot.Server{"ann": src1, "ben": src2, "cat": src2, "dan": src2}
	var csv strings.Builder
	csv.WriteString("source_user,source_password,target_user,target_password,batch,source_url\n")
	for _, n := range names {
		pw := "pw-" + n
		other := src1 // the same name on the other server, whose mailbox must not be read
		if servers[n] == src1 {
			other = src2
		}
		other.AddUser(n, "wrong-"+pw)
		servers[n].AddUser(n, pw)
		dst.AddUser(n, pw)
		own := ""
		if n == "ben" || n == "cat" {
			own = "imap://" + src2.Addr + "?tls=none"
		}
		fmt.Fprintf(&csv, "%s,%s,%s,%s,wave1,%s\n", n, pw, n, pw, own)
	}
	// Seeded after every user is added: Dovecot may miss a second change
	// of its passwd-file within a second.
	for i, n := range names {
		pw := "pw-" + n
		var ms []imaptest.Message
		for _, m := range corpus.Mailbox(int64(50+i), 12+i, 1500) {
			ms = append(ms, imaptest.Message{Folder: m.Folder, Body: m.Body, Flags: m.Flags, InternalDate: m.InternalDate})
		}
		imaptest.Seed(t, servers[n].Addr, n, pw, ms)
	}
	dir := t.TempDir()
	usersFile := filepath.Join(dir, "users.csv")
	must(t, os.WriteFile(usersFile, []byte(csv.String()), 0o600))
	rows, _, err := users.Load(usersFile)
	must(t, err)
	for i := range rows {
		if rows[i].SourceUser == "dan" { // an imapsync line's host1
			rows[i].SourceHost = src2.Addr
		}
	}
	store, err := state.Open(filepath.Join(dir, "mailshift.db"))
	must(t, err)
	t.Cleanup(func() { store.Close() })
	cfg := Defaults()
	cfg.Source.URL = "imap://" + src1.Addr + "?tls=none"
	cfg.Target.URL = "imap://" + dst.Addr + "?tls=none"
	cfg.Users.File = usersFile
	must(t, cfg.Validate())
	p := &Project{Config: cfg, Users: rows, Store: store, Dir: dir}
	p.Backends = fromConfig{p}
	must(t, fromConfig{p}.pair().ValidateUsers(rows))

	cr, err := Collect(ctx, p, Selection{})
	must(t, err)
	if len(cr.Servers) != 2 || cr.Servers[0].Server != src1.Addr || cr.Servers[0].Users != 1 ||
		cr.Servers[1].Server != src2.Addr || cr.Servers[1].Users != 3 || cr.Servers[0].Messages != 12 || cr.Servers[1].Messages != 13+14+15 {
		t.Fatalf("collect by server: %+v", cr.Servers)
	}
	ar, err := Approve(ctx, p, ApproveOptions{Yes: true, By: "Test"})
	must(t, err)
	if !strings.Contains(ar.Text, src2.Addr) {
		t.Errorf("the scope of work does not name the second source server %s", src2.Addr)
	}

	tr, err := Test(ctx, p, TestOptions{})
	must(t, err)
	if !tr.Passed || tr.Users != 2 {
		t.Fatalf("test of every source server: passed %v, %d users, failed %v", tr.Passed, tr.Users, tr.Failed)
	}
	md, err := os.ReadFile(filepath.Join(dir, "reports", "test.md"))
	must(t, err)
	if want := fmt.Sprintf("Source servers tried: %s (ann), %s (ben).", src1.Addr, src2.Addr); !strings.Contains(string(md), want) {
		t.Errorf("reports/test.md lacks %q", want)
	}
	for _, n := range names {
		u, err := store.User(n)
		must(t, err)
		if tested := !u.TestedAt.IsZero(); tested != (n == "ann" || n == "ben") {
			t.Errorf("%s tested: %v; the test users are the first of each source server (ann, ben)", n, tested)
		}
	}

	_, err = Bulk(ctx, p, BulkOptions{})
	must(t, err)
	for _, n := range names {
		want := imaptest.Snapshot(t, servers[n].Addr, n, "pw-"+n)
		got := imaptest.Snapshot(t, dst.Addr, n, "pw-"+n)
		total := 0
		for folder, msgs := range want {
			target := folder
			if servers[n] == src2 { // "." separator there, "/" on the target
				target = strings.ReplaceAll(folder, ".", "/")
			}
			imaptest.Compare(t, n+" "+folder, msgs, got[target])
			total += len(msgs)
		}
		if total == 0 {
			t.Errorf("%s: nothing on its source to compare", n)
		}
	}

	// Ben moves to another server: the approval that covered him no
	// longer holds (as for any change of its rows), and status says what
	// changed.
	for i := range p.Users {
		if p.Users[i].SourceUser == "ben" {
			p.Users[i].SourceURL = "imap://" + src1.Addr + "?tls=none"
		}
	}
	st, err := Status(p, Selection{})
	must(t, err)
	for _, u := range st.Users {
		if u.Approved {
			t.Errorf("%s still approved after ben's server changed", u.SourceUser)
		}
		if !strings.Contains(u.Waiting, "servers changed: ben (source imap://"+src2.Addr+"?tls=none → imap://"+src1.Addr) {
			t.Errorf("%s waiting: %q; want it to name ben's server's change", u.SourceUser, u.Waiting)
		}
	}
}
