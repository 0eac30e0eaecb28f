package phase

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/state"
)

// CollectResult summarises a collect.
type CollectResult struct {
	Users    int           `json:"users"`
	Failed   []UserFailure `json:"failed"`
	Folders  int           `json:"folders"`
	Messages int64         `json:"messages"`
	Bytes    int64         `json:"bytes"`
	Problems int           `json:"problems"`
	// Servers tally the collect by source server, when the users read
	// more than one (users file source_url columns or imapsync hosts).
	Servers []ServerTally `json:"servers,omitempty"`
}

// ServerTally is what a step found on one source server.
type ServerTally struct {
	Server   string `json:"server"`
	Users    int    `json:"users"`
	Failed   int    `json:"failed"`
	Messages int64  `json:"messages"`
	Bytes    int64  `json:"bytes"`
}

// Collect logs in to every selected source and target account, inventories
// folders, capabilities and quota, and records the problems it finds.
// It may be run again at any time.
func Collect(ctx context.Context, p *Project, sel Selection) (CollectResult, error) {
	rows, err := p.selectUsers(sel)
	if err != nil {
		return CollectResult{}, err
	}
	if err := p.syncUsers(); err != nil {
		return CollectResult{}, err
	}
	res := CollectResult{Users: len(rows)}
	if fs, ok := p.scanner(); ok {
		if err := p.discoverPST(ctx, fs); err != nil {
			return res, err
		}
	}
	groups := p.bySourceServer(rows)
	at := map[string]int{}
	if len(groups) > 1 {
		for i, g := range groups {
			at[g.Server] = i
			res.Servers = append(res.Servers, ServerTally{Server: g.Server, Users: len(g.Rows)})
		}
	}
	var mu sync.Mutex
	res.Failed = p.forEachUser(ctx, rows, func(ctx context.Context, r users.Row) error {
		inv, err := p.collectUser(ctx, r)
		mu.Lock()
		res.Folders += inv.folders
		res.Messages += inv.messages
		res.Bytes += inv.bytes
		res.Problems += inv.problems
		if res.Servers != nil {
			t := &res.Servers[at[p.sourceServer(r)]]
			t.Messages += inv.messages
			t.Bytes += inv.bytes
			if err != nil {
				t.Failed++
			}
		}
		mu.Unlock()
		return err
	})
	if err := p.writePSTReport(); err != nil {
		return res, err
	}
	return res, stepResult(ctx, "collect", res.Failed)
}

type userInventory struct {
	folders         int
	messages, bytes int64
	problems        int
}

// collectUser inventories one user's both sides. Whatever it learns is
// recorded even when one side fails.
func (p *Project) collectUser(ctx context.Context, r users.Row) (userInventory, error) {
	var inv userInventory
	now := p.now()
	var problems []state.Problem
	problem := func(kind, folder, detail, action string) {
		problems = append(problems, state.Problem{User: r.SourceUser, Kind: kind, Folder: folder, Detail: detail, Action: action})
	}
	srcAcct := state.Account{User: r.SourceUser, Side: state.SideSource, Login: r.SourceUser, CollectedAt: now}
	dstAcct := state.Account{User: r.SourceUser, Side: state.SideTarget, Login: r.TargetUser, CollectedAt: now}

	var sizes []sizedMessage
	var firstErr error
	fail := func(acct *state.Account, err error) {
		acct.Error = err.Error()
		if firstErr == nil {
			firstErr = err
		}
	}

	ps, err := p.collectPST(ctx, r)
	if problems = append(problems, ps...); err != nil {
		fail(&srcAcct, err)
	}
	src, err := p.openSource(ctx, r)
	if err != nil {
		fail(&srcAcct, err)
		problem("login", "", err.Error(), "fix the source credentials or host and run collect again; this user is not migrated until then")
	} else {
		defer src.Close()
		if err := p.inventorySource(ctx, src, &srcAcct, &sizes, problem); err != nil {
			fail(&srcAcct, fmt.Errorf("source %s: %w", r.SourceUser, err))
		}
	}
	dst, err := p.openTarget(ctx, r)
	if err != nil {
		fail(&dstAcct, err)
		problem("login", "", err.Error(), "fix the target credentials or host and run collect again; this user is not migrated until then")
	} else {
		defer dst.Close()
		if dstAcct.Description, err = p.describeTarget(ctx, r, dst); err == nil {
			dstAcct.Folders, err = dst.Folders(ctx)
		}
		if err != nil {
			fail(&dstAcct, fmt.Errorf("target %s: %w", r.TargetUser, err))
		}
	}

	for _, f := range srcAcct.Folders {
		inv.folders++
		inv.messages += int64(f.Messages)
		inv.bytes += max(f.Bytes, 0)
	}
	for _, w := range srcAcct.Description.Warnings {
		problem("feature", "", "source: "+w, "mailshift goes on without it")
	}
	for _, w := range dstAcct.Description.Warnings {
		problem("feature", "", "target: "+w, "mailshift goes on without it")
	}
	if srcAcct.Error == "" && dstAcct.Error == "" {
		problems = append(problems, p.findProblems(r, &srcAcct, &dstAcct, sizes, inv.bytes)...)
		problems = append(problems, p.foreseeHierarchy(ctx, dst, r.SourceUser, &srcAcct, &dstAcct)...)
		problems = append(problems, gmailTarget(r.SourceUser, &dstAcct, p.Config.Gmail.Labels)...)
	}
	if err := p.Store.SaveAccount(srcAcct); err != nil {
		return inv, err
	}
	if err := p.Store.SaveAccount(dstAcct); err != nil {
		return inv, err
	}
	if err := p.Store.ReplaceProblems(r.SourceUser, problems); err != nil {
		return inv, err
	}
	inv.problems = len(problems)
	if firstErr != nil {
		_ = p.Store.FailStep(r.SourceUser, state.StepCollect, firstErr.Error())
		return inv, firstErr
	}
	return inv, p.Store.MarkStep(r.SourceUser, state.StepCollect, now)
}

