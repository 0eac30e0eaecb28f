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
	"time"

	"github.com/mailshift/mailshift/internal/mapping"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/state"
	"github.com/mailshift/mailshift/target"
)

// copyOptions says what a pass of the copy engine does beyond copying new
// messages.
type copyOptions struct {
	deletions string // keep | mirror: what to do with messages expunged on the source
	force     bool   // ignore sync.max_delete
}

// copyStats counts what one pass did for one user.
type copyStats struct {
	Messages    int64 // appended
	Bytes       int64
	Failed      int64 // refused by the target or unreadable
	FlagUpdates int64
	Expunged    int64
	Folders     int
	Elapsed     time.Duration
}

func (s *copyStats) add(o copyStats) {
	s.Messages += o.Messages
	s.Bytes += o.Bytes
	s.Failed += o.Failed
	s.FlagUpdates += o.FlagUpdates
	s.Expunged += o.Expunged
	s.Folders += o.Folders
}

// errTooManyFailures stops a user after errors.max failed messages.
var errTooManyFailures = errors.New("too many failed messages")

// session is one user's open source and target for a pass.
type session struct {
	p       *Project
	row     users.Row
	src     source.Source
	dst     target.Target
	srcDesc source.Description
	dstDesc source.Description
	plan    []mapping.Entry
	srcDirs []source.Folder
}

