package phase

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/mapping"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/state"
)

// folderJob is one source folder whose messages are being copied.
type folderJob struct {
	e  mapping.Entry
	sf mailbox.Folder
	// todo are the messages to copy, oldest first.
	todo []mailbox.Message
	// failed is set when copying the folder failed in this pass: it is
	// skipped, and its cursor is not advanced.
	failed bool
}

// unchanged tells whether a folder is exactly as the last pass left it, by
// the counters replan listed: same UIDVALIDITY on both sides, same UIDNEXT
// and message count, and the same HIGHESTMODSEQ (so not even a flag
// changed). Without CONDSTORE a flag change cannot be ruled out this way.
func (s *session) unchanged(e mapping.Entry, cur state.Cursor, pending int) bool {
	sf, ok := s.listedSource(e.Source)
	if !ok || pending > 0 || !s.srcDesc.CondStore || sf.HighestModSeq == 0 {
		return false
	}
	tf, ok := s.listedTarget(e.Target)
	return ok && cur.TargetFolder == e.Target && cur.TargetUIDValidity == tf.UIDValidity &&
		cur.SourceUIDValidity == sf.UIDValidity && cur.UIDNext == sf.UIDNext &&
		cur.Messages == sf.Messages && cur.HighestModSeq == sf.HighestModSeq
}

// prepare brings a folder's flags and deletions in step and returns the
// messages to copy (nil when the folder is unchanged).
func (s *session) prepare(ctx context.Context, e mapping.Entry, opts copyOptions, cur state.Cursor, hasCursor bool, pending int) (*folderJob, copyStats, error) {
	var st copyStats
	st.Folders = 1
	user := s.row.SourceUser
	if sf, ok := s.listedSource(e.Source); ok && sf.Error != "" {
		return nil, st, permanent(fmt.Errorf("source folder %q: %s", e.Source, sf.Error))
	} else if ok && sf.NoSelect {
		// A node of the hierarchy that holds no messages is not made a
		// real folder: the target creates what its children need.
		return nil, st, nil
	}
	if s.dry() && s.renamed[e.Source] {
		return nil, st, nil // renamed on the target, nothing copied
	}
	if hasCursor && s.unchanged(e, cur, pending) {
		sf, _ := s.listedSource(e.Source)
		s.p.progress().AlreadyCopied(user, int64(sf.Messages), max(sf.Bytes, 0))
		st.Unchanged = 1
		return nil, st, nil
	}
	if err := s.ensureTarget(ctx, e); err != nil {
		return nil, st, err
	}
	ct, ok := s.src.(source.ChangeTracker)
	if ok && hasCursor && pending == 0 && s.srcDesc.CondStore && cur.HighestModSeq > 0 && cur.TargetFolder == e.Target {
		if sf, found := s.listedSource(e.Source); found && sf.UIDValidity == cur.SourceUIDValidity {
			if tf, found := s.listedTarget(e.Target); found && tf.UIDValidity == cur.TargetUIDValidity {
				return s.prepareChanges(ctx, ct, e, opts, cur)
			}
		}
	}
	return s.prepareFull(ctx, e, opts)
}

// ensureTarget creates the target folder if it does not exist (a dry run
// notes that it would).
func (s *session) ensureTarget(ctx context.Context, e mapping.Entry) error {
	if f, ok := s.listedTarget(e.Target); ok && !f.NoSelect {
		return nil
	}
	if s.dry() {
		s.planFor(e).Create = true
		return nil
	}
	// A name the target lists only as a parent of others (\Noselect)
	// answers STATUS with a refusal, not as missing: create it either way.
	_, err := s.dst.Status(ctx, e.Target)
	if errors.Is(err, mailbox.ErrFolderGone) || (err != nil && !retryable(err)) {
		s.foldersChanged = true
		if err := s.dst.CreateFolder(ctx, e.Target, e.Role); err != nil {
			err = fmt.Errorf("create target folder %q for source folder %q: %w", e.Target, e.Source, err)
			if !retryable(err) {
				return fmt.Errorf("%w; if the target cannot hold that name, map the folder to one it can with folders.map, then approve again", err)
			}
			return err
		}
		_, err = s.dst.Status(ctx, e.Target)
	}
	if err != nil && !retryable(err) {
		return fmt.Errorf("target folder %q for source folder %q: %w; if the target cannot hold that name, map the folder to one it can with folders.map, then approve again", e.Target, e.Source, err)
	}
	if err != nil {
		return fmt.Errorf("target folder %q: %w", e.Target, err)
	}
	return nil
}

