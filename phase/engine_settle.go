package phase

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/mapping"
	"github.com/mailshift/mailshift/state"
)

// copyChunk copies msgs of a folder, retrying after transient failures:
// before each retry the copies the failure may have left unrecorded are
// settled by content, so nothing is copied twice. Every attempt keeps what
// it achieved, and the retry budget counts only attempts that achieved
// nothing. After a dropped connection the lane's MULTIAPPEND groups
// shrink, so that a bad link still carries whole groups.
func (s *session) copyChunk(ctx context.Context, c conns, fj *folderJob, msgs []mailbox.Message, lt *laneTarget) (copyStats, error) {
	var total copyStats
	rt := retrier{p: s.p, what: fmt.Sprintf("user %s folder %q", s.row.SourceUser, fj.e.Source)}
	settle := false
	for {
		if settle {
			rest, err := s.settle(ctx, c, fj, msgs)
			if len(rest) < len(msgs) {
				rt.progressed()
			}
			if err != nil {
				if rt.again(ctx, err) {
					continue
				}
				return total, rt.giveUp(err)
			}
			msgs = rest
			if len(msgs) == 0 {
				return total, nil
			}
		}
		st, dropped, err := s.copyBatch(ctx, c, fj.e, fj.sf, msgs, lt)
		total.add(st)
		if err == nil {
			return total, nil
		}
		settle = true
		if errors.Is(err, errOutsideWindow) {
			if err := s.p.waitWindow(ctx, s.row.SourceUser); err != nil {
				return total, err
			}
			continue
		}
		if errors.Is(err, mailbox.ErrAccountLimit) {
			if err := s.p.waitLimits(ctx, s.row.SourceUser, err); err != nil {
				return total, err
			}
			continue
		}
		if st.Messages+st.FailedMsgs > 0 {
			rt.progressed()
		}
		shrunk := dropped && lt.shrink()
		if !rt.again(ctx, err) {
			return total, rt.giveUp(err)
		}
		if shrunk {
			rt.forgive() // the next attempt sends smaller groups: it is not the same attempt again
		}
	}
}

// progressed starts the retry budget afresh: the last attempt achieved
// something, so the failures so far do not count against the next.
func (r *retrier) progressed() { r.attempts = 0 }

// forgive does not count the last attempt against the budget.
func (r *retrier) forgive() { r.attempts = max(r.attempts-1, 0) }

// settleQuiet is how long settling waits, once the target answers again,
// before it looks for the copies a failed command may have stored: a
// command held up on the way (a stalled link, a busy proxy) lands as soon
// as the path clears, and must be seen, not copied again.
const settleQuiet = time.Second

// settle resolves the intents among msgs after a failed batch and returns
// the messages that still need copying. What it resolved is recorded as it
// goes, also when it fails midway.
func (s *session) settle(ctx context.Context, c conns, fj *folderJob, msgs []mailbox.Message) ([]mailbox.Message, error) {
	user := s.row.SourceUser
	all, err := s.p.Store.Pairs(user, fj.e.Source)
	if err != nil {
		return msgs, stopUser(err)
	}
	want := make(map[string]bool, len(msgs))
	for _, m := range msgs {
		want[m.Key] = true
	}
	var intents []state.Pair
	for _, p := range all {
		if p.Status == state.Intent && p.SourceUIDValidity == fj.sf.UIDValidity && want[p.SourceKey] {
			intents = append(intents, p)
		}
	}
	var rerr error
	if len(intents) > 0 {
		if _, err := c.dst.Status(ctx, fj.e.Target); err != nil {
			return msgs, fmt.Errorf("target folder %q: %w", fj.e.Target, err)
		}
		quiet := settleQuiet
		if s.p.settleQuiet > 0 {
			quiet = s.p.settleQuiet
		}
		if !sleepCtx(ctx, quiet) {
			return msgs, ctx.Err()
		}
		if rerr = s.resolve(ctx, c, fj.e, intents, all); rerr != nil {
			rerr = fmt.Errorf("resolve interrupted copies in %q: %w", fj.e.Source, rerr)
		}
	}
	rest, err := s.unrecorded(fj, msgs)
	if err != nil {
		return msgs, err
	}
	if rerr != nil {
		return rest, rerr
	}
	s.p.log().Debug("settled a failed batch", "user", user, "folder", fj.e.Source, "messages", len(msgs), "intents", len(intents), "to_copy_again", len(rest))
	return rest, nil
}

