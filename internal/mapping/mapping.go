// Package mapping owns the folder mapping: which source folder goes to which
// target folder, which are left out, and why. It is pure logic over the
// folder lists of both endpoints and the folders.* configuration; it does no
// I/O.
//
// The rules, in order of precedence:
//
//  1. folders.map: an explicit pair sends a source folder (and, unless they
//     have pairs of their own, its subfolders) to the target folder named.
//     It wins over everything below, exclusions included, and it is the only
//     way to merge two source folders into one target folder.
//  2. folders.exclude: a folder matching a pattern is left out (see
//     ValidPattern for the syntax). Its subfolders are not, unless a pattern
//     matches them too ("Archive/**").
//  3. INBOX, whatever its case, is INBOX.
//  4. Roles (\Sent \Drafts \Trash \Junk \Archive): the source folder marked
//     with a special-use attribute goes to the target's folder of the same
//     role. If the source marks no folder with a role, the folder with a
//     well-known name of that role plays it ("Sent", "Sent Items",
//     "Gesendete Elemente", "[Gmail]/Sent Mail", ...), the plain English name
//     first. One folder per role; the others keep their own names. The
//     target's role folder is the one marked with the role, else the
//     existing folder with a well-known name, else the plain English name
//     ("Sent"), to be created. \All and \Flagged are not mapped by role.
//  5. Otherwise the hierarchy is kept: the target's delimiter stands for the
//     source's, a target delimiter inside a name component becomes "_", and
//     a folder goes below its parent's target folder, so the subfolders of a
//     role folder follow it ("Gesendete Elemente/2019" to "Sent/2019").
//
// With folders.prefix every folder, INBOX included, keeps its hierarchy
// under the prefix ("Archive2019/INBOX", "Archive2019/Sent Items"), and no
// role is resolved; folders.map targets are taken as written, without the
// prefix.
//
// Two source folders never land in one target folder unless folders.map
// says so. When a folder that keeps its own name would land in a folder
// taken by INBOX or a role folder (a plain "Sent" on a source whose \Sent is
// "Gesendete Elemente"), it is renamed with a numeric suffix: "Sent (2)".
// Any other clash, such as "a.b" and "a_b" both becoming "a_b" on a target
// with ".", is an error that asks for a folders.map entry.
package mapping

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mailshift/mailshift/internal/mailbox"
)

// Config is the folders.* part of the configuration.
type Config struct {
	// Exclude lists patterns of source folders to leave out; see
	// ValidPattern for the syntax.
	Exclude []string
	// Map sends source folders to target folders explicitly, both written
	// with "/" as the separator whatever the endpoints use, e.g.
	// "Gesendete Objekte/2019": "Archive/Sent 2019". Subfolders of a mapped
	// folder follow it. A pair for a folder a mailbox does not have is
	// ignored, so one map can serve every user.
	Map map[string]string
	// Prefix, written with "/" as the separator, puts every folder under one
	// target folder, e.g. "Imported" for PST imports: INBOX goes to
	// "Imported/INBOX" and "Projects/A" to "Imported/Projects/A". With a
	// prefix no folder is mapped by role.
	Prefix string
}

// Validate checks the patterns, the map pairs and the prefix, and says which
// one is wrong.
func (c Config) Validate() error {
	_, err := compile(c)
	return err
}

// Endpoint is one side of a mailbox as the mapping needs it.
type Endpoint struct {
	// Delimiter is the hierarchy separator of the endpoint's folder names;
	// 0 for a flat namespace, where a name is one component (on a flat
	// target, the components of a source name are joined with "/").
	Delimiter rune
	// Folders lists the endpoint's folders, named as the endpoint names
	// them without its personal namespace prefix, in Unicode.
	Folders []mailbox.Folder
}

