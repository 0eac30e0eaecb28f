package fakemail

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/target"
)

var (
	_ source.Source        = (*Source)(nil)
	_ source.ChangeTracker = (*Source)(nil)
	_ target.Target        = (*Target)(nil)
	_ target.BatchAppender = (*Target)(nil)
)

// conn is one logged-in connection to an account.
type conn struct {
	s    *Server
	user string
	// broken and closed are guarded by s.mu.
	broken error
	closed bool
}

func (s *Server) open(user string) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.account(user)
	c := &conn{s: s, user: user}
	a.conns[c] = struct{}{}
	a.counts.Connections++
	return c
}

// lock locks the server for one call and returns the account, or an
// error (unlocked) if the connection cannot serve the call.
func (c *conn) lock(ctx context.Context) (*account, error) {
	return c.lockWait(ctx, true)
}

// relock locks the server again within a call, without the latency.
func (c *conn) relock(ctx context.Context) (*account, error) {
	return c.lockWait(ctx, false)
}

func (c *conn) lockWait(ctx context.Context, wait bool) (*account, error) {
	c.s.mu.Lock()
	if d := c.s.opts.Latency; d > 0 && wait {
		c.s.mu.Unlock()
		tm := time.NewTimer(d)
		select {
		case <-tm.C:
		case <-ctx.Done():
			tm.Stop()
		}
		c.s.mu.Lock()
	}
	switch {
	case c.closed:
		c.s.mu.Unlock()
		return nil, fmt.Errorf("fakemail: connection of %q: %w", c.user, net.ErrClosed)
	case c.broken != nil && c.s.opts.Redial:
		c.broken = nil
		c.s.account(c.user).counts.Connections++
	case c.broken != nil:
		err := c.broken
		c.s.mu.Unlock()
		return nil, err
	case ctx.Err() != nil:
		c.s.mu.Unlock()
		return nil, fmt.Errorf("fakemail: %w", ctx.Err())
	}
	return c.s.account(c.user), nil
}

func (c *conn) unlock() { c.s.mu.Unlock() }

// Close closes the connection; later calls fail.
func (c *conn) Close() error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.closed = true
	delete(c.s.account(c.user).conns, c)
	return nil
}

// Describe tells what the server is and can do, as an IMAP server would:
// Kind "imap", Server "fakemail", the capabilities the Options leave.
func (c *conn) Describe(ctx context.Context) (mailbox.Description, error) {
	a, err := c.lock(ctx)
	if err != nil {
		return mailbox.Description{}, err
	}
	defer c.unlock()
	o := c.s.opts
	caps := []string{"IMAP4rev1", "LITERAL+", "NAMESPACE", "SPECIAL-USE"}
	used, limit := int64(-1), int64(-1)
	if o.QuotaBytes > 0 {
		used, limit = a.used(), o.QuotaBytes
		caps = append(caps, "QUOTA")
	}
	if !o.NoUIDPlus {
		caps = append(caps, "UIDPLUS")
	}
	if !o.NoMultiAppend {
		caps = append(caps, "MULTIAPPEND")
	}
	if !o.NoCondStore {
		caps = append(caps, "CONDSTORE")
	}
	if !o.NoSpecialUse {
		caps = append(caps, "CREATE-SPECIAL-USE")
	}
	if o.AppendLimit > 0 {
		caps = append(caps, fmt.Sprintf("APPENDLIMIT=%d", o.AppendLimit))
	}
	slices.Sort(caps)
	return mailbox.Description{
		Kind:         "imap",
		Server:       "fakemail",
		Capabilities: caps,
		Delimiter:    c.s.delim(),
		AppendLimit:  o.AppendLimit,
		QuotaUsed:    used,
		QuotaLimit:   limit,
		UIDPlus:      !o.NoUIDPlus,
		CondStore:    !o.NoCondStore,
	}, nil
}