// unrecorded returns the messages of msgs that have no pair in the state
// (intents included: those are still to be settled).
func (s *session) unrecorded(fj *folderJob, msgs []mailbox.Message) ([]mailbox.Message, error) {
	keys := make([]string, len(msgs))
	for i, m := range msgs {
		keys[i] = m.Key
	}
	ps, err := s.p.Store.PairsByKey(s.row.SourceUser, fj.e.Source, fj.sf.UIDValidity, keys)
	if err != nil {
		return nil, stopUser(err)
	}
	recorded := make(map[string]bool, len(ps))
	for _, p := range ps {
		if p.Status != state.Intent {
			recorded[p.SourceKey] = true
		}
	}
	var rest []mailbox.Message
	for _, m := range msgs {
		if !recorded[m.Key] {
			rest = append(rest, m)
		}
	}
	return rest, nil
}

// pairID identifies a pair within one folder of one user.
func pairID(p state.Pair) string {
	return fmt.Sprintf("%d/%s", p.SourceUIDValidity, p.SourceKey)
}

// Settling reads target bodies in chunks of at most settleChunkBytes (by
// the sizes the server reports) or settleChunkMessages messages, and
// records what each chunk settled before it reads the next.
const (
	settleChunkBytes    = 8 << 20
	settleChunkMessages = 500
)

// locate finds the target copies of pairs whose hash is known, among the
// target folder's messages with a UID of at least from that no other pair
// claims. Candidates are narrowed by internal date before any body is
// read (mailshift stores each copy with its source's date), and bodies are
// read in chunks; each chunk's matches go to onFound (when not nil) before
// the next chunk is read, so a failure midway keeps them. Identical
// messages are matched one to one, preferring a copy with the pair's
// flags and internal date (duplicates may differ in them).
func (s *session) locate(ctx context.Context, c conns, folder string, from uint32, ps []state.Pair, claimed map[uint32]bool, onFound func(map[string]mailbox.Message) error) (map[string]mailbox.Message, error) {
	byHash := map[string][]state.Pair{}
	dates := map[int64]bool{}
	anyDate := false // a pair without a date: its copy has the server's
	for _, p := range ps {
		if p.Hash == "" {
			continue
		}
		byHash[p.Hash] = append(byHash[p.Hash], p)
		if p.InternalDate.IsZero() {
			anyDate = true
		}
		dates[p.InternalDate.Unix()] = true
	}
	found := map[string]mailbox.Message{}
	if len(byHash) == 0 {
		return found, nil
	}
	_, tmsgs, err := c.dst.Messages(ctx, folder)
	if err != nil {
		return found, fmt.Errorf("list target folder %q: %w", folder, err)
	}
	var cand []mailbox.Message
	for _, m := range tmsgs {
		if m.UID >= from && !claimed[m.UID] && (anyDate || dates[m.InternalDate.Unix()]) {
			cand = append(cand, m)
		}
	}
	slices.SortFunc(cand, func(a, b mailbox.Message) int { return int(int64(a.UID) - int64(b.UID)) })
	left := len(ps)
	for len(cand) > 0 && left > 0 {
		n, bytes := 0, int64(0)
		for n < len(cand) && n < settleChunkMessages && (n == 0 || bytes+cand[n].Size <= settleChunkBytes) {
			bytes += cand[n].Size
			n++
		}
		chunk := cand[:n]
		cand = cand[n:]
		got, err := matchChunk(ctx, c, folder, chunk, byHash, s.p.bodyKey)
		if err != nil {
			return found, fmt.Errorf("read target folder %q: %w", folder, err)
		}
		if len(got) == 0 {
			continue
		}
		if onFound != nil {
			if err := onFound(got); err != nil {
				return found, err
			}
		}
		for k, m := range got {
			found[k] = m
		}
		left -= len(got)
	}
	return found, nil
}

