package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/state"
)

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestExitCodesAsDocumented runs, through run(...), the case each row of
// the README's exit-code table names, and checks that the table has no
// row without a case. Two rows are also covered by tests of their own:
// 10 by TestBadInputExitCodes/locked_state and TestStateFileRefusedByCommands
// (a corrupt or newer state), 130 by TestSyncFollowUntilCtrlC (a real
// SIGINT to `sync --follow`).
func TestExitCodesAsDocumented(t *testing.T) {
	p := newProject(t)
	seed(t, p.src, "alice", "old-alice", corpus.Mailbox(71, 12, 2000))
	seed(t, p.src, "bob", "old-bob", corpus.Mailbox(72, 6, 2000))
	goodConfig, _ := os.ReadFile(filepath.Join(p.dir, "mailshift.yaml"))
	goodUsers, _ := os.ReadFile(filepath.Join(p.dir, "users.csv"))
	restore := func() {
		p.write("mailshift.yaml", string(goodConfig))
		p.write("users.csv", string(goodUsers))
	}

	cases := []struct {
		code int
		name string
		run  func(t *testing.T)
	}{
		{exitUsage, "usage and configuration errors", func(t *testing.T) { configErrors(t, p, string(goodConfig)) }},
		{exitOutOfOrder, "bulk before collect", func(t *testing.T) {
			_, errOut := p.expect(exitOutOfOrder, "bulk")
			if !strings.Contains(errOut, "collect") {
				t.Errorf("bulk before collect should say what to run: %s", errOut)
			}
		}},
		{exitFailed, "no user reaches the servers", func(t *testing.T) {
			defer restore()
			p.write("mailshift.yaml", "source:\n  url: imap://"+closedPort(t)+"?tls=none\ntarget:\n  url: imap://"+p.dst.Addr+"?tls=none\n"+
				"users:\n  file: users.csv\ncopy:\n  retries: 0\n")
			_, errOut := p.expect(exitFailed, "collect")
			if !strings.Contains(errOut, "no user got through to the servers") || !strings.Contains(errOut, "connection refused") {
				t.Errorf("stderr should say nobody reached the servers, and why: %s", errOut)
			}
		}},
		{exitPartial, "one user's wrong password, the other collected", func(t *testing.T) {
			defer restore()
			p.write("users.csv", "source_user,source_password,target_user,target_password,batch\n"+
				"alice,env:E2E_ALICE_OLD,alice@new,env:E2E_ALICE_NEW,pilot\nbob,old-bob,bob@new,wrong-bob,wave1\n")
			_, errOut := p.expect(exitPartial, "collect")
			if !strings.Contains(errOut, "bob") {
				t.Errorf("collect should name bob: %s", errOut)
			}
		}},
		{exitPartial, "every user's wrong password is each user's own", func(t *testing.T) {
			defer restore()
			p.write("users.csv", "source_user,source_password,target_user,target_password,batch\n"+
				"alice,wrong,alice@new,env:E2E_ALICE_NEW,pilot\nbob,wrong,bob@new,new-bob,wave1\n")
			p.expect(exitPartial, "collect")
		}},
		{exitOK, "the steps in order", func(t *testing.T) {
			p.expect(exitOK, "collect")
			p.expect(exitOK, "approve", "--yes", "--by", "Jane Doe")
			p.expect(exitOK, "bulk", "--skip-test")
			p.expect(exitOK, "verify")
		}},
		{exitDifferences, "a message the target does not have", func(t *testing.T) {
			seed(t, p.src, "alice", "old-alice", corpus.Mailbox(73, 1, 2000))
			out, _ := p.expect(exitDifferences, "verify")
			if !strings.Contains(out, "1 differences") {
				t.Errorf("verify should count the difference: %s", out)
			}
		}},
		{exitState, "the state file locked by another run", func(t *testing.T) {
			s, err := state.Open(filepath.Join(p.dir, "mailshift.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			_, errOut := p.expect(exitState, "sync")
			if !strings.Contains(errOut, "mailshift.db") {
				t.Errorf("stderr should name the state file: %s", errOut)
			}
		}},
		{exitInterrupted, "a run whose context ends", func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			var out, errOut bytes.Buffer
			code := run(ctx, []string{"--config", filepath.Join(p.dir, "mailshift.yaml"), "--state", filepath.Join(p.dir, "mailshift.db"), "sync"}, &out, &errOut)
			if code != exitInterrupted || !strings.Contains(errOut.String(), "progress so far is saved") {
				t.Errorf("exit %d, stderr %q", code, errOut.String())
			}
		}},
	}
	covered := map[int]bool{}
	for _, c := range cases {
		covered[c.code] = true
		t.Run(strconv.Itoa(c.code)+" "+c.name, c.run)
	}
	for _, code := range readmeExitCodes(t) {
		if !covered[code] {
			t.Errorf("README's exit code %d has no case here", code)
		}
	}
}

// readmeExitCodes lists the codes of the README's exit-code table.
func readmeExitCodes(t *testing.T) []int {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Exit codes\n")
	if !ok {
		t.Fatal("README has no Exit codes section")
	}
	row := regexp.MustCompile(`(?m)^\| (\d+) \|`)
	var codes []int
	for _, m := range row.FindAllStringSubmatch(strings.SplitN(section, "\n## ", 2)[0], -1) {
		n, _ := strconv.Atoi(m[1])
		codes = append(codes, n)
	}
	if len(codes) < 8 {
		t.Fatalf("README's exit code table has %d rows: %v", len(codes), codes)
	}
	return codes
}

// configErrors: every configuration mistake exits 2, is reported once,
// before any connection (no state file is created), names the file and
// line or the environment variable, and does not speak the decoder's
// language.
func configErrors(t *testing.T, p *project, good string) {
	defer p.write("mailshift.yaml", good)
	db := filepath.Join(p.dir, "mailshift.db")
	cases := []struct {
		name   string
		config string
		env    map[string]string
		users  string
		want   []string
	}{
		{name: "misspelt key", config: good + "copy:\n  wokers: 8\n",
			want: []string{"mailshift.yaml:12", "copy.wokers", "did you mean copy.workers?"}},
		{name: "wrong type", config: good + "copy:\n  workers: many\n",
			want: []string{"mailshift.yaml:12", "copy.workers", `"many"`, "whole number"}},
		{name: "bad value", config: good + "copy:\n  retries: 300\n",
			want: []string{"mailshift.yaml:12", "copy.retries", "300"}},
		{name: "bad environment value", config: good, env: map[string]string{"MAILSHIFT_COPY_WORKERS": "abc"},
			want: []string{"environment variable MAILSHIFT_COPY_WORKERS", "copy.workers", `"abc"`}},
		{name: "environment out of range", config: good, env: map[string]string{"MAILSHIFT_COPY_WORKERS": "0"},
			want: []string{"environment variable MAILSHIFT_COPY_WORKERS", "copy.workers"}},
		{name: "missing users file", config: strings.Replace(good, "file: users.csv", "file: nobody.csv", 1),
			want: []string{"mailshift.yaml:7", "users.file", "nobody.csv not found"}},
		{name: "tls none to a remote host", config: strings.Replace(good, "url: imap://"+p.dst.Addr+"\n", "url: imap://mail.example.com:143\n", 1),
			want: []string{"mailshift.yaml:5", "target.tls", "mail.example.com:143", "allow_insecure"}},
		{name: "tls none to a remote host of a row", config: good,
			users: "mail.example.com;alice;old-alice;127.0.0.1;alice@new;new-alice\n",
			want:  []string{"source.url", "mail.example.com"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			os.Remove(db)
			p.write("mailshift.yaml", c.config)
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			if c.users != "" {
				users, _ := os.ReadFile(filepath.Join(p.dir, "users.csv"))
				defer p.write("users.csv", string(users))
				p.write("users.csv", c.users)
			}
			for _, format := range []string{"text", "json"} {
				code, out, errOut := p.mailshift("--log-format", format, "collect")
				if code != exitUsage {
					t.Fatalf("%s: exit %d, want 2\nstdout: %s\nstderr: %s", format, code, out, errOut)
				}
				if format == "json" {
					var msgs []string
					for _, r := range jsonLines(t, errOut) {
						msgs = append(msgs, fmt.Sprint(r["msg"]))
						if r["level"] == "ERROR" && (r["key"] == nil || r["exit_code"] != float64(exitUsage)) {
							t.Errorf("the JSON error names no key or exit code: %v", r)
						}
					}
					errOut = strings.Join(msgs, "\n")
				}
				for _, w := range c.want {
					if !strings.Contains(errOut, w) {
						t.Errorf("%s: stderr should name %q: %s", format, w, errOut)
					}
				}
				for _, bad := range []string{"decoding failed", "error(s)", "expected type"} {
					if strings.Contains(errOut, bad) {
						t.Errorf("%s: stderr speaks the decoder's language (%q): %s", format, bad, errOut)
					}
				}
				if format == "text" && strings.Count(errOut, "mailshift: ") != 1 {
					t.Errorf("reported %d times, want once: %s", strings.Count(errOut, "mailshift: "), errOut)
				}
				if _, err := os.Stat(db); err == nil {
					t.Errorf("%s: the state file was created: the mistake was not found before anything started", format)
				}
				if logs, _ := filepath.Glob(filepath.Join(p.dir, "reports", "logs", "*.jsonl")); len(logs) > 0 {
					t.Errorf("%s: a run log was started: %v", format, logs)
				}
			}
		})
	}
}

// jsonLines checks that every line of s is a JSON object and returns them.
func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Errorf("not a JSON line: %q", sc.Text())
			continue
		}
		recs = append(recs, m)
	}
	return recs
}

