package phase

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
)

// PSTFileReport is what became of one PST file a pstscan: source found:
// its items found, migrated, left out as duplicates or by a filter, and
// failed, with the reasons.
type PSTFileReport struct {
	Path        string   `json:"path"`
	Owner       string   `json:"owner"`
	Rule        string   `json:"rule"`
	Candidates  []string `json:"candidates"`
	Error       string   `json:"error"`
	Format      string   `json:"format"`
	Encoding    string   `json:"encoding"`
	HasPassword bool     `json:"has_password"`
	StoreName   string   `json:"store_name"`
	Size        int64    `json:"size"`
	// Found counts every item of the file (mail and other); Mail the
	// mail items, which are migrated unless left out.
	Found        int64            `json:"items_found"`
	Classes      map[string]int   `json:"classes"`
	Mail         int64            `json:"mail_items"`
	Migrated     int64            `json:"migrated"`
	Deduplicated int64            `json:"deduplicated"`
	Filtered     int64            `json:"filtered"`
	Failed       int64            `json:"failed"`
	Reasons      map[string]int64 `json:"reasons"` // why items were left out or failed, with how many
	First        time.Time        `json:"first"`
	Last         time.Time        `json:"last"`
	Retired      string           `json:"retired"` // "", or how and where
}

// pstFileReports gathers the reports of every PST file found, those of the
// users of rows with their items' fates, unassigned and unreadable ones
// as found.
func (p *Project) pstFileReports(rows []users.Row) ([]PSTFileReport, error) {
	files, err := p.Store.PSTFiles()
	if err != nil {
		return nil, err
	}
	byPath := map[string]*PSTFileReport{}
	want := map[string]bool{}
	for _, r := range rows {
		want[r.SourceUser] = true
	}
	out := make([]PSTFileReport, 0, len(files))
	for _, f := range files {
		if f.Owner != "" && !want[f.Owner] {
			continue
		}
		out = append(out, newPSTFileReport(f))
	}
	for i := range out {
		byPath[out[i].Path] = &out[i]
	}
	for _, r := range rows {
		if err := p.addPSTItems(r.SourceUser, byPath); err != nil {
			return nil, err
		}
	}
	if err := p.addPSTSkips(want, byPath); err != nil {
		return nil, err
	}
	return out, nil
}

// addPSTSkips counts the items of each file collect could not read as
// failed, and the items that are not mail (contacts, calendar items,
// tasks), which are not migrated, with their reasons.
func (p *Project) addPSTSkips(want map[string]bool, byPath map[string]*PSTFileReport) error {
	problems, err := p.Store.Problems()
	if err != nil {
		return err
	}
	for _, pr := range problems {
		if !want[pr.User] || pr.Kind != "skipped" || !strings.Contains(pr.Detail, ": unreadable: ") {
			continue
		}
		for path, rep := range byPath {
			if strings.Contains(pr.Detail, path+": ") {
				rep.Failed++
				rep.Reasons["unreadable item (see the problems of collect)"]++
			}
		}
	}
	for _, rep := range byPath {
		if rep.Owner == "" || rep.Error != "" {
			continue
		}
		unreadable := int64(rep.Classes["unreadable"])
		if n := rep.Found - rep.Mail - unreadable; n > 0 {
			rep.Reasons["not mail (contacts, calendar items, tasks, ...): not migrated"] = n
		}
	}
	return nil
}

func newPSTFileReport(f state.PSTFile) PSTFileReport {
	rep := PSTFileReport{Path: f.Path, Owner: f.Owner, Rule: f.Rule, Candidates: f.Candidates, Error: f.Error,
		Format: f.Record.Format, Encoding: f.Record.Encoding, HasPassword: f.Record.HasPassword, StoreName: f.Record.StoreName,
		Size: f.Record.Size, Classes: f.Record.Classes, First: f.Record.First, Last: f.Record.Last, Reasons: map[string]int64{}}
	if rep.Candidates == nil {
		rep.Candidates = []string{}
	}
	if rep.Classes == nil {
		rep.Classes = map[string]int{}
	}
	for _, n := range f.Record.Classes {
		rep.Found += int64(n)
	}
	if f.RetireState == state.RetireDone {
		rep.Retired = f.RetireHow + " " + f.RetiredTo
	} else if f.RetireState != "" {
		rep.Retired = f.RetireState
	}
	return rep
}