// Folders lists every folder with its counters, sorted by name. A folder
// whose Status a FolderFault makes fail is listed with Error set (and
// Bytes -1), as an IMAP server's refused STATUS leaves it.
func (c *conn) Folders(ctx context.Context) ([]mailbox.Folder, error) {
	a, err := c.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer c.unlock()
	out := make([]mailbox.Folder, 0, len(a.folders))
	for _, f := range a.folders {
		if err := c.s.fault(c.user, OpStatus, f.name); err != nil {
			out = append(out, mailbox.Folder{Name: f.name, Role: c.s.counters(f).Role, Bytes: -1, Error: err.Error()})
			continue
		}
		out = append(out, c.s.counters(f))
	}
	slices.SortFunc(out, func(x, y mailbox.Folder) int {
		switch {
		case x.Name < y.Name:
			return -1
		case x.Name > y.Name:
			return 1
		}
		return 0
	})
	return out, nil
}

// folder looks up a folder for op, with its faults. s.mu is held.
func (c *conn) folder(a *account, op Op, name string) (*folder, error) {
	if err := c.s.fault(c.user, op, name); err != nil {
		return nil, err
	}
	f, ok := a.folders[c.s.canon(name)]
	if !ok {
		return nil, gone(string(op), c.user, name)
	}
	if f.noSelect && op != OpRename && op != OpDelete {
		if op == OpAppend {
			return nil, &target.RejectedError{Code: "CANNOT", Reason: fmt.Sprintf("fakemail: %q holds folders and cannot hold mail", name)}
		}
		return nil, mailbox.Mark(mailbox.ErrRefused, fmt.Errorf("fakemail: %s folder %q of %q: it holds folders, not mail", op, name, c.user))
	}
	return f, nil
}

// Messages lists a folder's messages in UID order with its counters. Key
// is the decimal UID.
func (c *conn) Messages(ctx context.Context, name string) (mailbox.Folder, []mailbox.Message, error) {
	a, err := c.lock(ctx)
	if err != nil {
		return mailbox.Folder{}, nil, err
	}
	defer c.unlock()
	a.counts.Listings++
	f, err := c.folder(a, OpMessages, name)
	if err != nil {
		return mailbox.Folder{}, nil, err
	}
	msgs := make([]mailbox.Message, len(f.msgs))
	for i, m := range f.msgs {
		msgs[i] = c.s.meta(m)
	}
	return c.s.counters(f), msgs, nil
}

// Changes lists the messages whose MODSEQ is above since (Bytes -1).
func (c *conn) Changes(ctx context.Context, name string, since uint64) (mailbox.Folder, []mailbox.Message, error) {
	a, err := c.lock(ctx)
	if err != nil {
		return mailbox.Folder{}, nil, err
	}
	defer c.unlock()
	a.counts.Listings++
	f, err := c.folder(a, OpMessages, name)
	if err != nil {
		return mailbox.Folder{}, nil, err
	}
	var msgs []mailbox.Message
	for _, m := range f.msgs {
		if m.modSeq > since {
			msgs = append(msgs, c.s.meta(m))
		}
	}
	st := c.s.counters(f)
	st.Bytes = -1
	return st, msgs, nil
}

// Keys lists the keys of every message of a folder (Bytes -1).
func (c *conn) Keys(ctx context.Context, name string) (mailbox.Folder, []string, error) {
	a, err := c.lock(ctx)
	if err != nil {
		return mailbox.Folder{}, nil, err
	}
	defer c.unlock()
	a.counts.Listings++
	f, err := c.folder(a, OpMessages, name)
	if err != nil {
		return mailbox.Folder{}, nil, err
	}
	keys := make([]string, len(f.msgs))
	for i, m := range f.msgs {
		keys[i] = fmt.Sprint(m.uid)
	}
	st := c.s.counters(f)
	st.Bytes = -1
	return st, keys, nil
}