// prepareChanges is prepare for a folder that only changed since the last
// pass, on a source that tracks changes: the work is what changed.
func (s *session) prepareChanges(ctx context.Context, ct source.ChangeTracker, e mapping.Entry, opts copyOptions, cur state.Cursor) (*folderJob, copyStats, error) {
	var st copyStats
	st.Folders = 1
	user := s.row.SourceUser
	sf, changed, err := ct.Changes(ctx, e.Source, cur.HighestModSeq)
	if errors.Is(err, mailbox.ErrFolderGone) {
		return nil, st, nil
	}
	if err != nil {
		return nil, st, fmt.Errorf("source folder %q: %w", e.Source, err)
	}
	if sf.UIDValidity != cur.SourceUIDValidity {
		return s.prepareFull(ctx, e, opts)
	}
	keys := make([]string, len(changed))
	var arrived uint32
	for i, m := range changed {
		keys[i] = m.Key
		if m.UID >= cur.UIDNext {
			arrived++
		}
	}
	pairs, err := s.p.Store.PairsByKey(user, e.Source, sf.UIDValidity, keys)
	if err != nil {
		return nil, st, err
	}
	byKey := make(map[string]state.Pair, len(pairs))
	for _, p := range pairs {
		byKey[p.SourceKey] = p
	}
	todo, flagged := s.sortOut(changed, byKey)
	s.p.progress().AlreadyCopied(user, int64(sf.Messages)-int64(len(todo)), s.alreadyBytes(e.Source, todo))

	// Expunges: the count tells whether any happened; only then are the
	// folder's keys compared.
	var gone []state.Pair
	known := 0
	if sf.Messages != cur.Messages+arrived {
		_, present, err := ct.Keys(ctx, e.Source)
		if err != nil {
			return nil, st, fmt.Errorf("source folder %q: %w", e.Source, err)
		}
		have := make(map[string]bool, len(present))
		for _, k := range present {
			have[k] = true
		}
		all, err := s.p.Store.PairKeys(user, e.Source, sf.UIDValidity)
		if err != nil {
			return nil, st, err
		}
		known = len(all)
		var missing []string
		for _, k := range all {
			if !have[k] {
				missing = append(missing, k)
			}
		}
		if gone, err = s.p.Store.PairsByKey(user, e.Source, sf.UIDValidity, missing); err != nil {
			return nil, st, err
		}
	}
	fst, err := s.applyChanges(ctx, e, opts, flagged, gone, known)
	st.add(fst)
	if err != nil {
		return nil, st, err
	}
	return &folderJob{e: e, sf: sf, todo: todo}, st, nil
}

// prepareFull is prepare by the folder's full listing: the first pass, a
// source without change tracking, or after an interruption.
func (s *session) prepareFull(ctx context.Context, e mapping.Entry, opts copyOptions) (*folderJob, copyStats, error) {
	var st copyStats
	st.Folders = 1
	store := s.p.Store
	user := s.row.SourceUser

	sf, msgs, err := s.src.Messages(ctx, e.Source)
	if errors.Is(err, mailbox.ErrFolderGone) {
		return nil, st, nil // deleted since it was listed; the next pass sees it gone
	}
	if err != nil {
		return nil, st, fmt.Errorf("source folder %q: %w", e.Source, err)
	}
	pairs, err := store.Pairs(user, e.Source)
	if err != nil {
		return nil, st, err
	}
	if s.dry() && s.planFor(e).Create {
		return s.planFull(e, sf, msgs, pairs), st, nil
	}
	tf, err := s.dst.Status(ctx, e.Target)
	if err != nil {
		return nil, st, fmt.Errorf("target folder %q: %w", e.Target, err)
	}
	if s.dry() && stale(pairs, e, sf, tf) {
		return s.planFull(e, sf, msgs, pairs), st, nil
	}
	pairs, err = s.rederive(ctx, e, sf, tf, pairs)
	if err != nil {
		return nil, st, err
	}

	// Intents left by an interrupted run: find out whether they arrived.
	var intents []state.Pair
	for _, p := range pairs {
		if p.Status == state.Intent {
			intents = append(intents, p)
		}
	}
	if s.dry() {
		s.planFor(e).Settle += int64(len(intents))
	} else if len(intents) > 0 {
		if err := s.resolve(ctx, s.conns, e, intents, pairs); err != nil {
			return nil, st, fmt.Errorf("resolve interrupted copies in %q: %w", e.Source, err)
		}
		if pairs, err = store.Pairs(user, e.Source); err != nil {
			return nil, st, err
		}
	}

	byKey := make(map[string]state.Pair, len(pairs))
	for _, p := range pairs {
		if p.SourceUIDValidity == sf.UIDValidity {
			byKey[p.SourceKey] = p
		}
	}
	todo, flagged := s.sortOut(msgs, byKey)
	for _, m := range msgs {
		if p, ok := byKey[m.Key]; ok && p.Status == state.Copied {
			s.p.progress().AlreadyCopied(user, 1, p.Size)
		}
	}
	present := make(map[string]bool, len(msgs))
	for _, m := range msgs {
		present[m.Key] = true
	}
	var gone []state.Pair
	for _, p := range byKey {
		if !present[p.SourceKey] {
			gone = append(gone, p)
		}
	}
	fst, err := s.applyChanges(ctx, e, opts, flagged, gone, len(byKey))
	st.add(fst)
	if err != nil {
		return nil, st, err
	}
	return &folderJob{e: e, sf: sf, todo: todo}, st, nil
}

