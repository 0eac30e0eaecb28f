package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
)

// syncFolders are the sync profile's 20 folders: corpus.Folders and ten
// years of archive, parents before children.
var syncFolders = append(slices.Clone(corpus.Folders),
	"Archive/2013", "Archive/2014", "Archive/2015", "Archive/2016", "Archive/2017",
	"Archive/2018", "Archive/2019", "Archive/2020", "Archive/2021", "Archive/2022")

// spread returns n messages like corpus.Generate's spread over folders:
// INBOX gets four shares, every other folder one, except "Empty", which
// stays empty.
func spread(seed int64, n, size int, folders []string) []corpus.Message {
	var shares []string
	for _, f := range folders {
		switch f {
		case "Empty":
		case "INBOX":
			shares = append(shares, f, f, f, f)
		default:
			shares = append(shares, f)
		}
	}
	msgs := corpus.Generate(seed, n, size)
	for i := range msgs {
		msgs[i].Folder = shares[i%len(shares)]
	}
	return msgs
}

// syncSteps are what the sync profile measures, in order: the first copy,
// a pass with nothing changed, and a pass after changes on the source.
var syncSteps = []string{"first copy", "nothing changed", "after 100 changes"}

// syncRow is one measured run of the sync profile.
type syncRow struct {
	key     string // the tool as in -tools
	tool    string
	step    string
	wall    time.Duration
	sent    traffic // between the tool and the source
	done    string  // what the tool said it did
	failed  error
	skipped string
}

// syncTool is one tool of the sync profile: prepare runs once before the
// first step (unmeasured), step runs one measured step.
type syncTool struct {
	tool    string // as in -tools
	name    string
	prepare func() error
	step    func(i int) (proc, error)
	done    func() string
	skipped string
	failed  error
}

// runSyncProfile measures the cost of incremental sync: it seeds the
// source, copies it with mailshift and mbsync through a proxy that counts
// what each sends to the source and receives from it, then runs each again
// with nothing changed, and once more after 100 changes made on the source
// over IMAP. Mailshift's copy is then compared with the source: counts,
// bytes and flags, folder by folder.
func runSyncProfile(ctx context.Context, o options, p profile, src, dst *dovecot.Server, work string, tools map[string]string) ([]syncRow, string, []string, error) {
	users := p.userNames()
	plan, totalMsgs, totalBytes, err := seedSource(ctx, o, p, src)
	if err != nil {
		return nil, "", nil, err
	}
	e := &env{src: src, dst: dst, users: users, password: password, work: filepath.Join(work, p.name), workers: o.workers}
	defer func() {
		for _, u := range users {
			os.RemoveAll(filepath.Join(src.Dir, "mail", u))
		}
		for _, prefix := range []string{"ms", "mbsync"} {
			for _, t := range e.targetUsers(prefix) {
				os.RemoveAll(filepath.Join(dst.Dir, "mail", t))
			}
		}
	}()
	desc := fmt.Sprintf("%d user(s), %d messages in %d folders, %.1f MB (%s)", p.users, totalMsgs, len(p.folders), float64(totalBytes)/1e6, p.about)
	pwork := e.work
	if err := os.MkdirAll(pwork, 0o700); err != nil {
		return nil, "", nil, err
	}
	proxy, err := startCountProxy(src.Addr)
	if err != nil {
		return nil, "", nil, fmt.Errorf("counting proxy: %w", err)
	}
	defer proxy.Close()

	runs, msTargets, err := syncTools(ctx, o, p, e, proxy, tools)
	if err != nil {
		return nil, "", nil, err
	}

	var rows []syncRow
	var notes []string
	for i, step := range syncSteps {
		if i == 2 {
			for _, u := range users {
				logf("%s: changing %s on the source", p.name, u)
				did, err := changeSource(ctx, src.Addr, u, password, plan[u], p.seed+1000, p.size)
				if err != nil {
					return nil, "", nil, fmt.Errorf("changing the source: %w", err)
				}
				notes = append(notes, fmt.Sprintf("Changes made on the source (%s) before the last step: %s.", u, did))
			}
		}
		for _, t := range runs {
			if err := ctx.Err(); err != nil {
				return nil, "", nil, err
			}
			r := t.run(p, i, step, proxy)
			rows = append(rows, r)
		}
	}

	notes = append(notes, compareSteps(rows)...)
	notes = append(notes, "Wall times are of one run on a shared machine and include each tool's start; the commands and bytes are what to compare.")
	if msTargets != nil && !slices.ContainsFunc(runs, func(t *syncTool) bool { return t.tool == "mailshift" && (t.failed != nil || t.skipped != "") }) {
		logf("%s: comparing mailshift's copy with the source", p.name)
		notes = append(notes, "mailshift's copy after the last step: "+syncCheck(ctx, o, src.Addr, dst.Addr, users, msTargets)+".")
	}
	return rows, desc, notes, nil
}

