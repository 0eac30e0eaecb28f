package phase

// Verification that records what it found, so that the next one reads only
// what changed since.
//
// A full verification reads every copy's content and compares it with the
// hash of the bytes sent (recorded when the copy was made). Every
// verification that may write the state records, per source folder that
// verified clean, both sides' counters as listed before the check
// (UIDVALIDITY, UIDNEXT, message count, HIGHESTMODSEQ) and the folder's
// copies, and per message the copy as found (target UIDVALIDITY and UID,
// size, flags, internal date, hash).
//
// An incremental verification then passes over a folder whose counters on
// both sides, modification sequences included, and whose copies are as
// recorded: nothing was added, expunged or re-flagged on either side since
// (RFC 7162 3.1.1: any change of a message's flags raises the mailbox's
// HIGHESTMODSEQ), and its counts are checked against the copies. A folder
// that changed only by flags or new messages is checked by what changed on
// each side (CHANGEDSINCE): new copies for size, date and flags, other
// changes' flags against what was recorded of the other side. Any other
// folder (a message gone or not copied, a side without CONDSTORE, a
// difference last time) is listed on both sides and every message's copy
// checked for existence, size, flags and internal date. The content of a
// random sample of copies (verify.sample) is read on both sides and
// compared with the hash of what was sent; a freshly copied message needs
// no other content check: its hash was taken from the bytes read from the
// source as they were sent, and the target holds that many bytes.
//
// What an incremental verification cannot see: a copy whose bytes changed
// on the target while its size, flags and the folder's counters stayed
// (not possible through IMAP, where a message's content never changes,
// but possible on the server's disk) unless it falls in the sample. `verify
// --full` finds it.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/mapping"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
)

// The kinds of verification.
const (
	VerifyFull        = "full"
	VerifyIncremental = "incremental"
)

// VerifyOptions selects the users to verify, and how.
type VerifyOptions struct {
	Selection
	// Full reads every copy's content. Otherwise only what changed since
	// the last verification is looked at message by message, and the
	// content of a sample (verify.sample) is read.
	Full bool
}

// verifyMode is how a verification runs.
type verifyMode struct {
	// kind is VerifyFull or VerifyIncremental; "" is a full verification
	// that records nothing (the test step's, whose copies are removed).
	kind   string
	sample sampleSize
	// progress: the verification is a step of its own on the progress
	// display (not the tail of a cutover's final pass), and tells it
	// each folder's messages as they are verified.
	progress bool
}

// name is the kind of verification m is.
func (m verifyMode) name() string {
	if m.kind == "" {
		return VerifyFull
	}
	return m.kind
}

// verifyModeFor is the mode of a full or an incremental verification
// under the project's configuration.
func (p *Project) verifyModeFor(full bool) (verifyMode, error) {
	if full {
		return verifyMode{kind: VerifyFull}, nil
	}
	ss, err := p.Config.Verify.sample()
	if err != nil {
		return verifyMode{}, err
	}
	return verifyMode{kind: VerifyIncremental, sample: ss}, nil
}

// VerifyWith verifies the selected users. Full compares every message: per
// folder the counts, per message the size, flags, internal date and
// content hash. Otherwise the verification is incremental: see the top of
// this file. Either records what it found when the state may be written.
func VerifyWith(ctx context.Context, p *Project, opts VerifyOptions) (VerifyResult, error) {
	empty := VerifyResult{Failed: []UserFailure{}, Waiting: []UserFailure{}, List: []Difference{}}
	m, err := p.verifyModeFor(opts.Full)
	if err != nil {
		return empty, err
	}
	rows, err := p.selectUsers(opts.Selection)
	if err != nil {
		return empty, err
	}
	rows, left, err := p.partition(rows, needs{copied: true})
	if err != nil {
		return empty, err
	}
	if len(rows) == 0 {
		empty.Waiting = failures(left)
		return empty, noneReady("verify", left)
	}
	res, err := verifyUsers(ctx, p, rows, m)
	res.Waiting = failures(left)
	if err == nil {
		err = stepOutcome(ctx, "verify", nil, res.Waiting)
	}
	return res, err
}

// add sums a user's verification into r.
func (r *VerifyResult) add(o VerifyResult) {
	r.Folders += o.Folders
	r.Messages += o.Messages
	r.Differences += o.Differences
	r.Extra += o.Extra
	r.Sample += o.Sample
	r.Unchanged += o.Unchanged
	r.ByChanges += o.ByChanges
	r.Recorded = r.Recorded || o.Recorded
	r.List = append(r.List, o.List[:min(len(o.List), maxListed-len(r.List))]...)
	if r.SampleSetting == "" {
		r.SampleSetting = o.SampleSetting
	}
}

