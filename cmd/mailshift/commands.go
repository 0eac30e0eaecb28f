package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailshift/mailshift/phase"
)

type initOptions struct {
	dir   string
	force bool
}

func newInitCmd(g *globalOptions) *cobra.Command {
	o := &initOptions{}
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a commented mailshift.yaml and users.csv to start a project",
		Long: `Writes a commented mailshift.yaml and an example users.csv into the
project directory (default: the current one). Edit both, then run
"mailshift collect". Existing files are never overwritten without --force.`,
		Example: `  # start a project in a directory of its own; edit mailshift.yaml and
  # users.csv there, then collect
  mailshift init --dir acme-migration
  cd acme-migration && mailshift collect

  # write the templates again over edited ones
  mailshift init --force`,
		RunE: func(cmd *cobra.Command, args []string) error {
			written, err := phase.Init(o.dir, o.force)
			for _, w := range written {
				fmt.Fprintln(cmd.OutOrStdout(), "wrote", w)
			}
			if err == nil {
				fmt.Fprintln(cmd.OutOrStdout(), "next: edit both files, then run `mailshift collect`")
			}
			return err
		},
	}
	cmd.Flags().StringVar(&o.dir, "dir", ".", "project directory")
	cmd.Flags().BoolVar(&o.force, "force", false, "overwrite existing files")
	return cmd
}

func newCollectCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "collect",
		Short: "Step 1: inventory every source and target account, find problems",
		Long: `Logs in to every source and target account of the users file and records
folders (name, role, messages, bytes, UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ),
server capabilities and quota in the state file. It finds problems before
they bite: failed logins, messages over the target's size limit, folder
names the target cannot hold, quota too small. It may be run again at any
time; it does not void an approval unless the plan changed.`,
		Example: `  mailshift collect

  # one wave, or two users again after fixing their passwords
  mailshift collect --batch wave1
  mailshift collect --users alice@old.example,bob@old.example`,
		RunE: g.withProject(func(cmd *cobra.Command, p *phase.Project) error {
			res, err := phase.Collect(cmd.Context(), p, g.selection())
			fmt.Fprintf(cmd.OutOrStdout(), "collected %d users: %d folders, %d messages, %s; %d problems (see `mailshift approve --show`)\n",
				res.Users, res.Folders, res.Messages, phase.FormatBytes(res.Bytes), res.Problems)
			for _, s := range res.Servers {
				fmt.Fprintf(cmd.OutOrStdout(), "  source %s: %d users (%d failed), %d messages, %s\n", s.Server, s.Users, s.Failed, s.Messages, phase.FormatBytes(s.Bytes))
			}
			return err
		}),
	}
}

type approveOptions struct {
	show bool
	yes  bool
	by   string
	role string
}

func newApproveCmd(g *globalOptions) *cobra.Command {
	o := &approveOptions{}
	cmd := &cobra.Command{
		Use:   "approve",
		Short: "Step 2: render the scope of work and record its approval",
		Long: `Renders the scope of work from the inventory and the project's fields
(project.* in mailshift.yaml): the parties, each server's software and what
matters of it, users, batches, volumes, folder mapping, what is out of
scope, problems and what will be done about them, roles and
responsibilities, milestones, the estimated duration, assumptions, the
rollback plan and sign-off lines for both parties. With --show it only renders (to stdout and
reports/scope-of-work.md). With --yes --by NAME it records who approved the
plan, when, the plan's hash and the users it covers.

The plan covers the selected users (all, --batch, --users) that collected
cleanly; the others are named with the reason, in the scope of work and on
stderr (exit 4), and join the plan when they collect cleanly and it is
approved again. Approving one wave (--batch wave2) leaves the approval of
the others as it is. A user whose row of the users file changes after its
approval, and every user when the endpoints or the folder mapping change,
is left out of the later steps until it is approved again.`,
		Example: `  # read the scope of work (also in reports/scope-of-work.md)
  mailshift approve --show

  # record the approval of the whole plan, or of one wave
  mailshift approve --yes --by "Jane Doe" --role "IT manager, Example Corp"
  mailshift approve --batch wave2 --yes --by "Jane Doe"`,
		RunE: g.withProject(func(cmd *cobra.Command, p *phase.Project) error {
			res, err := phase.Approve(cmd.Context(), p, phase.ApproveOptions{Selection: g.selection(), Show: o.show, Yes: o.yes, By: o.by, Role: o.role})
			if res.Text == "" {
				return err
			}
			if o.show || !g.quiet {
				fmt.Fprint(cmd.OutOrStdout(), res.Text)
			}
			if res.Recorded {
				fmt.Fprintf(cmd.OutOrStdout(), "\napproved plan %s for %d users by %s; written to %s\n", res.Hash[:12], len(res.Users), o.by, res.Path)
			}
			return err
		}),
	}
	cmd.Flags().BoolVar(&o.show, "show", false, "only render the scope of work")
	cmd.Flags().BoolVar(&o.yes, "yes", false, "record the approval")
	cmd.Flags().StringVar(&o.by, "by", "", "who approves (recorded with the approval)")
	cmd.Flags().StringVar(&o.role, "role", "", "the approver's role, e.g. \"IT manager, Example Corp\" (recorded with the approval)")
	return cmd
}

