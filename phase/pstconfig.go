package phase

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

// PSTConfig is the configuration of a pstscan: source: who owns each file
// found, what is left out before ingestion, and what becomes of a file
// after its owner's cutover.
type PSTConfig struct {
	// OwnerRules are tried in order for each file; each is a map with one
	// key: path ("/home/{user}/**", {user} the users file's source user),
	// file_owner (a column of the users file that holds the user's name
	// or uid on the file server), store_name (true: the store's display
	// name is the user's) or addresses (true: the addresses that occur
	// most in the file are the user's).
	OwnerRules []map[string]any `mapstructure:"owner_rules"`
	// Owners is a CSV file of path,user rows that assign files whatever
	// the rules say.
	Owners string `mapstructure:"owners"`
	// Retire says what becomes of a file once its owner's cutover has
	// verified it: "" (nothing), "marker" (a file PATH.migrated beside
	// it) or "move:DIR" (moved into DIR).
	Retire string `mapstructure:"retire"`
	// KeepDuplicates turns deduplication off: every copy of a message in
	// a user's files, and those the target holds already, is migrated.
	KeepDuplicates bool       `mapstructure:"keep_duplicates"`
	Filters        PSTFilters `mapstructure:"filters"`
}

// PSTFilters leave items of PST files out before ingestion.
type PSTFilters struct {
	After  string `mapstructure:"after"`  // YYYY-MM-DD: items older are left out
	Before string `mapstructure:"before"` // YYYY-MM-DD: items from this day on are left out
	// ExcludeFolders are patterns of folder names inside the files
	// ("Deleted Items", "Junk*", "Inbox/Old/**"), matched without regard
	// to case.
	ExcludeFolders []string `mapstructure:"exclude_folders"`
	// ExcludeClasses are patterns of message classes ("IPM.Note.SMIME",
	// "REPORT.*"), matched without regard to case.
	ExcludeClasses []string `mapstructure:"exclude_classes"`
}

// ownerRule is one of pst.owner_rules, parsed.
type ownerRule struct {
	kind string         // path | file_owner | store_name | addresses
	arg  string         // the template or column
	re   *regexp.Regexp // path: the template as a pattern, {user} captured
}

// name is how the rule is named where an assignment is recorded.
func (r ownerRule) name() string {
	if r.arg != "" {
		return r.kind + " " + r.arg
	}
	return r.kind
}

// rules parses pst.owner_rules.
func (c PSTConfig) rules() ([]ownerRule, error) {
	var out []ownerRule
	for i, m := range c.OwnerRules {
		key := fmt.Sprintf("pst.owner_rules[%d]", i)
		if len(m) != 1 {
			return nil, &ConfigError{key, "each rule is a map with one key: path, file_owner, store_name or addresses"}
		}
		for k, v := range m {
			r, err := parseOwnerRule(strings.ToLower(k), v)
			if err != nil {
				return nil, &ConfigError{key + "." + k, err.Error()}
			}
			out = append(out, r)
		}
	}
	return out, nil
}

func parseOwnerRule(kind string, v any) (ownerRule, error) {
	switch kind {
	case "path":
		s, ok := v.(string)
		if !ok || !strings.Contains(s, "{user}") {
			return ownerRule{}, fmt.Errorf("%v: a path template with {user}, e.g. \"/home/{user}/**\"", v)
		}
		return ownerRule{kind: kind, arg: s, re: templatePattern(s)}, nil
	case "file_owner":
		s, ok := v.(string)
		if !ok || strings.TrimSpace(s) == "" {
			return ownerRule{}, fmt.Errorf("%v: name the users file's column that holds each user's name or uid on the file server", v)
		}
		return ownerRule{kind: kind, arg: strings.TrimSpace(s)}, nil
	case "store_name", "addresses":
		if b, ok := v.(bool); !ok || !b {
			return ownerRule{}, fmt.Errorf("%v: write %s: true, or leave the rule out", v, kind)
		}
		return ownerRule{kind: kind}, nil
	}
	return ownerRule{}, fmt.Errorf("unknown rule; the rules are path, file_owner, store_name and addresses")
}

// templatePattern turns a path template into a pattern of whole paths:
// {user} is one path component, captured; ** any run of characters; * and
// ? within one component. "\" is "/" (Windows shares).
func templatePattern(t string) *regexp.Regexp {
	t = strings.ReplaceAll(t, `\`, "/")
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(t); {
		switch {
		case strings.HasPrefix(t[i:], "{user}"):
			b.WriteString("([^/]+)")
			i += len("{user}")
		case strings.HasPrefix(t[i:], "**"):
			b.WriteString(".*")
			i += 2
		case t[i] == '*':
			b.WriteString("[^/]*")
			i++
		case t[i] == '?':
			b.WriteString("[^/]")
			i++
		default:
			b.WriteString(regexp.QuoteMeta(t[i : i+1]))
			i++
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// ExtraColumns are the users file's columns the configuration uses beyond
// the standard ones (pst.owner_rules' file_owner), for users.Load.
func (c *Config) ExtraColumns() []string {
	rules, _ := c.PST.rules()
	var out []string
	for _, r := range rules {
		if r.kind == "file_owner" && !slices.Contains(out, r.arg) {
			out = append(out, r.arg)
		}
	}
	return out
}

// retire parses pst.retire: how ("", "marker" or "move") and the
// directory of move.
func (c PSTConfig) retire() (how, dir string) {
	if c.Retire == "marker" {
		return "marker", ""
	}
	if d, ok := strings.CutPrefix(c.Retire, "move:"); ok {
		return "move", d
	}
	return "", ""
}

// dates parses the filters' dates; zero for those not set.
func (f PSTFilters) dates() (after, before time.Time, err error) {
	for _, d := range []struct {
		key string
		v   string
		t   *time.Time
	}{{"after", f.After, &after}, {"before", f.Before, &before}} {
		if d.v == "" {
			continue
		}
		if *d.t, err = time.Parse(time.DateOnly, d.v); err != nil {
			return after, before, &ConfigError{"pst.filters." + d.key, fmt.Sprintf("%q: not a date; write e.g. 2015-01-01", d.v)}
		}
	}
	if !after.IsZero() && !before.IsZero() && !after.Before(before) {
		return after, before, &ConfigError{"pst.filters.before", fmt.Sprintf("%s is not after pst.filters.after %s: every item would be left out", f.Before, f.After)}
	}
	return after, before, nil
}

// validate checks the pst section.
func (c PSTConfig) validate() error {
	if _, err := c.rules(); err != nil {
		return err
	}
	if how, dir := c.retire(); c.Retire != "" && (how == "" || how == "move" && strings.TrimSpace(dir) == "") {
		return &ConfigError{"pst.retire", fmt.Sprintf("%q: write marker (a file PATH.migrated beside each migrated file) or move:DIR", c.Retire)}
	}
	if _, _, err := c.Filters.dates(); err != nil {
		return err
	}
	for key, pats := range map[string][]string{"exclude_folders": c.Filters.ExcludeFolders, "exclude_classes": c.Filters.ExcludeClasses} {
		for i, p := range pats {
			if _, err := path.Match(strings.ToLower(p), ""); err != nil {
				return &ConfigError{fmt.Sprintf("pst.filters.%s[%d]", key, i), fmt.Sprintf("%q: %v", p, err)}
			}
		}
	}
	return nil
}
