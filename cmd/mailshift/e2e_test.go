package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
	"github.com/mailshift/mailshift/phase"
	"github.com/mailshift/mailshift/state"
)

// project is a migration project directory between two Dovecots.
type project struct {
	t        *testing.T
	dir      string
	src, dst *dovecot.Server
}

// mailshift runs one command line in the project directory and returns its
// exit code, stdout and stderr.
func (p *project) mailshift(args ...string) (int, string, string) {
	p.t.Helper()
	var out, errOut bytes.Buffer
	full := append([]string{"--config", filepath.Join(p.dir, "mailshift.yaml"), "--state", filepath.Join(p.dir, "mailshift.db")}, args...)
	code := run(context.Background(), full, &out, &errOut)
	return code, out.String(), errOut.String()
}

// expect runs a command and checks its exit code.
func (p *project) expect(code int, args ...string) (string, string) {
	p.t.Helper()
	got, out, errOut := p.mailshift(args...)
	if got != code {
		p.t.Fatalf("mailshift %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, code, out, errOut)
	}
	return out, errOut
}

func newProject(t *testing.T) *project {
	t.Helper()
	p := &project{t: t, dir: t.TempDir(),
		src: dovecot.Start(t, dovecot.Options{}),
		dst: dovecot.Start(t, dovecot.Options{Separator: ".", Prefix: "INBOX."}),
	}
	for _, u := range []string{"alice", "bob"} {
		p.src.AddUser(u, "old-"+u)
		p.dst.AddUser(u+"@new", "new-"+u)
	}
	t.Setenv("E2E_ALICE_OLD", "old-alice")
	t.Setenv("E2E_ALICE_NEW", "new-alice")
	p.write("users.csv", "source_user,source_password,target_user,target_password,batch\n"+
		"alice,env:E2E_ALICE_OLD,alice@new,env:E2E_ALICE_NEW,pilot\n"+
		"bob,old-bob,bob@new,new-bob,wave1\n")
	p.write("mailshift.yaml", "source:\n  url: imap://"+p.src.Addr+"?tls=none\n"+
		"target:\n  url: imap://"+p.dst.Addr+"\n  tls: none\n"+
		"users:\n  file: users.csv\ntest_users: [alice]\nsync:\n  deletions: mirror\n")
	return p
}

func (p *project) write(name, text string) {
	p.t.Helper()
	if err := os.WriteFile(filepath.Join(p.dir, name), []byte(text), 0o600); err != nil {
		p.t.Fatal(err)
	}
}

// compare checks the user's target against the source message by message.
func (p *project) compare(user, pw, tuser, tpw string) {
	p.t.Helper()
	src := imaptest.Snapshot(p.t, p.src.Addr, user, pw)
	dst := imaptest.Snapshot(p.t, p.dst.Addr, tuser, tpw)
	for folder, msgs := range src {
		tf := "INBOX"
		if folder != "INBOX" {
			tf = "INBOX." + strings.ReplaceAll(folder, "/", ".")
		}
		imaptest.Compare(p.t, user+" "+folder, msgs, dst[tf])
	}
}

func seed(t *testing.T, s *dovecot.Server, user, pw string, msgs []corpus.Message) {
	var ms []imaptest.Message
	for _, m := range msgs {
		// "." is the target's separator: keep names the test's mapping can predict.
		ms = append(ms, imaptest.Message{Folder: strings.ReplaceAll(m.Folder, ".", "-"), Body: m.Body, Flags: m.Flags, InternalDate: m.InternalDate})
	}
	imaptest.Seed(t, s.Addr, user, pw, ms)
}

// TestSixStepsAsAUserWould drives the commands in the README's order, with
// the gates a user meets on the way.
func TestSixStepsAsAUserWould(t *testing.T) {
	p := newProject(t)
	seed(t, p.src, "alice", "old-alice", corpus.Mailbox(11, 60, 3000))
	seed(t, p.src, "bob", "old-bob", corpus.Mailbox(12, 30, 3000))

	_, errOut := p.expect(exitOutOfOrder, "bulk")
	if !strings.Contains(errOut, "mailshift approve") {
		t.Errorf("bulk before approve should say to run approve: %s", errOut)
	}
	p.expect(exitOutOfOrder, "approve", "--yes", "--by", "Jane")
	out, _ := p.expect(exitOK, "collect")
	if !strings.Contains(out, "90 messages") {
		t.Errorf("collect: %s", out)
	}
	out, _ = p.expect(exitOK, "approve", "--show")
	if !strings.Contains(out, "# Scope of work") || !strings.Contains(out, "Not approved yet") {
		t.Errorf("approve --show:\n%s", out)
	}
	p.expect(exitUsage, "approve")
	p.expect(exitOK, "approve", "--yes", "--by", "Jane Doe")
	p.expect(exitOutOfOrder, "bulk")
	p.expect(exitOutOfOrder, "sync")
	out, _ = p.expect(exitOK, "test")
	if !strings.Contains(out, "test PASSED") {
		t.Errorf("test: %s", out)
	}
	if _, err := os.Stat(filepath.Join(p.dir, "reports", "test.md")); err != nil {
		t.Error(err)
	}
	p.expect(exitOK, "bulk", "--batch", "wave1")
	// bob syncs; alice, whose bulk copy has not run, waits and is named.
	_, errOut = p.expect(exitPartial, "sync")
	if !strings.Contains(errOut, "alice: bulk copy has not finished; run `mailshift bulk --users alice`") || strings.Contains(errOut, "bob:") {
		t.Errorf("sync before alice's bulk should name alice alone: %s", errOut)
	}
	p.expect(exitOutOfOrder, "sync", "--users", "alice")
	out, _ = p.expect(exitOK, "bulk")
	if !strings.Contains(out, "0 messages copied") { // the test copied alice already; bob is done
		t.Errorf("bulk after test and wave1: %s", out)
	}
	p.compare("alice", "old-alice", "alice@new", "new-alice")
	p.compare("bob", "old-bob", "bob@new", "new-bob")
	p.expect(exitOK, "sync")

	out, _ = p.expect(exitOK, "status", "--json")
	var st phase.StatusReport
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if len(st.Users) != 2 || st.Users[0].Stage != "synced" || st.Users[0].Copied != 60 || !st.PlanValid {
		t.Errorf("status: %+v", st)
	}
	out, _ = p.expect(exitOK, "cutover", "--yes")
	if !strings.Contains(out, "2 of 2 users verified") {
		t.Errorf("cutover: %s", out)
	}
	p.expect(exitOutOfOrder, "sync")
	p.expect(exitOK, "sync", "--post-cutover")
	p.expect(exitOK, "verify")
	out, _ = p.expect(exitOK, "report", "--format", "csv")
	if !strings.Contains(out, "alice,alice@new,pilot,cut-over,60,60") {
		t.Errorf("report csv:\n%s", out)
	}

	// Every output so far holds no password.
	for _, f := range []string{"reports/cutover.md", "reports/scope-of-work.md", "reports/test.md"} {
		b, err := os.ReadFile(filepath.Join(p.dir, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, pw := range []string{"old-alice", "new-alice", "old-bob", "new-bob"} {
			if bytes.Contains(b, []byte(pw)) {
				t.Errorf("%s contains a password", f)
			}
		}
	}
	db, err := os.ReadFile(filepath.Join(p.dir, "mailshift.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"old-alice", "new-alice", "old-bob", "new-bob"} {
		if bytes.Contains(db, []byte(pw)) {
			t.Errorf("the state file contains a password")
		}
	}
}

// TestBadInputExitCodes: configuration, users file and state problems each
// get their exit code and a message naming what is wrong.
func TestBadInputExitCodes(t *testing.T) {
	p := &project{t: t, dir: t.TempDir()}
	p.write("users.csv", "source_user,source_password,target_user,target_password,batch\nalice,x,alice,y,w\n")
	cases := []struct {
		name   string
		config string
		users  string
		code   int
		want   string
	}{
		{"unknown key", "source:\n  url: imap://127.0.0.1:1?tls=none\n  uRl2: x\ntarget:\n  url: imap://127.0.0.1:2?tls=none\n", "", exitUsage, "url2"},
		{"wrong type", "source:\n  url: imap://127.0.0.1:1?tls=none\ntarget:\n  url: imap://127.0.0.1:2?tls=none\ncopy:\n  workers: many\n", "", exitUsage, "workers"},
		{"bad scheme", "source:\n  url: ftp://x\ntarget:\n  url: imap://127.0.0.1:2?tls=none\n", "", exitUsage, "source.url"},
		{"bad deletions", "source:\n  url: imap://127.0.0.1:1?tls=none\ntarget:\n  url: imap://127.0.0.1:2?tls=none\nsync:\n  deletions: sometimes\n", "", exitUsage, "sync.deletions"},
		{"bad users row", "source:\n  url: imap://127.0.0.1:1?tls=none\ntarget:\n  url: imap://127.0.0.1:2?tls=none\n",
			"source_user,source_password,target_user,target_password,batch\nalice,x,alice,y,w\nbob,x,alice,y,w\n", exitUsage, ":3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p.write("mailshift.yaml", c.config)
			if c.users != "" {
				p.write("users.csv", c.users)
				defer p.write("users.csv", "source_user,source_password,target_user,target_password,batch\nalice,x,alice,y,w\n")
			}
			code, _, errOut := p.mailshift("status")
			if code != c.code || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d (want %d), stderr %q should name %q", code, c.code, errOut, c.want)
			}
		})
	}
	t.Run("missing config", func(t *testing.T) {
		var errOut bytes.Buffer
		code := run(context.Background(), []string{"--config", filepath.Join(p.dir, "nope.yaml"), "status"}, new(bytes.Buffer), &errOut)
		if code != exitUsage || !strings.Contains(errOut.String(), "mailshift init") {
			t.Errorf("exit %d: %s", code, errOut.String())
		}
	})
	t.Run("locked state", func(t *testing.T) {
		p.write("mailshift.yaml", "source:\n  url: imap://127.0.0.1:1?tls=none\ntarget:\n  url: imap://127.0.0.1:2?tls=none\n")
		s, err := state.Open(filepath.Join(p.dir, "mailshift.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		// Readers read beside the writer; a second writer is refused.
		p.expect(exitOK, "status")
		code, _, errOut := p.mailshift("collect")
		if code != exitState || !strings.Contains(errOut, "mailshift.db") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
	})
	t.Run("environment overrides the file", func(t *testing.T) {
		p.write("mailshift.yaml", "source:\n  url: imap://127.0.0.1:1?tls=none\ntarget:\n  url: imap://127.0.0.1:2?tls=none\n")
		t.Setenv("MAILSHIFT_COPY_WORKERS", "0")
		code, _, errOut := p.mailshift("status")
		if code != exitUsage || !strings.Contains(errOut, "copy.workers") {
			t.Errorf("MAILSHIFT_COPY_WORKERS=0: exit %d, stderr %q", code, errOut)
		}
		t.Setenv("MAILSHIFT_COPY_WORKERS", "8")
		p.expect(exitOK, "status")
	})
	t.Run("unknown flag", func(t *testing.T) {
		code, _, _ := p.mailshift("bulk", "--frobnicate")
		if code != exitUsage {
			t.Errorf("exit %d", code)
		}
	})
}

// TestDemo runs the demo as `go run ./cmd/mailshift demo` would.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"demo", "--dir", dir, "--messages", "40"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"1/6 collect", "6/6 cutover", "0 differences", "State file:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "reports", "cutover.md")); err != nil {
		t.Error(err)
	}
	// status works on what the demo left, and finds the plan it approved.
	out.Reset()
	code = run(context.Background(), []string{"--config", filepath.Join(dir, "mailshift.yaml"), "--state", filepath.Join(dir, "mailshift.db"), "status"}, &out, &errOut)
	if code != 0 {
		t.Errorf("status after demo: exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "Plan: approved by mailshift demo") {
		t.Errorf("status after demo does not find the approved plan:\n%s", out.String())
	}
}
