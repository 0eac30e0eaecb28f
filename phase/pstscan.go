package phase

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/state"
)

// FileScanner is implemented by Backends whose source is PST files found
// in directory trees (pstscan:) rather than named per user: collect finds
// and inspects them, assigns each to a user by pst.owner_rules, and every
// step then opens a user's assigned files as the user's source.
type FileScanner interface {
	// ScansFiles tells whether the source is found by a scan.
	ScansFiles() bool
	// ScanFiles finds and inspects the files. What cannot be read
	// (damaged files, directories and files without permission) comes
	// with an Error.
	ScanFiles(ctx context.Context) ([]state.PSTFile, error)
	// OpenFiles opens the files at paths as r's source.
	OpenFiles(ctx context.Context, r users.Row, paths []string) (source.Source, error)
}

// scanner returns the project's FileScanner when its source is found by
// a scan.
func (p *Project) scanner() (FileScanner, bool) {
	fs, ok := p.Backends.(FileScanner)
	if !ok || !fs.ScansFiles() {
		return nil, false
	}
	return fs, true
}

// discoverPST finds and inspects the PST files and assigns each to a user
// of the users file; it records them all, with the rule that assigned
// each.
func (p *Project) discoverPST(ctx context.Context, fs FileScanner) error {
	files, err := fs.ScanFiles(ctx)
	if err != nil {
		return err
	}
	rules, err := p.Config.PST.rules()
	if err != nil {
		return err
	}
	explicit, err := p.readOwners()
	if err != nil {
		return err
	}
	now := p.now()
	for i := range files {
		f := &files[i]
		f.SeenAt = now
		f.Owner, f.Rule, f.Candidates = assignOwner(*f, p.Users, rules, explicit)
	}
	return p.Store.SavePSTFiles(files)
}

// readOwners reads pst.owners: path,user rows (a header row is allowed).
func (p *Project) readOwners() (map[string]string, error) {
	if p.Config.PST.Owners == "" {
		return nil, nil
	}
	name := p.path(p.Config.PST.Owners)
	f, err := os.Open(name)
	if err != nil {
		return nil, &ConfigError{"pst.owners", err.Error()}
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	known := map[string]bool{}
	for _, r := range p.Users {
		known[r.SourceUser] = true
	}
	out := map[string]string{}
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, &ConfigError{"pst.owners", fmt.Sprintf("%s: %v", name, err)}
		}
		if len(rec) != 2 {
			return nil, &ConfigError{"pst.owners", fmt.Sprintf("%s line %d: write path,user", name, line)}
		}
		path, user := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
		if line == 1 && strings.EqualFold(path, "path") && strings.EqualFold(user, "user") {
			continue
		}
		if !known[user] {
			return nil, &ConfigError{"pst.owners", fmt.Sprintf("%s line %d: %q is not a source user of the users file", name, line, user)}
		}
		out[filepath.Clean(path)] = user
	}
}

// The rule names recorded for files the rules did not assign.
const (
	ruleOwnersFile = "owners file"
	ruleNone       = "no rule matched"
	ruleConflict   = "conflict"
)

// assignOwner works out who owns f: the owners file, else the first rule
// that names anybody. A rule that names several users leaves the file
// unassigned, with the candidates, for a decision.
func assignOwner(f state.PSTFile, rows []users.Row, rules []ownerRule, explicit map[string]string) (owner, rule string, candidates []string) {
	if u, ok := explicit[filepath.Clean(f.Path)]; ok {
		return u, ruleOwnersFile, nil
	}
	for _, r := range rules {
		names := r.match(f, rows)
		switch len(names) {
		case 0:
			continue
		case 1:
			return names[0], r.name(), nil
		default:
			return "", ruleConflict + ": " + r.name() + " names " + strings.Join(names, ", "), names
		}
	}
	return "", ruleNone, nil
}

