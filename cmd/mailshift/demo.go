package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailshift/mailshift/internal/memserver"
	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/phase"
	"github.com/mailshift/mailshift/state"
)

type demoOptions struct {
	dir      string
	users    int
	messages int
}

func newDemoCmd(g *globalOptions) *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run all six steps against two built-in IMAP servers",
		Long: `Starts two in-process IMAP servers, fills the first with generated mail
for a few users, and runs collect, approve, test, bulk, sync and cutover
against them, printing what each step did and where the state file and the
reports are. It needs nothing installed and touches nothing outside its
project directory (a new temporary one unless --dir is given).`,
		Example: `  mailshift demo

  # more and bigger mailboxes, in a directory to look around afterwards
  mailshift demo --dir /tmp/mailshift-demo --mailboxes 10 --messages 2000
  cd /tmp/mailshift-demo && mailshift status && mailshift report --format html -o report.html`,
		RunE: func(cmd *cobra.Command, args []string) error {
			prog := newProgress(cmd.ErrOrStderr(), g.quiet, g.logFormat == "json")
			defer prog.Close()
			log, err := g.logger(prog.Stderr())
			if err != nil {
				return err
			}
			prog.setLog(log)
			return runDemo(cmd.Context(), prog.Stdout(cmd.OutOrStdout()), prog.Stderr(), *o, prog, log)
		},
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "project directory for the demo's state and reports (default: a new temporary directory)")
	cmd.Flags().IntVar(&o.users, "mailboxes", 3, "number of mailboxes")
	cmd.Flags().IntVar(&o.messages, "messages", 200, "messages per mailbox")
	return cmd
}

// runDemo runs all six steps against two in-process IMAP servers filled
// with generated mail, narrating to out what each step did (the servers'
// own complaints go to errOut). It needs nothing installed.
func runDemo(ctx context.Context, out, errOut io.Writer, opts demoOptions, prog phase.Progress, log *slog.Logger) error {
	if opts.users <= 0 {
		opts.users = 3
	}
	if opts.messages <= 0 {
		opts.messages = 200
	}
	dir := opts.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "mailshift-demo-")
		if err != nil {
			return err
		}
		dir = d
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }

	src, err := memserver.StartLogging("127.0.0.1:0", errOut)
	if err != nil {
		return fmt.Errorf("start the demo source server: %w", err)
	}
	defer src.Close()
	dst, err := memserver.StartLogging("127.0.0.1:0", errOut)
	if err != nil {
		return fmt.Errorf("start the demo target server: %w", err)
	}
	defer dst.Close()
	rows, err := seedDemo(src, dst, dir, opts)
	if err != nil {
		return err
	}

	cfg := phase.Defaults()
	cfg.Source.URL = "imap://" + src.Addr + "?tls=none"
	cfg.Target.URL = "imap://" + dst.Addr + "?tls=none"
	cfg.Users.File = filepath.Join(dir, "users.csv")
	cfg.TestUsers = []string{rows[0].SourceUser}
	cfg.Copy.Workers = 2
	// As loading the configuration the demo leaves behind gives them, so
	// that status run on it afterwards finds the plan the demo approved.
	cfg.Folders.Exclude, cfg.Folders.Map = []string{}, map[string]string{}
	statePath := filepath.Join(dir, "mailshift.db")
	store, err := state.Open(statePath)
	if err != nil {
		return err
	}
	defer store.Close()
	p := &phase.Project{Config: cfg, Users: rows, Store: store, Dir: dir, Backends: backends(cfg, dir), Progress: prog, Log: log}

	say("mailshift demo: %d mailboxes of %d generated messages on an in-process IMAP server at %s,", opts.users, opts.messages, src.Addr)
	say("to be migrated to a second one at %s. Project directory: %s\n", dst.Addr, dir)
	report, err := demoSteps(ctx, p, src, say)
	if err != nil {
		return err
	}
	say("State file: %s", statePath)
	say("Reports:    %s", filepath.Dir(report))
	say("See where every user stands: mailshift --config %s --state %s status", filepath.Join(dir, "mailshift.yaml"), statePath)
	return writeDemoConfig(dir, cfg)
}

