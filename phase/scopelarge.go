package phase

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mailshift/mailshift/internal/mapping"
	"github.com/mailshift/mailshift/state"
)

// A scope of work of many users stays readable: above scopeDetailUsers
// users it summarises by source server, batch and problem kind, lists the
// largest users only, and lists a user's folder mapping only where it
// departs from the default rules; every user's detail goes into
// reports/scope-of-work-users.csv and .json beside it.
const scopeDetailUsers = 50

// scopeUsersFile is the per-user detail of the scope of work (.csv and
// .json are added).
const scopeUsersFile = "scope-of-work-users"

// writeServers writes a table of the source servers when the users read
// more than one: users, messages, size and software of each.
func (p *Project) writeServers(w func(string, ...any), invs []userInv) {
	type tally struct {
		server       string
		users        int
		msgs, bytes  int64
		failed       int
		software     string
		haveSoftware bool
	}
	var order []*tally
	by := map[string]*tally{}
	for _, ui := range invs {
		s := p.sourceServer(ui.row)
		t := by[s]
		if t == nil {
			t = &tally{server: s}
			by[s] = t
			order = append(order, t)
		}
		t.users++
		t.msgs += ui.msgs
		t.bytes += ui.bytes
		if ui.src.Error != "" {
			t.failed++
		} else if !t.haveSoftware && ui.src.Description.Kind != "" {
			t.software, t.haveSoftware = orDash(ui.src.Description.Server), true
		}
	}
	if len(order) < 2 {
		return
	}
	w("Source servers (the users file's source_url columns or imapsync hosts; the others read `source.url`):\n\n")
	w("| source server | users | messages | size | logins failed | software |\n|---|---|---|---|---|---|\n")
	for _, t := range order {
		w("| %s | %d | %d | %s | %d | %s |\n", orDash(t.server), t.users, t.msgs, FormatBytes(t.bytes), t.failed, orDash(t.software))
	}
	w("\n")
}

// writeBatches writes the users, messages and size of each batch.
func writeBatches(w func(string, ...any), invs []userInv) {
	type tally struct {
		users       int
		msgs, bytes int64
	}
	by := map[string]*tally{}
	for _, ui := range invs {
		t := by[ui.row.Batch]
		if t == nil {
			t = &tally{}
			by[ui.row.Batch] = t
		}
		t.users++
		t.msgs += ui.msgs
		t.bytes += ui.bytes
	}
	names := make([]string, 0, len(by))
	for n := range by {
		names = append(names, n)
	}
	slices.Sort(names)
	w("| batch | users | messages | size |\n|---|---|---|---|\n")
	for _, n := range names {
		w("| %s | %d | %d | %s |\n", orDash(n), by[n].users, by[n].msgs, FormatBytes(by[n].bytes))
	}
}

// defaultRule tells whether a mapping entry follows the default rules
// (INBOX, the hierarchy with the target's separator, special-use roles,
// folders.prefix) rather than an explicit map, an exclusion or a rename
// forced by a name the target cannot hold.
func defaultRule(e mapping.Entry) bool {
	switch {
	case e.Excluded, e.Reason == "map":
		return false
	case e.Reason == "INBOX", e.Reason == "hierarchy", e.Reason == "prefix":
		return true
	}
	return strings.HasPrefix(e.Reason, "special-use") || strings.HasPrefix(e.Reason, "well-known name")
}

// writeMappingDepartures is the folder mapping of a large project: only
// the users whose mapping departs from the default rules, with only the
// departing folders, up to scopeDetailUsers of them.
func (p *Project) writeMappingDepartures(w func(string, ...any), invs []userInv) {
	w("## Folder mapping\n\n")
	w("Exclusions: %s. Explicit mappings: %d. Prefix: %s.\n\n", orDash(strings.Join(p.Config.Folders.Exclude, ", ")), len(p.Config.Folders.Map), orDash(p.Config.Folders.Prefix))
	var departing, failed, usual int
	for _, ui := range invs {
		if ui.src.Error != "" || ui.dst.Error != "" {
			continue
		}
		plan, err := ui.plan, ui.planErr
		var rows []string
		if err != nil {
			failed++
			rows = append(rows, fmt.Sprintf("| *(mapping error)* | | %s |\n", strings.ReplaceAll(err.Error(), "|", "\\|")))
		}
		for _, e := range plan {
			if defaultRule(e) {
				continue
			}
			tgt := e.Target
			if e.Excluded {
				tgt = "*(excluded)*"
			}
			rows = append(rows, fmt.Sprintf("| %s | %s | %s |\n", e.Source, tgt, e.Reason))
		}
		if len(rows) == 0 {
			usual++
			continue
		}
		departing++
		if departing > scopeDetailUsers {
			continue
		}
		w("### %s\n\n| source folder | target folder | why |\n|---|---|---|\n%s\n", ui.row.SourceUser, strings.Join(rows, ""))
	}
	w("%d users' folders all follow the default rules (INBOX, the hierarchy with the target's separator, special-use roles, folders.prefix) and are not listed. %d users depart from them in some folders", usual, departing)
	if departing > scopeDetailUsers {
		w(" (the first %d are listed above)", scopeDetailUsers)
	}
	if failed > 0 {
		w("; %d cannot be mapped", failed)
	}
	w(". Every user's folders: `reports/%s.json`.\n\n", scopeUsersFile)
}

