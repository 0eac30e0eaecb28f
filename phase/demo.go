package phase

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/mailshift/mailshift/internal/memserver"
	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
)

// DemoOptions shapes the demo.
type DemoOptions struct {
	Dir      string // project directory; a new temporary one if empty
	Users    int    // mailboxes
	Messages int    // messages per mailbox
	Progress Progress
	Log      *slog.Logger
}

// DemoResult says where the demo left its files.
type DemoResult struct {
	Dir    string
	State  string
	Report string
}

// Demo runs all six steps against two in-process IMAP servers filled with
// generated mail, narrating to out. It needs nothing installed.
func Demo(ctx context.Context, out io.Writer, opts DemoOptions) (DemoResult, error) {
	var res DemoResult
	if opts.Users <= 0 {
		opts.Users = 3
	}
	if opts.Messages <= 0 {
		opts.Messages = 200
	}
	dir := opts.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "mailshift-demo-")
		if err != nil {
			return res, err
		}
		dir = d
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, err
	}
	res.Dir = dir
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }

	src, err := memserver.Start("127.0.0.1:0")
	if err != nil {
		return res, fmt.Errorf("start the demo source server: %w", err)
	}
	defer src.Close()
	dst, err := memserver.Start("127.0.0.1:0")
	if err != nil {
		return res, fmt.Errorf("start the demo target server: %w", err)
	}
	defer dst.Close()

	var rows []users.Row
	csv := "source_user,source_password,target_user,target_password,batch\n"
	for i := range opts.Users {
		name := fmt.Sprintf("user%d@demo.example", i+1)
		pw := fmt.Sprintf("demo-%d", i+1)
		batch := "wave1"
		if i >= (opts.Users+1)/2 {
			batch = "wave2"
		}
		if err := src.AddUser(name, pw); err != nil {
			return res, err
		}
		if err := dst.AddUser(name, pw); err != nil {
			return res, err
		}
		for _, f := range corpus.Folders {
			if f != "INBOX" {
				if err := src.CreateFolder(name, f); err != nil {
					return res, err
				}
			}
		}
		for _, m := range corpus.Mailbox(int64(i+1), opts.Messages, 6000) {
			if err := src.Append(name, m.Folder, m.Flags, m.InternalDate, m.Body); err != nil {
				return res, err
			}
		}
		csv += fmt.Sprintf("%s,%s,%s,%s,%s\n", name, pw, name, pw, batch)
	}
	usersFile := filepath.Join(dir, "users.csv")
	if err := os.WriteFile(usersFile, []byte(csv), 0o600); err != nil {
		return res, err
	}
	rows, _, err = users.Load(usersFile)
	if err != nil {
		return res, err
	}

	cfg := Defaults()
	cfg.Source.URL = "imap://" + src.Addr + "?tls=none"
	cfg.Target.URL = "imap://" + dst.Addr + "?tls=none"
	cfg.Users.File = usersFile
	cfg.TestUsers = []string{rows[0].SourceUser}
	cfg.Copy.Workers = 2
	res.State = filepath.Join(dir, "mailshift.db")
	store, err := state.Open(res.State)
	if err != nil {
		return res, err
	}
	defer store.Close()
	p := &Project{Config: cfg, Users: rows, Store: store, Dir: dir, Progress: opts.Progress, Log: opts.Log}

	say("mailshift demo: %d mailboxes of %d generated messages on an in-process IMAP server at %s,", opts.Users, opts.Messages, src.Addr)
	say("to be migrated to a second one at %s. Project directory: %s\n", dst.Addr, dir)

	say("1/6 collect: inventory of every source and target account")
	cr, err := Collect(ctx, p, Selection{})
	if err != nil {
		return res, err
	}
	say("    %d users, %d folders, %d messages, %s; %d problems found\n", cr.Users, cr.Folders, cr.Messages, FormatBytes(cr.Bytes), cr.Problems)

	say("2/6 approve: the scope of work, signed off")
	ar, err := Approve(ctx, p, ApproveOptions{Yes: true, By: "mailshift demo"})
	if err != nil {
		return res, err
	}
	say("    plan %s… approved; scope of work in %s\n", ar.Hash[:12], ar.Path)

	say("3/6 test: migrate and verify the test user %s, measure the rate", rows[0].SourceUser)
	tr, err := Test(ctx, p, TestOptions{})
	if err != nil {
		return res, err
	}
	say("    %d messages in %.2fs (%.0f messages/s), verified; bulk estimate %s\n", tr.Messages, tr.Seconds, tr.RateMessages, formatDuration(tr.EstimatedBulk))

	say("4/6 bulk: copy everything, resumable, exactly once")
	br, err := Bulk(ctx, p, BulkOptions{})
	if err != nil {
		return res, err
	}
	say("    %d messages, %s in %.2fs\n", br.Messages, FormatBytes(br.Bytes), br.Seconds)

	say("    (meanwhile, new mail arrives on the old server)")
	for i, r := range rows {
		for _, m := range corpus.Generate(int64(100+i), 5, 4000) {
			if err := src.Append(r.SourceUser, "INBOX", nil, time.Now().Truncate(time.Second), m.Body); err != nil {
				return res, err
			}
		}
	}
	say("5/6 sync: copy what changed since")
	sr, err := Sync(ctx, p, SyncOptions{})
	if err != nil {
		return res, err
	}
	say("    %d new messages, %d flag changes in %.2fs\n", sr.Messages, sr.FlagUpdates, sr.Seconds)

	say("6/6 cutover: final sync, full verification, report")
	cu, err := Cutover(ctx, p, CutoverOptions{Yes: true})
	if err != nil {
		return res, err
	}
	res.Report = cu.Report
	say("    %d messages verified (content, size, flags, dates), %d differences; cutover window %.2fs\n", cu.Verify.Messages, cu.Verify.Differences, cu.WindowSecs)
	say("State file: %s", res.State)
	say("Reports:    %s", filepath.Dir(cu.Report))
	say("See where every user stands: mailshift --config %s --state %s status", filepath.Join(dir, "mailshift.yaml"), res.State)
	if err := writeDemoConfig(dir, cfg); err != nil {
		return res, err
	}
	return res, nil
}

// writeDemoConfig leaves a config beside the demo's state so that status and
// report can be run on it afterwards (the servers are gone by then).
func writeDemoConfig(dir string, cfg Config) error {
	text := fmt.Sprintf("# Written by mailshift demo; its servers lived only while the demo ran.\nsource:\n  url: %q\ntarget:\n  url: %q\nusers:\n  file: %q\ntest_users: [%q]\ncopy:\n  workers: %d\n",
		cfg.Source.URL, cfg.Target.URL, cfg.Users.File, cfg.TestUsers[0], cfg.Copy.Workers)
	return os.WriteFile(filepath.Join(dir, "mailshift.yaml"), []byte(text), 0o600)
}