// matchChunk reads one chunk of target messages and matches them to the
// pairs still unmatched in byHash (which it updates) by key (bodyKey: the
// hash of the bytes, or the identity).
func matchChunk(ctx context.Context, c conns, folder string, chunk []mailbox.Message, byHash map[string][]state.Pair, key func(io.Reader) (string, error)) (map[string]mailbox.Message, error) {
	hashes := make(map[uint32]string, len(chunk))
	err := c.dst.Fetch(ctx, folder, chunk, func(m mailbox.Message, b mailbox.Body) error {
		h, err := key(b)
		hashes[m.UID] = h
		return err
	})
	if err != nil {
		return nil, err
	}
	got := map[string]mailbox.Message{}
	for _, m := range chunk {
		h, ok := hashes[m.UID]
		pairs := byHash[h]
		if !ok || len(pairs) == 0 {
			continue
		}
		i := slices.IndexFunc(pairs, func(p state.Pair) bool {
			return sameFlags(m.Flags, p.Flags) && m.InternalDate.Unix() == p.InternalDate.Unix()
		})
		i = max(i, 0)
		got[pairID(pairs[i])] = m
		byHash[h] = slices.Delete(pairs, i, i+1)
	}
	return got, nil
}

// resolve settles intents left by an interrupted run: each is matched by
// content against the target messages from the UIDNEXT saved with it; a
// match becomes a pair as soon as it is found, and once every candidate
// was read the rest are forgotten, to be copied again.
func (s *session) resolve(ctx context.Context, c conns, e mapping.Entry, intents, all []state.Pair) error {
	claimed := map[uint32]bool{}
	for _, p := range all {
		if p.Status == state.Copied && p.TargetUID != 0 {
			claimed[p.TargetUID] = true
		}
	}
	if err := s.hashIntents(ctx, c, e, intents); err != nil {
		return err
	}
	lookups, err := s.matchKeys(ctx, c, e, intents) // identities at verify.level identity
	if err != nil {
		return err
	}
	from := uint32(0)
	byFolder := map[string][]state.Pair{}
	for i, p := range lookups {
		if i == 0 || p.TargetUIDNext < from {
			from = p.TargetUIDNext
		}
		byFolder[p.TargetFolder] = append(byFolder[p.TargetFolder], p)
	}
	byID := make(map[string]state.Pair, len(intents))
	for _, p := range intents {
		byID[pairID(p)] = p
	}
	resolved := 0
	found := map[string]bool{}
	record := func(got map[string]mailbox.Message) error {
		var copied, reflag []state.Pair // reflag: copies found with other flags than the pair's
		for id, m := range got {
			p := byID[id]
			p.TargetUID, p.Status = m.UID, state.Copied
			copied = append(copied, p)
			if !sameFlags(s.p.keptFlags(s.dstDesc, m.Flags), s.p.keptFlags(s.dstDesc, p.Flags)) {
				reflag = append(reflag, p)
			}
			found[id] = true
		}
		if err := s.p.Store.PutPairs(copied); err != nil {
			return stopUser(err)
		}
		resolved += len(copied)
		if len(reflag) == 0 {
			return nil
		}
		_, err := s.updateFlags(ctx, c, reflag)
		return err
	}
	for folder, ps := range byFolder {
		if _, err := s.locate(ctx, c, folder, from, ps, claimed, record); err != nil && !errors.Is(err, mailbox.ErrFolderGone) {
			return err
		}
	}
	var lost []state.Pair
	for _, p := range intents {
		if !found[pairID(p)] {
			lost = append(lost, p)
		}
	}
	s.p.log().Info("resolved interrupted copies", "user", s.row.SourceUser, "folder", e.Source, "found_on_target", resolved, "to_copy_again", len(lost))
	return s.p.forget(lost)
}