type sizedMessage struct {
	folder   string
	key      string
	size     int64
	keywords []string // flags that are not system flags
}

// maxSkipProblems bounds the problems recorded per folder for items a
// source passed over; the rest are summed up in one more.
const maxSkipProblems = 20

// inventorySource describes a source and counts every folder's messages and
// bytes (from the message list where the server does not report sizes).
// Items the source passes over (unreadable files, non-mail items) become
// problems, and so do folders that cannot be read: the rest are
// inventoried. Excluded folders are listed, never opened.
func (p *Project) inventorySource(ctx context.Context, src source.Source, acct *state.Account, sizes *[]sizedMessage, problem func(kind, folder, detail, action string)) error {
	var err error
	if acct.Description, err = src.Describe(ctx); err != nil {
		return err
	}
	folders, err := src.Folders(ctx)
	if err != nil {
		return fmt.Errorf("list folders: %w", err)
	}
	excluded, err := p.mapConfig().Excluder(acct.Description.Delimiter)
	if err != nil {
		return permanent(&ConfigError{"folders", err.Error()})
	}
	sk, skipper := src.(source.Skipper)
	if skipper { // what the walk over the tree passed over, outside any folder
		for _, x := range sk.Skipped("") {
			problem("skipped", "", x.Item+": "+x.Reason, "not migrated; fix or remove the item and run collect again to include it")
		}
	}
	for i, f := range folders {
		if f.NoSelect || excluded(f.Name) {
			continue
		}
		if f.Error != "" {
			problem("folder", f.Name, f.Error, "the folder is skipped and reported at every step until the source can be read; the user's other folders are migrated")
			continue
		}
		st, msgs, err := src.Messages(ctx, f.Name)
		if err != nil {
			if !folderFailure(err) {
				return fmt.Errorf("folder %q: %w", f.Name, err)
			}
			folders[i].Error = err.Error()
			problem("folder", f.Name, err.Error(), "the folder is skipped and reported at every step until the source can be read; the user's other folders are migrated")
			continue
		}
		var bytes int64
		for _, m := range msgs {
			bytes += m.Size
			*sizes = append(*sizes, sizedMessage{f.Name, m.Key, m.Size, keywordsOf(m.Flags)})
		}
		st.Name, st.Role, st.Bytes = f.Name, f.Role, bytes
		st.Messages = uint32(len(msgs))
		folders[i] = st
		if skipper {
			skips := sk.Skipped(f.Name)
			for j, x := range skips {
				if j == maxSkipProblems {
					problem("skipped", f.Name, fmt.Sprintf("%d more items passed over", len(skips)-j), "see the items above")
					break
				}
				problem("skipped", f.Name, x.Item+": "+x.Reason, "not migrated; a damaged item can be fixed or removed and collect run again")
			}
		}
		if ic, ok := src.(source.ItemCounter); ok {
			_, other, err := ic.Items(ctx, f.Name)
			if err != nil {
				return fmt.Errorf("folder %q: %w", f.Name, err)
			}
			var parts []string
			for class, n := range other {
				parts = append(parts, fmt.Sprintf("%d %s", n, class))
			}
			if len(parts) > 0 {
				slices.Sort(parts)
				problem("non-mail", f.Name, strings.Join(parts, ", "), nonMailAction(src))
			}
		}
	}
	acct.Folders = folders
	return nil
}