// verifyUserMode verifies one user as m says.
func (p *Project) verifyUserMode(ctx context.Context, r users.Row, m verifyMode) (VerifyResult, error) {
	s, err := p.openSession(ctx, r)
	if err != nil {
		return VerifyResult{Kind: m.name()}, err
	}
	defer s.Close()
	return s.verify(ctx, m)
}

// verify verifies the session's user as m says, by the folders as the
// session last listed them.
func (s *session) verify(ctx context.Context, m verifyMode) (VerifyResult, error) {
	p, user := s.p, s.row.SourceUser
	c := s.newCheck(false, false)
	var err error
	if c.inc, err = s.newIncCheck(m); err != nil {
		return c.res, err
	}
	if m.progress {
		s.startProgress()
		c.progress = s.p.progress()
	}
	err = c.run(ctx)
	c.res.Kind, c.res.Sample, c.res.Unchanged, c.res.ByChanges = m.name(), c.inc.read, c.inc.passed, c.inc.byChanges
	if m.kind == VerifyIncremental {
		c.res.SampleSetting = string(p.Config.Verify.Sample)
	}
	if err == nil && c.inc.record {
		err = stopUser(p.Store.PutVerification(state.Verification{User: user, Kind: m.kind, At: c.inc.now,
			Sample: c.inc.read, Differences: c.res.Differences}))
		c.res.Recorded = err == nil
	}
	return c.res, err
}

// incCheck is what a recorded or incremental verification of one user
// keeps beside the userCheck.
type incCheck struct {
	full      bool // every copy's content is read
	record    bool // what is found is written to the state
	now       time.Time
	folders   map[string]state.VerifiedFolder       // the last clean verification, by source folder
	tallies   map[string]map[uint32]state.PairTally // the copies now, by source folder and UIDVALIDITY
	sample    map[string]map[string]state.Pair      // the copies whose content is read, by source folder and key
	read      int64                                 // copies whose content was read
	passed    int                                   // folders passed over
	byChanges int                                   // folders checked by their changes only
	cur       map[string]state.Pair                 // the current folder's copies by key, once listed
	content   map[string]bool                       // keys of the current folder whose content was read
}

// newIncCheck loads what verifying the session's user as m says needs: the
// records of its last clean verification, its copies' tallies and the
// sample.
func (s *session) newIncCheck(m verifyMode) (*incCheck, error) {
	p, user := s.p, s.row.SourceUser
	ic := &incCheck{full: m.name() == VerifyFull, record: m.kind != "" && p.Store.RecordsVerifications(), now: p.now(),
		sample: map[string]map[string]state.Pair{}}
	if ic.full && !ic.record {
		return ic, nil
	}
	var err error
	if ic.tallies, err = p.Store.PairTallies(user); err != nil {
		return nil, stopUser(err)
	}
	if ic.full {
		return ic, nil
	}
	if ic.folders, err = p.Store.VerifiedFolders(user); err != nil {
		return nil, stopUser(err)
	}
	picked, err := p.Store.SamplePairs(user, m.sample.count, m.sample.perMillion)
	if err != nil {
		return nil, stopUser(err)
	}
	for _, pr := range picked {
		if ic.sample[pr.SourceFolder] == nil {
			ic.sample[pr.SourceFolder] = map[string]state.Pair{}
		}
		ic.sample[pr.SourceFolder][pr.SourceKey] = pr
	}
	return ic, nil
}

// folder verifies one source folder: passes over it if nothing changed
// since its last clean verification, checks it message by message
// otherwise, and records what it found.
func (ic *incCheck) folder(ctx context.Context, c *userCheck, e mapping.Entry) error {
	ic.cur, ic.content = nil, map[string]bool{}
	if !ic.full {
		if ok, err := ic.unchanged(ctx, c, e); ok || err != nil {
			if err == nil && len(c.pending) > 0 && ic.record {
				err = stopUser(c.s.p.Store.DropVerifiedFolder(c.s.row.SourceUser, e.Source))
			}
			return err
		}
	}
	if err := c.folder(ctx, e); err != nil {
		return err
	}
	if !ic.full && ic.cur != nil {
		if err := ic.sourceSample(ctx, c, e); err != nil {
			return err
		}
	}
	return ic.recordFolder(ctx, c, e)
}

