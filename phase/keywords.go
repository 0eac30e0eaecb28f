package phase

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
	"github.com/mailshift/mailshift/target"
)

// Keywords on a target that keeps none (target.keywords: lost, the
// Exchange and Microsoft 365 presets) are reported, never dropped
// silently and never mapped: collect records, per folder, how many
// messages carry keywords and which, the scope of work lists them among
// the problems and says why, and verification leaves keywords out. Mapping
// them to something that survives would mean changing the messages (a
// header, a folder), which mailshift never does.

// keywordsOf returns the flags of fs that are keywords (not system flags).
func keywordsOf(fs []string) []string {
	var out []string
	for _, f := range fs {
		if f != "" && !strings.HasPrefix(f, `\`) {
			out = append(out, f)
		}
	}
	return out
}

// systemFlagsOf returns the system flags of fs.
func systemFlagsOf(fs []string) []string {
	var out []string
	for _, f := range fs {
		if strings.HasPrefix(f, `\`) {
			out = append(out, f)
		}
	}
	return out
}

// lostKeywords is one problem per source folder whose messages carry
// keywords the target will not keep.
func lostKeywords(user string, msgs []sizedMessage) []state.Problem {
	type folderKeywords struct {
		messages int
		names    map[string]bool
	}
	byFolder := map[string]*folderKeywords{}
	var order []string
	for _, m := range msgs {
		if len(m.keywords) == 0 {
			continue
		}
		fk := byFolder[m.folder]
		if fk == nil {
			fk = &folderKeywords{names: map[string]bool{}}
			byFolder[m.folder] = fk
			order = append(order, m.folder)
		}
		fk.messages++
		for _, k := range m.keywords {
			fk.names[k] = true
		}
	}
	var out []state.Problem
	for _, f := range order {
		fk := byFolder[f]
		names := make([]string, 0, len(fk.names))
		for n := range fk.names {
			names = append(names, n)
		}
		slices.Sort(names)
		out = append(out, state.Problem{User: user, Kind: "keywords", Folder: f,
			Detail: fmt.Sprintf("%d messages carry keywords the target does not keep: %s", fk.messages, strings.Join(names, ", ")),
			Action: "the messages are copied with their system flags only; the keywords are lost (target.keywords: lost) and left out of verification"})
	}
	return out
}

// sizeLimit is the largest message the target takes: the smaller of what
// it announces (APPENDLIMIT) and target.max_message_size (or its
// provider's preset), with where the figure comes from.
func (p *Project) sizeLimit(d mailbox.Description) (int64, string) {
	limit, whose := d.AppendLimit, "APPENDLIMIT"
	if n := p.Config.maxMessageSize(); n > 0 && (limit <= 0 || n < limit) {
		limit, whose = n, "target.max_message_size"
		if p.Config.Target.Provider != "" {
			whose += ", " + p.Config.Target.Provider + " preset"
		}
	}
	return limit, whose
}

// describeTarget is dst's description, NoKeywords filled in when the
// configuration leaves it to the server (target.keywords unset). Whether
// a server keeps keywords costs it a SELECT of INBOX to ask; it is the
// server software's way (Exchange keeps none), so it is asked once per
// run and target server (r's own, or target.url), not at every login.
// An answer that could not be read becomes a warning of the description,
// keywords taken as kept, and is asked again at the next login.
func (p *Project) describeTarget(ctx context.Context, r users.Row, dst target.Target) (mailbox.Description, error) {
	d, err := dst.Describe(ctx)
	if err != nil || p.Config.Target.Keywords != "" {
		return d, err
	}
	kc, ok := dst.(target.KeywordChecker)
	if !ok {
		return d, nil
	}
	server := rowServers(r)[1]
	p.keywordsMu.Lock()
	keeps, known := p.keepsKeywords[server]
	p.keywordsMu.Unlock()
	if !known {
		if keeps, err = kc.KeepsKeywords(ctx); err != nil {
			if ctx.Err() != nil {
				return d, err
			}
			d.Warnings = append(d.Warnings, fmt.Sprintf("INBOX's permanent flags could not be read (%v): keywords are assumed kept", err))
			return d, nil
		}
		p.keywordsMu.Lock()
		if p.keepsKeywords == nil {
			p.keepsKeywords = map[string]bool{}
		}
		p.keepsKeywords[server] = keeps
		p.keywordsMu.Unlock()
	}
	d.NoKeywords = !keeps
	return d, nil
}
