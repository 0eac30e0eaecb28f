package phase

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/mapping"
	"github.com/mailshift/mailshift/state"
)

// followFolders carries over what happened to whole folders on the source
// since the last pass. A folder that is gone while a new one holds its
// messages was renamed: the new one has its UIDVALIDITY (most servers keep
// it on RENAME) or, where the server gave it a new one (Courier), most of
// its messages by size and content. Its target folder is renamed along,
// under either deletion policy, so nothing is copied again. A folder that
// is simply gone is, under sync.deletions mirror, deleted on the target
// (with --force only, when it still holds copies: that is all of the
// folder), else forgotten. A folder that waits for --force is skipped
// alone. It reports whether it changed the target's folders.
func (s *session) followFolders(ctx context.Context, opts copyOptions, cursors map[string]state.Cursor) (copyStats, bool, error) {
	var st copyStats
	listed := map[string]mailbox.Folder{}
	for _, f := range s.srcDirs {
		listed[f.Name] = f
	}
	var gone []state.Cursor
	for _, c := range cursors {
		if _, ok := listed[c.SourceFolder]; !ok {
			gone = append(gone, c)
		}
	}
	if len(gone) == 0 {
		return st, false, nil
	}
	s.foldersChanged = true
	// Parents first: renaming a parent on the target moves its children.
	slices.SortFunc(gone, func(a, b state.Cursor) int { return strings.Compare(a.SourceFolder, b.SourceFolder) })
	var fresh []mapping.Entry // new source folders, without a cursor
	for _, e := range s.plan {
		if _, has := cursors[e.Source]; !has && !e.Excluded {
			if f, ok := listed[e.Source]; ok && !f.NoSelect && f.Error == "" {
				fresh = append(fresh, e)
			}
		}
	}
	changed := false
	for _, c := range gone {
		e, renamed, err := s.renamedTo(ctx, c, fresh, listed)
		if s.dry() {
			if err = s.planFolderChange(c, e, renamed, err, opts); err != nil {
				if err := s.skipFolder(&st, c.SourceFolder, err); err != nil {
					return st, changed, err
				}
			}
			continue
		}
		if err == nil && renamed {
			fresh = slices.DeleteFunc(fresh, func(f mapping.Entry) bool { return f.Source == e.Source })
			err = s.followRename(ctx, c, e)
			changed = changed || err == nil
		} else if err == nil {
			var deleted bool
			deleted, err = s.followDeletion(ctx, c, opts)
			changed = changed || deleted
		}
		if err != nil {
			if err := s.skipFolder(&st, c.SourceFolder, err); err != nil {
				return st, changed, err
			}
		}
	}
	return st, changed, nil
}

// renamedTo finds the new folder a gone one was renamed to, if any.
func (s *session) renamedTo(ctx context.Context, c state.Cursor, fresh []mapping.Entry, listed map[string]mailbox.Folder) (mapping.Entry, bool, error) {
	var same []mapping.Entry
	for _, e := range fresh {
		if f := listed[e.Source]; f.UIDValidity != 0 && f.UIDValidity == c.SourceUIDValidity {
			same = append(same, e)
		}
	}
	if len(same) == 1 && listed[same[0].Source].UIDNext >= c.UIDNext {
		return same[0], true, nil
	}
	return s.renamedByContent(ctx, c, fresh, listed)
}

// renameMatch is the share of a gone folder's copied messages that a new
// folder must hold, by size and content, to count as the gone one renamed.
const renameMatch = 0.9

// renamedByContent finds, among the new folders, the one holding most of
// a gone folder's copied messages (by size first, then by content), for
// servers that give a renamed folder a new UIDVALIDITY. Only folders with
// about as many messages are read.
func (s *session) renamedByContent(ctx context.Context, c state.Cursor, fresh []mapping.Entry, listed map[string]mailbox.Folder) (mapping.Entry, bool, error) {
	if len(fresh) == 0 {
		return mapping.Entry{}, false, nil
	}
	pairs, err := s.p.Store.Pairs(s.row.SourceUser, c.SourceFolder)
	if err != nil {
		return mapping.Entry{}, false, stopUser(err)
	}
	hashes := map[string]int{}
	sizes := map[int64]int{}
	n := 0
	for _, p := range pairs {
		if p.Status == state.Copied && p.Hash != "" {
			hashes[p.Hash]++
			sizes[p.Size]++
			n++
		}
	}
	need := int(float64(n)*renameMatch + 0.5)
	if n == 0 || need == 0 {
		return mapping.Entry{}, false, nil
	}
	for _, e := range fresh {
		if f := listed[e.Source]; int(f.Messages) < need || int(f.Messages) > 2*n {
			continue
		}
		ok, err := s.holds(ctx, e.Source, sizes, hashes, need)
		if err != nil {
			return mapping.Entry{}, false, fmt.Errorf("compare new folder %q with deleted folder %q: %w", e.Source, c.SourceFolder, err)
		}
		if ok {
			s.p.log().Info("folder renamed on the source with a new UIDVALIDITY; recognised by content", "user", s.row.SourceUser, "from", c.SourceFolder, "to", e.Source)
			return e, true, nil
		}
	}
	return mapping.Entry{}, false, nil
}