// match returns the source users rule r names for f, sorted.
func (r ownerRule) match(f state.PSTFile, rows []users.Row) []string {
	var out []string
	add := func(u string) {
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	switch r.kind {
	case "path":
		if m := r.re.FindStringSubmatch(filepath.ToSlash(f.Path)); m != nil {
			for _, row := range rows {
				if strings.EqualFold(row.SourceUser, m[1]) {
					add(row.SourceUser)
				}
			}
		}
	case "file_owner":
		for _, row := range rows {
			v := row.Extra[r.arg]
			if v != "" && (v == f.Record.OwnerUID || strings.EqualFold(v, f.Record.OwnerName)) {
				add(row.SourceUser)
			}
		}
	case "store_name":
		name := strings.TrimSpace(f.Record.StoreName)
		for _, row := range rows {
			if name != "" && slices.ContainsFunc(userNames(row), func(n string) bool { return strings.EqualFold(n, name) }) {
				add(row.SourceUser)
			}
		}
	case "addresses":
		return addressOwners(f, rows)
	}
	slices.Sort(out)
	return out
}

// userNames are the names a user may go by: the source and target users
// and their local parts.
func userNames(r users.Row) []string {
	out := []string{r.SourceUser, r.TargetUser}
	for _, n := range []string{r.SourceUser, r.TargetUser} {
		if local, _, ok := strings.Cut(n, "@"); ok {
			out = append(out, local)
		}
	}
	return out
}

// addressOwners names the user whose address occurs most often in the
// file's Inbox and Sent folders; several when they occur equally often.
func addressOwners(f state.PSTFile, rows []users.Row) []string {
	counts := map[string]int{}
	for _, a := range slices.Concat(f.Record.Inbox, f.Record.Sent) {
		counts[strings.ToLower(a.Address)] += a.Count
	}
	best, bestN := []string(nil), 0
	for _, row := range rows {
		n := 0
		for _, addr := range []string{row.SourceUser, row.TargetUser} {
			if strings.Contains(addr, "@") {
				n = max(n, counts[strings.ToLower(addr)])
			}
		}
		switch {
		case n == 0 || n < bestN:
		case n > bestN:
			best, bestN = []string{row.SourceUser}, n
		default:
			best = append(best, row.SourceUser)
		}
	}
	slices.Sort(best)
	return best
}

// collectPST decides on the items of r's PST files (pre-ingestion) and
// returns the problems of r's files: those that cannot be read, and a
// decision that could not be made, which fails the user's collect.
// Nothing for a source not found by a scan.
func (p *Project) collectPST(ctx context.Context, r users.Row) ([]state.Problem, error) {
	fs, ok := p.scanner()
	if !ok {
		return nil, nil
	}
	var out []state.Problem
	files, err := p.Store.PSTFiles()
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if f.Owner == r.SourceUser && f.Error != "" {
			out = append(out, state.Problem{User: r.SourceUser, Kind: "pst-file", Detail: f.Path + ": " + f.Error,
				Action: "not migrated; repair the file (Outlook's scanpst.exe) or give read access, then run collect again"})
		}
	}
	if err := p.decidePST(ctx, fs, r); err != nil {
		out = append(out, state.Problem{User: r.SourceUser, Kind: "pst", Detail: "deduplication and filters: " + err.Error(),
			Action: "the user is not migrated until collect succeeds; fix the cause and run collect again"})
		return out, fmt.Errorf("PST files of %s: %w", r.SourceUser, err)
	}
	return out, nil
}

// pstPlan is what an approval of a pstscan: project covers beyond the
// users and endpoints: which file goes to whom, and what is left out.
type pstPlan struct {
	Files          [][2]string `json:"files"` // path, owner
	After          string      `json:"after,omitempty"`
	Before         string      `json:"before,omitempty"`
	ExcludeFolders []string    `json:"exclude_folders,omitempty"`
	ExcludeClasses []string    `json:"exclude_classes,omitempty"`
	KeepDuplicates bool        `json:"keep_duplicates,omitempty"`
}

// pstPlanOf is the PST part of the plan for rows; nil unless the source is
// found by a scan. The files are as the last collect assigned them.
func (p *Project) pstPlanOf(rows []users.Row) *pstPlan {
	if _, ok := p.scanner(); !ok || p.Store == nil {
		return nil
	}
	f := p.Config.PST.Filters
	plan := &pstPlan{Files: [][2]string{}, After: f.After, Before: f.Before,
		ExcludeFolders: f.ExcludeFolders, ExcludeClasses: f.ExcludeClasses, KeepDuplicates: p.Config.PST.KeepDuplicates}
	files, _ := p.Store.PSTFiles() // an unreadable state is reported by the step itself
	for _, r := range rows {
		for _, pf := range files {
			if pf.Owner == r.SourceUser && pf.Error == "" {
				plan.Files = append(plan.Files, [2]string{pf.Path, pf.Owner})
			}
		}
	}
	slices.SortFunc(plan.Files, func(a, b [2]string) int { return slices.Compare(a[:], b[:]) })
	return plan
}

// diff says what changed in the PST part of a plan, "" if nothing.
func (old *pstPlan) diff(cur *pstPlan) string {
	if old == nil || cur == nil {
		if (old == nil) != (cur == nil) {
			return "the source's PST files"
		}
		return ""
	}
	was := map[string]string{}
	for _, f := range old.Files {
		was[f[0]] = f[1]
	}
	var moved []string
	for _, f := range cur.Files {
		if was[f[0]] != f[1] {
			moved = append(moved, fmt.Sprintf("%s → %s", f[0], f[1]))
		}
		delete(was, f[0])
	}
	for path, u := range was {
		moved = append(moved, fmt.Sprintf("%s no longer %s's", path, u))
	}
	slices.Sort(moved)
	var out []string
	if len(moved) > 0 {
		out = append(out, "PST file owners: "+strings.Join(moved, "; "))
	}
	a, b := *old, *cur
	a.Files, b.Files = nil, nil
	if fmt.Sprint(a) != fmt.Sprint(b) {
		out = append(out, "pst.filters or pst.keep_duplicates")
	}
	return strings.Join(out, "; ")
}