// TestRunLog: every run of a step leaves a private JSON Lines log under
// reports/logs with the run's start, each user's failure with its class,
// the error and the summary, and no password; --log-format json makes
// all of stderr JSON; logs.keep bounds how many stay; status leaves none;
// the report names the latest.
func TestRunLog(t *testing.T) {
	p := newProject(t)
	seed(t, p.src, "alice", "old-alice", corpus.Mailbox(81, 8, 2000))
	cfg, _ := os.ReadFile(filepath.Join(p.dir, "mailshift.yaml"))
	p.write("mailshift.yaml", string(cfg)+"logs:\n  keep: 3\n")
	p.write("users.csv", "source_user,source_password,target_user,target_password,batch\n"+
		"alice,env:E2E_ALICE_OLD,alice@new,env:E2E_ALICE_NEW,pilot\nbob,old-bob,bob@new,wrong-bob,wave1\n")
	logsDir := filepath.Join(p.dir, "reports", "logs")

	_, errOut := p.expect(exitPartial, "--log-format", "json", "collect")
	recs := jsonLines(t, errOut)
	if len(recs) == 0 {
		t.Fatal("nothing on stderr")
	}
	last := recs[len(recs)-1]
	if last["msg"] != "run finished" || last["exit_code"] != float64(exitPartial) || last["log"] == nil {
		t.Errorf("stderr's last record should be the summary with the exit code and the log: %v", last)
	}
	if !slices.ContainsFunc(recs, func(r map[string]any) bool {
		return r["level"] == "ERROR" && strings.Contains(fmt.Sprint(r["msg"]), "bob") && r["exit_code"] == float64(exitPartial)
	}) {
		t.Errorf("the error is not a JSON record on stderr: %s", errOut)
	}

	logs, _ := filepath.Glob(filepath.Join(logsDir, "*-collect.jsonl"))
	if len(logs) != 1 {
		t.Fatalf("run logs of collect: %v", logs)
	}
	if fi, err := os.Stat(logs[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("run log %v: mode %v", err, fi.Mode())
	}
	b, _ := os.ReadFile(logs[0])
	for _, secret := range []string{"old-alice", "new-alice", "old-bob", "wrong-bob"} {
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("the run log holds the password %s", secret)
		}
	}
	log := jsonLines(t, string(b))
	if log[0]["msg"] != "run started" || log[0]["command"] != "collect" {
		t.Errorf("first record: %v", log[0])
	}
	failed := slices.IndexFunc(log, func(r map[string]any) bool { return r["msg"] == "user failed" })
	if failed < 0 || log[failed]["user"] != "bob" || log[failed]["class"] != "auth" || log[failed]["step"] != "collect" {
		t.Errorf("bob's failure with its class: %v", log)
	}
	end := log[len(log)-1]
	counts, _ := end["counts"].(map[string]any)
	if end["msg"] != "run finished" || end["exit_code"] != float64(exitPartial) || counts["users"] != float64(2) || counts["users_failed"] != float64(1) {
		t.Errorf("summary: %v", end)
	}
	if !slices.ContainsFunc(log, func(r map[string]any) bool { return r["msg"] == "run failed" && r["class"] == "partial" }) {
		t.Errorf("no run failed record with its class: %v", log)
	}
	for _, r := range log {
		if r["time"] == nil || r["level"] == nil || r["step"] != "collect" {
			t.Errorf("a record without time, level or step: %v", r)
		}
	}

	// status reads; it leaves no log. Steps do, and only the newest
	// logs.keep stay.
	p.expect(exitOK, "status")
	if all, _ := filepath.Glob(filepath.Join(logsDir, "*.jsonl")); len(all) != 1 {
		t.Errorf("status left a log: %v", all)
	}
	p.write("users.csv", "source_user,source_password,target_user,target_password,batch\n"+
		"alice,env:E2E_ALICE_OLD,alice@new,env:E2E_ALICE_NEW,pilot\n")
	p.expect(exitOK, "collect")
	p.expect(exitOK, "approve", "--yes", "--by", "Jane Doe")
	p.expect(exitOK, "bulk", "--skip-test")
	p.expect(exitOK, "verify")
	all, _ := filepath.Glob(filepath.Join(logsDir, "*.jsonl"))
	if len(all) != 3 || !strings.HasSuffix(all[2], "-verify.jsonl") || !strings.HasSuffix(all[0], "-approve.jsonl") {
		t.Errorf("logs.keep: 3 kept %v", all)
	}
	bulk := jsonLines(t, string(must1(os.ReadFile(all[1]))))
	if end := bulk[len(bulk)-1]; end["exit_code"] != float64(0) || end["counts"].(map[string]any)["messages"] != float64(8) {
		t.Errorf("bulk's summary: %v", end)
	}

	out, _ := p.expect(exitOK, "report")
	if !strings.Contains(out, all[2]) {
		t.Errorf("the report does not name the latest run log %s:\n%s", all[2], out)
	}
}

func must1[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
