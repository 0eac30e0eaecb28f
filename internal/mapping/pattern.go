package mapping

import (
	"fmt"
	"path"
	"strings"
)

// pattern is a compiled folders.exclude pattern.
type pattern struct {
	raw  string
	segs []string
}

// ValidPattern tells whether p is a usable folders.exclude pattern, and if
// not, what is wrong with it.
//
// A pattern is matched against the whole source folder name written with "/"
// as the separator, whatever the source's own delimiter ("Archive.2019" on a
// server with "." is matched as "Archive/2019"; a "/" inside a component
// then counts as a separator too). Each "/"-separated segment
// of the pattern matches one name component with the syntax of path.Match
// ("*", "?", "[a-z]", "\" to escape), except that a segment that is exactly
// "**" matches any number of components, none included. So "Spam" matches
// only the top-level folder Spam, "Archive/*" its direct children,
// "Archive/**" Archive and everything below it, and "**/Old" every folder
// called Old at any depth. Matching is case-sensitive except for INBOX,
// which matches in any case. "**" inside a longer segment is refused, and
// so are empty segments (a leading, trailing or doubled "/").
func ValidPattern(p string) error {
	_, err := compilePattern(p)
	return err
}

func compilePattern(p string) (pattern, error) {
	if p == "" {
		return pattern{}, fmt.Errorf("folder pattern is empty")
	}
	segs, err := splitSlash(p)
	if err != nil {
		return pattern{}, fmt.Errorf("folder pattern %q: %w", p, err)
	}
	for _, s := range segs {
		if s != "**" && strings.Contains(s, "**") {
			return pattern{}, fmt.Errorf(`folder pattern %q: "**" must be a whole segment, as in "a/**/b"`, p)
		}
		if _, err := path.Match(s, ""); err != nil {
			return pattern{}, fmt.Errorf("folder pattern %q: syntax error in %q (see ValidPattern for the syntax)", p, s)
		}
	}
	normalizeInbox(segs)
	return pattern{raw: p, segs: segs}, nil
}

// match tells whether the pattern matches a folder name given as its
// "/"-separated components.
func (p pattern) match(comps []string) bool {
	return matchSegs(p.segs, comps)
}

func matchSegs(segs, comps []string) bool {
	for len(segs) > 0 {
		if segs[0] == "**" {
			for len(segs) > 1 && segs[1] == "**" {
				segs = segs[1:]
			}
			for i := 0; i <= len(comps); i++ {
				if matchSegs(segs[1:], comps[i:]) {
					return true
				}
			}
			return false
		}
		if len(comps) == 0 {
			return false
		}
		if ok, _ := path.Match(segs[0], comps[0]); !ok {
			return false
		}
		segs, comps = segs[1:], comps[1:]
	}
	return len(comps) == 0
}

// splitSlash splits a name written with "/" separators (a pattern, a
// folders.map side, the prefix) into its components, refusing empty ones.
func splitSlash(s string) ([]string, error) {
	comps := strings.Split(s, "/")
	for _, c := range comps {
		if c == "" {
			return nil, fmt.Errorf(`empty name component (a leading, trailing or doubled "/")`)
		}
	}
	return comps, nil
}

// normalizeInbox writes a first component that is INBOX in any case as
// "INBOX".
func normalizeInbox(comps []string) {
	if len(comps) > 0 && strings.EqualFold(comps[0], "INBOX") {
		comps[0] = "INBOX"
	}
}
