package phase

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/mapping"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
)

// Difference is one thing on the target that does not match its source,
// named so that a person can find the message (folder, subject, date and
// size, read from the message's header) and told what `mailshift repair`
// does about it.
type Difference struct {
	User    string `json:"user"`
	Folder  string `json:"folder"`        // the source folder
	Subject string `json:"subject"`       // "" when the message has none or it could not be read
	Date    string `json:"date"`          // the Date header, RFC 3339 when it parses, "" if none
	Size    int64  `json:"size"`          // bytes
	Key     string `json:"key,omitempty"` // source message key
	Kind    string `json:"kind"`          // one of the Diff* kinds
	What    string `json:"what"`
	Repair  string `json:"repair"` // what repair does with it
	// TargetFolder and TargetUID locate the copy (or the message only on
	// the target) when there is one.
	TargetFolder string `json:"target_folder,omitempty"`
	TargetUID    uint32 `json:"target_uid,omitempty"`

	pair  state.Pair // the message's pair, as verification found it
	flags []string   // the source message's flags
}

// The kinds of difference.
const (
	DiffMissing   = "missing"   // no copy was recorded
	DiffUnsettled = "unsettled" // a copy was started and not settled (an intent)
	DiffRefused   = "refused"   // the target refused the copy
	DiffGone      = "gone"      // the copy was recorded and is no longer on the target
	DiffSize      = "size"
	DiffFlags     = "flags"
	DiffDate      = "date"
	DiffContent   = "content"
	DiffExtra     = "extra"  // on the target only, no copy claims it (a difference for repair --remove-extra)
	DiffFolder    = "folder" // the source folder could not be read
)

// recopies tells whether repair copies the message again.
func (d Difference) recopies() bool {
	switch d.Kind {
	case DiffGone, DiffSize, DiffDate, DiffContent:
		return true
	}
	return false
}

// VerifyResult is what a verification found.
type VerifyResult struct {
	Users  int           `json:"users"`
	Failed []UserFailure `json:"failed"`
	// Waiting are the selected users left out because nothing of theirs
	// was copied yet.
	Waiting     []UserFailure `json:"waiting"`
	Folders     int           `json:"folders"`
	Messages    int64         `json:"messages"`
	Differences int64         `json:"differences"`
	Extra       int64         `json:"extra_on_target"` // target messages with no source message (e.g. new mail delivered there)
	List        []Difference  `json:"list"`            // the first differences, at most maxListed
	// Kind is VerifyFull (every copy's content read) or VerifyIncremental
	// (what changed since the last verification, content on a sample).
	Kind string `json:"kind"`
	// Sample is how many copies' content was read and compared (every
	// copy's, for a full verification); SampleSetting is verify.sample.
	Sample        int64  `json:"sample"`
	SampleSetting string `json:"sample_setting,omitempty"`
	// Unchanged are the folders not looked at message by message: their
	// counters on both sides and their copies were as the last clean
	// verification left them.
	Unchanged int `json:"unchanged_folders"`
	// ByChanges are the folders that changed since only by flags or new
	// messages, on either side: only what changed was listed (CONDSTORE
	// CHANGEDSINCE).
	ByChanges int `json:"folders_checked_by_changes"`
	// LastFull is when the oldest of the users' last full verifications
	// ran (RFC 3339), "" if none was; NeverFull counts the users never
	// verified in full.
	LastFull  string `json:"last_full,omitempty"`
	NeverFull int    `json:"never_full"`
	// Recorded tells whether what was found was written to the state, for
	// the next verification to start from (not while another run holds
	// the state).
	Recorded bool `json:"recorded"`
}

const maxListed = 1000

// Verify compares source and target of the selected users, in full: per
// folder the counts, and per message the size, flags, internal date and
// content hash. See VerifyWith for the incremental kind.
func Verify(ctx context.Context, p *Project, sel Selection) (VerifyResult, error) {
	return VerifyWith(ctx, p, VerifyOptions{Selection: sel, Full: true})
}