// Fetch delivers the bodies of msgs (found by UID) in the order asked;
// messages no longer in the folder are skipped. fn runs without the
// server's lock held.
func (c *conn) Fetch(ctx context.Context, name string, msgs []mailbox.Message, fn func(mailbox.Message, mailbox.Body) error) error {
	a, err := c.lock(ctx)
	if err != nil {
		return err
	}
	a.counts.Fetches++
	f, err := c.folder(a, OpFetch, name)
	if err != nil {
		c.unlock()
		return err
	}
	type item struct {
		msg  mailbox.Message
		body []byte
	}
	items := make([]item, 0, len(msgs))
	for _, m := range msgs {
		uid := m.UID
		if uid == 0 {
			fmt.Sscan(m.Key, &uid)
		}
		if i := f.find(uid); i >= 0 {
			items = append(items, item{m, f.msgs[i].body})
		}
	}
	c.unlock()
	for _, it := range items {
		a, err := c.relock(ctx)
		if err != nil {
			return err
		}
		if hit, _ := take(&a.fetchCut, int64(len(it.body))); hit {
			a.counts.FetchCuts++
			c.broken = mailbox.Mark(mailbox.ErrTransient, fmt.Errorf("fakemail: connection of %q was cut earlier: %w", c.user, net.ErrClosed))
			c.unlock()
			return mailbox.Mark(mailbox.ErrTransient, fmt.Errorf("fakemail: fetch from %q of %q: connection cut: %w", name, c.user, io.ErrUnexpectedEOF))
		}
		a.counts.Fetched++
		a.counts.FetchedBytes += int64(len(it.body))
		c.unlock()
		if err := fn(it.msg, bytes.NewReader(it.body)); err != nil {
			return err
		}
	}
	return nil
}

// Source is a read-only connection to an account.
type Source struct{ *conn }

// Source opens a read-only connection to user's account (created if
// missing). It implements source.ChangeTracker.
func (s *Server) Source(user string) source.Source { return &Source{s.open(user)} }

// Target is a read-write connection to an account.
type Target struct{ *conn }

// Target opens a read-write connection to user's account (created if
// missing). It implements target.BatchAppender.
func (s *Server) Target(user string) target.Target { return &Target{s.open(user)} }

// Status returns a folder's counters; a missing folder wraps
// mailbox.ErrFolderGone.
func (t *Target) Status(ctx context.Context, name string) (mailbox.Folder, error) {
	a, err := t.lock(ctx)
	if err != nil {
		return mailbox.Folder{}, err
	}
	defer t.unlock()
	f, err := t.folder(a, OpStatus, name)
	if err != nil {
		return mailbox.Folder{}, err
	}
	return t.s.counters(f), nil
}

// CreateFolder creates a folder and its missing parents, with role unless
// Options.NoSpecialUse. An existing folder is left as it is.
func (t *Target) CreateFolder(ctx context.Context, name, role string) error {
	a, err := t.lock(ctx)
	if err != nil {
		return err
	}
	defer t.unlock()
	if err := t.s.fault(t.user, OpCreate, name); err != nil {
		return err
	}
	return t.s.create(a, name, role)
}

// DeleteFolder deletes a folder (its subfolders stay). A missing folder is
// not an error; INBOX cannot be deleted.
func (t *Target) DeleteFolder(ctx context.Context, name string) error {
	a, err := t.lock(ctx)
	if err != nil {
		return err
	}
	defer t.unlock()
	if err := t.s.fault(t.user, OpDelete, name); err != nil {
		return err
	}
	return t.s.delete(t.user, a, name)
}

// RenameFolder renames a folder with its subfolders; missing parents of to
// are created. A missing from wraps mailbox.ErrFolderGone.
func (t *Target) RenameFolder(ctx context.Context, from, to string) error {
	a, err := t.lock(ctx)
	if err != nil {
		return err
	}
	defer t.unlock()
	if err := t.s.fault(t.user, OpRename, from); err != nil {
		return err
	}
	if err := t.s.fault(t.user, OpRename, to); err != nil {
		return err
	}
	return t.s.rename(t.user, a, from, to)
}