// sortOut splits listed messages into those to copy (no pair, or refused
// before) and the copied ones whose flags changed (with the new flags).
func (s *session) sortOut(msgs []mailbox.Message, byKey map[string]state.Pair) (todo []mailbox.Message, flagged []state.Pair) {
	for _, m := range msgs {
		p, ok := byKey[m.Key]
		switch {
		case !ok || p.Status == state.Failed:
			todo = append(todo, m)
		case p.Status == state.Copied:
			if !sameFlags(p.Flags, m.Flags) && p.TargetUID != 0 {
				p.Flags = m.Flags
				flagged = append(flagged, p)
			}
		}
	}
	return todo, flagged
}

// alreadyBytes is the size of a folder's messages as the listing gave it
// (the changes do not tell it) less those still to copy; 0 when the
// listing did not tell it either.
func (s *session) alreadyBytes(folder string, todo []mailbox.Message) int64 {
	f, ok := s.listedSource(folder)
	if !ok || f.Bytes <= 0 {
		return 0
	}
	n := f.Bytes
	for _, m := range todo {
		n -= max(m.Size, 0)
	}
	return max(n, 0)
}

// applyChanges carries flag changes over (cheap, and they make the target
// current sooner), then deletions on the source by policy; known is how many
// messages of the folder had pairs, for the deletion guard.
func (s *session) applyChanges(ctx context.Context, e mapping.Entry, opts copyOptions, flagged, gone []state.Pair, known int) (copyStats, error) {
	var st copyStats
	if s.dry() {
		return st, s.planChanges(e, opts, flagged, gone, known)
	}
	if len(flagged) > 0 {
		n, err := s.updateFlags(ctx, s.conns, flagged)
		st.FlagUpdates += n
		if err != nil {
			return st, err
		}
	}
	if len(gone) > 0 {
		n, err := s.applyDeletions(ctx, e, gone, known, opts)
		st.Expunged += n
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

// stale tells whether pairs of a folder belong to another UIDVALIDITY of
// either side than the current one: the pass would re-derive them by
// content.
func stale(pairs []state.Pair, e mapping.Entry, sf, tf mailbox.Folder) bool {
	return slices.ContainsFunc(pairs, func(p state.Pair) bool {
		return p.Status == state.Copied && (p.SourceUIDValidity != sf.UIDValidity ||
			(p.TargetFolder == e.Target && p.TargetUIDValidity != tf.UIDValidity))
	})
}

// planFull is a dry run's plan of a folder whose target is to be created
// or whose pairs are to be re-derived by content: every message without a
// pair is to copy, at most (re-deriving finds those already there).
func (s *session) planFull(e mapping.Entry, sf mailbox.Folder, msgs []mailbox.Message, pairs []state.Pair) *folderJob {
	have := map[string]bool{}
	for _, p := range pairs {
		if p.SourceUIDValidity == sf.UIDValidity && p.Status == state.Copied {
			have[p.SourceKey] = true
		}
	}
	var todo []mailbox.Message
	for _, m := range msgs {
		if !have[m.Key] {
			todo = append(todo, m)
		}
	}
	if len(pairs) > 0 && len(have) < len(pairs) {
		s.planFor(e).Note = "a UIDVALIDITY changed: copies are first looked for by content, so fewer may be copied"
	}
	return &folderJob{e: e, sf: sf, todo: todo}
}

// planChanges records, for a dry run, the flag updates and deletions a
// pass would make, with the same guard as the pass.
func (s *session) planChanges(e mapping.Entry, opts copyOptions, flagged, gone []state.Pair, known int) error {
	pl := s.planFor(e)
	pl.FlagUpdates += int64(len(flagged))
	if len(gone) == 0 || opts.deletions != "mirror" {
		return nil
	}
	if err := s.deletionGuard(e, gone, known, opts); err != nil {
		return err
	}
	for _, p := range gone {
		if p.Status == state.Copied && p.TargetUID != 0 {
			pl.Expunge++
		}
	}
	return nil
}