func verifyUsers(ctx context.Context, p *Project, rows []users.Row, m verifyMode) (VerifyResult, error) {
	res := VerifyResult{Users: len(rows), Waiting: []UserFailure{}, List: []Difference{}, Kind: m.name()}
	m.progress = true
	defer p.beginStep("verify", rows)()
	var mu sync.Mutex
	res.Failed = p.forEachUser(ctx, rows, func(ctx context.Context, r users.Row) error {
		ur, err := p.verifyUserMode(ctx, r, m)
		mu.Lock()
		defer mu.Unlock()
		res.add(ur)
		return err
	})
	if m.kind != "" {
		res.LastFull, res.NeverFull = p.lastFull(rows)
	}
	if err := stepResult(ctx, "verify", res.Failed); err != nil {
		return res, err
	}
	if res.Differences > 0 {
		return res, fmt.Errorf("%w: %d", ErrDifferences, res.Differences)
	}
	return res, nil
}

// verifyUserExtras checks one user in full, as repair does: every source
// message must have a pair whose target message exists with the same
// size, flags, internal date and content hash; a source folder that
// cannot be read is one difference, and the user's other folders are
// checked. With extras, messages only on the target are differences too
// (under sync.deletions mirror).
func (p *Project) verifyUserExtras(ctx context.Context, r users.Row, extras bool) (VerifyResult, error) {
	s, err := p.openSession(ctx, r)
	if err != nil {
		return VerifyResult{}, err
	}
	defer s.Close()
	c, err := s.check(ctx, false, extras)
	return c.res, err
}

// check verifies the session's user. With all, every difference is kept
// in the check's all (repair works through them), not only the listed.
// Messages only on the target (mail delivered there once MX points at it,
// for one) are counted, and are differences only with extras, under
// sync.deletions mirror: when repair was asked to remove them.
func (s *session) check(ctx context.Context, all, extras bool) (*userCheck, error) {
	c := s.newCheck(all, extras)
	return c, c.run(ctx)
}

// newCheck is a verification of the session's user (see check).
func (s *session) newCheck(all, extras bool) *userCheck {
	return &userCheck{
		s: s, keepAll: all, mirror: s.p.Config.Sync.Deletions == "mirror", extras: extras && s.p.Config.Sync.Deletions == "mirror",
		targets: map[string]map[uint32]mailbox.Message{}, seen: map[string]bool{},
		res: VerifyResult{List: []Difference{}, Failed: []UserFailure{}, Waiting: []UserFailure{}},
	}
}

// run checks every folder of the plan.
func (c *userCheck) run(ctx context.Context) error {
	for _, e := range c.s.plan {
		if e.Excluded {
			continue
		}
		c.res.Folders++
		before := c.res.Messages
		var err error
		if c.inc != nil {
			err = c.inc.folder(ctx, c, e)
		} else {
			err = c.folder(ctx, e)
		}
		if err != nil && folderFailure(err) {
			c.diff(Difference{Folder: e.Source, Kind: DiffFolder, What: fmt.Sprintf("folder could not be read: %v", err)})
			err = nil
		}
		if err != nil {
			// The link or the state failed: what this folder found so
			// far is kept, unnamed.
			c.res.List = append(c.res.List, c.pending[:min(len(c.pending), maxListed-len(c.res.List))]...)
			if c.keepAll {
				c.all = append(c.all, c.pending...)
			}
			return err
		}
		c.name(ctx, e)
		if c.progress != nil {
			c.progress.Add(c.s.row.SourceUser, c.res.Messages-before, 0)
		}
	}
	return nil
}

// userCheck is the verification of one user's folders.
type userCheck struct {
	s       *session
	res     VerifyResult
	mirror  bool // sync.deletions mirror: repair removes wrong copies
	extras  bool // messages only on the target are differences (repair --remove-extra, mirror)
	keepAll bool
	all     []Difference                          // every difference, with keepAll
	pending []Difference                          // the current folder's, until named
	targets map[string]map[uint32]mailbox.Message // target folders listed so far
	listed  []mailbox.Message                     // the current folder's source messages
	seen    map[string]bool                       // target folders checked for messages only there
	claimed map[string]map[uint32]bool            // by target folder, the UIDs the user's pairs claim
	settle  map[string]uint32                     // by target folder, the lowest UID unsettled copies may have
	// inc is set for a verification that records what it found and, if
	// incremental, reads only what changed since and a sample's content.
	inc *incCheck
	// progress, when set, is told each folder's messages once verified.
	progress Progress
}

// diff records a difference of the current folder.
func (c *userCheck) diff(d Difference) {
	d.User = c.s.row.SourceUser
	d.Repair = c.repairText(d)
	c.res.Differences++
	c.pending = append(c.pending, d)
}