// hashIntents fills in the hash of intents recorded without one (messages
// streamed from the source) by reading them from the source again.
func (s *session) hashIntents(ctx context.Context, c conns, e mapping.Entry, intents []state.Pair) error {
	var ms []mailbox.Message
	for _, p := range intents {
		if p.Hash == "" {
			ms = append(ms, mailbox.Message{Key: p.SourceKey, UID: p.SourceUID, Size: p.Size})
		}
	}
	if len(ms) == 0 {
		return nil
	}
	sf, _, err := c.src.Messages(ctx, e.Source)
	if errors.Is(err, mailbox.ErrFolderGone) {
		return nil
	}
	if err != nil {
		return err
	}
	want := map[string]string{}
	err = c.src.Fetch(ctx, e.Source, ms, func(m mailbox.Message, b mailbox.Body) error {
		h, err := hashBody(b)
		want[m.Key] = h
		return err
	})
	if err != nil {
		return err
	}
	for i, p := range intents {
		if p.Hash == "" && p.SourceUIDValidity == sf.UIDValidity {
			intents[i].Hash = want[p.SourceKey]
		}
	}
	return nil
}

// rederive keeps pairs valid across a UIDVALIDITY change on either side: a
// new generation of the source folder is matched to the old pairs by
// content, and target UIDs are looked up again by content, so nothing is
// copied twice.
func (s *session) rederive(ctx context.Context, e mapping.Entry, sf, tf mailbox.Folder, pairs []state.Pair) ([]state.Pair, error) {
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
	var updates, deletes []state.Pair
	if len(staleSrc) > 0 {
		u, d, err := s.rederiveSource(ctx, e, sf, staleSrc)
		if err != nil {
			return nil, err
		}
		updates, deletes = append(updates, u...), append(deletes, d...)
	}
	if len(staleDst) > 0 {
		s.p.log().Warn("target folder UIDVALIDITY changed; finding copies again by content", "user", s.row.SourceUser, "folder", e.Target, "pairs", len(staleDst))
		lookups, err := s.matchKeys(ctx, s.conns, e, staleDst)
		if err != nil {
			return nil, err
		}
		found, err := s.locate(ctx, s.conns, e.Target, 1, lookups, nil, nil)
		if err != nil {
			return nil, err
		}
		for _, p := range staleDst {
			if m, ok := found[pairID(p)]; ok {
				p.TargetUID, p.TargetUIDValidity = m.UID, tf.UIDValidity
				updates = append(updates, p)
			} else {
				deletes = append(deletes, p)
			}
		}
	}
	err := s.p.Store.Write(func(tx *state.Tx) error {
		if err := deletePairs(tx, deletes); err != nil {
			return err
		}
		for _, p := range updates {
			if err := tx.PutPair(p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, stopUser(err)
	}
	pairs, err = s.p.Store.Pairs(s.row.SourceUser, e.Source)
	return pairs, stopUser(err)
}

// rederiveSource matches pairs of an old generation of the source folder
// to the messages of the new one by content: the pairs to write (with the
// new keys) and the old ones to delete.
func (s *session) rederiveSource(ctx context.Context, e mapping.Entry, sf mailbox.Folder, stale []state.Pair) (updates, deletes []state.Pair, err error) {
	s.p.log().Warn("source folder UIDVALIDITY changed; re-deriving pairs by content", "user", s.row.SourceUser, "folder", e.Source, "pairs", len(stale))
	_, msgs, err := s.src.Messages(ctx, e.Source)
	if err != nil {
		return nil, nil, err
	}
	byHash := map[string][]mailbox.Message{}
	err = s.src.Fetch(ctx, e.Source, msgs, func(m mailbox.Message, b mailbox.Body) error {
		h, err := hashBody(b)
		byHash[h] = append(byHash[h], m)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	for _, p := range stale {
		deletes = append(deletes, p)
		if ms := byHash[p.Hash]; len(ms) > 0 && p.Hash != "" {
			m := ms[0]
			byHash[p.Hash] = ms[1:]
			np := p
			np.SourceUIDValidity, np.SourceKey, np.SourceUID = sf.UIDValidity, m.Key, m.UID
			updates = append(updates, np)
		}
	}
	return updates, deletes, nil
}