// demoSteps runs the six steps on p, narrating each with say; new mail
// arrives on src between bulk and sync. It returns where the cutover
// report went.
func demoSteps(ctx context.Context, p *phase.Project, src *memserver.Server, say func(string, ...any)) (string, error) {
	rows := p.Users
	say("1/6 collect: inventory of every source and target account")
	cr, err := phase.Collect(ctx, p, phase.Selection{})
	if err != nil {
		return "", err
	}
	say("    %d users, %d folders, %d messages, %s; %d problems found\n", cr.Users, cr.Folders, cr.Messages, phase.FormatBytes(cr.Bytes), cr.Problems)

	say("2/6 approve: the scope of work, signed off")
	ar, err := phase.Approve(ctx, p, phase.ApproveOptions{Yes: true, By: "mailshift demo"})
	if err != nil {
		return "", err
	}
	say("    plan %s… approved; scope of work in %s\n", ar.Hash[:12], ar.Path)

	say("3/6 test: migrate and verify the test user %s, measure the rate", rows[0].SourceUser)
	tr, err := phase.Test(ctx, p, phase.TestOptions{})
	if err != nil {
		return "", err
	}
	say("    %d messages in %.2fs (%.0f messages/s), verified; bulk estimate %s\n", tr.Messages, tr.Seconds, tr.RateMessages, phase.FormatDuration(tr.EstimatedBulk))

	say("4/6 bulk: copy everything, resumable, exactly once")
	br, err := phase.Bulk(ctx, p, phase.BulkOptions{})
	if err != nil {
		return "", err
	}
	say("    %d messages, %s in %.2fs\n", br.Messages, phase.FormatBytes(br.Bytes), br.Seconds)

	say("    (meanwhile, new mail arrives on the old server)")
	for i, r := range rows {
		for _, m := range corpus.Generate(int64(100+i), 5, 4000) {
			if err := src.Append(r.SourceUser, "INBOX", nil, time.Now().Truncate(time.Second), m.Body); err != nil {
				return "", err
			}
		}
	}
	say("5/6 sync: copy what changed since")
	sr, err := phase.Sync(ctx, p, phase.SyncOptions{})
	if err != nil {
		return "", err
	}
	say("    %d new messages, %d flag changes in %.2fs\n", sr.Messages, sr.FlagUpdates, sr.Seconds)

	say("6/6 cutover: final sync, verification, report")
	cu, err := phase.Cutover(ctx, p, phase.CutoverOptions{Yes: true})
	if err != nil {
		return "", err
	}
	say("    %d messages verified (size, flags, dates; content as below), %d differences; cutover window %.2fs", cu.Verify.Messages, cu.Verify.Differences, cu.WindowSecs)
	say("    %s\n", phase.DescribeVerifyKind(cu.Verify))
	return cu.Report, nil
}

// seedDemo gives both servers the demo's users, fills the source with
// generated mail, and writes the users file into dir.
func seedDemo(src, dst *memserver.Server, dir string, opts demoOptions) ([]users.Row, error) {
	csv := "source_user,source_password,target_user,target_password,batch\n"
	for i := range opts.users {
		name := fmt.Sprintf("user%d@demo.example", i+1)
		pw := fmt.Sprintf("demo-%d", i+1)
		batch := "wave1"
		if i >= (opts.users+1)/2 {
			batch = "wave2"
		}
		if err := src.AddUser(name, pw); err != nil {
			return nil, err
		}
		if err := dst.AddUser(name, pw); err != nil {
			return nil, err
		}
		for _, f := range corpus.Folders {
			if f != "INBOX" {
				if err := src.CreateFolder(name, f); err != nil {
					return nil, err
				}
			}
		}
		for _, m := range corpus.Mailbox(int64(i+1), opts.messages, 6000) {
			if err := src.Append(name, m.Folder, m.Flags, m.InternalDate, m.Body); err != nil {
				return nil, err
			}
		}
		csv += fmt.Sprintf("%s,%s,%s,%s,%s\n", name, pw, name, pw, batch)
	}
	usersFile := filepath.Join(dir, "users.csv")
	if err := os.WriteFile(usersFile, []byte(csv), 0o600); err != nil {
		return nil, err
	}
	rows, _, err := users.Load(usersFile)
	return rows, err
}

// writeDemoConfig leaves a config beside the demo's state so that status and
// report can be run on it afterwards (the servers are gone by then).
func writeDemoConfig(dir string, cfg phase.Config) error {
	text := fmt.Sprintf("# Written by mailshift demo; its servers lived only while the demo ran.\nsource:\n  url: %q\ntarget:\n  url: %q\nusers:\n  file: %q\ntest_users: [%q]\ncopy:\n  workers: %d\n",
		cfg.Source.URL, cfg.Target.URL, cfg.Users.File, cfg.TestUsers[0], cfg.Copy.Workers)
	return os.WriteFile(filepath.Join(dir, "mailshift.yaml"), []byte(text), 0o600)
}