// Entry is the mapping of one source folder. Entries are JSON-marshalable
// with stable field names so that a plan can be stored and hashed.
type Entry struct {
	// Source is the source folder's name as the source names it.
	Source string `json:"source"`
	// Target is the target folder's name with the target's delimiter; ""
	// when the folder is excluded.
	Target string `json:"target"`
	// Role is the special-use role (mailbox.RoleSent, ...) the folder plays
	// on the target, "" if none.
	Role string `json:"role"`
	// Excluded is true when the folder is left out.
	Excluded bool `json:"excluded"`
	// Reason says why the folder is mapped or left out this way: "INBOX",
	// "map", `special-use \Sent`, `well-known name for \Sent`, "hierarchy"
	// (the hierarchy kept, nothing else applied), "prefix",
	// `hierarchy, renamed: ...` or `exclude pattern "Spam/**"`.
	Reason string `json:"reason"`
	// Create is true when the target folder does not exist yet (or exists
	// only as a \Noselect hierarchy node). It reflects the target at
	// planning time and changes once the folder is created; a plan hash
	// meant to stay valid across runs should leave it out.
	Create bool `json:"create"`
}

// CollisionError reports source folders that would land in one target
// folder without folders.map saying so.
type CollisionError struct {
	Target  string   // the target folder's name
	Sources []string // the source folders' names, sorted
}

func (e *CollisionError) Error() string {
	q := make([]string, len(e.Sources))
	for i, s := range e.Sources {
		q[i] = fmt.Sprintf("%q", s)
	}
	var list string
	if len(q) == 2 {
		list = q[0] + " and " + q[1] + " both map"
	} else {
		list = strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1] + " all map"
	}
	return fmt.Sprintf("source folders %s to target folder %q; add a folders.map entry that sends one of them elsewhere", list, e.Target)
}

// compiled is a validated Config.
type compiled struct {
	exclude []pattern
	maps    map[string][]string // normalized "/" source key -> target components (not yet sanitized)
	prefix  []string            // nil without a prefix
}