// SetFlags replaces a message's flags; a UID the folder does not hold is
// not an error.
func (t *Target) SetFlags(ctx context.Context, name string, uid uint32, flags []string) error {
	a, err := t.lock(ctx)
	if err != nil {
		return err
	}
	defer t.unlock()
	a.counts.FlagChanges++
	f, err := t.folder(a, OpSetFlags, name)
	if err != nil {
		return err
	}
	if i := f.find(uid); i >= 0 {
		t.s.setFlags(f, i, flags)
	}
	return nil
}

// Expunge removes the messages uids (and no others).
func (t *Target) Expunge(ctx context.Context, name string, uids []uint32) error {
	a, err := t.lock(ctx)
	if err != nil {
		return err
	}
	defer t.unlock()
	f, err := t.folder(a, OpExpunge, name)
	if err != nil {
		return err
	}
	a.counts.Expunged += int64(t.s.expunge(f, uids))
	return nil
}

// Append stores a message of exactly size bytes read from body. Refusals
// (Options.AppendLimit, Options.Refuse) are *target.RejectedError; a
// missing folder wraps mailbox.ErrFolderGone; a Cut that falls inside the
// message fails it with a transient error and breaks the connection.
func (t *Target) Append(ctx context.Context, name string, flags []string, date time.Time, size int64, body io.Reader) (target.Appended, error) {
	a, err := t.lock(ctx)
	if err != nil {
		return target.Appended{}, err
	}
	a.counts.Appends++
	_, err = t.folder(a, OpAppend, name)
	t.unlock()
	if err != nil {
		return target.Appended{}, err
	}
	if size < 0 {
		return target.Appended{}, fmt.Errorf("fakemail: append to %q of %q: negative size %d", name, t.user, size)
	}
	// The body is read without the lock: it may stream from another
	// connection of this server.
	b, rerr := io.ReadAll(io.LimitReader(body, size+1))
	a, err = t.relock(ctx)
	if err != nil {
		return target.Appended{}, err
	}
	defer t.unlock()
	a.counts.ReceivedBytes += int64(len(b))
	switch {
	case rerr != nil:
		return target.Appended{}, fmt.Errorf("fakemail: append to %q of %q: message body: %w", name, t.user, rerr)
	case int64(len(b)) != size:
		return target.Appended{}, fmt.Errorf("fakemail: append to %q of %q: the body has %d bytes, not the %d announced", name, t.user, len(b), size)
	}
	f, err := t.folder(a, OpAppend, name)
	if err != nil {
		return target.Appended{}, err
	}
	refused := t.refusal(a, 0, name, flags, b)
	if hit, lost := t.cut(a, int64(len(b))); hit {
		if refused == nil && lost {
			t.storeCounted(a, f, flags, date, b)
		}
		return target.Appended{}, t.broke(name)
	}
	if refused != nil {
		return target.Appended{}, refused
	}
	m := t.storeCounted(a, f, flags, date, b)
	if t.s.opts.NoUIDPlus {
		return target.Appended{}, nil
	}
	return target.Appended{UIDValidity: f.uidValidity, UID: m.uid}, nil
}

// Batches tells whether the server offers MULTIAPPEND now.
func (t *Target) Batches() bool {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	return !t.s.opts.NoMultiAppend
}