type testOptions struct {
	cleanup bool
}

func newTestCmd(g *globalOptions) *cobra.Command {
	o := &testOptions{}
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Step 3: migrate and verify the test users, measure the rate",
		Long: `Migrates the test users (config test_users, or --users), verifies them
message by message, measures the copy rate and extrapolates the bulk
duration (reports/test.md). Bulk copy needs a passed test of the approved
plan unless it is given --skip-test. --cleanup removes from the test users'
targets what mailshift copied there and forgets it.`,
		Example: `  # migrate and verify the configured test_users, estimate the bulk copy
  mailshift test

  # test with other users, then remove what the tests copied
  mailshift test --users alice@old.example,bob@old.example
  mailshift test --cleanup`,
		RunE: g.withProject(func(cmd *cobra.Command, p *phase.Project) error {
			res, err := phase.Test(cmd.Context(), p, phase.TestOptions{Users: g.users, Cleanup: o.cleanup})
			out := cmd.OutOrStdout()
			switch {
			case o.cleanup && res.CleanedUp:
				fmt.Fprintln(out, "test users cleaned up: their copies were removed from the target and forgotten")
			case !o.cleanup && res.Users > 0:
				verdict := "PASSED"
				if !res.Passed {
					verdict = "FAILED"
				}
				fmt.Fprintf(out, "test %s: %d messages, %s in %.1fs (%s/s, %.0f messages/s); %d differences; estimated bulk copy: %s\n",
					verdict, res.Messages, phase.FormatBytes(res.Bytes), res.Seconds, phase.FormatBytes(int64(res.RateBytes)), res.RateMessages, res.Verify.Differences, res.EstimatedBulk.Round(1e9))
			}
			return err
		}),
	}
	cmd.Flags().BoolVar(&o.cleanup, "cleanup", false, "remove what earlier tests copied to the test users' targets")
	return cmd
}

type bulkOptions struct {
	skipTest bool
	now      bool
	dryRun   bool
}

func newBulkCmd(g *globalOptions) *cobra.Command {
	o := &bulkOptions{}
	cmd := &cobra.Command{
		Use:   "bulk",
		Short: "Step 4: copy everything, resumable, exactly once",
		Long: `Copies every message of the selected users (all, --users, --batch) to the
target: byte-identical, with flags and internal dates, into the mapped
folders. Run it again after a crash or Ctrl-C: it continues where it
stopped and never copies a message twice. Copies the selected users that
are approved under an unchanged plan and not cut over, and names the others
with what they need (exit 4; exit 3 when none can run). Needs a passed
test of the current endpoints and folder mapping (or --skip-test). With throttle.windows it copies only inside them: at
a window's end it stops between two messages (nothing is lost: what was
fetched but not yet stored is fetched again) and waits for the next one
(` + "`status`" + ` shows "paused until ..."); --now ignores the windows.
throttle.bandwidth, throttle.messages_per_second and throttle.max_connections
keep it gentle on the live servers at any time.`,
		Example: `  # what would be copied, changing nothing
  mailshift bulk --dry-run --batch wave1

  mailshift bulk --batch wave1

  # from cron or CI: no progress bar, JSON log lines
  mailshift bulk --quiet --log-format json

  # one user now, outside throttle.windows
  mailshift bulk --users carol@old.example --now`,
		RunE: g.withProject(func(cmd *cobra.Command, p *phase.Project) error {
			res, err := phase.Bulk(cmd.Context(), p, phase.BulkOptions{Selection: g.selection(), SkipTest: o.skipTest, Now: o.now, DryRun: o.dryRun})
			if o.dryRun {
				fmt.Fprint(cmd.OutOrStdout(), phase.RenderPlan(res.Planned))
				return err
			}
			printRun(cmd.OutOrStdout(), "bulk", res)
			return err
		}),
	}
	cmd.Flags().BoolVar(&o.skipTest, "skip-test", false, "run without a passed test migration")
	cmd.Flags().BoolVar(&o.now, "now", false, "copy now, outside throttle.windows too (emergencies, tests)")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "say per user and folder what would be copied or created, and change nothing anywhere")
	g.addShardFlags(cmd)
	return cmd
}