// nonMailConverted is what becomes of the items that are not mail of a
// source that exports them.
const nonMailConverted = "not copied as mail: contacts and distribution lists become vCards, calendar items, tasks, notes and journal entries iCalendar objects, written under items/<user>/ after the user's mail and uploaded to target.carddav and target.caldav when set; other kinds are not migrated"

// nonMailAction says what becomes of the items that are not mail.
func nonMailAction(src source.Source) string {
	if _, ok := src.(source.ItemExporter); ok {
		return nonMailConverted
	}
	return "not migrated: mailshift moves mail only"
}

// findProblems looks for what will bite: folder names the mapping cannot
// place, messages over the target's size limit, a quota too small.
func (p *Project) findProblems(r users.Row, src, dst *state.Account, sizes []sizedMessage, bytes int64) []state.Problem {
	var out []state.Problem
	add := func(kind, folder, detail, action string) {
		out = append(out, state.Problem{User: r.SourceUser, Kind: kind, Folder: folder, Detail: detail, Action: action})
	}
	plan, err := p.mapFolders(src.Description, src.Folders, dst.Description, dst.Folders)
	if err != nil {
		add("name", "", err.Error(), "add a folders.map entry for one of the folders, then approve again")
	}
	byFold := map[string]string{}
	for _, e := range plan {
		if e.Excluded {
			continue
		}
		if other, ok := byFold[strings.ToLower(e.Target)]; ok && other != e.Target {
			add("case", e.Source, fmt.Sprintf("target folders %q and %q differ only in case: on a case-insensitive target (Exchange, Microsoft 365, Gmail) they are one folder and their messages would be merged", other, e.Target),
				"if the target ignores case, give one of them another name with folders.map, then approve again")
		} else {
			byFold[strings.ToLower(e.Target)] = e.Target
		}
		if plain := hierarchyName(e.Source, src.Description.Delimiter, dst.Description.Delimiter); e.Role == "" && e.Reason == "hierarchy" && plain != e.Target {
			add("name", e.Source, fmt.Sprintf("the target cannot hold the name %q", plain), fmt.Sprintf("copied to %q", e.Target))
		}
	}
	if limit, whose := p.sizeLimit(dst.Description); limit > 0 {
		for _, m := range sizes {
			if m.size > limit {
				add("oversize", m.folder, fmt.Sprintf("message %s is %s, over the target's limit of %s (%s)", m.key, FormatBytes(m.size), FormatBytes(limit), whose),
					"the target will refuse it; it is reported per message; raise the target's limit, exclude the folder or export it by hand")
			}
		}
	}
	if p.Config.keywordsLost(dst.Description) {
		out = append(out, lostKeywords(r.SourceUser, sizes)...)
	}
	if dst.Description.QuotaLimit > 0 {
		free := dst.Description.QuotaLimit - max(dst.Description.QuotaUsed, 0)
		if bytes > free {
			add("quota", "", fmt.Sprintf("the source holds %s, the target quota leaves %s free", FormatBytes(bytes), FormatBytes(free)),
				"raise the target quota before bulk copy, or messages will be refused as over quota")
		}
	}
	return out
}

// hierarchyName is a source name with only the separator translated.
func hierarchyName(name string, from, to rune) string {
	if from == 0 || to == 0 || from == to {
		return name
	}
	return strings.ReplaceAll(name, string(from), string(to))
}

// FormatBytes renders a byte count for people: "1.5 MB".
func FormatBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	for _, u := range []string{"kB", "MB", "GB", "TB"} {
		v /= unit
		if v < unit {
			return fmt.Sprintf("%.1f %s", v, u)
		}
	}
	return fmt.Sprintf("%.1f PB", v/unit)
}