// sampled is called by userCheck.folder once the folder's messages are
// checked by what both sides list: want are the copies whose content is
// to be read, by target folder. A full verification reads them all; an
// incremental one only those in the sample.
func (ic *incCheck) sampled(e mapping.Entry, want map[string][]mailbox.Message, byKey map[string]state.Pair) map[string][]mailbox.Message {
	ic.cur = byKey
	claims := map[string]map[uint32]string{} // target folder, UID: source key
	for k, pr := range byKey {
		if claims[pr.TargetFolder] == nil {
			claims[pr.TargetFolder] = map[uint32]string{}
		}
		claims[pr.TargetFolder][pr.TargetUID] = k
	}
	out := map[string][]mailbox.Message{}
	for folder, ms := range want {
		for _, t := range ms {
			k := claims[folder][t.UID]
			if _, in := ic.sample[e.Source][k]; !ic.full && !in {
				continue
			}
			out[folder] = append(out[folder], t)
			ic.content[k] = true
			ic.read++
		}
	}
	return out
}

// unchanged passes over a folder whose counters on both sides (with a
// modification sequence on both) and whose copies are as its last clean
// verification recorded them, with its counts checked: one copy per
// source message, and the target folder holding the copies and the
// messages only there. If the folder only changed since by flags or new
// messages, it checks what changed alone (changedSince). The sample's
// copies in it are still read. It returns false, having found nothing,
// when the folder is to be listed in full.
func (ic *incCheck) unchanged(ctx context.Context, c *userCheck, e mapping.Entry) (bool, error) {
	s := c.s
	rec, ok := ic.folders[e.Source]
	sf, sok := s.listedSource(e.Source)
	tf, tok := s.listedTarget(e.Target)
	if !ok || !sok || !tok || rec.TargetFolder != e.Target || sf.Error != "" || tf.Error != "" || sf.NoSelect || tf.NoSelect {
		return false, nil
	}
	if !s.srcDesc.CondStore || !s.dstDesc.CondStore || sf.HighestModSeq == 0 || tf.HighestModSeq == 0 || rec.SourceModSeq == 0 || rec.TargetModSeq == 0 {
		return false, nil // a flag change would not show in the counters
	}
	if sf.UIDValidity != rec.SourceUIDValidity || tf.UIDValidity != rec.TargetUIDValidity {
		return false, nil
	}
	t := ic.tallies[e.Source][sf.UIDValidity]
	if t.Other != 0 || int64(sf.Messages) != t.Copied || int64(tf.Messages) < t.Copied {
		return false, nil // the counts: a message not copied, or a copy gone
	}
	if sf.UIDNext == rec.SourceUIDNext && sf.Messages == rec.SourceMessages && sf.HighestModSeq == rec.SourceModSeq &&
		tf.UIDNext == rec.TargetUIDNext && tf.Messages == rec.TargetMessages && tf.HighestModSeq == rec.TargetModSeq {
		if t != rec.Tally || int64(tf.Messages) != t.Copied+rec.Extra {
			return false, nil
		}
		ic.passed++
		c.res.Extra += ic.extraOnce(c, e, rec.Extra)
	} else {
		extra, ok, err := ic.changedSince(ctx, c, e, rec, sf, tf, t)
		if !ok || err != nil {
			return false, err
		}
		ic.byChanges++
		c.res.Extra += ic.extraOnce(c, e, extra)
	}
	c.res.Messages += int64(sf.Messages)
	return true, ic.sampleUnchanged(ctx, c, e, sf)
}

// extraOnce is n for the first source folder of a target folder, 0 for
// others: the messages only on a target folder are counted once.
func (ic *incCheck) extraOnce(c *userCheck, e mapping.Entry, n int64) int64 {
	if c.seen[e.Target] {
		return 0
	}
	c.seen[e.Target] = true
	return n
}

// changeLister lists what changed in a folder since a modification
// sequence (CONDSTORE): IMAP sources and targets.
type changeLister interface {
	Changes(ctx context.Context, folder string, since uint64) (mailbox.Folder, []mailbox.Message, error)
}

// changes is what changed in a folder since its last clean verification,
// on both sides.
type changes struct {
	rec        state.VerifiedFolder
	recs       map[string]state.VerifiedMessage // by source key; new copies added
	src, dst   []mailbox.Message                // changed or new since, each side
	srcFlags   map[string][]string              // by source key, the flags changed on the source
	dstFlags   map[string][]string              // by source key, the flags changed on the target
	extra      int64                            // messages only on the target folder now
	newCopies  int
	newSumUIDs int64
}