// addPSTItems adds user's items' fates to the reports of their files.
func (p *Project) addPSTItems(user string, byPath map[string]*PSTFileReport) error {
	items, err := p.Store.PSTItems(user)
	if err != nil {
		return err
	}
	if len(items) == 0 {
		return nil
	}
	pairs, err := p.Store.UserPairs(user)
	if err != nil {
		return err
	}
	fate := map[string]state.Pair{}
	for _, pr := range pairs {
		fate[pr.SourceFolder+"\x00"+pr.SourceKey] = pr
	}
	for _, it := range items {
		rep := byPath[it.Path]
		if rep == nil {
			continue
		}
		rep.Mail++
		switch it.Decision {
		case state.PSTDuplicate:
			rep.Deduplicated++
			rep.Reasons[duplicateReason(it)]++
		case state.PSTFiltered:
			rep.Filtered++
			rep.Reasons[it.Reason]++
		default:
			switch pr := fate[it.Folder+"\x00"+it.Key]; pr.Status {
			case state.Copied:
				rep.Migrated++
			case state.Failed:
				rep.Failed++
				rep.Reasons["failed: "+pr.Error]++
			}
		}
	}
	return nil
}

// duplicateReason groups duplicates by what they duplicate: another file,
// the same file, or the target.
func duplicateReason(it state.PSTItem) string {
	if it.DupOf == "" {
		return "duplicate: " + it.Reason
	}
	return "duplicate of a message in another copy or folder"
}

// renderPSTFilesCSV renders reports/pst-files.csv.
func renderPSTFilesCSV(reps []PSTFileReport) (string, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	// Columns are only ever added at the end.
	w.Write([]string{"path", "owner", "rule", "error", "format", "encoding", "password", "store_name", "size",
		"items_found", "mail_items", "migrated", "deduplicated", "filtered", "failed", "reasons", "first", "last", "retired"})
	for _, r := range reps {
		w.Write([]string{r.Path, r.Owner, r.Rule, r.Error, r.Format, r.Encoding, strconv.FormatBool(r.HasPassword), r.StoreName,
			strconv.FormatInt(r.Size, 10), strconv.FormatInt(r.Found, 10), strconv.FormatInt(r.Mail, 10),
			strconv.FormatInt(r.Migrated, 10), strconv.FormatInt(r.Deduplicated, 10), strconv.FormatInt(r.Filtered, 10),
			strconv.FormatInt(r.Failed, 10), reasonsText(r.Reasons), dateText(r.First), dateText(r.Last), r.Retired})
	}
	w.Flush()
	return buf.String(), w.Error()
}

// reasonsText writes reasons with their counts, most first.
func reasonsText(m map[string]int64) string {
	type rc struct {
		r string
		n int64
	}
	var l []rc
	for r, n := range m {
		l = append(l, rc{r, n})
	}
	slices.SortFunc(l, func(a, b rc) int {
		if a.n != b.n {
			return int(b.n - a.n)
		}
		return strings.Compare(a.r, b.r)
	})
	var parts []string
	for _, x := range l {
		parts = append(parts, fmt.Sprintf("%d %s", x.n, x.r))
	}
	return strings.Join(parts, "; ")
}

func dateText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

// writePSTFiles writes the scope of work's section on the PST files: what
// was found, who owns each and by which rule, the files waiting for a
// decision, the unreadable ones, and what the filters and deduplication
// leave out of each.
func (p *Project) writePSTFiles(w func(string, ...any), rows []users.Row) error {
	if _, ok := p.scanner(); !ok {
		return nil
	}
	reps, err := p.pstFileReports(rows)
	if err != nil {
		return err
	}
	w("## PST files\n\n")
	var owned, waiting, unreadable []PSTFileReport
	for _, r := range reps {
		switch {
		case r.Error != "":
			unreadable = append(unreadable, r)
		case r.Owner == "":
			waiting = append(waiting, r)
		default:
			owned = append(owned, r)
		}
	}
	w("%d files found under `%s`: %d assigned to a user, %d waiting for a decision, %d unreadable.\n\n",
		len(reps), redactURL(p.Config.Source.URL), len(owned), len(waiting), len(unreadable))
	p.writePSTChoices(w)
	if len(owned) > 0 {
		w("| file | owner | rule | format | password | store | mail | dates | migrated | duplicates left out | filtered |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range owned {
			w("| %s | %s | %s | %s, %s | %s | %s | %d | %s – %s | %d | %d | %d |\n", cell(r.Path), r.Owner, cell(r.Rule), r.Format, r.Encoding,
				yesNo(r.HasPassword), cell(r.StoreName), r.Mail, orDash(dateText(r.First)), orDash(dateText(r.Last)), r.Migrated, r.Deduplicated, r.Filtered)
		}
		w("\n")
	}
	if len(waiting) > 0 {
		w("### Waiting for a decision\n\n")
		where := "a CSV file named by `pst.owners`"
		if p.Config.PST.Owners != "" {
			where = "`" + p.Config.PST.Owners + "` (`pst.owners`)"
		}
		w("No rule names one owner for these files; nothing else waits for them. Name each owner with a `path,user` row in %s, then run `mailshift collect` and `mailshift approve` again.\n\n", where)
		w("| file | why | candidates | store | top addresses |\n|---|---|---|---|---|\n")
		for _, r := range waiting {
			w("| %s | %s | %s | %s | %s |\n", cell(r.Path), cell(r.Rule), orDash(strings.Join(r.Candidates, ", ")), cell(r.StoreName), cell(p.topAddresses(r.Path)))
		}
		w("\n")
	}
	if len(unreadable) > 0 {
		w("### Unreadable files\n\n")
		w("| file | owner | reason |\n|---|---|---|\n")
		for _, r := range unreadable {
			w("| %s | %s | %s |\n", cell(r.Path), orDash(r.Owner), cell(r.Error))
		}
		w("\n")
	}
	return nil
}