// openSession logs in to both sides of a user and plans the folder mapping.
func (p *Project) openSession(ctx context.Context, r users.Row) (*session, error) {
	src, err := p.openSource(ctx, r)
	if err != nil {
		return nil, err
	}
	dst, err := p.openTarget(ctx, r)
	if err != nil {
		src.Close()
		return nil, err
	}
	s := &session{p: p, row: r, src: src, dst: dst}
	if err := s.replan(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// replan lists both sides' folders and maps them.
func (s *session) replan(ctx context.Context) error {
	var err error
	if s.srcDesc, err = s.src.Describe(ctx); err != nil {
		return fmt.Errorf("source %s: %w", s.row.SourceUser, err)
	}
	if s.dstDesc, err = s.dst.Describe(ctx); err != nil {
		return fmt.Errorf("target %s: %w", s.row.TargetUser, err)
	}
	if s.srcDirs, err = s.src.Folders(ctx); err != nil {
		return fmt.Errorf("source %s: list folders: %w", s.row.SourceUser, err)
	}
	dstDirs, err := s.dst.Folders(ctx)
	if err != nil {
		return fmt.Errorf("target %s: list folders: %w", s.row.TargetUser, err)
	}
	s.plan, err = s.p.mapFolders(s.srcDesc, s.srcDirs, s.dstDesc, dstDirs)
	if err != nil {
		return fmt.Errorf("user %s: %w", s.row.SourceUser, err)
	}
	return nil
}

// Close logs out of both sides.
func (s *session) Close() {
	s.src.Close()
	s.dst.Close()
}

// mapFolders applies the configured folder mapping.
func (p *Project) mapFolders(srcDesc source.Description, srcDirs []source.Folder, dstDesc source.Description, dstDirs []source.Folder) ([]mapping.Entry, error) {
	return mapping.Plan(
		mapping.Endpoint{Delimiter: srcDesc.Delimiter, Folders: srcDirs},
		mapping.Endpoint{Delimiter: dstDesc.Delimiter, Folders: dstDirs},
		mapping.Config{Exclude: p.Config.Folders.Exclude, Map: p.Config.Folders.Map, Prefix: p.Config.Folders.Prefix},
	)
}

// copyAll runs one pass of the copy engine over every mapped folder of the
// session's user: copy what is missing, carry flag changes over, apply
// deletions by policy. It stops at the first error that is not about one
// message; what was done until then is recorded.
func (s *session) copyAll(ctx context.Context, opts copyOptions) (copyStats, error) {
	start := time.Now()
	var total copyStats
	var msgs, bytes int64
	for _, f := range s.srcDirs {
		msgs += int64(f.Messages)
		if f.Bytes > 0 {
			bytes += f.Bytes
		}
	}
	s.p.progress().Start(s.row.SourceUser, msgs, bytes)
	for _, e := range s.plan {
		if e.Excluded {
			continue
		}
		st, err := s.copyFolder(ctx, e, opts)
		total.add(st)
		if err != nil {
			total.Elapsed = time.Since(start)
			return total, err
		}
	}
	total.Elapsed = time.Since(start)
	return total, nil
}

// copyFolder brings one target folder in step with its source folder.
func (s *session) copyFolder(ctx context.Context, e mapping.Entry, opts copyOptions) (copyStats, error) {
	var st copyStats
	st.Folders = 1
	store := s.p.Store
	user := s.row.SourceUser

	sf, msgs, err := s.src.Messages(ctx, e.Source)
	if errors.Is(err, source.ErrFolderGone) {
		return st, nil // deleted since it was listed; the next pass sees it gone
	}
	if err != nil {
		return st, fmt.Errorf("source folder %q: %w", e.Source, err)
	}
	tf, err := s.dst.Status(ctx, e.Target)
	if errors.Is(err, source.ErrFolderGone) {
		if err := s.dst.CreateFolder(ctx, e.Target, e.Role); err != nil {
			return st, fmt.Errorf("create target folder %q: %w", e.Target, err)
		}
		tf, err = s.dst.Status(ctx, e.Target)
	}
	if err != nil {
		return st, fmt.Errorf("target folder %q: %w", e.Target, err)
	}

	pairs, err := store.Pairs(user, e.Source)
	if err != nil {
		return st, err
	}
	pairs, err = s.rederive(ctx, e, sf, tf, pairs)
	if err != nil {
		return st, err
	}

	// Intents left by an interrupted run: find out whether they arrived.
	var intents []state.Pair
	for _, p := range pairs {
		if p.Status == state.Intent {
			intents = append(intents, p)
		}
	}
	if len(intents) > 0 {
		if err := s.resolve(ctx, e, intents, pairs); err != nil {
			return st, fmt.Errorf("resolve interrupted copies in %q: %w", e.Source, err)
		}
		if pairs, err = store.Pairs(user, e.Source); err != nil {
			return st, err
		}
	}

	byKey := make(map[string]state.Pair, len(pairs))
	for _, p := range pairs {
		if p.SourceUIDValidity == sf.UIDValidity {
			byKey[p.SourceKey] = p
		}
	}
	var todo []source.Message
	var flagged []state.Pair
	present := make(map[string]bool, len(msgs))
	for _, m := range msgs {
		present[m.Key] = true
		p, ok := byKey[m.Key]
		switch {
		case !ok || p.Status == state.Failed:
			todo = append(todo, m)
		case p.Status == state.Copied:
			s.p.progress().Add(user, 1, p.Size)
			if !sameFlags(p.Flags, m.Flags) && p.TargetUID != 0 {
				p.Flags = m.Flags
				flagged = append(flagged, p)
			}
		}
	}

	// Flag changes first: cheap, and they make the target current sooner.
	if len(flagged) > 0 {
		n, err := s.updateFlags(ctx, flagged)
		st.FlagUpdates += n
		if err != nil {
			return st, err
		}
	}

	// Deletions on the source.
	var gone []state.Pair
	for _, p := range byKey {
		if !present[p.SourceKey] {
			gone = append(gone, p)
		}
	}
	if len(gone) > 0 {
		n, err := s.applyDeletions(ctx, e, gone, len(byKey), opts)
		st.Expunged += n
		if err != nil {
			return st, err
		}
	}

	if len(todo) > 0 {
		cst, err := s.copyMessages(ctx, e, sf, todo)
		st.add(cst)
		if err != nil {
			return st, err
		}
	}

	if tf, err = s.dst.Status(ctx, e.Target); err != nil {
		return st, fmt.Errorf("target folder %q: %w", e.Target, err)
	}
	err = store.PutCursor(state.Cursor{
		User: user, SourceFolder: e.Source, SourceUIDValidity: sf.UIDValidity,
		TargetFolder: e.Target, TargetUIDValidity: tf.UIDValidity,
		UIDNext: sf.UIDNext, HighestModSeq: sf.HighestModSeq, Messages: sf.Messages,
		SyncedAt: s.p.now(),
	})
	return st, err
}

// copyMessages appends msgs in batches, keeping the exactly-once order per
// batch: intents committed, then APPENDs, then the pairs committed.
func (s *session) copyMessages(ctx context.Context, e mapping.Entry, sf source.Folder, msgs []source.Message) (copyStats, error) {
	var st copyStats
	batch := s.p.Config.Copy.BatchSize
	for len(msgs) > 0 {
		n := min(batch, len(msgs))
		chunk := msgs[:n]
		msgs = msgs[n:]
		bst, err := s.copyBatch(ctx, e, sf, chunk)
		st.add(bst)
		if err != nil {
			return st, err
		}
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
	}
	return st, nil
}

func (s *session) copyBatch(ctx context.Context, e mapping.Entry, sf source.Folder, chunk []source.Message) (copyStats, error) {
	var st copyStats
	store := s.p.Store
	user := s.row.SourceUser
	tf, err := s.dst.Status(ctx, e.Target)
	if err != nil {
		return st, fmt.Errorf("target folder %q: %w", e.Target, err)
	}
	base := make(map[string]state.Pair, len(chunk))
	err = store.Write(func(tx *state.Tx) error {
		for _, m := range chunk {
			p := state.Pair{
				User: user, SourceFolder: e.Source, SourceUIDValidity: sf.UIDValidity,
				SourceKey: m.Key, SourceUID: m.UID, Size: m.Size,
				Flags: m.Flags, InternalDate: m.InternalDate,
				TargetFolder: e.Target, TargetUIDValidity: tf.UIDValidity, TargetUIDNext: tf.UIDNext,
				Status: state.Intent,
			}
			base[m.Key] = p
			if err := tx.PutPair(p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return st, err
	}

	var done []state.Pair
	seen := make(map[string]bool, len(chunk))
	maxFailed := int64(s.p.Config.Errors.Max)
	fetchErr := s.src.Fetch(ctx, e.Source, chunk, func(m source.Message, body source.Body) error {
		p := base[m.Key]
		seen[m.Key] = true
		h := sha256.New()
		size := body.Size()
		app, err := s.dst.Append(ctx, e.Target, m.Flags, m.InternalDate, size, io.TeeReader(body, h))
		var rej *target.RejectedError
		switch {
		case errors.As(err, &rej):
			p.Status = state.Failed
			p.Size = size
			p.Error = rej.Error()
			st.Failed++
			s.p.log().Warn("message refused", "user", user, "folder", e.Source, "key", m.Key, "size", size, "reason", rej.Error())
		case err != nil:
			return fmt.Errorf("append to %q (source %q key %s): %w", e.Target, e.Source, m.Key, err)
		default:
			p.Status = state.Copied
			p.Size = size
			p.Hash = hex.EncodeToString(h.Sum(nil))
			p.TargetUID = app.UID
			if app.UIDValidity != 0 {
				p.TargetUIDValidity = app.UIDValidity
			}
			st.Messages++
			st.Bytes += size
		}
		done = append(done, p)
		s.p.progress().Add(user, 1, size)
		if st.Failed >= maxFailed {
			return errTooManyFailures
		}
		return nil
	})

	// Without UIDPLUS the new messages' UIDs are found by content.
	var unknown []state.Pair
	for _, p := range done {
		if p.Status == state.Copied && p.TargetUID == 0 {
			unknown = append(unknown, p)
		}
	}
	if len(unknown) > 0 {
		found, err := s.locate(ctx, e.Target, tf.UIDNext, unknown, nil)
		if err != nil && fetchErr == nil {
			fetchErr = err
		}
		for i, p := range done {
			if uid, ok := found[pairID(p)]; ok {
				done[i].TargetUID = uid
			}
		}
	}

	werr := store.Write(func(tx *state.Tx) error {
		for _, p := range done {
			if err := tx.PutPair(p); err != nil {
				return err
			}
		}
		if fetchErr != nil {
			return nil // the rest stay intents, resolved on the next run
		}
		// Messages the source no longer had were never appended.
		for _, m := range chunk {
			if !seen[m.Key] {
				if err := tx.DeletePair(user, e.Source, sf.UIDValidity, m.Key); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if fetchErr != nil {
		if errors.Is(fetchErr, errTooManyFailures) {
			return st, fmt.Errorf("folder %q: %d messages refused by the target (errors.max %d); see `mailshift status`: %w", e.Source, st.Failed, maxFailed, fetchErr)
		}
		return st, fetchErr
	}
	return st, werr
}

// pairID identifies a pair within one folder of one user.
func pairID(p state.Pair) string {
	return fmt.Sprintf("%d/%s", p.SourceUIDValidity, p.SourceKey)
}

// locate finds the target UIDs of pairs whose hash is known, among the target
// folder's messages with a UID of at least from that no other pair claims.
// Identical messages are matched one to one.
func (s *session) locate(ctx context.Context, folder string, from uint32, ps []state.Pair, claimed map[uint32]bool) (map[string]uint32, error) {
	_, tmsgs, err := s.dst.Messages(ctx, folder)
	if err != nil {
		return nil, fmt.Errorf("list target folder %q: %w", folder, err)
	}
	var cand []source.Message
	for _, m := range tmsgs {
		if m.UID >= from && !claimed[m.UID] {
			cand = append(cand, m)
		}
	}
	byHash := map[string][]uint32{}
	if len(cand) > 0 {
		err = s.dst.Fetch(ctx, folder, cand, func(m source.Message, b source.Body) error {
			h, err := hashBody(b)
			if err != nil {
				return err
			}
			byHash[h] = append(byHash[h], m.UID)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read target folder %q: %w", folder, err)
		}
	}
	for h := range byHash {
		slices.Sort(byHash[h])
	}
	found := map[string]uint32{}
	for _, p := range ps {
		if uids := byHash[p.Hash]; len(uids) > 0 && p.Hash != "" {
			found[pairID(p)] = uids[0]
			byHash[p.Hash] = uids[1:]
		}
	}
	return found, nil
}

// resolve settles intents left by an interrupted run: each is matched by
// content against the target messages from the UIDNEXT saved with it; a
// match becomes a pair, the rest are forgotten and copied again.
func (s *session) resolve(ctx context.Context, e mapping.Entry, intents, all []state.Pair) error {
	claimed := map[uint32]bool{}
	for _, p := range all {
		if p.Status == state.Copied && p.TargetUID != 0 {
			claimed[p.TargetUID] = true
		}
	}
	// The source content tells what each intent's copy would look like.
	wantHash := map[string]string{}
	byGen := map[uint32][]source.Message{}
	for _, p := range intents {
		byGen[p.SourceUIDValidity] = append(byGen[p.SourceUIDValidity], source.Message{Key: p.SourceKey, UID: p.SourceUID, Size: p.Size})
	}
	sf, _, err := s.src.Messages(ctx, e.Source)
	if err != nil && !errors.Is(err, source.ErrFolderGone) {
		return err
	}
	if err == nil {
		if ms := byGen[sf.UIDValidity]; len(ms) > 0 {
			err := s.src.Fetch(ctx, e.Source, ms, func(m source.Message, b source.Body) error {
				h, err := hashBody(b)
				wantHash[fmt.Sprintf("%d/%s", sf.UIDValidity, m.Key)] = h
				return err
			})
			if err != nil {
				return err
			}
		}
	}
	from := uint32(0)
	for i, p := range intents {
		if p.Hash == "" {
			intents[i].Hash = wantHash[pairID(p)]
		}
		if i == 0 || p.TargetUIDNext < from {
			from = p.TargetUIDNext
		}
	}
	byFolder := map[string][]state.Pair{}
	for _, p := range intents {
		byFolder[p.TargetFolder] = append(byFolder[p.TargetFolder], p)
	}
	found := map[string]uint32{}
	for folder, ps := range byFolder {
		f, err := s.locate(ctx, folder, from, ps, claimed)
		if errors.Is(err, source.ErrFolderGone) {
			continue
		}
		if err != nil {
			return err
		}
		for k, v := range f {
			found[k] = v
		}
	}
	resolved := 0
	err = s.p.Store.Write(func(tx *state.Tx) error {
		for _, p := range intents {
			if uid, ok := found[pairID(p)]; ok {
				p.TargetUID = uid
				p.Status = state.Copied
				resolved++
				if err := tx.PutPair(p); err != nil {
					return err
				}
				continue
			}
			if err := tx.DeletePair(p.User, p.SourceFolder, p.SourceUIDValidity, p.SourceKey); err != nil {
				return err
			}
		}
		return nil
	})
	s.p.log().Info("resolved interrupted copies", "user", s.row.SourceUser, "folder", e.Source, "found_on_target", resolved, "to_copy_again", len(intents)-resolved)
	return err
}

// rederive keeps pairs valid across a UIDVALIDITY change on either side: a
// new generation of the source folder is matched to the old pairs by
// content, and target UIDs are looked up again by content, so nothing is
// copied twice.
func (s *session) rederive(ctx context.Context, e mapping.Entry, sf, tf source.Folder, pairs []state.Pair) ([]state.Pair, error) {
	var staleSrc, staleDst []state.Pair
	for _, p := range pairs {
		if p.Status != state.Copied {
			continue
		}
		if p.SourceUIDValidity != sf.UIDValidity {
			staleSrc = append(staleSrc, p)
		} else if p.TargetFolder == e.Target && p.TargetUIDValidity != tf.UIDValidity {
			staleDst = append(staleDst, p)
		}
	}
	if len(staleSrc) == 0 && len(staleDst) == 0 {
		return pairs, nil
	}
	user := s.row.SourceUser
	var updates []state.Pair
	var deletes []state.Pair
	if len(staleSrc) > 0 {
		s.p.log().Warn("source folder UIDVALIDITY changed; re-deriving pairs by content", "user", user, "folder", e.Source, "pairs", len(staleSrc))
		_, msgs, err := s.src.Messages(ctx, e.Source)
		if err != nil {
			return nil, err
		}
		byHash := map[string][]source.Message{}
		err = s.src.Fetch(ctx, e.Source, msgs, func(m source.Message, b source.Body) error {
			h, err := hashBody(b)
			byHash[h] = append(byHash[h], m)
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, p := range staleSrc {
			deletes = append(deletes, p)
			if ms := byHash[p.Hash]; len(ms) > 0 && p.Hash != "" {
				m := ms[0]
				byHash[p.Hash] = ms[1:]
				np := p
				np.SourceUIDValidity, np.SourceKey, np.SourceUID = sf.UIDValidity, m.Key, m.UID
				updates = append(updates, np)
			}
		}
	}
	if len(staleDst) > 0 {
		s.p.log().Warn("target folder UIDVALIDITY changed; finding copies again by content", "user", user, "folder", e.Target, "pairs", len(staleDst))
		found, err := s.locate(ctx, e.Target, 1, staleDst, nil)
		if err != nil {
			return nil, err
		}
		for _, p := range staleDst {
			if uid, ok := found[pairID(p)]; ok {
				p.TargetUID, p.TargetUIDValidity = uid, tf.UIDValidity
				updates = append(updates, p)
			} else {
				deletes = append(deletes, p)
			}
		}
	}
	err := s.p.Store.Write(func(tx *state.Tx) error {
		for _, p := range deletes {
			if err := tx.DeletePair(p.User, p.SourceFolder, p.SourceUIDValidity, p.SourceKey); err != nil {
				return err
			}
		}
		for _, p := range updates {
			if err := tx.PutPair(p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.p.Store.Pairs(user, e.Source)
}

// updateFlags sets the target flags of pairs to their (new) Flags.
func (s *session) updateFlags(ctx context.Context, ps []state.Pair) (int64, error) {
	var n int64
	var done []state.Pair
	var err error
	for _, p := range ps {
		if err = s.dst.SetFlags(ctx, p.TargetFolder, p.TargetUID, p.Flags); err != nil {
			err = fmt.Errorf("set flags on %q uid %d: %w", p.TargetFolder, p.TargetUID, err)
			break
		}
		done = append(done, p)
		n++
	}
	werr := s.p.Store.Write(func(tx *state.Tx) error {
		for _, p := range done {
			if err := tx.PutPair(p); err != nil {
				return err
			}
		}
		return nil
	})
	return n, errors.Join(err, werr)
}

// applyDeletions handles pairs whose source message is gone: under "mirror"
// the target copy is expunged (at most sync.max_delete percent of the folder
// per pass unless forced); under "keep" the copy stays and the pair is
// forgotten.
func (s *session) applyDeletions(ctx context.Context, e mapping.Entry, gone []state.Pair, known int, opts copyOptions) (int64, error) {
	if opts.deletions != "mirror" {
		return 0, s.p.forget(gone)
	}
	limit := s.p.Config.Sync.MaxDelete
	if !opts.force && known > 0 && len(gone)*100 > limit*known {
		return 0, fmt.Errorf("folder %q: %d of %d messages were deleted on the source, more than sync.max_delete (%d%%); nothing was deleted on the target. If this is expected, run `mailshift sync --force`", e.Source, len(gone), known, limit)
	}
	byFolder := map[string][]uint32{}
	for _, p := range gone {
		if p.Status == state.Copied && p.TargetUID != 0 {
			byFolder[p.TargetFolder] = append(byFolder[p.TargetFolder], p.TargetUID)
		}
	}
	var n int64
	for folder, uids := range byFolder {
		if err := s.dst.Expunge(ctx, folder, uids); err != nil && !errors.Is(err, source.ErrFolderGone) {
			return n, fmt.Errorf("expunge on target folder %q: %w", folder, err)
		}
		n += int64(len(uids))
	}
	return n, s.p.forget(gone)
}

// forget deletes pairs from the state in one transaction.
func (p *Project) forget(ps []state.Pair) error {
	return p.Store.Write(func(tx *state.Tx) error {
		for _, pr := range ps {
			if err := tx.DeletePair(pr.User, pr.SourceFolder, pr.SourceUIDValidity, pr.SourceKey); err != nil {
				return err
			}
		}
		return nil
	})
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