// changedSince checks a folder that changed since its last clean
// verification only by flags and new messages (the same UIDVALIDITY on
// both sides, no message gone): the messages changed since on each side
// (CHANGEDSINCE) are checked, new copies for size, date and flags, the
// others' flags against what was recorded of the other side; what was
// recorded is brought up to date. It returns the messages only on the
// target folder, and false, having found nothing, when the folder must be
// listed in full instead (a message gone, one not copied, a copy not as
// sent: listing names them).
func (ic *incCheck) changedSince(ctx context.Context, c *userCheck, e mapping.Entry, rec state.VerifiedFolder, sf, tf mailbox.Folder, t state.PairTally) (int64, bool, error) {
	src, sok := c.s.src.(changeLister)
	dst, dok := c.s.dst.(changeLister)
	if !sok || !dok || sf.UIDNext < rec.SourceUIDNext || tf.UIDNext < rec.TargetUIDNext {
		return 0, false, nil
	}
	recs, err := c.s.p.Store.VerifiedMessages(c.s.row.SourceUser, e.Source, sf.UIDValidity)
	if err != nil || int64(len(recs)) != rec.Tally.Copied {
		return 0, false, stopUser(err)
	}
	ch := &changes{rec: rec, recs: recs, srcFlags: map[string][]string{}, dstFlags: map[string][]string{}, extra: rec.Extra}
	sf2, schanged, err := src.Changes(ctx, e.Source, rec.SourceModSeq)
	if err != nil {
		return 0, false, ignoreGone(fmt.Errorf("source folder %q: %w", e.Source, err))
	}
	tf2, tchanged, err := dst.Changes(ctx, e.Target, rec.TargetModSeq)
	if err != nil {
		return 0, false, ignoreGone(fmt.Errorf("target folder %q: %w", e.Target, err))
	}
	if !sameCounts(sf, sf2) || !sameCounts(tf, tf2) {
		return 0, false, nil // a message came or went meanwhile
	}
	ch.src, ch.dst = schanged, tchanged
	if ok, err := ic.newCopies(c, e, ch, sf, tf); !ok || err != nil {
		return 0, false, err
	}
	if t.Copied != rec.Tally.Copied+int64(ch.newCopies) || t.Sum != rec.Tally.Sum+ch.newSumUIDs || int64(tf.Messages) != t.Copied+ch.extra {
		return 0, false, nil // the copies recorded changed otherwise
	}
	if !ic.sortChanges(ch) {
		return 0, false, nil
	}
	ic.compareFlags(c, e, ch.recs, ch.srcFlags, ch.dstFlags)
	rec.Tally, rec.Extra = t, ch.extra
	rec.SourceUIDNext, rec.SourceMessages, rec.TargetUIDNext, rec.TargetMessages = sf.UIDNext, sf.Messages, tf.UIDNext, tf.Messages
	return ch.extra, true, ic.recordFlags(c, e, rec, sf, tf, ch.recs)
}

// newCopies takes the messages new on each side since the last clean
// verification: each new source message must have a copy among the new
// target messages with its size and internal date (and is added to the
// records with the copy's flags); new target messages no copy claims are
// only on the target. False if the counts say a message went, or a new
// message has no such copy.
func (ic *incCheck) newCopies(c *userCheck, e mapping.Entry, ch *changes, sf, tf mailbox.Folder) (bool, error) {
	var newSrc []mailbox.Message
	for _, m := range ch.src {
		if m.UID >= ch.rec.SourceUIDNext {
			newSrc = append(newSrc, m)
		}
	}
	newDst := map[uint32]mailbox.Message{}
	for _, t := range ch.dst {
		if t.UID >= ch.rec.TargetUIDNext {
			newDst[t.UID] = t
		}
	}
	if int64(sf.Messages) != int64(ch.rec.SourceMessages)+int64(len(newSrc)) || int64(tf.Messages) != int64(ch.rec.TargetMessages)+int64(len(newDst)) {
		return false, nil // an expunge on one side
	}
	if len(newSrc) == 0 {
		ch.extra += int64(len(newDst))
		return true, nil
	}
	keys := make([]string, len(newSrc))
	for i, m := range newSrc {
		keys[i] = m.Key
	}
	pairs, err := c.s.p.Store.PairsByKey(c.s.row.SourceUser, e.Source, sf.UIDValidity, keys)
	if err != nil || len(pairs) != len(newSrc) {
		return false, stopUser(err)
	}
	for _, pr := range pairs {
		t, ok := newDst[pr.TargetUID]
		if pr.Status != state.Copied || pr.TargetFolder != e.Target || !ok || t.Size != pr.Size {
			return false, nil
		}
		ch.recs[pr.SourceKey] = state.VerifiedMessage{SourceKey: pr.SourceKey, TargetFolder: pr.TargetFolder, TargetUIDValidity: pr.TargetUIDValidity,
			TargetUID: pr.TargetUID, Size: t.Size, Hash: pr.Hash, Flags: normFlags(t.Flags), InternalDate: t.InternalDate, VerifiedAt: ic.now}
		delete(newDst, pr.TargetUID)
		ch.newCopies++
		ch.newSumUIDs += int64(pr.TargetUID) + pr.Size
	}
	ch.extra += int64(len(newDst))
	for _, m := range newSrc {
		vm := ch.recs[m.Key]
		if !vm.InternalDate.Truncate(time.Second).Equal(m.InternalDate.Truncate(time.Second)) {
			return false, nil
		}
	}
	return true, nil
}

