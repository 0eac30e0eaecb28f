package phase

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/mapping"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
)

// Difference is one thing on the target that does not match its source.
type Difference struct {
	User   string `json:"user"`
	Folder string `json:"folder"`
	Key    string `json:"key,omitempty"` // source message key
	What   string `json:"what"`
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
}

const maxListed = 1000

// Verify compares source and target of the selected users: per folder the
// counts, and per message the size, flags, internal date and content hash.
func Verify(ctx context.Context, p *Project, sel Selection) (VerifyResult, error) {
	rows, err := p.selectUsers(sel)
	if err != nil {
		return VerifyResult{}, err
	}
	rows, left, err := p.partition(rows, needs{copied: true})
	if err != nil {
		return VerifyResult{}, err
	}
	if len(rows) == 0 {
		return VerifyResult{Failed: []UserFailure{}, Waiting: failures(left), List: []Difference{}}, noneReady("verify", left)
	}
	res, err := verifyUsers(ctx, p, rows)
	res.Waiting = failures(left)
	if err == nil {
		err = stepOutcome(ctx, "verify", nil, res.Waiting)
	}
	return res, err
}

func verifyUsers(ctx context.Context, p *Project, rows []users.Row) (VerifyResult, error) {
	res := VerifyResult{Users: len(rows), Waiting: []UserFailure{}}
	var mu sync.Mutex
	res.Failed = p.forEachUser(ctx, rows, func(ctx context.Context, r users.Row) error {
		ur, err := p.verifyUser(ctx, r)
		mu.Lock()
		defer mu.Unlock()
		res.Folders += ur.Folders
		res.Messages += ur.Messages
		res.Differences += ur.Differences
		res.Extra += ur.Extra
		for _, d := range ur.List {
			if len(res.List) < maxListed {
				res.List = append(res.List, d)
			}
		}
		return err
	})
	if err := stepResult(ctx, "verify", res.Failed); err != nil {
		return res, err
	}
	if res.Differences > 0 {
		return res, fmt.Errorf("%w: %d", ErrDifferences, res.Differences)
	}
	return res, nil
}

// verifyUser checks one user. Every source message must have a pair whose
// target message exists with the same size, flags, internal date and
// content hash. A source folder that cannot be read is one difference,
// and the user's other folders are checked.
func (p *Project) verifyUser(ctx context.Context, r users.Row) (VerifyResult, error) {
	s, err := p.openSession(ctx, r)
	if err != nil {
		return VerifyResult{}, err
	}
	defer s.Close()
	c := &userCheck{s: s, targets: map[string]map[uint32]mailbox.Message{}}
	for _, e := range s.plan {
		if e.Excluded {
			continue
		}
		c.res.Folders++
		if err := c.folder(ctx, e); err != nil {
			if !folderFailure(err) {
				return c.res, err
			}
			c.diff(e.Source, "", "folder could not be read: %v", err)
		}
	}
	return c.res, nil
}

// userCheck is the verification of one user's folders.
type userCheck struct {
	s       *session
	res     VerifyResult
	targets map[string]map[uint32]mailbox.Message // target folders listed so far
}

func (c *userCheck) diff(folder, key, format string, args ...any) {
	c.res.Differences++
	if len(c.res.List) < maxListed {
		c.res.List = append(c.res.List, Difference{User: c.s.row.SourceUser, Folder: folder, Key: key, What: fmt.Sprintf(format, args...)})
	}
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
	for folder, ms := range want {
		if err := c.content(ctx, e, folder, ms, smsgs, byKey); err != nil {
			return err
		}
	}
	c.extra(ctx, e, byKey)
	return nil
}

// message checks one source message's copy by what the target lists of
// it, and returns the copy if its content is to be read.
func (c *userCheck) message(ctx context.Context, e mapping.Entry, m mailbox.Message, pr state.Pair) (mailbox.Message, bool, error) {
	switch {
	case pr.SourceKey == "" || pr.Status == state.Intent:
		c.diff(e.Source, m.Key, "missing on the target")
		return mailbox.Message{}, false, nil
	case pr.Status == state.Failed:
		c.diff(e.Source, m.Key, "refused by the target: %s", pr.Error)
		return mailbox.Message{}, false, nil
	}
	tm, err := c.s.targetMessages(ctx, c.targets, pr.TargetFolder)
	if err != nil {
		return mailbox.Message{}, false, err
	}
	t, ok := tm[pr.TargetUID]
	if !ok {
		c.diff(e.Source, m.Key, "copy (target %q uid %d) is gone from the target", pr.TargetFolder, pr.TargetUID)
		return mailbox.Message{}, false, nil
	}
	if t.Size != pr.Size {
		c.diff(e.Source, m.Key, "size %d on the target, %d on the source", t.Size, pr.Size)
	}
	if !sameFlags(t.Flags, m.Flags) {
		c.diff(e.Source, m.Key, "flags %v on the target, %v on the source", normFlags(t.Flags), normFlags(m.Flags))
	}
	if !t.InternalDate.Truncate(time.Second).Equal(m.InternalDate.Truncate(time.Second)) {
		c.diff(e.Source, m.Key, "internal date %s on the target, %s on the source", t.InternalDate.UTC().Format(time.RFC3339), m.InternalDate.UTC().Format(time.RFC3339))
	}
	return t, true, nil
}

// content checks the copies in one target folder: each one's hash against
// the hash of the source stream recorded when it was copied.
func (c *userCheck) content(ctx context.Context, e mapping.Entry, folder string, ms, smsgs []mailbox.Message, byKey map[string]state.Pair) error {
	hashes := map[uint32]string{}
	err := c.s.dst.Fetch(ctx, folder, ms, func(m mailbox.Message, b mailbox.Body) error {
		h, err := hashBody(b)
		hashes[m.UID] = h
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
			c.diff(e.Source, m.Key, "content differs (target %q uid %d)", folder, pr.TargetUID)
		}
	}
	return nil
}

// extra counts the target folder's messages that no pair claims (mail
// delivered to the target, for instance).
func (c *userCheck) extra(ctx context.Context, e mapping.Entry, byKey map[string]state.Pair) {
	claimed := map[uint32]bool{}
	for _, pr := range byKey {
		if pr.TargetFolder == e.Target {
			claimed[pr.TargetUID] = true
		}
	}
	if tm, err := c.s.targetMessages(ctx, c.targets, e.Target); err == nil {
		for uid := range tm {
			if !claimed[uid] {
				c.res.Extra++
			}
		}
	}
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

// renderDifferences lists differences as Markdown.
func renderDifferences(v VerifyResult) string {
	if v.Differences == 0 && len(v.Failed) == 0 {
		return "\nVerification: every message is on the target with the same content, size, flags and internal date.\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Differences (%d)\n\n", v.Differences)
	if len(v.List) > 0 {
		b.WriteString("| user | folder | message | difference |\n|---|---|---|---|\n")
		for _, d := range v.List {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", d.User, d.Folder, orDash(d.Key), d.What)
		}
	}
	if int64(len(v.List)) < v.Differences {
		fmt.Fprintf(&b, "\n... and %d more.\n", v.Differences-int64(len(v.List)))
	}
	for _, f := range v.Failed {
		fmt.Fprintf(&b, "\nCould not verify %s: %s\n", f.User, f.Reason)
	}
	return b.String()
}