// syncTools sets up each tool the sync profile measures against e's
// servers, the source through proxy; mailshift's target users are
// returned for the check at the end.
func syncTools(ctx context.Context, o options, p profile, e *env, proxy *countProxy, tools map[string]string) ([]*syncTool, []string, error) {
	var runs []*syncTool
	var msTargets []string
	for _, tool := range o.tools {
		bin := tools[tool]
		switch tool {
		case "mailshift":
			t := &syncTool{tool: tool, name: fmt.Sprintf("mailshift (%d workers)", o.workers)}
			runs = append(runs, t)
			if bin == "" {
				t.skipped = "did not build"
				continue
			}
			ms, targets, err := mailshiftProject(ctx, e, bin, proxy.addr, "sync:\n  deletions: mirror\n")
			if err != nil {
				return nil, nil, err
			}
			msTargets = targets
			logFile := filepath.Join(e.work, "mailshift", "mailshift.log")
			t.prepare = func() error {
				if _, err := ms("collect"); err != nil {
					return err
				}
				_, err := ms("approve", "--yes", "--by", "bench")
				return err
			}
			t.step = func(i int) (proc, error) {
				if i == 0 {
					return ms("bulk", "--skip-test")
				}
				return ms("sync")
			}
			t.done = func() string { return lastLine(logFile, "bulk: ", "sync: ") }
		case "mbsync":
			t := &syncTool{tool: tool, name: fmt.Sprintf("mbsync (%d at a time)", min(o.workers, p.users))}
			runs = append(runs, t)
			if bin == "" {
				t.skipped = "not installed"
				continue
			}
			pass, _, err := mbsyncSetup(ctx, e, bin, "127.0.0.1", proxy.port())
			if err != nil {
				return nil, nil, err
			}
			t.prepare = func() error { return nil }
			t.step = func(int) (proc, error) { return pass() }
			t.done = func() string { return "" } // mbsync prints no summary
		}
	}
	return runs, msTargets, nil
}

// run runs step i of the sync profile with t and counts what it sent the
// source through proxy; a tool that failed a step skips the rest.
func (t *syncTool) run(p profile, i int, step string, proxy *countProxy) syncRow {
	r := syncRow{key: t.tool, tool: t.name, step: step, skipped: t.skipped}
	switch {
	case t.skipped != "":
	case t.failed != nil:
		r.skipped = "an earlier step failed"
	default:
		if i == 0 {
			if err := t.prepare(); err != nil {
				t.failed, r.failed = err, err
				return r
			}
		}
		logf("%s: %s: %s", p.name, t.name, step)
		before := proxy.counted()
		pr, err := t.step(i)
		r.wall, r.sent, r.failed = pr.wall, proxy.counted().sub(before), err
		if err != nil {
			t.failed = err
			return r
		}
		r.done = t.done()
		logf("%s: %s: %s: %.2f s, %d commands, %d bytes from the source", p.name, t.name, step, r.wall.Seconds(), r.sent.commands, r.sent.down)
	}
	return r
}