// holds tells whether the source folder holds at least need of the
// messages described by sizes and hashes (counts of each).
func (s *session) holds(ctx context.Context, folder string, sizes map[int64]int, hashes map[string]int, need int) (bool, error) {
	_, msgs, err := s.src.Messages(ctx, folder)
	if err != nil {
		return false, err
	}
	left := maps.Clone(sizes)
	var cand []mailbox.Message
	for _, m := range msgs {
		if left[m.Size] > 0 {
			left[m.Size]--
			cand = append(cand, m)
		}
	}
	if len(cand) < need {
		return false, nil
	}
	want := maps.Clone(hashes)
	matched := 0
	err = s.src.Fetch(ctx, folder, cand, func(m mailbox.Message, b mailbox.Body) error {
		h, err := hashBody(b)
		if err == nil && want[h] > 0 {
			want[h]--
			matched++
		}
		return err
	})
	return matched >= need, err
}

// followRename renames the target folder of a folder renamed on the
// source, and moves its pairs and cursor along. Where the source gave the
// folder a new UIDVALIDITY, the next prepare re-derives the pairs by
// content.
func (s *session) followRename(ctx context.Context, c state.Cursor, e mapping.Entry) error {
	if err := s.renameTarget(ctx, c.TargetFolder, e.Target); err != nil {
		return err
	}
	if err := s.p.Store.MoveFolder(s.row.SourceUser, c.SourceFolder, e.Source, e.Target); err != nil {
		return stopUser(err)
	}
	s.p.log().Info("folder renamed on the source; renamed on the target", "user", s.row.SourceUser, "from", c.SourceFolder, "to", e.Source, "target", e.Target)
	return nil
}

// followDeletion applies the deletion policy to a folder deleted on the
// source, and tells whether it deleted the target folder.
func (s *session) followDeletion(ctx context.Context, c state.Cursor, opts copyOptions) (bool, error) {
	user := s.row.SourceUser
	if opts.deletions != "mirror" {
		if err := s.p.Store.ForgetFolder(user, c.SourceFolder); err != nil {
			return false, stopUser(err)
		}
		s.p.log().Info("folder deleted on the source; its copy stays on the target (sync.deletions keep)", "user", user, "folder", c.SourceFolder, "target", c.TargetFolder)
		return false, nil
	}
	keys, err := s.p.Store.PairKeys(user, c.SourceFolder, c.SourceUIDValidity)
	if err != nil {
		return false, stopUser(err)
	}
	if len(keys) > 0 && !opts.force {
		return false, permanent(fmt.Errorf("folder %q was deleted on the source with %d copied messages; its target folder %q was kept. Deleting a whole folder is more than sync.max_delete allows: if this is expected, run `mailshift sync --force`", c.SourceFolder, len(keys), c.TargetFolder))
	}
	deleted := false
	if _, err := s.dst.Status(ctx, c.TargetFolder); err == nil {
		if err := s.dst.DeleteFolder(ctx, c.TargetFolder); err != nil {
			return false, fmt.Errorf("delete target folder %q: %w", c.TargetFolder, err)
		}
		deleted = true
	} else if !errors.Is(err, mailbox.ErrFolderGone) {
		return false, fmt.Errorf("target folder %q: %w", c.TargetFolder, err)
	}
	if err := s.p.Store.ForgetFolder(user, c.SourceFolder); err != nil {
		return deleted, stopUser(err)
	}
	s.p.log().Info("folder deleted on the source; deleted on the target (sync.deletions mirror)", "user", user, "folder", c.SourceFolder, "target", c.TargetFolder, "messages", len(keys))
	return deleted, nil
}

// renameTarget renames a target folder, unless a rename of its parent
// moved it already.
func (s *session) renameTarget(ctx context.Context, from, to string) error {
	if from == to {
		return nil
	}
	if _, err := s.dst.Status(ctx, from); errors.Is(err, mailbox.ErrFolderGone) {
		return nil
	} else if err != nil {
		return fmt.Errorf("target folder %q: %w", from, err)
	}
	if _, err := s.dst.Status(ctx, to); err == nil {
		return permanent(fmt.Errorf("folder %q was renamed to a folder whose target %q exists already; rename or remove the target folder, then sync again", from, to))
	}
	if err := s.dst.RenameFolder(ctx, from, to); err != nil {
		return fmt.Errorf("rename target folder %q to %q: %w", from, to, err)
	}
	return nil
}

// planFolderChange records, for a dry run, what would happen to a folder
// gone from the source: a rename to e, a deletion, or forgetting it.
func (s *session) planFolderChange(c state.Cursor, e mapping.Entry, renamed bool, err error, opts copyOptions) error {
	switch {
	case err != nil:
		return err
	case renamed:
		s.renamed[e.Source] = true
		s.planFor(e).RenamedFrom = c.SourceFolder
	case opts.deletions != "mirror":
		s.planned.folder(c.SourceFolder, c.TargetFolder).Forget = true
	default:
		keys, err := s.p.Store.PairKeys(s.row.SourceUser, c.SourceFolder, c.SourceUIDValidity)
		if err != nil {
			return stopUser(err)
		}
		if len(keys) > 0 && !opts.force {
			return permanent(fmt.Errorf("folder %q was deleted on the source with %d copied messages; its target folder %q would be kept: deleting a whole folder needs `mailshift sync --force`", c.SourceFolder, len(keys), c.TargetFolder))
		}
		s.planned.folder(c.SourceFolder, c.TargetFolder).Delete = true
	}
	return nil
}