// repairText says what repair does with d.
func (c *userCheck) repairText(d Difference) string {
	switch d.Kind {
	case DiffMissing:
		return "repair copies it"
	case DiffUnsettled:
		return "an unfinished copy: repair settles it (finds it on the target, or copies it)"
	case DiffRefused:
		return "a refusal by the target: repair tries again"
	case DiffGone:
		return "repair copies it again"
	case DiffSize, DiffDate, DiffContent:
		if c.mirror {
			return "repair copies it again and removes the wrong copy (sync.deletions mirror)"
		}
		return "repair copies it again; the wrong copy stays (sync.deletions keep)"
	case DiffFlags:
		return "repair sets the flags"
	case DiffExtra:
		if from, ok := c.settle[d.TargetFolder]; ok && d.TargetUID >= from {
			return "may be an unfinished copy: repair settles the copies first and removes it if none claims it (sync.deletions mirror)"
		}
		return "repair removes it (sync.deletions mirror)"
	case DiffFolder:
		return "repair tries the folder again"
	}
	return ""
}

// folder checks one source folder's messages against their copies.
func (c *userCheck) folder(ctx context.Context, e mapping.Entry) error {
	s := c.s
	if f, ok := s.listedSource(e.Source); ok && f.Error != "" {
		return permanent(fmt.Errorf("source folder %q: %s", e.Source, f.Error))
	}
	sf, smsgs, err := s.src.Messages(ctx, e.Source)
	if errors.Is(err, mailbox.ErrFolderGone) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("source folder %q: %w", e.Source, err)
	}
	c.listed = smsgs
	pairs, err := s.p.Store.Pairs(s.row.SourceUser, e.Source)
	if err != nil {
		return stopUser(err)
	}
	byKey := map[string]state.Pair{}
	for _, pr := range pairs {
		if pr.SourceUIDValidity == sf.UIDValidity {
			byKey[pr.SourceKey] = pr
		}
	}
	want := map[string][]mailbox.Message{} // the copies to read, by target folder
	for _, m := range smsgs {
		c.res.Messages++
		t, ok, err := c.message(ctx, e, m, byKey[m.Key])
		if err != nil {
			return err
		}
		if ok {
			want[byKey[m.Key].TargetFolder] = append(want[byKey[m.Key].TargetFolder], t)
		}
	}
	if c.inc != nil {
		want = c.inc.sampled(e, want, byKey)
	}
	for folder, ms := range want {
		if err := c.content(ctx, e, folder, ms, smsgs, byKey); err != nil {
			return err
		}
	}
	return c.extra(ctx, e)
}

// message checks one source message's copy by what the target lists of
// it, and returns the copy if its content is to be read.
func (c *userCheck) message(ctx context.Context, e mapping.Entry, m mailbox.Message, pr state.Pair) (mailbox.Message, bool, error) {
	d := Difference{Folder: e.Source, Key: m.Key, Size: m.Size, pair: pr, flags: m.Flags}
	switch {
	case pr.SourceKey == "":
		d.Kind, d.What = DiffMissing, "missing on the target"
		c.diff(d)
		return mailbox.Message{}, false, nil
	case pr.Status == state.Intent:
		d.Kind, d.What = DiffUnsettled, "missing on the target (a copy was started and not settled)"
		c.diff(d)
		return mailbox.Message{}, false, nil
	case pr.Status == state.Failed:
		d.Kind, d.What = DiffRefused, "refused by the target: "+pr.Error
		c.diff(d)
		return mailbox.Message{}, false, nil
	}
	d.TargetFolder, d.TargetUID = pr.TargetFolder, pr.TargetUID
	tm, err := c.s.targetMessages(ctx, c.targets, pr.TargetFolder)
	if err != nil {
		return mailbox.Message{}, false, err
	}
	t, ok := tm[pr.TargetUID]
	if !ok {
		d.Kind, d.What = DiffGone, fmt.Sprintf("copy (target %q uid %d) is gone from the target", pr.TargetFolder, pr.TargetUID)
		c.diff(d)
		return mailbox.Message{}, false, nil
	}
	if t.Size != pr.Size && !c.s.p.Config.identityLevel() { // a re-rendering target has sizes of its own
		d.Kind, d.What = DiffSize, fmt.Sprintf("size %d on the target, %d on the source", t.Size, pr.Size)
		c.diff(d)
	}
	if dd := c.s.dstDesc; !sameFlags(c.s.p.keptFlags(dd, t.Flags), c.s.p.keptFlags(dd, m.Flags)) {
		d.Kind, d.What = DiffFlags, fmt.Sprintf("flags %v on the target, %v on the source", normFlags(t.Flags), normFlags(m.Flags))
		c.diff(d)
	}
	if !t.InternalDate.Truncate(time.Second).Equal(m.InternalDate.Truncate(time.Second)) {
		d.Kind, d.What = DiffDate, fmt.Sprintf("internal date %s on the target, %s on the source", t.InternalDate.UTC().Format(time.RFC3339), m.InternalDate.UTC().Format(time.RFC3339))
		c.diff(d)
	}
	return t, true, nil
}

