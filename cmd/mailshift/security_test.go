package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/mailshift/mailshift/internal/memserver"
	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
	"github.com/mailshift/mailshift/state"
)

// outputs collects everything the commands of a test printed.
type outputs struct {
	mu   sync.Mutex
	text []string
}

func (o *outputs) add(s ...string) {
	o.mu.Lock()
	o.text = append(o.text, s...)
	o.mu.Unlock()
}

// run runs a command line, keeps its output, and checks its exit code
// against the allowed ones.
func (o *outputs) run(p *project, codes []int, args ...string) (string, string) {
	p.t.Helper()
	code, out, errOut := p.mailshift(args...)
	o.add(out, errOut)
	for _, c := range codes {
		if c == code {
			return out, errOut
		}
	}
	p.t.Fatalf("mailshift %s: exit %d, want one of %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, codes, out, errOut)
	return "", ""
}

// noSecrets fails the test for every secret found in the outputs or in a
// file of the project directory other than the ones that hold secrets on
// purpose.
func noSecrets(t *testing.T, p *project, o *outputs, secrets map[string]string, keep ...string) {
	t.Helper()
	o.mu.Lock()
	all := strings.Join(o.text, "\n")
	o.mu.Unlock()
	for what, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("the %s appears in the commands' output", what)
		}
	}
	checked := 0
	err := filepath.WalkDir(p.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(p.dir, path)
		for _, k := range keep {
			if rel == k || strings.HasPrefix(rel, k+string(filepath.Separator)) {
				return nil
			}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		checked++
		for what, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("the %s appears in %s", what, rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no file was checked")
	}
}

// private checks that none of the files mailshift wrote can be read by
// group or others.
func private(t *testing.T, p *project, keep ...string) {
	t.Helper()
	filepath.WalkDir(p.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(p.dir, path)
		for _, k := range keep {
			if rel == k || strings.HasPrefix(rel, k+string(filepath.Separator)) {
				return nil
			}
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if path != p.dir && fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %04o: group or others may read it", rel, fi.Mode().Perm())
		}
		return nil
	})
}