type syncOptions struct {
	postCutover bool
	force       bool
	follow      bool
	dryRun      bool
	checkTarget bool
}

func newSyncCmd(g *globalOptions) *cobra.Command {
	o := &syncOptions{}
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Step 5: copy what changed since the last pass",
		Long: `Copies what changed on the source since bulk copy or the last sync: new
messages, flag changes, and with sync.deletions: mirror, expunges (never
more than sync.max_delete percent of a folder in one pass without --force).
Syncs every selected user whose bulk copy finished under an approved plan;
the others are named with what they need first (exit 4, or exit 3 when no
selected user can sync). Users already cut over are left out unless
--post-cutover is given, which sweeps stragglers that reached the old
server after the switch.

An unchanged folder costs no command beyond one LIST-STATUS for all; with
CONDSTORE a changed one costs what changed. A user whose source folders are
all exactly as the last pass left them (CONDSTORE counters) costs one source
login and that LIST-STATUS: the target is not logged in to. --check-target
logs in to every user's target too, to find target folders deleted or
recreated there since (verify and cutover always look at both sides).
Folders renamed on the source
are renamed on the target; folders deleted there are deleted on the target
under mirror (with --force when they held messages).

--follow keeps syncing until Ctrl-C: a pass every sync.interval, and at once
when a user's INBOX changes (IDLE), logging each user's lag (the age of the
oldest change that may not be on the target yet).`,
		Example: `  mailshift sync
  mailshift sync --dry-run --batch wave1

  # keep syncing until Ctrl-C, logging each user's lag
  mailshift sync --follow --batch wave1

  # mail that reached the old server after the switch
  mailshift sync --post-cutover --users alice@old.example`,
		RunE: g.withProject(func(cmd *cobra.Command, p *phase.Project) error {
			res, err := phase.Sync(cmd.Context(), p, phase.SyncOptions{Selection: g.selection(), PostCutover: o.postCutover, Force: o.force, Follow: o.follow, DryRun: o.dryRun, CheckTarget: o.checkTarget})
			if o.dryRun {
				fmt.Fprint(cmd.OutOrStdout(), phase.RenderPlan(res.Planned))
				return err
			}
			printRun(cmd.OutOrStdout(), "sync", res)
			return err
		}),
	}
	cmd.Flags().BoolVar(&o.postCutover, "post-cutover", false, "also sync users already cut over (stragglers)")
	cmd.Flags().BoolVar(&o.force, "force", false, "apply deletions beyond sync.max_delete")
	cmd.Flags().BoolVar(&o.checkTarget, "check-target", false, "look at every user's target too, even when its source has not changed since the last pass")
	cmd.Flags().BoolVar(&o.follow, "follow", false, "keep syncing until interrupted (Ctrl-C), showing each user's lag")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "say per user and folder what would be copied, flagged, expunged, created, renamed or deleted, and change nothing anywhere")
	g.addShardFlags(cmd)
	return cmd
}

type cutoverOptions struct {
	yes        bool
	dryRun     bool
	fullVerify bool
}