// compareSteps sets mbsync's figures against mailshift's for each step
// after the first copy.
func compareSteps(rows []syncRow) []string {
	var out []string
	for _, step := range syncSteps[1:] {
		var ms, mb *syncRow
		for i, r := range rows {
			if r.step != step || r.failed != nil || r.skipped != "" {
				continue
			}
			switch r.key {
			case "mailshift":
				ms = &rows[i]
			case "mbsync":
				mb = &rows[i]
			}
		}
		if ms == nil || mb == nil || ms.sent.down == 0 || ms.sent.commands == 0 {
			continue
		}
		out = append(out, fmt.Sprintf("%s: mbsync sent %d commands to mailshift's %d (%.1f×) and read %s from the source to mailshift's %s (%.0f×).",
			upperFirst(step), mb.sent.commands, ms.sent.commands, float64(mb.sent.commands)/float64(ms.sent.commands),
			humanBytes(mb.sent.down), humanBytes(ms.sent.down), float64(mb.sent.down)/float64(ms.sent.down)))
	}
	return out
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// humanBytes formats a byte count in kB or MB (10^3, 10^6).
func humanBytes(n int64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	default:
		return fmt.Sprintf("%d B", n)
	}
}

// syncCheck compares the target users with the source users folder by
// folder: message counts, the messages' bytes, and the flags (how many
// messages carry each set of flags).
func syncCheck(ctx context.Context, o options, srcAddr, dstAddr string, users, targets []string) string {
	want, err := readAll(ctx, srcAddr, users, password, o.ceilingConn, true)
	if err != nil {
		return "NO: reading the source: " + err.Error()
	}
	got, err := readAll(ctx, dstAddr, targets, password, o.ceilingConn, true)
	if err != nil {
		return "NO: reading the target: " + err.Error()
	}
	for i, u := range users {
		if d := compare(want[u], got[targets[i]], true); d != "" {
			return "NO: " + d
		}
		wf, err := flagSets(ctx, srcAddr, u, password)
		if err != nil {
			return "NO: reading the source's flags: " + err.Error()
		}
		gf, err := flagSets(ctx, dstAddr, targets[i], password)
		if err != nil {
			return "NO: reading the target's flags: " + err.Error()
		}
		if d := compareFlags(wf, gf); d != "" {
			return "NO: " + d
		}
	}
	return "counts per folder, bytes and flags equal to the source's"
}

// flagSets returns, per folder of user, how many messages carry each set
// of flags (sorted, space-separated, \Recent left out).
func flagSets(ctx context.Context, addr, user, password string) (map[string]map[string]int, error) {
	names, err := folders(ctx, addr, user, password)
	if err != nil {
		return nil, err
	}
	c, done, err := login(ctx, addr, user, password)
	if err != nil {
		return nil, err
	}
	defer done()
	out := map[string]map[string]int{}
	for _, f := range names {
		sel, err := c.Select(f, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			return nil, fmt.Errorf("examine %s %q: %w", user, f, err)
		}
		sets := map[string]int{}
		out[f] = sets
		if sel.NumMessages == 0 {
			continue
		}
		var seq imap.SeqSet
		seq.AddRange(1, 0)
		msgs, err := c.Fetch(seq, &imap.FetchOptions{Flags: true}).Collect()
		if err != nil {
			return nil, fmt.Errorf("fetch flags %s %q: %w", user, f, err)
		}
		for _, m := range msgs {
			var fl []string
			for _, x := range m.Flags {
				if !strings.EqualFold(string(x), `\Recent`) {
					fl = append(fl, strings.ToLower(string(x)))
				}
			}
			slices.Sort(fl)
			sets[strings.Join(fl, " ")]++
		}
	}
	return out, nil
}