func compile(c Config) (compiled, error) {
	var out compiled
	for _, p := range c.Exclude {
		cp, err := compilePattern(p)
		if err != nil {
			return out, fmt.Errorf("folders.exclude: %w", err)
		}
		out.exclude = append(out.exclude, cp)
	}
	out.maps = make(map[string][]string, len(c.Map))
	keys := make([]string, 0, len(c.Map))
	for k := range c.Map {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	seen := make(map[string]string, len(keys))
	for _, k := range keys {
		v := c.Map[k]
		kc, err := splitSlash(k)
		if err != nil {
			return out, fmt.Errorf("folders.map: source folder %q: %w", k, err)
		}
		vc, err := splitSlash(v)
		if err != nil {
			return out, fmt.Errorf("folders.map: target folder %q (for %q): %w", v, k, err)
		}
		normalizeInbox(kc)
		normalizeInbox(vc)
		nk := strings.Join(kc, "/")
		if other, dup := seen[nk]; dup {
			return out, fmt.Errorf("folders.map: %q and %q name the same source folder; keep one", other, k)
		}
		seen[nk] = k
		out.maps[nk] = vc
	}
	if c.Prefix != "" {
		pc, err := splitSlash(c.Prefix)
		if err != nil {
			return out, fmt.Errorf("folders.prefix %q: %w", c.Prefix, err)
		}
		out.prefix = pc
	}
	return out, nil
}

// node is a source folder being planned.
type node struct {
	folder   mailbox.Folder
	comps    []string // components split by the source delimiter, INBOX normalized
	id       string   // comps joined with NUL: identity of the path
	slash    []string // components as "/" sees them (a "/" inside a component splits it)
	key      string   // slash joined with "/": what patterns, map keys and well-known names match
	mapped   bool
	excluded string // the pattern that excludes it, "" if none
	role     string // role it plays on the target
	because  string // why it plays the role
	renamed  string // new last component when renamed, "" otherwise
	note     string // why it was renamed
	target   string
}

// planner holds one run of Plan.
type planner struct {
	src, dst  Endpoint
	cfg       compiled
	nodes     []*node
	byID      map[string]*node
	roleDst   map[string][]string // role -> target components of its folder
	memo      map[string][]string
	targetSep string
}

// Plan maps every source folder to a target folder. It returns one Entry
// per source folder except \Noselect folders that hold no messages (their
// subfolders make the target create the hierarchy), INBOX first, then by
// source name. The error is a *CollisionError (several joined, see
// errors.Join) when folders would clash, or says which part of cfg is
// invalid or which source folders are listed twice.
func Plan(src, dst Endpoint, cfg Config) ([]Entry, error) {
	cc, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	p := &planner{src: src, dst: dst, cfg: cc, byID: map[string]*node{}, roleDst: map[string][]string{}}
	p.targetSep = "/"
	if dst.Delimiter != 0 {
		p.targetSep = string(dst.Delimiter)
	}
	if err := p.collect(); err != nil {
		return nil, err
	}
	p.classify()
	if p.cfg.prefix == nil {
		p.assignRoles()
	}
	if err := p.resolve(); err != nil {
		return nil, err
	}
	return p.entries(), nil
}

// collect turns the source folders into nodes, skipping empty \Noselect
// folders and refusing a folder listed twice.
func (p *planner) collect() error {
	for _, f := range p.src.Folders {
		if f.NoSelect && f.Messages == 0 {
			continue
		}
		if f.Name == "" {
			return errors.New("the source lists a folder with an empty name")
		}
		n := &node{folder: f, comps: splitDelim(f.Name, p.src.Delimiter)}
		normalizeInbox(n.comps)
		n.id = strings.Join(n.comps, "\x00")
		n.key = strings.Join(n.comps, "/")
		n.slash = strings.Split(n.key, "/")
		if other, dup := p.byID[n.id]; dup {
			return fmt.Errorf("the source lists both %q and %q, which name the same folder", other.folder.Name, f.Name)
		}
		p.byID[n.id] = n
		p.nodes = append(p.nodes, n)
	}
	slices.SortFunc(p.nodes, func(a, b *node) int {
		if ai, bi := a.isInbox(), b.isInbox(); ai != bi {
			if ai {
				return -1
			}
			return 1
		}
		return strings.Compare(a.folder.Name, b.folder.Name)
	})
	return nil
}

func (n *node) isInbox() bool { return len(n.comps) == 1 && n.comps[0] == "INBOX" }

// classify marks the mapped and the excluded folders.
func (p *planner) classify() {
	for _, n := range p.nodes {
		if _, ok := p.cfg.maps[n.key]; ok {
			n.mapped = true
			continue
		}
		for _, pat := range p.cfg.exclude {
			if pat.match(n.slash) {
				n.excluded = pat.raw
				break
			}
		}
	}
}

// assignRoles picks one source folder per role and finds its target folder.
func (p *planner) assignRoles() {
	eligible := func(n *node) bool { return !n.mapped && n.excluded == "" && !n.isInbox() && n.role == "" }
	for _, role := range roleOrder {
		var marked bool
		var cands []*node
		for _, n := range p.nodes {
			if n.folder.Role == role {
				marked = true
				if eligible(n) {
					cands = append(cands, n)
				}
			}
		}
		var pick *node
		if marked {
			pick = bestByName(role, cands, func(n *node) string { return n.key })
			if pick != nil {
				pick.because = "special-use " + role
			}
		} else {
			for _, w := range wellKnown[role] {
				cands = cands[:0]
				for _, n := range p.nodes {
					if eligible(n) && n.folder.Role == "" && strings.EqualFold(n.key, w) {
						cands = append(cands, n)
					}
				}
				if len(cands) > 0 {
					pick = exactFirst(cands, w, func(n *node) string { return n.key })
					pick.because = "well-known name for " + role
					break
				}
			}
		}
		if pick == nil {
			continue
		}
		pick.role = role
		p.roleDst[role] = p.findTargetRole(role)
	}
}

// findTargetRole finds the target folder that plays role: the one marked
// with it, else an existing folder with a well-known name, else the plain
// English name to be created.
func (p *planner) findTargetRole(role string) []string {
	type tf struct {
		f     mailbox.Folder
		slash string
	}
	var marked, plain []tf
	for _, f := range p.dst.Folders {
		if f.NoSelect {
			continue
		}
		t := tf{f, strings.Join(splitDelim(f.Name, p.dst.Delimiter), "/")}
		switch f.Role {
		case role:
			marked = append(marked, t)
		case "":
			plain = append(plain, t)
		}
	}
	if len(marked) > 0 {
		best := bestByName(role, marked, func(t tf) string { return t.slash })
		return splitDelim(best.f.Name, p.dst.Delimiter)
	}
	for _, w := range wellKnown[role] {
		var cands []tf
		for _, t := range plain {
			if strings.EqualFold(t.slash, w) {
				cands = append(cands, t)
			}
		}
		if len(cands) > 0 {
			best := exactFirst(cands, w, func(t tf) string { return t.slash })
			return splitDelim(best.f.Name, p.dst.Delimiter)
		}
	}
	return []string{wellKnown[role][0]}
}

// bestByName picks, among folders marked with role, the one whose name comes
// first on the role's well-known list, else the first by name.
func bestByName[T any](role string, cands []T, name func(T) string) T {
	var zero T
	if len(cands) == 0 {
		return zero
	}
	rank := func(t T) int {
		if r := wellKnownRank(role, name(t)); r >= 0 {
			return r
		}
		return len(wellKnown[role])
	}
	return slices.MinFunc(cands, func(a, b T) int {
		if c := rank(a) - rank(b); c != 0 {
			return c
		}
		return strings.Compare(name(a), name(b))
	})
}

// exactFirst picks among folders whose names equal w but for case the one
// written exactly as w, else the first by name.
func exactFirst[T any](cands []T, w string, name func(T) string) T {
	for _, c := range cands {
		if name(c) == w {
			return c
		}
	}
	return slices.MinFunc(cands, func(a, b T) int { return strings.Compare(name(a), name(b)) })
}

// targetOf computes the target components of a source path (given as its
// components), whether or not the path is a listed folder.
func (p *planner) targetOf(comps []string) []string {
	id := strings.Join(comps, "\x00")
	if t, ok := p.memo[id]; ok {
		return t
	}
	var t []string
	n := p.byID[id]
	slash := strings.Join(comps, "/")
	if mt, ok := p.cfg.maps[slash]; ok {
		t = p.sanitizeAll(mt)
	} else if p.cfg.prefix == nil && len(comps) == 1 && comps[0] == "INBOX" {
		t = []string{"INBOX"}
	} else if n != nil && n.role != "" {
		t = p.roleDst[n.role]
	} else {
		var parent []string
		if len(comps) > 1 {
			parent = p.targetOf(comps[:len(comps)-1])
		} else if p.cfg.prefix != nil {
			parent = p.sanitizeAll(p.cfg.prefix)
		}
		last := p.sanitize(comps[len(comps)-1])
		if n != nil && n.renamed != "" {
			last = n.renamed
		}
		t = append(slices.Clip(parent), last)
	}
	p.memo[id] = t
	return t
}

// sanitize replaces the target delimiter inside a name component with "_".
func (p *planner) sanitize(c string) string {
	if p.dst.Delimiter == 0 {
		return c
	}
	return strings.ReplaceAll(c, string(p.dst.Delimiter), "_")
}

func (p *planner) sanitizeAll(comps []string) []string {
	out := make([]string, len(comps))
	for i, c := range comps {
		out[i] = p.sanitize(c)
	}
	return out
}

// strong tells whether a node's claim on its target name beats a folder that
// merely keeps its name.
func (p *planner) strong(n *node) bool {
	return p.cfg.prefix == nil && (n.isInbox() || n.role != "")
}

// resolve computes every target name and settles clashes: folders that keep
// their names give way to INBOX and role folders by taking a numeric suffix;
// other clashes not allowed by folders.map are errors.
func (p *planner) resolve() error {
	for round := 0; ; round++ {
		p.memo = map[string][]string{}
		claims := map[string][]*node{}
		var order []string
		for _, n := range p.nodes {
			if n.excluded != "" {
				continue
			}
			n.target = strings.Join(p.targetOf(n.comps), p.targetSep)
			if _, ok := claims[n.target]; !ok {
				order = append(order, n.target)
			}
			claims[n.target] = append(claims[n.target], n)
		}
		var errs []error
		renamed := false
		for _, t := range order {
			ns := claims[t]
			var free, weak []*node
			var winner *node
			for _, n := range ns {
				if n.mapped {
					continue
				}
				free = append(free, n)
				if p.strong(n) {
					winner = n
				} else {
					weak = append(weak, n)
				}
			}
			if len(free) < 2 {
				continue // alone, or merged on purpose by folders.map
			}
			if winner == nil || len(free)-len(weak) > 1 || round > len(p.nodes) {
				// Reported only if no rename in this round changes the
				// picture; the last round reports every clash.
				srcs := make([]string, len(free))
				for i, n := range free {
					srcs[i] = n.folder.Name
				}
				slices.Sort(srcs)
				errs = append(errs, &CollisionError{Target: t, Sources: srcs})
				continue
			}
			for _, n := range weak {
				p.rename(n, winner, claims)
				renamed = true
			}
		}
		if !renamed {
			return errors.Join(errs...)
		}
		// Renamed folders move their subfolders too: look again.
	}
}

// rename gives n, which clashes with winner, the first free name
// "<name> (2)", "<name> (3)", ...
func (p *planner) rename(n, winner *node, claims map[string][]*node) {
	var parent []string
	if len(n.comps) > 1 {
		parent = p.targetOf(n.comps[:len(n.comps)-1])
	} else if p.cfg.prefix != nil {
		parent = p.sanitizeAll(p.cfg.prefix)
	}
	base := p.sanitize(n.comps[len(n.comps)-1])
	for i := 2; ; i++ {
		last := fmt.Sprintf("%s (%d)", base, i)
		full := strings.Join(append(slices.Clip(parent), last), p.targetSep)
		if _, taken := claims[full]; taken {
			continue
		}
		claims[full] = append(claims[full], n)
		n.renamed = last
		what := "INBOX"
		if winner.role != "" {
			what = fmt.Sprintf("the %s folder for %q", winner.role, winner.folder.Name)
		}
		n.note = fmt.Sprintf("hierarchy, renamed: %q is %s", n.target, what)
		return
	}
}

// entries renders the planned nodes.
func (p *planner) entries() []Entry {
	exists := map[string]bool{"INBOX": true}
	for _, f := range p.dst.Folders {
		if !f.NoSelect {
			exists[f.Name] = true
		}
	}
	out := make([]Entry, 0, len(p.nodes))
	for _, n := range p.nodes {
		e := Entry{Source: n.folder.Name}
		switch {
		case n.excluded != "":
			e.Excluded = true
			e.Reason = fmt.Sprintf("exclude pattern %q", n.excluded)
		case n.mapped:
			e.Reason = "map"
		case n.role != "":
			e.Role = n.role
			e.Reason = n.because
		case n.renamed != "":
			e.Reason = n.note
		case p.cfg.prefix != nil:
			e.Reason = "prefix"
		case n.isInbox():
			e.Reason = "INBOX"
		default:
			e.Reason = "hierarchy"
		}
		if !e.Excluded {
			e.Target = n.target
			e.Create = !exists[n.target]
		}
		out = append(out, e)
	}
	return out
}

// splitDelim splits a folder name by an endpoint's delimiter; a flat
// namespace (delimiter 0) gives one component.
func splitDelim(name string, delim rune) []string {
	if delim == 0 {
		return []string{name}
	}
	return strings.Split(name, string(delim))
}

// Excluder returns a function telling whether the configuration leaves a
// source folder out (a folders.exclude pattern matches it and folders.map
// does not name it), for a source whose hierarchy separator is delim. It
// lets the source's folders be skipped before anything is asked of them.
func (c Config) Excluder(delim rune) (func(name string) bool, error) {
	cc, err := compile(c)
	if err != nil {
		return nil, err
	}
	return func(name string) bool {
		comps := splitDelim(name, delim)
		normalizeInbox(comps)
		key := strings.Join(comps, "/")
		if _, ok := cc.maps[key]; ok {
			return false
		}
		slash := strings.Split(key, "/")
		for _, pat := range cc.exclude {
			if pat.match(slash) {
				return true
			}
		}
		return false
	}, nil
}