func newCutoverCmd(g *globalOptions) *cobra.Command {
	o := &cutoverOptions{}
	cmd := &cobra.Command{
		Use:   "cutover",
		Short: "Step 6: final sync, verification, cutover report",
		Long: `For each selected user: a final sync, then a verification (per folder the
counts, per message size, flags and internal date, content on a sample),
incremental as plain verify is: only what changed since the last
verification is listed again, so that the window does not grow with the
mailboxes; --full-verify reads every message's content instead. The report
says which kind ran and when the last full verification was. Users
that verify clean are marked cut over (plain sync refuses them afterwards);
the cutover report with the final delta and the window goes to
reports/cutover.md. Users not approved under an unchanged plan or whose bulk
copy has not finished are left out and named (exit 4; exit 3 when none can
run). Exit 5 if verification finds differences.`,
		Example: `  # what the final sync would do, changing nothing
  mailshift cutover --dry-run --batch wave1

  mailshift cutover --yes --batch wave1`,
		RunE: g.withProject(func(cmd *cobra.Command, p *phase.Project) error {
			res, err := phase.Cutover(cmd.Context(), p, phase.CutoverOptions{Selection: g.selection(), Yes: o.yes, DryRun: o.dryRun, FullVerify: o.fullVerify})
			if o.dryRun {
				fmt.Fprint(cmd.OutOrStdout(), phase.RenderPlan(res.Planned))
				fmt.Fprintln(cmd.OutOrStdout(), "Then every user would be verified message by message and, if clean, marked cut over.")
				return err
			}
			ok := 0
			for _, u := range res.Users {
				if u.Verified {
					ok++
				}
			}
			if len(res.Users) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "cutover: %d of %d users verified and cut over; %d messages verified, %d differences; window %.1fs; report %s\n",
					ok, len(res.Users), res.Verify.Messages, res.Verify.Differences, res.WindowSecs, res.Report)
				fmt.Fprintln(cmd.OutOrStdout(), phase.DescribeVerifyKind(res.Verify))
			}
			if len(res.AlreadyDone) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "already cut over: %d users\n", len(res.AlreadyDone))
			}
			if len(res.Waiting) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "left out: %d users (see below)\n", len(res.Waiting))
			}
			return err
		}),
	}
	cmd.Flags().BoolVar(&o.yes, "yes", false, "confirm the cutover")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "say what the final sync would do, and change nothing anywhere (no --yes needed)")
	cmd.Flags().BoolVar(&o.fullVerify, "full-verify", false, "verify every message's content after the final sync (as verify --full) instead of incrementally")
	g.addShardFlags(cmd)
	return cmd
}

type statusOptions struct {
	json     bool
	watch    bool
	interval time.Duration
}

func newStatusCmd(g *globalOptions) *cobra.Command {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show where every user stands",
		Long: `Shows the approvals, the last test, and per user the stage reached
(new, collected, tested, bulk-running, bulk-done, synced, cut-over),
messages copied and failed, the last error, and what the user waits for
before its next step (not collected, collect failed, not approved, plan
changed for this user, bulk not finished, cut over). --json prints a
stable machine-readable form. --watch redraws it every --interval until
Ctrl-C, with each user's rate and time left (exit 0 when stopped).

status, report and verify read the state beside a running bulk, sync or
cutover; they never write it.`,
		Example: `  mailshift status
  mailshift status --batch wave2

  # the users not cut over yet, for a script
  mailshift status --json | jq -r '.users[] | select(.stage != "cut-over") | .source_user'`,
		RunE: g.withReader(func(cmd *cobra.Command, p *phase.Project) error {
			if o.watch && o.json {
				return usageError{fmt.Errorf("--watch and --json do not go together: --json is for programs, which can run `status --json` as often as they like")}
			}
			if o.watch {
				return watchStatus(cmd.Context(), p, g.selection(), cmd.OutOrStdout(), o.interval)
			}
			rep, err := phase.Status(p, g.selection())
			if err != nil {
				return err
			}
			if o.json {
				return writeJSON(cmd.OutOrStdout(), rep)
			}
			fmt.Fprint(cmd.OutOrStdout(), phase.RenderStatus(rep))
			return nil
		}),
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "machine-readable output")
	cmd.Flags().BoolVar(&o.watch, "watch", false, "redraw every --interval until Ctrl-C, with rates and time left")
	cmd.Flags().DurationVar(&o.interval, "interval", 2*time.Second, "how often --watch redraws")
	g.addShardFlags(cmd)
	return cmd
}

type verifyOptions struct {
	json bool
	full bool
}