// content checks the copies in one target folder: each one's hash against
// the hash of the source stream recorded when it was copied. The header
// of each copy is kept as it streams by, to name differences.
func (c *userCheck) content(ctx context.Context, e mapping.Entry, folder string, ms, smsgs []mailbox.Message, byKey map[string]state.Pair) error {
	if c.s.p.Config.identityLevel() {
		return c.identityContent(ctx, e, folder, ms, smsgs, byKey)
	}
	hashes := map[uint32]string{}
	heads := map[uint32]header{}
	err := c.s.dst.Fetch(ctx, folder, ms, func(m mailbox.Message, b mailbox.Body) error {
		var hc headCapture
		h, err := hashBody(io.TeeReader(b, &hc))
		hashes[m.UID] = h
		heads[m.UID] = readHeader(hc.buf)
		return err
	})
	if err != nil {
		return fmt.Errorf("read target folder %q: %w", folder, err)
	}
	for _, m := range smsgs {
		pr, ok := byKey[m.Key]
		if !ok || pr.Status != state.Copied || pr.TargetFolder != folder {
			continue
		}
		if h, ok := hashes[pr.TargetUID]; ok && h != pr.Hash {
			c.diff(Difference{Folder: e.Source, Key: m.Key, Size: m.Size, Kind: DiffContent, pair: pr, flags: m.Flags,
				TargetFolder: folder, TargetUID: pr.TargetUID, What: fmt.Sprintf("content differs (target %q uid %d)", folder, pr.TargetUID)})
		}
	}
	// The headers of copies whose content matches name the differences
	// found on them (flags, say) without reading the source again.
	for i, d := range c.pending {
		if d.TargetFolder == folder && d.Subject == "" && d.Date == "" && d.Kind != DiffContent && d.Kind != DiffSize && d.Kind != DiffExtra {
			if h, ok := heads[d.TargetUID]; ok && hashes[d.TargetUID] == d.pair.Hash {
				c.pending[i].Subject, c.pending[i].Date = h.subject, h.date
			}
		}
	}
	return nil
}

// extra finds the messages of the folder's target folder that no pair of
// the user claims (mail delivered to the target, for instance). They are
// counted; with c.extras each is also a difference, which repair removes. A target folder that two source
// folders share is looked at once.
func (c *userCheck) extra(ctx context.Context, e mapping.Entry) error {
	if c.seen[e.Target] {
		return nil
	}
	c.seen[e.Target] = true
	if err := c.loadClaims(); err != nil {
		return err
	}
	tm, err := c.s.targetMessages(ctx, c.targets, e.Target)
	if err != nil {
		return nil // named by the messages' own checks, if any
	}
	uids := make([]uint32, 0, len(tm))
	for uid := range tm {
		if !c.claimed[e.Target][uid] {
			uids = append(uids, uid)
		}
	}
	slices.Sort(uids)
	for _, uid := range uids {
		c.res.Extra++
		if c.extras {
			c.diff(Difference{Folder: e.Source, Kind: DiffExtra, Size: tm[uid].Size, TargetFolder: e.Target, TargetUID: uid,
				What: fmt.Sprintf("only on the target (%q uid %d): no source message", e.Target, uid)})
		}
	}
	return nil
}

