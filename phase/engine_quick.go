package phase

import (
	"context"

	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/state"
)

// quickPass is the start of a plain sync pass that first looks at the
// source alone: when every folder the user's plan copies is exactly as the
// last pass left it, by the counters of one LIST-STATUS (same UIDVALIDITY,
// UIDNEXT, message count and HIGHESTMODSEQ, so not even a flag changed),
// and nothing is pending for the user (no intents, refused messages or
// skipped folders), there is nothing to copy, flag or expunge, and the
// pass ends without logging in to the target. Otherwise the source's
// connection goes on to serve the pass.
//
// The target is not looked at then: a target folder someone deleted or
// recreated since is noticed by the next pass that finds a change on the
// source, by verify, and by cutover (whose final sync always logs in to
// both sides). A source without CONDSTORE never qualifies, since a flag
// change cannot be ruled out without reading every message's flags.
type quickPass struct {
	src     source.Source
	release func()
}

// quickCheck opens r's source and tells whether the pass can end there
// (done, with its counts); when it cannot, q holds the open source for the
// pass, or nothing when the state already rules the shortcut out.
func (p *Project) quickCheck(ctx context.Context, r users.Row) (q quickPass, st copyStats, done bool, err error) {
	user := r.SourceUser
	cursors, err := p.Store.Cursors(user)
	if err != nil || len(cursors) == 0 {
		return q, st, false, err
	}
	pending, err := p.Store.PendingFolders(user)
	if err != nil || len(pending) > 0 {
		return q, st, false, err
	}
	skipped, err := p.Store.FolderFailures(user)
	if err != nil || len(skipped) > 0 {
		return q, st, false, err
	}
	dst, err := p.Store.Account(user, state.SideTarget)
	if err != nil || dst.Error != "" {
		return q, st, false, nil // the pass itself says what is wrong
	}
	if q.release, err = p.acquireConns(ctx, r); err != nil {
		return q, st, false, err
	}
	if q.src, err = p.openSource(ctx, r); err != nil {
		q.release()
		return quickPass{}, st, false, nil // the pass opens it again, with retries
	}
	desc, err := q.src.Describe(ctx)
	if err != nil || !desc.CondStore {
		return q, st, false, nil
	}
	dirs, err := q.src.Folders(ctx)
	if err != nil {
		return q, st, false, nil
	}
	plan, err := p.mapFolders(desc, dirs, dst.Description, dst.Folders)
	if err != nil {
		return q, st, false, nil
	}
	byFolder := make(map[string]state.Cursor, len(cursors))
	for _, c := range cursors {
		byFolder[c.SourceFolder] = c
	}
	var msgs, bytes int64
	seen := 0
	for _, e := range plan {
		sf, listed := findFolder(dirs, e.Source)
		if e.Excluded || (listed && sf.NoSelect) {
			continue
		}
		c, ok := byFolder[e.Source]
		if !listed || !ok || sf.Error != "" || sf.HighestModSeq == 0 || c.TargetFolder != e.Target ||
			c.SourceUIDValidity != sf.UIDValidity || c.UIDNext != sf.UIDNext ||
			c.Messages != sf.Messages || c.HighestModSeq != sf.HighestModSeq {
			return q, st, false, nil
		}
		seen++
		msgs += int64(sf.Messages)
		bytes += max(sf.Bytes, 0)
	}
	if seen != len(cursors) {
		return q, st, false, nil // a folder went away or was renamed: the full pass handles it
	}
	q.close()
	st.Folders, st.Unchanged = seen, seen
	p.progress().Start(user, msgs, bytes)
	p.progress().AlreadyCopied(user, msgs, bytes)
	return quickPass{}, st, true, nil
}

// close logs out of the source and gives its slot back.
func (q quickPass) close() {
	if q.src != nil {
		q.src.Close()
	}
	if q.release != nil {
		q.release()
	}
}