// writeProblemSummary writes the problems of a large project by kind
// (writeProblemKinds), then the first scopeDetailUsers problems.
func writeProblemSummary(w func(string, ...any), problems []state.Problem) {
	writeProblemKinds(w, problems)
	if len(problems) > scopeDetailUsers {
		w("The first %d of %d problems (every one: `reports/%s.csv` and `.json`, and `mailshift report`):\n\n", scopeDetailUsers, len(problems), scopeUsersFile)
		problems = problems[:scopeDetailUsers]
	}
	w("| user | kind | folder | problem | what will be done |\n|---|---|---|---|---|\n")
	for _, pr := range problems {
		w("| %s | %s | %s | %s | %s |\n", pr.User, pr.Kind, orDash(pr.Folder), pr.Detail, pr.Action)
	}
	w("\n")
}

// writeProblemKinds writes a table of the problems by kind: how many, of
// how many users, and what will be done, the most frequent kind first.
func writeProblemKinds(w func(string, ...any), problems []state.Problem) {
	type tally struct {
		n      int
		users  map[string]bool
		action string
	}
	var kinds []string
	by := map[string]*tally{}
	for _, pr := range problems {
		t := by[pr.Kind]
		if t == nil {
			t = &tally{users: map[string]bool{}, action: pr.Action}
			by[pr.Kind] = t
			kinds = append(kinds, pr.Kind)
		}
		t.n++
		t.users[pr.User] = true
	}
	slices.SortFunc(kinds, func(a, b string) int { return by[b].n - by[a].n })
	w("| kind | problems | users | what will be done (first of the kind) |\n|---|---|---|---|\n")
	for _, k := range kinds {
		w("| %s | %d | %d | %s |\n", k, by[k].n, len(by[k].users), by[k].action)
	}
	w("\n")
}

// ScopeUser is one user's line of the scope of work's per-user detail
// (reports/scope-of-work-users.json and .csv).
type ScopeUser struct {
	SourceUser   string          `json:"source_user"`
	TargetUser   string          `json:"target_user"`
	Batch        string          `json:"batch"`
	SourceServer string          `json:"source_server"`
	Folders      int             `json:"source_folders"`
	Messages     int64           `json:"source_messages"`
	Bytes        int64           `json:"source_bytes"`
	LoginFailed  bool            `json:"login_failed"`
	Problems     []state.Problem `json:"problems"`
	Mapping      []mapping.Entry `json:"folder_mapping"`
}

// writeScopeUsers writes every user's detail of the scope of work as JSON
// and CSV under the reports directory.
func (p *Project) writeScopeUsers(invs []userInv, problems []state.Problem) error {
	byUser := map[string][]state.Problem{}
	for _, pr := range problems {
		byUser[pr.User] = append(byUser[pr.User], pr)
	}
	out := make([]ScopeUser, 0, len(invs))
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.Write([]string{"source_user", "target_user", "batch", "source_server", "source_folders", "source_messages", "source_bytes", "login_failed", "problems", "folders_departing_from_default_rules"})
	for _, ui := range invs {
		su := ScopeUser{SourceUser: ui.row.SourceUser, TargetUser: ui.row.TargetUser, Batch: ui.row.Batch, SourceServer: p.sourceServer(ui.row),
			Folders: ui.folders, Messages: ui.msgs, Bytes: ui.bytes, LoginFailed: ui.src.Error != "" || ui.dst.Error != "",
			Problems: byUser[ui.row.SourceUser], Mapping: []mapping.Entry{}}
		if su.Problems == nil {
			su.Problems = []state.Problem{}
		}
		departing := 0
		if !su.LoginFailed {
			if plan, err := ui.plan, ui.planErr; err == nil {
				su.Mapping = plan
				for _, e := range plan {
					if !defaultRule(e) {
						departing++
					}
				}
			}
		}
		out = append(out, su)
		cw.Write([]string{su.SourceUser, su.TargetUser, su.Batch, su.SourceServer, strconv.Itoa(su.Folders), strconv.FormatInt(su.Messages, 10),
			strconv.FormatInt(su.Bytes, 10), strconv.FormatBool(su.LoginFailed), strconv.Itoa(len(su.Problems)), strconv.Itoa(departing)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	// One user a line: a tenth of the size of an indented array, and
	// still read line by line by people and tools alike.
	var js strings.Builder
	js.WriteString("[\n")
	for i, su := range out {
		b, err := json.Marshal(su)
		if err != nil {
			return err
		}
		js.Write(b)
		if i < len(out)-1 {
			js.WriteString(",")
		}
		js.WriteString("\n")
	}
	js.WriteString("]\n")
	if _, err := p.writeReport(scopeUsersFile+".json", js.String()); err != nil {
		return err
	}
	_, err := p.writeReport(scopeUsersFile+".csv", buf.String())
	return err
}