// loadClaims reads, once, which target UIDs the user's pairs claim, and
// from which UID on each target folder may hold unsettled copies.
func (c *userCheck) loadClaims() error {
	if c.claimed != nil {
		return nil
	}
	pairs, err := c.s.p.Store.UserPairs(c.s.row.SourceUser)
	if err != nil {
		return stopUser(err)
	}
	c.claimed, c.settle = map[string]map[uint32]bool{}, map[string]uint32{}
	for _, pr := range pairs {
		if pr.Status == state.Intent {
			if from, ok := c.settle[pr.TargetFolder]; !ok || pr.TargetUIDNext < from {
				c.settle[pr.TargetFolder] = pr.TargetUIDNext
			}
		}
		if pr.TargetUID == 0 {
			continue
		}
		if c.claimed[pr.TargetFolder] == nil {
			c.claimed[pr.TargetFolder] = map[uint32]bool{}
		}
		c.claimed[pr.TargetFolder][pr.TargetUID] = true
	}
	return nil
}

// name gives the current folder's differences their subject and date,
// read from the messages' headers (the source's; the target's for
// messages only there), as far as they will be listed, and moves them to
// the result.
func (c *userCheck) name(ctx context.Context, e mapping.Entry) {
	defer func() { c.pending, c.listed = c.pending[:0], nil }()
	room := maxListed - len(c.res.List)
	if room > len(c.pending) {
		room = len(c.pending)
	}
	var fromSource []string
	var fromTarget []mailbox.Message
	for _, d := range c.pending[:room] {
		switch {
		case d.Subject != "" || d.Date != "":
		case d.Kind == DiffExtra:
			if t, ok := c.targets[d.TargetFolder][d.TargetUID]; ok {
				fromTarget = append(fromTarget, t)
			}
		case d.Key != "":
			fromSource = append(fromSource, d.Key)
		}
	}
	srcHeads := c.sourceHeaders(ctx, e, fromSource)
	dstHeads := c.targetHeaders(ctx, e, fromTarget)
	for i := range c.pending[:room] {
		d := &c.pending[i]
		if d.Subject != "" || d.Date != "" {
			continue
		}
		h, ok := srcHeads[d.Key]
		if d.Kind == DiffExtra {
			h, ok = dstHeads[d.TargetUID]
		}
		if ok {
			d.Subject, d.Date = h.subject, h.date
		}
	}
	recopied := map[string]bool{}
	for _, d := range c.pending {
		if d.recopies() {
			recopied[d.Key] = true
		}
	}
	for i, d := range c.pending {
		if d.Kind == DiffFlags && recopied[d.Key] {
			c.pending[i].Repair = "repair copies it again, with the source's flags"
		}
	}
	c.res.List = append(c.res.List, c.pending[:room]...)
	if c.keepAll {
		c.all = append(c.all, c.pending...)
	}
}

// sourceHeaders reads the headers of the source messages with the given
// keys. A message that cannot be read is left unnamed.
func (c *userCheck) sourceHeaders(ctx context.Context, e mapping.Entry, keys []string) map[string]header {
	out := map[string]header{}
	if len(keys) == 0 {
		return out
	}
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	var fetch []mailbox.Message
	for _, m := range c.listed {
		if want[m.Key] {
			fetch = append(fetch, m)
		}
	}
	err := c.s.src.Fetch(ctx, e.Source, fetch, func(m mailbox.Message, b mailbox.Body) error {
		out[m.Key] = firstHeader(b)
		_, err := io.Copy(io.Discard, b)
		return err
	})
	if err != nil {
		c.s.p.log().Warn("headers of differing messages not read", "user", c.s.row.SourceUser, "folder", e.Source, "error", err.Error())
	}
	return out
}

// targetHeaders reads the headers of target messages of the entry's
// target folder.
func (c *userCheck) targetHeaders(ctx context.Context, e mapping.Entry, msgs []mailbox.Message) map[uint32]header {
	out := map[uint32]header{}
	if len(msgs) == 0 {
		return out
	}
	err := c.s.dst.Fetch(ctx, e.Target, msgs, func(m mailbox.Message, b mailbox.Body) error {
		out[m.UID] = firstHeader(b)
		_, err := io.Copy(io.Discard, b)
		return err
	})
	if err != nil {
		c.s.p.log().Warn("headers of messages only on the target not read", "user", c.s.row.SourceUser, "folder", e.Target, "error", err.Error())
	}
	return out
}

// header is what names a message for a person.
type header struct{ subject, date string }

