package phase

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/mapping"
	"github.com/mailshift/mailshift/state"
)

// updateFlags sets the target flags of pairs to their (new) Flags.
func (s *session) updateFlags(ctx context.Context, c conns, ps []state.Pair) (int64, error) {
	var n int64
	var done []state.Pair
	var err error
	for _, p := range ps {
		if err = c.dst.SetFlags(ctx, p.TargetFolder, p.TargetUID, p.Flags); err != nil {
			err = fmt.Errorf("set flags on %q uid %d: %w", p.TargetFolder, p.TargetUID, err)
			break
		}
		done = append(done, p)
		n++
	}
	return n, errors.Join(err, s.p.Store.PutPairs(done))
}

// applyDeletions handles pairs whose source message is gone: under "mirror"
// the target copy is expunged (at most sync.max_delete percent of the folder
// per pass unless forced); under "keep" the copy stays and the pair is
// forgotten.
func (s *session) applyDeletions(ctx context.Context, e mapping.Entry, gone []state.Pair, known int, opts copyOptions) (int64, error) {
	if opts.deletions != "mirror" {
		return 0, s.p.forget(gone)
	}
	if err := s.deletionGuard(e, gone, known, opts); err != nil {
		return 0, err
	}
	byFolder := map[string][]uint32{}
	for _, p := range gone {
		if p.Status == state.Copied && p.TargetUID != 0 {
			byFolder[p.TargetFolder] = append(byFolder[p.TargetFolder], p.TargetUID)
		}
	}
	var n int64
	for folder, uids := range byFolder {
		if err := s.dst.Expunge(ctx, folder, uids); err != nil && !errors.Is(err, mailbox.ErrFolderGone) {
			return n, fmt.Errorf("expunge on target folder %q: %w", folder, err)
		}
		n += int64(len(uids))
	}
	return n, s.p.forget(gone)
}

// forget deletes pairs from the state in one transaction.
func (p *Project) forget(ps []state.Pair) error {
	if len(ps) == 0 {
		return nil
	}
	return stopUser(p.Store.Write(func(tx *state.Tx) error { return deletePairs(tx, ps) }))
}

// deletePairs deletes pairs within a transaction: the one place that does.
func deletePairs(tx *state.Tx, ps []state.Pair) error {
	for _, p := range ps {
		if err := tx.DeletePair(p.User, p.SourceFolder, p.SourceUIDValidity, p.SourceKey); err != nil {
			return err
		}
	}
	return nil
}

// hashBody returns the hex SHA-256 of a body.
func hashBody(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// normFlags returns flags as a comparable set: \Recent dropped, system
// flags in their canonical case, sorted.
func normFlags(flags []string) []string {
	out := make([]string, 0, len(flags))
	for _, f := range flags {
		if len(f) > 1 && f[0] == '\\' {
			if strings.EqualFold(f, `\Recent`) {
				continue
			}
			f = `\` + strings.ToUpper(f[1:2]) + strings.ToLower(f[2:])
		}
		out = append(out, f)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func sameFlags(a, b []string) bool {
	return slices.Equal(normFlags(a), normFlags(b))
}

// deletionGuard holds back deleting more than sync.max_delete percent of a
// folder's known messages in one pass, unless forced.
func (s *session) deletionGuard(e mapping.Entry, gone []state.Pair, known int, opts copyOptions) error {
	limit := s.p.Config.Sync.MaxDelete
	if !opts.force && known > 0 && len(gone)*100 > limit*known {
		return permanent(fmt.Errorf("folder %q: %d of %d messages were deleted on the source, more than sync.max_delete (%d%%); nothing was deleted on the target. If this is expected, run `mailshift sync --force`", e.Source, len(gone), known, limit))
	}
	return nil
}