// AppendBatch stores items all or nothing. Without MULTIAPPEND, into a
// missing folder (which wraps mailbox.ErrFolderGone too) or with a refused
// message among them, it stores nothing and its error wraps
// target.ErrBatchRefused (and, as with IMAP, no *target.RejectedError: the
// refused message shows when the items are appended one by one). A Cut that falls inside the batch fails it with
// a transient error and breaks the connection; the whole batch was stored
// if the Cut says the answer was lost, else none of it.
func (t *Target) AppendBatch(ctx context.Context, name string, items []mailbox.Item) ([]target.Appended, error) {
	a, err := t.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer t.unlock()
	if t.s.opts.NoMultiAppend {
		return nil, fmt.Errorf("fakemail: append to %q of %q: %w: no MULTIAPPEND", name, t.user, target.ErrBatchRefused)
	}
	if len(items) == 0 {
		return nil, nil
	}
	a.counts.Batches++
	if err := t.s.fault(t.user, OpAppend, name); err != nil {
		return nil, err
	}
	f, ok := a.folders[t.s.canon(name)]
	if !ok {
		return nil, fmt.Errorf("fakemail: append to %q of %q: %w: %w", name, t.user, target.ErrBatchRefused, mailbox.ErrFolderGone)
	}
	if f.noSelect {
		return nil, fmt.Errorf("fakemail: append to %q of %q: %w: it holds folders, not mail", name, t.user, target.ErrBatchRefused)
	}
	var total int64
	var refused error
	for i, it := range items {
		if r := t.refusal(a, total, name, it.Flags, it.Body); r != nil && refused == nil {
			refused = fmt.Errorf("fakemail: append to %q of %q: %w: message %d of %d: %s", name, t.user, target.ErrBatchRefused, i+1, len(items), r.Error())
		}
		total += int64(len(it.Body))
	}
	a.counts.ReceivedBytes += total
	if hit, lost := t.cut(a, total); hit {
		if refused == nil && lost {
			for _, it := range items {
				t.storeCounted(a, f, it.Flags, it.Date, it.Body)
			}
		}
		return nil, t.broke(name)
	}
	if refused != nil {
		return nil, refused
	}
	out := make([]target.Appended, len(items))
	for i, it := range items {
		m := t.storeCounted(a, f, it.Flags, it.Date, it.Body)
		if !t.s.opts.NoUIDPlus {
			out[i] = target.Appended{UIDValidity: f.uidValidity, UID: m.uid}
		}
	}
	return out, nil
}

// refusal is the server's refusal of a message, or nil; pending bytes
// are stored before it (in the same batch). s.mu is held.
func (t *Target) refusal(a *account, pending int64, folder string, flags []string, body []byte) *target.RejectedError {
	o := t.s.opts
	if o.AppendLimit > 0 && int64(len(body)) > o.AppendLimit {
		return &target.RejectedError{Code: "TOOBIG", Reason: fmt.Sprintf("the message has %d bytes; fakemail accepts at most %d", len(body), o.AppendLimit)}
	}
	if o.QuotaBytes > 0 && a.used()+pending+int64(len(body)) > o.QuotaBytes {
		return &target.RejectedError{Code: "OVERQUOTA", Reason: fmt.Sprintf("quota of %d bytes exceeded", o.QuotaBytes)}
	}
	if o.Refuse != nil {
		return o.Refuse(folder, slices.Clone(flags), body)
	}
	return nil
}

// cut counts n bytes against the account's Cut and tells whether the
// connection drops within them, and if so whether the server had stored
// what it received. s.mu is held.
func (t *Target) cut(a *account, n int64) (hit, answerLost bool) {
	hit, answerLost = take(&a.cut, n)
	if hit {
		a.counts.Cuts++
	}
	return hit, answerLost
}

// broke breaks the connection after a cut and returns the append's error.
// s.mu is held.
func (t *Target) broke(folder string) error {
	t.broken = mailbox.Mark(mailbox.ErrTransient, fmt.Errorf("fakemail: connection of %q was cut earlier: %w", t.user, net.ErrClosed))
	return mailbox.Mark(mailbox.ErrTransient, fmt.Errorf("fakemail: append to %q of %q: connection cut: %w", folder, t.user, io.ErrUnexpectedEOF))
}

// storeCounted stores a message and counts it. s.mu is held.
func (t *Target) storeCounted(a *account, f *folder, flags []string, date time.Time, body []byte) *message {
	a.counts.Stored++
	a.counts.StoredBytes += int64(len(body))
	return t.s.store(f, flags, date, slices.Clone(body))
}