// writePSTChoices states the pre-ingestion choices.
func (p *Project) writePSTChoices(w func(string, ...any)) {
	f := p.Config.PST.Filters
	w("Pre-ingestion choices:\n\n")
	if p.Config.PST.KeepDuplicates {
		w("- Duplicates: kept (`pst.keep_duplicates`): every copy is migrated.\n")
	} else {
		w("- Duplicates: left out. A message is a duplicate when an earlier one of the user's files, or the target mailbox, holds the same Message-ID with the same size and date (the same content, without a Message-ID).\n")
	}
	if f.After != "" {
		w("- Dates: items dated before %s are left out (`pst.filters.after`).\n", f.After)
	}
	if f.Before != "" {
		w("- Dates: items dated on or after %s are left out (`pst.filters.before`).\n", f.Before)
	}
	if f.After == "" && f.Before == "" {
		w("- Dates: all.\n")
	}
	if len(f.ExcludeFolders) > 0 {
		w("- Folders left out (`pst.filters.exclude_folders`): %s.\n", strings.Join(f.ExcludeFolders, ", "))
	} else {
		w("- Folders: all.\n")
	}
	if len(f.ExcludeClasses) > 0 {
		w("- Item classes left out (`pst.filters.exclude_classes`): %s.\n", strings.Join(f.ExcludeClasses, ", "))
	} else {
		w("- Item classes: all mail.\n")
	}
	switch how, dir := p.Config.PST.retire(); how {
	case "move":
		w("- After a user's cutover verified their files, each is moved to `%s` (`pst.retire`).\n", dir)
	case "marker":
		w("- After a user's cutover verified their files, a marker `FILE.migrated` is written beside each (`pst.retire`).\n")
	default:
		w("- Files stay where they are after the cutover (`pst.retire` is not set).\n")
	}
	w("\n")
}

// topAddresses are a file's most frequent addresses, for a person deciding
// who owns it.
func (p *Project) topAddresses(path string) string {
	files, err := p.Store.PSTFiles()
	if err != nil {
		return ""
	}
	for _, f := range files {
		if f.Path == path {
			var parts []string
			for _, a := range slices.Concat(f.Record.Inbox, f.Record.Sent)[:min(3, len(f.Record.Inbox)+len(f.Record.Sent))] {
				parts = append(parts, fmt.Sprintf("%s (%d)", a.Address, a.Count))
			}
			return strings.Join(parts, ", ")
		}
	}
	return ""
}

// cell makes text safe in a Markdown table cell.
func cell(s string) string {
	if s == "" {
		return "–"
	}
	return strings.ReplaceAll(s, "|", "\\|")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// writePSTFiles writes the report's section on the PST files: per file,
// items found, migrated, deduplicated, filtered and failed, with reasons.
func (r Report) writePSTFiles(b *strings.Builder) {
	if len(r.PSTFiles) == 0 {
		return
	}
	fmt.Fprintf(b, "\n## PST files (%d)\n\n", len(r.PSTFiles))
	b.WriteString("| file | owner | items found | mail | migrated | deduplicated | filtered | failed | reasons | retired |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, f := range r.PSTFiles {
		reasons := reasonsText(f.Reasons)
		if f.Error != "" {
			reasons = "unreadable: " + f.Error
		} else if f.Owner == "" {
			reasons = "no owner: " + f.Rule
		}
		fmt.Fprintf(b, "| %s | %s | %d | %d | %d | %d | %d | %d | %s | %s |\n", cell(f.Path), orDash(f.Owner), f.Found, f.Mail,
			f.Migrated, f.Deduplicated, f.Filtered, f.Failed, cell(reasons), orDash(f.Retired))
	}
}