func newVerifyCmd(g *globalOptions) *cobra.Command {
	o := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Compare source and target, message by message",
		Long: `Compares the selected users' source and target: per folder the counts, per
message the size, flags and internal date, and content. It changes nothing
on either server, and runs beside a bulk or sync: users whose copy is not
finished show the messages not copied yet as differences. Exit 5 if it
finds differences.

By default verification is incremental. Every folder's counts are checked
(source messages, copies recorded, target messages). A folder whose
counters on both sides (UIDVALIDITY, UIDNEXT, messages, HIGHESTMODSEQ) and
whose copies are as the last clean verification recorded them is not
listed again; one that changed only by flags or new messages is checked by
what changed (CHANGEDSINCE); any other (a message gone or not copied, a
server without CONDSTORE) is listed on both sides and every copy checked
for size, flags and internal date. Content is read on both
sides for a random sample (verify.sample: a count per user such as 20, or
a percentage such as 1%) and compared with the hash of what was sent. The
output says the kind and the sample size.

--full reads every copy's content on the target. Run it once after the
bulk copy and whenever the target's storage may have been touched
otherwise than through IMAP: a copy whose bytes changed on disk while its
size stayed is found only by --full or the sample.

What was verified is recorded in the state for the next verification to
start from. verify never takes the state's lock: it runs, and records,
beside a running bulk, sync or cutover, and none of them waits for it.`,
		Example: `  mailshift verify
  mailshift verify --users alice@old.example

  # read every message's content on the target
  mailshift verify --full

  # the differences for a script (exit 5 when there are some)
  mailshift verify --batch wave1 --json > verify-wave1.json`,
		RunE: g.withRecorder(func(cmd *cobra.Command, p *phase.Project) error {
			res, err := phase.VerifyWith(cmd.Context(), p, phase.VerifyOptions{Selection: g.selection(), Full: o.full})
			if o.json {
				if jerr := writeJSON(cmd.OutOrStdout(), res); jerr != nil {
					return jerr
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "verified %d users, %d folders, %d messages: %d differences, %d messages only on the target\n",
				res.Users, res.Folders, res.Messages, res.Differences, res.Extra)
			if res.Users > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\n", phase.DescribeVerifyKind(res))
			}
			for _, d := range res.List {
				fmt.Fprintf(cmd.OutOrStdout(), "  %s\n", d)
			}
			return err
		}),
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "machine-readable output")
	cmd.Flags().BoolVar(&o.full, "full", false, "read every message's content on the target instead of a sample")
	g.addShardFlags(cmd)
	return cmd
}

type reportOptions struct {
	format string
	output string
}

func newReportCmd(g *globalOptions) *cobra.Command {
	o := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Render the migration report (md, html, csv, json)",
		Long: `Renders where every user stands, the problems collect found and every
message that could not be copied, with the reason. --format json is a
stable machine-readable interface. It reads the state beside a running
bulk, sync or cutover and never writes it.`,
		Example: `  mailshift report --format html -o reports/migration.html
  mailshift report --format csv --batch wave1 > wave1.csv
  mailshift report --format json --users alice@old.example`,
		RunE: g.withReader(func(cmd *cobra.Command, p *phase.Project) error {
			rep, err := phase.BuildReport(p, g.selection())
			if err != nil {
				return err
			}
			text, err := rep.Render(o.format)
			if err != nil {
				return err
			}
			text = withLatestRunLog(p, o.format, text)
			if o.output == "" {
				_, err = io.WriteString(cmd.OutOrStdout(), text)
				return err
			}
			return writeFile0600(o.output, text)
		}),
	}
	cmd.Flags().StringVar(&o.format, "format", "md", "md, html, csv or json")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "write to this file instead of stdout")
	g.addShardFlags(cmd)
	return cmd
}

func printRun(w io.Writer, step string, r phase.RunResult) {
	if r.Users == 0 {
		return
	}
	fmt.Fprintf(w, "%s: %d users, %d messages copied (%s) in %.1fs, %d flag updates, %d expunged, %d refused, %d folders skipped, %d users failed, %d users left out\n",
		step, r.Users, r.Messages, phase.FormatBytes(r.Bytes), r.Seconds, r.FlagUpdates, r.Expunged, r.FailedMsgs, len(r.SkippedFolders), len(r.Failed), len(r.Waiting))
	if i := r.Items; i.Items > 0 {
		fmt.Fprintf(w, "  contacts, calendar items, tasks, notes: %d read, %d files written, %d uploaded, %d already uploaded, %d failed",
			i.Items, i.Written, i.Uploaded, i.Already, i.Failed)
		if i.Deleted > 0 {
			fmt.Fprintf(w, ", %d gone from the source and deleted", i.Deleted)
		}
		fmt.Fprintln(w)
	}
	for _, f := range r.SkippedFolders {
		fmt.Fprintf(w, "  skipped: %s folder %q: %s\n", f.User, f.Folder, f.Reason)
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