// sortChanges sorts the changed messages' flags by source key, each side;
// false if a changed source message is not among the records.
func (ic *incCheck) sortChanges(ch *changes) bool {
	byUID := make(map[uint32]string, len(ch.recs))
	for k, vm := range ch.recs {
		byUID[vm.TargetUID] = k
	}
	for _, m := range ch.src {
		if _, ok := ch.recs[m.Key]; !ok {
			return false
		}
		ch.srcFlags[m.Key] = m.Flags
	}
	for _, t := range ch.dst {
		if k, ok := byUID[t.UID]; ok {
			ch.dstFlags[k] = t.Flags
		} // else only on the target: counted, not compared
	}
	return true
}

// compareFlags compares, for each message changed on either side, its
// flags on the source with those on the target, each side's as it changed
// or as recorded, and records the target's.
func (ic *incCheck) compareFlags(c *userCheck, e mapping.Entry, recs map[string]state.VerifiedMessage, srcFlags, dstFlags map[string][]string) {
	keys := make([]string, 0, len(srcFlags)+len(dstFlags))
	for k := range srcFlags {
		keys = append(keys, k)
	}
	for k := range dstFlags {
		if _, ok := srcFlags[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		vm := recs[k]
		sfl, ok := srcFlags[k]
		if !ok {
			sfl = vm.Flags
		}
		tfl, ok := dstFlags[k]
		if !ok {
			tfl = vm.Flags
		}
		if !sameFlags(sfl, tfl) {
			uid, _ := strconv.ParseUint(k, 10, 32)
			c.listed = append(c.listed, mailbox.Message{Key: k, UID: uint32(uid), Size: vm.Size, Flags: sfl})
			c.diff(Difference{Folder: e.Source, Key: k, Size: vm.Size, Kind: DiffFlags, flags: sfl,
				TargetFolder: vm.TargetFolder, TargetUID: vm.TargetUID,
				What: fmt.Sprintf("flags %v on the target, %v on the source", normFlags(tfl), normFlags(sfl))})
		}
		vm.Flags = normFlags(tfl)
		recs[k] = vm
	}
}

// recordFlags records a folder checked by its changes: its new counters
// and its messages' flags if it is clean, that it must be listed again if
// not.
func (ic *incCheck) recordFlags(c *userCheck, e mapping.Entry, rec state.VerifiedFolder, sf, tf mailbox.Folder, recs map[string]state.VerifiedMessage) error {
	if !ic.record {
		return nil
	}
	store := c.s.p.Store
	if len(c.pending) > 0 {
		return stopUser(store.DropVerifiedFolder(c.s.row.SourceUser, e.Source))
	}
	rec.SourceModSeq, rec.TargetModSeq, rec.VerifiedAt = sf.HighestModSeq, tf.HighestModSeq, ic.now
	msgs := make([]state.VerifiedMessage, 0, len(recs))
	for _, vm := range recs {
		msgs = append(msgs, vm)
	}
	return stopUser(store.PutVerifiedFolder(rec, msgs))
}

// sameCounts tells whether a folder has the same UIDVALIDITY, UIDNEXT and
// message count in two listings.
func sameCounts(a, b mailbox.Folder) bool {
	return a.UIDValidity == b.UIDValidity && a.UIDNext == b.UIDNext && a.Messages == b.Messages
}

// ignoreGone is nil for a folder gone (it is listed, and found so), err
// otherwise.
func ignoreGone(err error) error {
	if errors.Is(err, mailbox.ErrFolderGone) {
		return nil
	}
	return err
}

// sampleUnchanged reads the content of the sample's copies in a folder
// passed over, on both sides, by the UIDs recorded.
func (ic *incCheck) sampleUnchanged(ctx context.Context, c *userCheck, e mapping.Entry, sf mailbox.Folder) error {
	var prs []state.Pair
	for _, pr := range ic.sample[e.Source] {
		if pr.SourceUIDValidity == sf.UIDValidity && pr.TargetFolder == e.Target && pr.Status == state.Copied {
			prs = append(prs, pr)
		}
	}
	if len(prs) == 0 {
		return nil
	}
	slices.SortFunc(prs, func(a, b state.Pair) int { return int(a.TargetUID) - int(b.TargetUID) })
	tmsgs := make([]mailbox.Message, len(prs))
	smsgs := make([]mailbox.Message, len(prs))
	for i, pr := range prs {
		tmsgs[i] = mailbox.Message{Key: strconv.FormatUint(uint64(pr.TargetUID), 10), UID: pr.TargetUID, Size: pr.Size}
		smsgs[i] = mailbox.Message{Key: pr.SourceKey, UID: pr.SourceUID, Size: pr.Size}
	}
	dst, heads, err := hashAll(ctx, c.s.dst.Fetch, e.Target, tmsgs, func(m mailbox.Message) string { return m.Key })
	if err != nil {
		return fmt.Errorf("read target folder %q: %w", e.Target, err)
	}
	src, _, err := hashAll(ctx, c.s.src.Fetch, e.Source, smsgs, func(m mailbox.Message) string { return m.Key })
	if err != nil {
		return fmt.Errorf("source folder %q: %w", e.Source, err)
	}
	ic.read += int64(len(prs))
	for _, pr := range prs {
		uid := strconv.FormatUint(uint64(pr.TargetUID), 10)
		d := Difference{Folder: e.Source, Key: pr.SourceKey, Size: pr.Size, pair: pr, flags: pr.Flags,
			TargetFolder: e.Target, TargetUID: pr.TargetUID, Subject: heads[uid].subject, Date: heads[uid].date}
		h, found := dst[uid]
		switch {
		case !found:
			d.Kind, d.What, d.Subject, d.Date = DiffGone, fmt.Sprintf("copy (target %q uid %d) is gone from the target", e.Target, pr.TargetUID), "", ""
		case h != pr.Hash:
			d.Kind, d.What = DiffContent, fmt.Sprintf("content differs (target %q uid %d)", e.Target, pr.TargetUID)
		case src[pr.SourceKey] != "" && src[pr.SourceKey] != pr.Hash:
			d.Kind, d.What = DiffContent, "the source message's content changed after it was copied"
		default:
			continue
		}
		c.diff(d)
	}
	return nil
}

// sourceSample reads the sample's source messages in a folder checked
// message by message and compares them with the hash of what was sent
// (userCheck.folder compared the copies' content with it).
func (ic *incCheck) sourceSample(ctx context.Context, c *userCheck, e mapping.Entry) error {
	var msgs []mailbox.Message
	for _, m := range c.listed {
		if _, in := ic.sample[e.Source][m.Key]; in && ic.content[m.Key] {
			msgs = append(msgs, m)
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	src, _, err := hashAll(ctx, c.s.src.Fetch, e.Source, msgs, func(m mailbox.Message) string { return m.Key })
	if err != nil {
		return fmt.Errorf("source folder %q: %w", e.Source, err)
	}
	for _, m := range msgs {
		pr := ic.cur[m.Key]
		if h, ok := src[m.Key]; ok && h != pr.Hash {
			c.diff(Difference{Folder: e.Source, Key: m.Key, Size: m.Size, Kind: DiffContent, pair: pr, flags: m.Flags,
				TargetFolder: pr.TargetFolder, TargetUID: pr.TargetUID, What: "the source message's content changed after it was copied"})
		}
	}
	return nil
}

// fetcher is a Source's or Target's Fetch.
type fetcher func(ctx context.Context, folder string, msgs []mailbox.Message, fn func(mailbox.Message, mailbox.Body) error) error

// hashAll reads msgs of folder and returns the hash and header of each
// that came, by key.
func hashAll(ctx context.Context, fetch fetcher, folder string, msgs []mailbox.Message, key func(mailbox.Message) string) (map[string]string, map[string]header, error) {
	hashes, heads := map[string]string{}, map[string]header{}
	err := fetch(ctx, folder, msgs, func(m mailbox.Message, b mailbox.Body) error {
		var hc headCapture
		h, err := hashBody(io.TeeReader(b, &hc))
		hashes[key(m)], heads[key(m)] = h, readHeader(hc.buf)
		return err
	})
	return hashes, heads, err
}

// recordFolder records a folder checked message by message: what was
// found if it verified clean, and that it must be looked at again if not.
func (ic *incCheck) recordFolder(ctx context.Context, c *userCheck, e mapping.Entry) error {
	if !ic.record {
		return nil
	}
	store, user := c.s.p.Store, c.s.row.SourceUser
	f, msgs, ok, err := ic.found(c, e)
	if err != nil {
		return err
	}
	if !ok {
		return stopUser(store.DropVerifiedFolder(user, e.Source))
	}
	return stopUser(store.PutVerifiedFolder(f, msgs))
}

// found is what a clean check of a folder found, and false if the folder
// is not clean or not as it can be recorded: copies in another target
// folder than the plan's, copies recorded meanwhile, a side not listed.
func (ic *incCheck) found(c *userCheck, e mapping.Entry) (state.VerifiedFolder, []state.VerifiedMessage, bool, error) {
	s, user := c.s, c.s.row.SourceUser
	sf, sok := s.listedSource(e.Source)
	tf, tok := s.listedTarget(e.Target)
	tm, listed := c.targets[e.Target]
	if len(c.pending) > 0 || ic.cur == nil || !sok || !tok || !listed || sf.Error != "" || tf.Error != "" {
		return state.VerifiedFolder{}, nil, false, nil
	}
	tally := ic.tallies[e.Source][sf.UIDValidity]
	if tally.Other != 0 || tally.Copied != int64(len(ic.cur)) || int64(len(c.listed)) != tally.Copied {
		return state.VerifiedFolder{}, nil, false, nil
	}
	var before map[string]state.VerifiedMessage
	if !ic.full {
		var err error
		if before, err = s.p.Store.VerifiedMessages(user, e.Source, sf.UIDValidity); err != nil {
			return state.VerifiedFolder{}, nil, false, stopUser(err)
		}
	}
	msgs := make([]state.VerifiedMessage, 0, len(c.listed))
	for _, m := range c.listed {
		pr, ok := ic.cur[m.Key]
		t, there := tm[pr.TargetUID]
		if !ok || pr.TargetFolder != e.Target || !there {
			return state.VerifiedFolder{}, nil, false, nil
		}
		vm := state.VerifiedMessage{SourceKey: m.Key, TargetFolder: pr.TargetFolder, TargetUIDValidity: pr.TargetUIDValidity,
			TargetUID: pr.TargetUID, Size: t.Size, Hash: pr.Hash, Flags: normFlags(t.Flags), InternalDate: t.InternalDate,
			VerifiedAt: ic.now, ContentAt: before[m.Key].ContentAt}
		if ic.content[m.Key] {
			vm.ContentAt = ic.now
		}
		msgs = append(msgs, vm)
	}
	if err := c.loadClaims(); err != nil {
		return state.VerifiedFolder{}, nil, false, err
	}
	var extra int64
	for uid := range tm {
		if !c.claimed[e.Target][uid] {
			extra++
		}
	}
	return state.VerifiedFolder{User: user, SourceFolder: e.Source, SourceUIDValidity: sf.UIDValidity, SourceUIDNext: sf.UIDNext,
		SourceMessages: sf.Messages, SourceModSeq: sf.HighestModSeq, TargetFolder: e.Target, TargetUIDValidity: tf.UIDValidity,
		TargetUIDNext: tf.UIDNext, TargetMessages: tf.Messages, TargetModSeq: tf.HighestModSeq, Tally: tally, Extra: extra,
		VerifiedAt: ic.now}, msgs, true, nil
}

// lastFull is when the oldest of the users' last full verifications ran
// (RFC 3339; "" if none of them had one) and how many never had one.
func (p *Project) lastFull(rows []users.Row) (string, int) {
	var oldest time.Time
	never := 0
	for _, r := range rows {
		v, ok, err := p.Store.LastVerification(r.SourceUser)
		if err != nil {
			p.log().Warn("last verification not read", "user", r.SourceUser, "error", err.Error())
		}
		if !ok || v.FullAt.IsZero() {
			never++
			continue
		}
		if oldest.IsZero() || v.FullAt.Before(oldest) {
			oldest = v.FullAt
		}
	}
	if oldest.IsZero() {
		return "", never
	}
	return oldest.UTC().Format(time.RFC3339), never
}

// renderVerifyKind says, for a person, which kind of verification ran and
// when the last full one was.
func renderVerifyKind(p *Project, v VerifyResult) string {
	var b strings.Builder
	if v.Kind == VerifyIncremental {
		fmt.Fprintf(&b, "\nVerification: **incremental**. Counts, sizes, flags and internal dates were checked for every folder; %d folders unchanged on both sides since their last clean verification were not listed again; the content of a sample of %d messages (verify.sample %s) was read on both sides.\n",
			v.Unchanged, v.Sample, orDash(v.SampleSetting))
	} else {
		fmt.Fprintf(&b, "\nVerification: **full**: the content of all %d copies was read.\n", v.Sample)
	}
	switch {
	case v.LastFull == "" && v.Users > 0:
		b.WriteString("Last full verification: **never** for these users. `mailshift verify --full` reads every message on the target and compares it with what was sent.\n")
	case v.LastFull != "":
		fmt.Fprintf(&b, "Last full verification: %s", v.LastFull)
		if v.NeverFull > 0 {
			fmt.Fprintf(&b, " (the oldest among these users; %d never had one)", v.NeverFull)
		} else if v.Users > 1 {
			b.WriteString(" (the oldest among these users)")
		}
		b.WriteString(".\n")
	}
	if !v.Recorded && !p.Store.RecordsVerifications() {
		b.WriteString("Not recorded: the state was opened for reading only, so the next verification starts from the last one recorded.\n")
	}
	return b.String()
}

// DescribeVerifyKind says in one line which kind of verification v was,
// how many messages' content it read, and when the last full one was.
func DescribeVerifyKind(v VerifyResult) string {
	var b strings.Builder
	if v.Kind == VerifyIncremental {
		fmt.Fprintf(&b, "incremental verification: content read for a sample of %d messages (verify.sample %s); %d folders unchanged since the last clean verification", v.Sample, orDash(v.SampleSetting), v.Unchanged)
	} else {
		fmt.Fprintf(&b, "full verification: content read for %d messages", v.Sample)
	}
	switch {
	case v.LastFull != "":
		fmt.Fprintf(&b, "; last full verification %s", v.LastFull)
		if v.NeverFull > 0 {
			fmt.Fprintf(&b, " (%d users never)", v.NeverFull)
		}
	default:
		b.WriteString("; no full verification yet (verify --full)")
	}
	if !v.Recorded {
		b.WriteString("; not recorded (the state was opened for reading only)")
	}
	return b.String()
}

// finalPassResult is a user's final sync and verification at cutover.
type finalPassResult struct {
	st         copyStats
	started    time.Time
	secs       float64 // the sync's
	verifySecs float64
	v          VerifyResult
	syncErr    error
	verifyErr  error
}

// finalPass runs a user's final sync and then verifies the user as mode
// says, over the sync's own login to each side: the folders are listed
// again after the sync, and a fresh login is made only if that fails.
func (p *Project) finalPass(ctx context.Context, r users.Row, mode verifyMode) finalPassResult {
	t0 := time.Now()
	fp := finalPassResult{started: t0}
	s, err := p.openSessionRetrying(ctx, r, quickPass{})
	if err != nil {
		fp.secs, fp.syncErr = time.Since(t0).Seconds(), err
		return fp
	}
	defer s.Close()
	fp.st, fp.syncErr = s.copyAll(ctx, copyOptions{deletions: p.Config.Sync.Deletions})
	fp.secs = time.Since(t0).Seconds()
	if fp.syncErr != nil {
		return fp
	}
	t1 := time.Now()
	// The verification reads both sides' folders as listed after the final
	// sync: the listing the sync began with when it changed nothing.
	if s.listingCurrent(fp.st) {
		fp.v, fp.verifyErr = s.verify(ctx, mode)
	} else if err := s.replan(ctx); err != nil {
		p.log().Info("verifying over a new login", "user", r.SourceUser, "reason", err.Error())
		fp.v, fp.verifyErr = p.verifyUserMode(ctx, r, mode)
	} else {
		fp.v, fp.verifyErr = s.verify(ctx, mode)
	}
	fp.verifySecs = time.Since(t1).Seconds()
	return fp
}
