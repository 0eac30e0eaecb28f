package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/radicale"
)

// TestPSTItemsThroughCommands migrates two sample PST files with the
// commands a user types: bulk and sync report the contacts and calendar
// items, which arrive in Radicale and as files under items/<user>/, and
// status --json counts them.
func TestPSTItemsThroughCommands(t *testing.T) {
	p := newProject(t)
	td := corpus.TestdataDir(t)
	pst := filepath.Join(p.dir, "pst")
	if err := os.Mkdir(pst, 0o700); err != nil {
		t.Fatal(err)
	}
	for user, f := range map[string]string{"alice": "pst/jl-dist-list.pst", "bob": "pst-more/jl-passworded.pst"} {
		if err := os.Symlink(filepath.Join(td, f), filepath.Join(pst, user+".pst")); err != nil {
			t.Fatal(err)
		}
	}
	rad := radicale.Start(t, map[string]string{"alice@new": "new-alice", "bob@new": "new-bob"})
	p.write("mailshift.yaml", "source:\n  url: pst:"+pst+"/%u.pst\n"+
		"target:\n  url: imap://"+p.dst.Addr+"\n  tls: none\n"+
		"  carddav: "+rad.URL+"%u/contacts/\n  caldav: "+rad.URL+"%u/calendar/\n"+
		"users:\n  file: users.csv\n")
	p.expect(exitOK, "collect")
	p.expect(exitOK, "approve", "--yes", "--by", "Test")
	out, _ := p.expect(exitOK, "bulk", "--skip-test")
	// alice: an appointment, a contact, a distribution list; bob: a
	// contact and a distribution list.
	if want := "contacts, calendar items, tasks, notes: 5 read, 5 files written, 5 uploaded, 0 already uploaded, 0 failed"; !strings.Contains(out, want) {
		t.Errorf("bulk says:\n%s\nwant %q", out, want)
	}
	for _, f := range []string{"items/alice/calendar", "items/alice/contacts", "items/bob/contacts"} {
		if m, _ := filepath.Glob(filepath.Join(p.dir, f, "ms-*")); len(m) == 0 {
			t.Errorf("no files in %s", f)
		}
	}
	out, _ = p.expect(exitOK, "sync")
	if want := "5 read, 0 files written, 0 uploaded, 5 already uploaded, 0 failed"; !strings.Contains(out, want) {
		t.Errorf("sync says:\n%s\nwant %q", out, want)
	}
	out, _ = p.expect(exitOK, "status", "--json")
	var st struct {
		Users []struct {
			SourceUser string         `json:"source_user"`
			Items      map[string]int `json:"uploaded_items"`
		} `json:"users"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]int{}
	for _, u := range st.Users {
		got[u.SourceUser] = u.Items
	}
	if got["alice"]["calendar"] != 1 || got["alice"]["contacts"] != 2 || got["bob"]["contacts"] != 2 || got["bob"]["calendar"] != 0 {
		t.Errorf("status --json uploaded items: %v", got)
	}
}