// TestSecretsNeverLeak runs the whole lifecycle with passwords given in
// each way the users file allows (plain, env:, file:, cmd:) and one wrong
// password, with text and JSON logs, and looks for every password in every
// output and every file mailshift wrote: the state (and its WAL), the
// reports, status and report output. Everything it writes is private to
// its owner even under a umask of 0.
func TestSecretsNeverLeak(t *testing.T) {
	p := &project{t: t, dir: t.TempDir(),
		src: dovecot.Start(t, dovecot.Options{}),
		dst: dovecot.Start(t, dovecot.Options{Separator: ".", Prefix: "INBOX."}),
	}
	secretsDir := t.TempDir()
	secrets := map[string]string{}
	users := []string{"plain", "envpw", "filepw", "cmdpw", "wrong"}
	var rows []string
	for _, u := range users {
		src, dst := "Src-"+u+"-Q7x!pw", "Dst-"+u+"-Z3k#pw"
		secrets[u+" source password"], secrets[u+" target password"] = src, dst
		p.src.AddUser(u, src)
		p.dst.AddUser(u+"@new", dst)
		var s, d string
		switch u {
		case "plain":
			s, d = src, dst
		case "envpw":
			t.Setenv("SEC_ENVPW_SRC", src)
			t.Setenv("SEC_ENVPW_DST", dst)
			s, d = "env:SEC_ENVPW_SRC", "env:SEC_ENVPW_DST"
		case "filepw":
			for name, v := range map[string]string{"src": src, "dst": dst} {
				if err := os.WriteFile(filepath.Join(secretsDir, name), []byte(v+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			s, d = "file:"+filepath.Join(secretsDir, "src"), "file:"+filepath.Join(secretsDir, "dst")
		case "cmdpw":
			script := filepath.Join(secretsDir, "pw.sh")
			if err := os.WriteFile(script, []byte(fmt.Sprintf("#!/bin/sh\ncase $1 in src) echo '%s';; dst) echo '%s';; esac\n", src, dst)), 0o700); err != nil {
				t.Fatal(err)
			}
			s, d = "cmd:"+script+" src", "cmd:"+script+" dst"
		case "wrong":
			// Right at first; changed after the approval (a password
			// that changed on the server meanwhile).
			s, d = src, dst
		}
		batch := "good"
		if u == "wrong" {
			batch = "bad"
		}
		rows = append(rows, fmt.Sprintf("%s,%s,%s@new,%s,%s", u, s, u, d, batch))
	}
	// Dovecot notices a changed passwd-file by its time stamp: every user
	// is added before the first login.
	for _, u := range users[:4] {
		seed(t, p.src, u, secrets[u+" source password"], corpus.Mailbox(int64(len(u)), 15, 2000))
	}
	p.write("users.csv", "source_user,source_password,target_user,target_password,batch\n"+strings.Join(rows, "\n")+"\n")
	p.write("mailshift.yaml", "source:\n  url: imap://"+p.src.Addr+"?tls=none\n"+
		"target:\n  url: imap://"+p.dst.Addr+"?tls=none\n"+
		"users:\n  file: users.csv\ntest_users: [plain]\n")

	// Everything from here on is created under a umask that lets anyone
	// read: mailshift must not rely on the umask.
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })

	o := &outputs{}
	formats := []string{"text", "json"}
	o.run(p, []int{exitOK}, "collect")
	o.run(p, []int{exitOK}, "--log-format", "json", "approve", "--show")
	o.run(p, []int{exitOK}, "approve", "--yes", "--by", "Security Test")
	wrongSrc := "Wrong-" + secrets["wrong source password"]
	secrets["wrong password given"] = wrongSrc
	rows[len(rows)-1] = "wrong," + wrongSrc + ",wrong@new," + secrets["wrong target password"] + ",bad"
	p.write("users.csv", "source_user,source_password,target_user,target_password,batch\n"+strings.Join(rows, "\n")+"\n")
	for i, step := range [][]string{
		{"collect"},
		{"test"},
		{"bulk", "--batch", "good"},
		{"bulk"},
		{"sync", "--batch", "good"},
		{"verify", "--batch", "good"},
		{"cutover", "--yes", "--batch", "good"},
		{"status"},
		{"status", "--json"},
		{"report", "--format", "json"},
		{"report", "--format", "md"},
		{"report", "--format", "csv"},
		{"report", "--format", "html"},
		{"verify"},
	} {
		// The wrong password fails its user (exit 4) or, for verify, shows
		// as a difference (exit 5); the rest must succeed.
		codes := []int{exitOK, exitPartial, exitDifferences}
		args := append([]string{"--log-format", formats[i%2]}, step...)
		o.run(p, codes, args...)
	}
	// The good users were migrated.
	for _, u := range users[:4] {
		p.compare(u, secrets[u+" source password"], u+"@new", secrets[u+" target password"])
	}
	// Make the WAL and shared-memory files exist (the commands have
	// checkpointed and removed them), as they do while a run goes on.
	s, err := state.Open(filepath.Join(p.dir, "mailshift.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutUser("zz-probe", "zz-probe", ""); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"mailshift.db-wal", "mailshift.db-shm", "mailshift.db.lock"} {
		if _, err := os.Stat(filepath.Join(p.dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	// The run logs are among the files searched: every step left one.
	if logs, _ := filepath.Glob(filepath.Join(p.dir, "reports", "logs", "*.jsonl")); len(logs) < 5 {
		t.Errorf("run logs: %v", logs)
	}
	private(t, p, "users.csv", "mailshift.yaml")
	noSecrets(t, p, o, secrets, "users.csv", "mailshift.yaml")
	s.Close()
	noSecrets(t, p, o, secrets, "users.csv", "mailshift.yaml")

	// The outputs did say what went wrong for the wrong password.
	all := strings.Join(o.text, "\n")
	if !strings.Contains(all, "wrong") || !strings.Contains(all, "AUTHENTICATIONFAILED") {
		t.Errorf("no command explained the failed login of user wrong")
	}
	var files []string
	filepath.WalkDir(filepath.Join(p.dir, "reports"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, filepath.Base(path))
		}
		return nil
	})
	t.Logf("checked reports: %v", files)
	if len(files) < 3 {
		t.Errorf("expected the scope of work, test and cutover reports, found %v", files)
	}
}

// TestSecretsOfEndpoints: a master login whose password is in the
// configuration, and an OAuth access token from a command, never show in
// output or files; a configuration or users file holding plaintext
// secrets that others can read gets a warning naming it.
func TestSecretsOfEndpoints(t *testing.T) {
	src := dovecot.Start(t, dovecot.Options{})
	dst := dovecot.Start(t, dovecot.Options{Master: true})
	tokens := startTokenServer(t)
	p := &project{t: t, dir: t.TempDir(), src: src, dst: dst}
	src.AddUser("alice", "Alice-Src-pw!9")
	src.AddUser("tina", "Tina-Src-pw!8")
	dst.AddUser("alice", "Alice-Dst-unused")
	tokens.addUser(t, "tina")
	seed(t, src, "alice", "Alice-Src-pw!9", corpus.Mailbox(7, 10, 2000))
	// The memory server spells keywords in lower case: tina's messages
	// have system flags only.
	var plain []corpus.Message
	for _, m := range corpus.Generate(8, 10, 2000) {
		m.Flags = []string{`\Seen`}
		plain = append(plain, m)
	}
	seed(t, src, "tina", "Tina-Src-pw!8", plain)
	secrets := map[string]string{"source password": "Alice-Src-pw!9", "tina's source password": "Tina-Src-pw!8", "master password": dovecot.MasterPassword}

	p.write("users.csv", "source_user,source_password,target_user,target_password\nalice,Alice-Src-pw!9,alice,\n")
	config := func(target string) {
		p.write("mailshift.yaml", "source:\n  url: imap://"+src.Addr+"?tls=none\ntarget:\n"+target+"users:\n  file: users.csv\n")
	}
	o := &outputs{}

	t.Run("master password in the configuration", func(t *testing.T) {
		config("  url: imap://" + dst.Addr + "?tls=none\n  master_user: " + dovecot.MasterUser + "\n  master_password: " + dovecot.MasterPassword + "\n")
		cfg, users := filepath.Join(p.dir, "mailshift.yaml"), filepath.Join(p.dir, "users.csv")
		must(t, os.Chmod(cfg, 0o644))
		must(t, os.Chmod(users, 0o640))
		_, errOut := o.run(p, []int{exitOK}, "collect")
		for _, f := range []string{cfg, users} {
			if !strings.Contains(errOut, f) || !strings.Contains(errOut, "chmod 600") {
				t.Errorf("no warning naming %s and chmod 600:\n%s", f, errOut)
			}
		}
		if !strings.Contains(errOut, "target.master_password") {
			t.Errorf("the warning does not name the key: %s", errOut)
		}
		must(t, os.Chmod(cfg, 0o600))
		must(t, os.Chmod(users, 0o600))
		_, errOut = o.run(p, []int{exitOK}, "approve", "--yes", "--by", "T")
		if strings.Contains(errOut, "chmod") {
			t.Errorf("warning about private files: %s", errOut)
		}
		o.run(p, []int{exitOK}, "bulk", "--skip-test")
		sameFolders(t, src.Addr, "alice", "Alice-Src-pw!9", dst.Addr, "alice", "Alice-Dst-unused")
		o.run(p, []int{exitOK}, "--log-format", "json", "status", "--json")

		// The same through env:, and the Dovecot style user*master: no
		// warning for a reference even in a readable file.
		t.Setenv("SEC_MASTER_PW", dovecot.MasterPassword)
		config("  url: imap://" + dst.Addr + "?tls=none\n  master_user: " + dovecot.MasterUser + "\n  master_separator: \"*\"\n  auth: login\n  master_password: env:SEC_MASTER_PW\n")
		must(t, os.Chmod(cfg, 0o644))
		_, errOut = o.run(p, []int{exitOK}, "verify")
		if strings.Contains(errOut, "chmod") {
			t.Errorf("warning about a configuration without plaintext secrets: %s", errOut)
		}
		// A wrong master password is a clear failure naming both users.
		t.Setenv("SEC_MASTER_PW", "Wrong-master-pw")
		secrets["wrong master password"] = "Wrong-master-pw"
		_, errOut = o.run(p, []int{exitPartial}, "collect")
		if !strings.Contains(errOut, `"alice"`) || !strings.Contains(errOut, "alice*"+dovecot.MasterUser) {
			t.Errorf("failed master login: %s", errOut)
		}
	})

	t.Run("access token from a command", func(t *testing.T) {
		p2 := &project{t: t, dir: t.TempDir(), src: src, dst: dst}
		script := filepath.Join(t.TempDir(), "token.sh")
		counter := filepath.Join(filepath.Dir(script), "n")
		must(t, os.WriteFile(script, []byte(fmt.Sprintf("#!/bin/sh\nn=$(($(cat %[1]q 2>/dev/null || echo 0) + 1))\necho $n > %[1]q\necho tok-tina-$n-S3cr3t\n", counter)), 0o700))
		p2.write("users.csv", "source_user,source_password,target_user,target_password\ntina,Tina-Src-pw!8,tina,\n")
		p2.write("mailshift.yaml", "source:\n  url: imap://"+src.Addr+"?tls=none\ntarget:\n  url: imap://"+tokens.Addr+"?tls=none&auth=xoauth2\n  token: cmd:"+script+"\nusers:\n  file: users.csv\n")
		o.run(p2, []int{exitOK}, "collect")
		o.run(p2, []int{exitOK}, "approve", "--yes", "--by", "T")
		o.run(p2, []int{exitOK}, "--log-format", "json", "bulk", "--skip-test")
		// Every token issued so far expires: the next run gets new ones.
		tokens.expireAll()
		o.run(p2, []int{exitOK}, "verify")
		o.run(p2, []int{exitOK}, "status", "--json")
		o.run(p2, []int{exitOK}, "report", "--format", "json")
		seen := tokens.seen()
		if len(seen) < 2 {
			t.Fatalf("tokens presented: %d", len(seen))
		}
		for i, tok := range seen {
			secrets[fmt.Sprintf("token %d", i)] = tok
		}
		// A fixed, expired token in the users file fails with the reason.
		tokens.expireAll()
		p2.write("users.csv", "source_user,source_password,target_user,target_password\ntina,Tina-Src-pw!8,tina,"+seen[0]+"\n")
		_, errOut := o.run(p2, []int{exitPartial}, "verify")
		if !strings.Contains(errOut, "access token was refused") {
			t.Errorf("expired token: %s", errOut)
		}
		noSecrets(t, p2, o, secrets, "users.csv", "mailshift.yaml")
		private(t, p2, "users.csv", "mailshift.yaml")
	})

	t.Run("built-in Microsoft client credentials", func(t *testing.T) {
		p3 := &project{t: t, dir: t.TempDir(), src: src, dst: dst}
		const clientSecret = "Ms~Cl1ent-S3cret.Q"
		t.Setenv("SEC_MS_CLIENT_SECRET", clientSecret)
		secrets["Microsoft client secret"] = clientSecret
		var (
			mu     sync.Mutex
			issued []string
		)
		te := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ParseForm() != nil || r.PostForm.Get("client_secret") != clientSecret || r.PostForm.Get("scope") != "https://outlook.office365.com/.default" {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(401)
				fmt.Fprint(w, `{"error":"invalid_client"}`)
				return
			}
			mu.Lock()
			tok := fmt.Sprintf("tok-tina-app-%d-S3cr3tT0ken", len(issued)+1)
			issued = append(issued, tok)
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600}`, tok)
		}))
		defer te.Close()
		p3.write("users.csv", "source_user,source_password,target_user,target_password\ntina,Tina-Src-pw!8,tina,\n")
		p3.write("mailshift.yaml", "source:\n  url: imap://"+src.Addr+"?tls=none\ntarget:\n  url: imap://"+tokens.Addr+"?tls=none\n  oauth:\n    provider: microsoft\n    tenant: contoso.onmicrosoft.com\n    client_id: 11111111-2222-3333-4444-555555555555\n    client_secret: env:SEC_MS_CLIENT_SECRET\n    token_url: "+te.URL+"/token\nusers:\n  file: users.csv\n")
		o.run(p3, []int{exitOK}, "collect")
		o.run(p3, []int{exitOK}, "approve", "--yes", "--by", "T")
		o.run(p3, []int{exitOK}, "--log-format", "json", "bulk", "--skip-test")
		o.run(p3, []int{exitOK}, "verify")
		o.run(p3, []int{exitOK}, "status", "--json")
		o.run(p3, []int{exitOK}, "report", "--format", "json")
		mu.Lock()
		if len(issued) == 0 {
			t.Fatal("no token was fetched from the token endpoint")
		}
		for i, tok := range issued {
			secrets[fmt.Sprintf("Microsoft token %d", i)] = tok
		}
		mu.Unlock()
		// A wrong secret is a login failure that names the key, not the secret.
		t.Setenv("SEC_MS_CLIENT_SECRET", "Wr0ng-Ms-Secret")
		secrets["wrong Microsoft client secret"] = "Wr0ng-Ms-Secret"
		cfgText, err := os.ReadFile(filepath.Join(p3.dir, "mailshift.yaml"))
		must(t, err)
		p3.write("mailshift.yaml", strings.Replace(string(cfgText), "client_id: 11111111", "client_id: 99999999", 1))
		_, errOut := o.run(p3, []int{exitPartial}, "collect")
		if !strings.Contains(errOut, "target.oauth") || !strings.Contains(errOut, "invalid_client") {
			t.Errorf("refused token request: %s", errOut)
		}
		noSecrets(t, p3, o, secrets, "users.csv", "mailshift.yaml")
		private(t, p3, "users.csv", "mailshift.yaml")
	})
	noSecrets(t, p, o, secrets, "users.csv", "mailshift.yaml")
}

// TestStateFileRefusedByCommands: a state file that is truncated, damaged
// or from a newer mailshift stops every command with exit 10 and a message
// naming the file; the file is left as it was, never replaced by a new
// state.
func TestStateFileRefusedByCommands(t *testing.T) {
	p := &project{t: t, dir: t.TempDir()}
	p.write("users.csv", "source_user,source_password,target_user,target_password,batch\nalice,x,alice,y,w\n")
	p.write("mailshift.yaml", "source:\n  url: imap://127.0.0.1:1?tls=none\ntarget:\n  url: imap://127.0.0.1:2?tls=none\n")
	db := filepath.Join(p.dir, "mailshift.db")
	fresh := func() {
		os.Remove(db)
		s, err := state.Open(db)
		must(t, err)
		for i := range 400 {
			must(t, s.PutUser(fmt.Sprintf("user%03d@example.org", i), fmt.Sprintf("user%03d@new.example.org", i), "wave"))
		}
		must(t, s.Close())
	}
	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
		want   string
	}{
		{"truncated to half", func(b []byte) []byte { return b[:len(b)/2] }, "damaged"},
		{"truncated to the header", func(b []byte) []byte { return b[:100] }, "damaged"},
		{"random bytes in the middle", func(b []byte) []byte {
			mid := len(b) / 2 / 4096 * 4096
			for i := range 4096 {
				b[mid+i] = byte(i*7 + 13)
			}
			return b
		}, "damaged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fresh()
			b, err := os.ReadFile(db)
			must(t, err)
			b = tc.damage(b)
			must(t, os.WriteFile(db, b, 0o600))
			for _, cmd := range []string{"status", "collect", "bulk"} {
				code, _, errOut := p.mailshift(cmd)
				if code != exitState || !strings.Contains(errOut, db) || !strings.Contains(errOut, tc.want) {
					t.Errorf("%s: exit %d, stderr %q", cmd, code, errOut)
				}
			}
			after, err := os.ReadFile(db)
			must(t, err)
			if !bytes.Equal(after, b) {
				t.Error("the damaged state file was changed")
			}
		})
	}
	t.Run("newer schema", func(t *testing.T) {
		fresh()
		sdb, err := sql.Open("sqlite", db)
		must(t, err)
		_, err = sdb.Exec("INSERT INTO migrations (name, applied_at) VALUES ('9999_future.sql', 0)")
		must(t, err)
		sdb.Close()
		code, _, errOut := p.mailshift("status")
		if code != exitState || !strings.Contains(errOut, db) || !strings.Contains(errOut, "newer mailshift") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
	})
}

// sameFolders checks that the target holds the source's messages under
// the same folder names.
func sameFolders(t *testing.T, srcAddr, srcUser, srcPw, dstAddr, dstUser, dstPw string) {
	t.Helper()
	src := imaptest.Snapshot(t, srcAddr, srcUser, srcPw)
	dst := imaptest.Snapshot(t, dstAddr, dstUser, dstPw)
	for folder, msgs := range src {
		imaptest.Compare(t, srcUser+" "+folder, msgs, dst[folder])
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// tokenServer is an in-memory IMAP server that logs users in with XOAUTH2
// only; a token "tok-USER-..." is valid until expireAll.
type tokenServer struct {
	*memserver.TokenServer

	mu      sync.Mutex
	expired map[string]bool
}

func startTokenServer(t *testing.T) *tokenServer {
	t.Helper()
	ts := &tokenServer{expired: map[string]bool{}}
	srv, err := memserver.StartTokenServer(ts.valid, "XOAUTH2")
	must(t, err)
	t.Cleanup(func() { srv.Close() })
	ts.TokenServer = srv
	return ts
}

func (ts *tokenServer) addUser(t *testing.T, name string) { must(t, ts.AddUser(name)) }

// expireAll makes every token presented so far invalid.
func (ts *tokenServer) expireAll() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, tok := range ts.Tokens() {
		ts.expired[tok] = true
	}
}

func (ts *tokenServer) seen() []string { return ts.Tokens() }

func (ts *tokenServer) valid(user, token string) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return strings.HasPrefix(token, "tok-"+user+"-") && !ts.expired[token]
}