// compareFlags reports the first folder whose flags differ.
func compareFlags(want, got map[string]map[string]int) string {
	names := map[string]bool{}
	for f := range want {
		names[f] = true
	}
	for f := range got {
		names[f] = true
	}
	sorted := slices.Sorted(func(yield func(string) bool) {
		for f := range names {
			if !yield(f) {
				return
			}
		}
	})
	for _, f := range sorted {
		w, g := want[f], got[f]
		for set := range w {
			if w[set] != g[set] {
				return fmt.Sprintf("folder %q: %d messages with flags (%s) on the source, %d on the target", f, w[set], set, g[set])
			}
		}
		for set := range g {
			if w[set] != g[set] {
				return fmt.Sprintf("folder %q: %d messages with flags (%s) on the source, %d on the target", f, w[set], set, g[set])
			}
		}
	}
	return ""
}

// changeSource makes 100 changes to user's mailbox on the source over
// IMAP, spread over its folders (those of box with at least 10 messages,
// by name): 40 flag changes (\Flagged toggled on 5 messages in each of 8
// folders), 20 expunges (5 messages in each of 4 folders) and 40 new
// messages (20 in INBOX, 5 in each of 4 other folders). Small mailboxes
// get fewer. It returns what it did.
func changeSource(ctx context.Context, addr, user, password string, box userFolders, seed int64, size int) (string, error) {
	var names []string
	for f, s := range box {
		if s.Messages >= 10 && f != "INBOX" {
			names = append(names, f)
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		return "", fmt.Errorf("%s has no folder besides INBOX with 10 messages or more", user)
	}
	c, done, err := login(ctx, addr, user, password)
	if err != nil {
		return "", err
	}
	defer done()
	ch := &changer{c: c, names: names}

	flagFolders := ch.folders(0, 8)
	flagged, err := ch.toggleFlagged(flagFolders)
	if err != nil {
		return "", err
	}
	expungeFolders := ch.folders(1, 4)
	expunged, err := ch.expunge(expungeFolders)
	if err != nil {
		return "", err
	}
	appended, err := ch.appendNew(append([]string{"INBOX", "INBOX", "INBOX", "INBOX"}, ch.folders(3, 4)...), seed, size)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("\\Flagged toggled on %d messages in %d folders, %d messages expunged in %d folders, 40 messages appended to %d folders",
		flagged, len(flagFolders), expunged, len(expungeFolders), appended), nil
}

// changer makes changeSource's changes over one logged-in connection;
// names are the folders it may change besides INBOX, sorted.
type changer struct {
	c     *imapclient.Client
	names []string
}

// folders picks n folders, every other one from the first'th on.
func (ch *changer) folders(first, n int) []string {
	var out []string
	for k := range n {
		if f := ch.names[(first+2*k)%len(ch.names)]; !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// pick selects folder f and returns the UIDs and flags of 5 messages
// spread over it, starting at the offset'th.
func (ch *changer) pick(f string, offset uint32) ([]*picked, error) {
	sel, err := ch.c.Select(f, nil).Wait()
	if err != nil {
		return nil, fmt.Errorf("select %q: %w", f, err)
	}
	var seq imap.SeqSet
	for k := range uint32(5) {
		seq.AddNum(1 + offset + k*(sel.NumMessages/5))
	}
	msgs, err := ch.c.Fetch(seq, &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		return nil, fmt.Errorf("fetch in %q: %w", f, err)
	}
	out := make([]*picked, len(msgs))
	for i, m := range msgs {
		out[i] = &picked{uid: m.UID, flagged: slices.Contains(m.Flags, imap.FlagFlagged)}
	}
	return out, nil
}

// toggleFlagged toggles \Flagged on 5 messages of each folder; it
// returns how many.
func (ch *changer) toggleFlagged(folders []string) (int, error) {
	n := 0
	for _, f := range folders {
		msgs, err := ch.pick(f, 0)
		if err != nil {
			return n, err
		}
		var add, del imap.UIDSet
		for _, m := range msgs {
			if m.flagged {
				del.AddNum(m.uid)
			} else {
				add.AddNum(m.uid)
			}
		}
		for _, s := range []struct {
			set imap.UIDSet
			op  imap.StoreFlagsOp
		}{{add, imap.StoreFlagsAdd}, {del, imap.StoreFlagsDel}} {
			if len(s.set) == 0 {
				continue
			}
			if err := ch.c.Store(s.set, &imap.StoreFlags{Op: s.op, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
				return n, fmt.Errorf("store in %q: %w", f, err)
			}
		}
		n += len(msgs)
	}
	return n, nil
}

// expunge expunges 5 messages of each folder; it returns how many.
func (ch *changer) expunge(folders []string) (int, error) {
	n := 0
	for _, f := range folders {
		msgs, err := ch.pick(f, 1)
		if err != nil {
			return n, err
		}
		var uids imap.UIDSet
		for _, m := range msgs {
			uids.AddNum(m.uid)
		}
		if err := ch.c.Store(uids, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			return n, fmt.Errorf("store in %q: %w", f, err)
		}
		if err := ch.c.UIDExpunge(uids).Close(); err != nil {
			return n, fmt.Errorf("expunge in %q: %w", f, err)
		}
		n += len(msgs)
	}
	return n, nil
}

// appendNew appends 40 generated messages, in turn to each of into; it
// returns how many folders got some.
func (ch *changer) appendNew(into []string, seed int64, size int) (int, error) {
	appended := map[string]bool{}
	for i, m := range corpus.Generate(seed, 40, size) {
		f := into[i%len(into)]
		flags := make([]imap.Flag, len(m.Flags))
		for k, x := range m.Flags {
			flags[k] = imap.Flag(x)
		}
		cmd := ch.c.Append(f, int64(len(m.Body)), &imap.AppendOptions{Flags: flags, Time: m.InternalDate})
		if _, err := cmd.Write(m.Body); err != nil {
			cmd.Close()
			return len(appended), fmt.Errorf("append to %q: %w", f, err)
		}
		if err := cmd.Close(); err != nil {
			return len(appended), fmt.Errorf("append to %q: %w", f, err)
		}
		if _, err := cmd.Wait(); err != nil {
			return len(appended), fmt.Errorf("append to %q: %w", f, err)
		}
		appended[f] = true
	}
	return len(appended), nil
}

// picked is a message changeSource picked.
type picked struct {
	uid     imap.UID
	flagged bool
}

// lastLine returns the last line of a file that starts with one of the
// prefixes (any non-empty line when none is given).
func lastLine(path string, prefixes ...string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "$ ") {
			continue
		}
		if len(prefixes) == 0 || slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(l, p) }) {
			return l
		}
	}
	return ""
}

