package phase

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
)

// planJSON is the plan for rows as an approval records it.
func (p *Project) planJSON(rows []users.Row) string {
	b, _ := json.Marshal(p.planOf(rows))
	return string(b)
}

// planChanges says what changed in an approval's plan: the users it
// covered (removed from the users file, rows changed), the endpoints, the
// folder mapping. Approvals recorded before plans were kept can only say
// where to look.
func (p *Project) planChanges(a state.Approval) string {
	var old planInput
	if a.Plan == "" || json.Unmarshal([]byte(a.Plan), &old) != nil {
		return "its row of the users file, the endpoints or the folder mapping"
	}
	covered := map[string]bool{}
	for _, u := range a.Users {
		covered[u] = true
	}
	var rows []users.Row
	for _, r := range p.Users {
		if covered[r.SourceUser] {
			rows = append(rows, r)
		}
	}
	changes := diffPlans(old, p.planOf(rows))
	if len(changes) == 0 {
		return "its row of the users file, the endpoints or the folder mapping"
	}
	return strings.Join(changes, "; ")
}

// diffPlans lists what differs between two plans, for people.
func diffPlans(old, cur planInput) []string {
	var out []string
	oldRows := map[string][3]string{}
	for _, u := range old.Users {
		oldRows[u[0]] = u
	}
	curRows := map[string][3]string{}
	for _, u := range cur.Users {
		curRows[u[0]] = u
	}
	var added, removed, changed []string
	for _, u := range cur.Users {
		o, ok := oldRows[u[0]]
		switch {
		case !ok:
			added = append(added, u[0])
		case o != u:
			changed = append(changed, fmt.Sprintf("%s (target %s → %s, batch %q → %q)", u[0], o[1], u[1], o[2], u[2]))
		}
	}
	for _, u := range old.Users {
		if _, ok := curRows[u[0]]; !ok {
			removed = append(removed, u[0])
		}
	}
	if len(added) > 0 {
		out = append(out, "users added: "+abbreviate(added, 5))
	}
	if len(removed) > 0 {
		out = append(out, "users removed from the users file: "+abbreviate(removed, 5))
	}
	if len(changed) > 0 {
		out = append(out, "rows changed: "+abbreviate(changed, 3))
	}
	if d := serversDiff(old.Servers, cur.Servers, curRows); d != "" {
		out = append(out, d)
	}
	if old.Source != cur.Source {
		out = append(out, fmt.Sprintf("source.url %s → %s", redactURL(old.Source), redactURL(cur.Source)))
	}
	if old.Target != cur.Target {
		out = append(out, fmt.Sprintf("target.url %s → %s", redactURL(old.Target), redactURL(cur.Target)))
	}
	if a, r := setDiff(old.Exclude, cur.Exclude); len(a)+len(r) > 0 {
		out = append(out, "folders.exclude"+describeSetDiff(a, r))
	}
	if d := mapDiff(old.Map, cur.Map); d != "" {
		out = append(out, "folders.map "+d)
	}
	if old.Prefix != cur.Prefix {
		out = append(out, fmt.Sprintf("folders.prefix %q → %q", old.Prefix, cur.Prefix))
	}
	if d := old.PST.diff(cur.PST); d != "" {
		out = append(out, d)
	}
	return out
}

// serversDiff names the users of the current plan (listed) whose own
// endpoints changed.
func serversDiff(old, cur map[string][2]string, listed map[string][3]string) string {
	var changed []string
	for u, c := range cur {
		if o := old[u]; o != c {
			changed = append(changed, fmt.Sprintf("%s (source %s → %s, target %s → %s)", u,
				orConfig(o[0], "source.url"), orConfig(c[0], "source.url"), orConfig(o[1], "target.url"), orConfig(c[1], "target.url")))
		}
	}
	for u, o := range old {
		if _, ok := cur[u]; !ok && listed[u] != [3]string{} {
			changed = append(changed, fmt.Sprintf("%s (source %s → source.url, target %s → target.url)", u, orConfig(o[0], "source.url"), orConfig(o[1], "target.url")))
		}
	}
	if len(changed) == 0 {
		return ""
	}
	slices.Sort(changed)
	return "users' servers changed: " + abbreviate(changed, 3)
}

// orConfig is a user's own endpoint (redacted), or the key of the
// configuration's.
func orConfig(s, key string) string {
	if s == "" {
		return key
	}
	return redactURL(s)
}

// setDiff returns what cur has that old lacks, and the other way round.
func setDiff(old, cur []string) (added, removed []string) {
	for _, v := range cur {
		if !slices.Contains(old, v) {
			added = append(added, fmt.Sprintf("%q", v))
		}
	}
	for _, v := range old {
		if !slices.Contains(cur, v) {
			removed = append(removed, fmt.Sprintf("%q", v))
		}
	}
	return added, removed
}

func describeSetDiff(added, removed []string) string {
	var parts []string
	if len(added) > 0 {
		parts = append(parts, "added "+strings.Join(added, ", "))
	}
	if len(removed) > 0 {
		parts = append(parts, "removed "+strings.Join(removed, ", "))
	}
	return " " + strings.Join(parts, ", ")
}

// mapDiff describes the entries of folders.map added, removed or changed.
func mapDiff(old, cur map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(cur) {
		if v, ok := old[k]; !ok {
			parts = append(parts, fmt.Sprintf("added %q: %q", k, cur[k]))
		} else if v != cur[k] {
			parts = append(parts, fmt.Sprintf("changed %q: %q → %q", k, v, cur[k]))
		}
	}
	for _, k := range sortedKeys(old) {
		if _, ok := cur[k]; !ok {
			parts = append(parts, fmt.Sprintf("removed %q", k))
		}
	}
	return strings.Join(parts, ", ")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// redactURL shows an endpoint without any password in it.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return u.Redacted()
	}
	return raw
}