// maxHeader bounds the bytes read to find a message's header.
const maxHeader = 32 << 10

// headCapture keeps the first maxHeader bytes written to it.
type headCapture struct{ buf []byte }

func (h *headCapture) Write(p []byte) (int, error) {
	if room := maxHeader - len(h.buf); room > 0 {
		h.buf = append(h.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// firstHeader reads the header from the start of a body.
func firstHeader(r io.Reader) header {
	b, _ := io.ReadAll(io.LimitReader(r, maxHeader))
	return readHeader(b)
}

// readHeader parses the subject and date out of the first bytes of a
// message: the subject decoded (RFC 2047), the date in RFC 3339 when it
// parses, as written otherwise.
func readHeader(b []byte) header {
	h, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(b))).ReadMIMEHeader() // a cut header still gives its first fields
	var out header
	out.subject = strings.TrimSpace(h.Get("Subject"))
	if s, err := new(mime.WordDecoder).DecodeHeader(out.subject); err == nil {
		out.subject = s
	}
	out.date = strings.TrimSpace(h.Get("Date"))
	if t, err := mail.ParseDate(out.date); err == nil {
		out.date = t.Format(time.RFC3339)
	}
	return out
}

// targetMessages lists a target folder once per verification.
func (s *session) targetMessages(ctx context.Context, cache map[string]map[uint32]mailbox.Message, folder string) (map[uint32]mailbox.Message, error) {
	if m, ok := cache[folder]; ok {
		return m, nil
	}
	_, msgs, err := s.dst.Messages(ctx, folder)
	if err != nil && !errors.Is(err, mailbox.ErrFolderGone) {
		return nil, fmt.Errorf("target folder %q: %w", folder, err)
	}
	m := make(map[uint32]mailbox.Message, len(msgs))
	for _, t := range msgs {
		m[t.UID] = t
	}
	cache[folder] = m
	return m, nil
}

// renderDifferences lists differences as Markdown, each named by its
// message's subject, date and size, with what repair does about it.
func renderDifferences(v VerifyResult) string {
	if v.Differences == 0 && len(v.Failed) == 0 {
		if v.Kind == VerifyIncremental { // content was read for the sample only
			return "\nVerification: no differences. Every message has its copy on the target with the same flags and internal date, and the content of the sample read is the same.\n"
		}
		return "\nVerification: every message is on the target with the same content, size, flags and internal date.\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Differences (%d)\n\n", v.Differences)
	if len(v.List) > 0 {
		b.WriteString("| subject | date | size | user | folder | difference | repair |\n|---|---|---|---|---|---|---|\n")
		for _, d := range v.List {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", mdCell(d.subjectOrNone()), orDash(d.Date), FormatBytes(d.Size),
				mdCell(d.User), mdCell(d.Folder), mdCell(d.What), d.Repair)
		}
		b.WriteString("\n`mailshift repair` makes the target match: it does what the last column says, then verifies again. `mailshift repair --dry-run` lists it and changes nothing.\n")
	}
	if int64(len(v.List)) < v.Differences {
		fmt.Fprintf(&b, "\n... and %d more.\n", v.Differences-int64(len(v.List)))
	}
	for _, f := range v.Failed {
		fmt.Fprintf(&b, "\nCould not verify %s: %s\n", f.User, f.Reason)
	}
	return b.String()
}

// String names the difference for a person, subject first:
// "Subject" (date, size) in user's folder: what; what repair does.
func (d Difference) String() string {
	var b strings.Builder
	b.WriteString(d.subjectOrNone())
	var about []string
	if d.Date != "" {
		about = append(about, d.Date)
	}
	if d.Size > 0 {
		about = append(about, FormatBytes(d.Size))
	}
	if len(about) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(about, ", "))
	}
	fmt.Fprintf(&b, " in %s's %q: %s; %s", d.User, d.Folder, d.What, d.Repair)
	return b.String()
}

// subjectOrNone is the quoted subject, or says there is none to show.
func (d Difference) subjectOrNone() string {
	switch {
	case d.Subject != "":
		return fmt.Sprintf("%q", d.Subject)
	case d.Kind == DiffFolder:
		return "(a whole folder)"
	}
	return "(no subject)"
}

// mdCell makes text safe inside a Markdown table cell.
func mdCell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ", "\r", " ").Replace(s)
}