// printSyncTable writes the sync profile's Markdown table and notes.
func printSyncTable(w io.Writer, p profile, desc string, rows []syncRow, notes []string) {
	fmt.Fprintf(w, "\n## %s: %s\n\n", p.name, desc)
	fmt.Fprintln(w, "| tool | case | wall s | commands to source | bytes from source | the tool's summary |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---|")
	var failures []string
	for _, r := range rows {
		switch {
		case r.skipped != "":
			fmt.Fprintf(w, "| %s | %s | — | — | — | skipped: %s |\n", r.tool, r.step, r.skipped)
		case r.failed != nil:
			fmt.Fprintf(w, "| %s | %s | — | — | — | FAILED (below) |\n", r.tool, r.step)
			failures = append(failures, fmt.Sprintf("%s, %s: %v", r.tool, r.step, r.failed))
		default:
			done := "—"
			if r.done != "" {
				done = strings.ReplaceAll(r.done, "|", `\|`)
			}
			fmt.Fprintf(w, "| %s | %s | %.2f | %d | %d | %s |\n", r.tool, r.step, r.wall.Seconds(), r.sent.commands, r.sent.down, done)
		}
	}
	fmt.Fprintln(w)
	for _, n := range notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
	for _, f := range failures {
		fmt.Fprintf(w, "\n```\n%s\n```\n", f)
	}
}
