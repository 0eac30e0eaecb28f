// Package imaptarget writes a mailbox to an IMAP server: it creates folders
// (with special-use roles where the server allows), APPENDs messages with
// their flags and internal dates, replaces flags and expunges by UID. It
// reads like the IMAP source does (BODY.PEEK[]), but selects folders
// read-write. Connection handling is internal/imapconn's.
package imaptarget

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailshift/mailshift/internal/imapconn"
	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/target"
)

// Target is one IMAP account written over one connection. It is not safe
// for concurrent use (open one per goroutine), except AppendBatch: several
// goroutines may store batches at once, beside one using the rest.
type Target struct {
	conn *imapconn.Conn

	batchMu   sync.Mutex
	batchFree *sync.Cond           // signalled when a MULTIAPPEND connection is put back or closed
	idle      []*imapconn.Appender // MULTIAPPEND connections not in use, opened when first needed
	appenders int                  // MULTIAPPEND connections open (idle, in use, or being opened)
	noBatch   bool                 // the server has no MULTIAPPEND
	noneUntil time.Time            // none could be opened: batches are refused until then
	closed    bool
	labelsOn  bool                   // set Gmail labels (SetGmailLabels)
	labeler   *imapconn.GmailLabeler // sets them, once needed
}

// batchPause is how long batches are refused (stored one by one on the
// Target's own connection instead) after no MULTIAPPEND connection could be
// opened, e.g. because the server caps a user's connections.
const batchPause = 30 * time.Second

var (
	_ target.Target         = (*Target)(nil)
	_ target.BatchAppender  = (*Target)(nil)
	_ target.KeywordChecker = (*Target)(nil)
)

// Open connects and logs in. ctx bounds only the connecting; each method
// takes its own context.
func Open(ctx context.Context, o imapconn.Options) (*Target, error) {
	c, err := imapconn.Dial(ctx, o)
	if err != nil {
		return nil, err
	}
	c.AllowWrite()
	t := &Target{conn: c}
	t.batchFree = sync.NewCond(&t.batchMu)
	return t, nil
}

// Conn returns the underlying connection, for callers that need more than
// the Target interface (capabilities, name mapping).
func (t *Target) Conn() *imapconn.Conn { return t.conn }

// Describe tells what the server is and can do: software, capabilities,
// delimiter and namespace prefix, APPENDLIMIT and quota of INBOX. Whether
// it keeps keywords is KeepsKeywords'.
func (t *Target) Describe(ctx context.Context) (mailbox.Description, error) {
	return t.conn.Describe(ctx)
}

// KeepsKeywords tells whether the server keeps new keywords: whether
// INBOX's PERMANENTFLAGS holds \* (a SELECT of INBOX).
func (t *Target) KeepsKeywords(ctx context.Context) (bool, error) {
	return t.conn.KeepsKeywords(ctx)
}

// Folders lists the folders of the personal namespace with their counters
// and special-use roles.
func (t *Target) Folders(ctx context.Context) ([]mailbox.Folder, error) {
	return t.conn.Folders(ctx)
}

// Messages SELECTs folder and lists its messages, oldest first, with its
// current counters. Key is the decimal UID.
// On Gmail the messages' labels are keywords too (see gmail.go).
func (t *Target) Messages(ctx context.Context, folder string) (mailbox.Folder, []mailbox.Message, error) {
	f, msgs, err := t.conn.Messages(ctx, folder)
	if err != nil {
		return f, msgs, err
	}
	msgs, err = t.withGmailLabels(ctx, folder, f, msgs)
	return f, msgs, err
}

// Changes lists the messages of folder whose metadata changed after
// modification sequence since, new ones included, with the folder's
// counters (UID FETCH ... (CHANGEDSINCE since); needs CONDSTORE). An
// incremental verification reads the target's flag changes with it.
// On Gmail the messages' labels are keywords too (see gmail.go).
func (t *Target) Changes(ctx context.Context, folder string, since uint64) (mailbox.Folder, []mailbox.Message, error) {
	f, msgs, err := t.conn.Changes(ctx, folder, since)
	if err != nil {
		return f, msgs, err
	}
	msgs, err = t.withGmailLabels(ctx, folder, f, msgs)
	return f, msgs, err
}

// Fetch streams the bodies of msgs with BODY.PEEK[]; messages expunged
// meanwhile are skipped.
func (t *Target) Fetch(ctx context.Context, folder string, msgs []mailbox.Message, fn func(mailbox.Message, mailbox.Body) error) error {
	return t.conn.Fetch(ctx, folder, msgs, fn)
}

// Close logs out.
func (t *Target) Close() error {
	t.batchMu.Lock()
	for _, a := range t.idle {
		a.Close()
	}
	t.appenders -= len(t.idle)
	t.idle, t.closed = nil, true
	t.batchFree.Broadcast()
	t.batchMu.Unlock()
	if t.labeler != nil {
		t.labeler.Close()
	}
	return t.conn.Close()
}

// Status returns a folder's counters; errors wrap mailbox.ErrFolderGone if
// it does not exist.
func (t *Target) Status(ctx context.Context, folder string) (mailbox.Folder, error) {
	return t.conn.Status(ctx, folder)
}

// CreateFolder creates folder (named without the namespace prefix, with the
// target's delimiter) and its missing parents. With a role and a server
// that offers CREATE-SPECIAL-USE the folder gets that special-use
// attribute; if the server refuses the attribute, the folder is created
// without it. An existing folder is not an error (its attributes are left
// as they are).
//
// It sends one CREATE of the full name: servers create the missing
// superiors themselves (RFC 3501 6.3.3), and some cannot create a parent on
// its own first (Dovecot with mbox storage makes "a" a file, after which
// "a/b" cannot be created). Only when that CREATE is refused and a parent
// is missing are the parents created first, one by one, and the folder
// again.
func (t *Target) CreateFolder(ctx context.Context, name, role string) error {
	c := t.conn
	if name == "" {
		return mailbox.Mark(mailbox.ErrRefused, fmt.Errorf("create folder on %s: empty name", c.Addr()))
	}
	if strings.EqualFold(name, "INBOX") {
		return nil
	}
	var parents []string
	if d := c.Delimiter(); d != 0 {
		parts := strings.Split(name, string(d))
		for i := range parts {
			if parts[i] == "" {
				return mailbox.Mark(mailbox.ErrRefused, fmt.Errorf("create folder %q on %s: empty name component", name, c.Addr()))
			}
			if i < len(parts)-1 {
				parents = append(parents, strings.Join(parts[:i+1], string(d)))
			}
		}
	}
	useRole := role != "" && isRole(role) && c.Caps().Has(imap.CapCreateSpecialUse)
	return c.Do(ctx, func(cl *imapclient.Client) error {
		err := t.create(ctx, cl, name, useRole, role)
		if err == nil || len(parents) == 0 || !isNo(err) {
			return err
		}
		// A server that wants the parents first.
		created := false
		for _, p := range parents {
			if strings.EqualFold(p, "INBOX") {
				continue
			}
			ok, lerr := c.Exists(ctx, p)
			if lerr != nil {
				return fmt.Errorf("create folder %q of %q on %s: %w", p, c.User(), c.Addr(), lerr)
			}
			if ok {
				continue
			}
			if perr := t.create(ctx, cl, p, false, ""); perr != nil {
				return perr
			}
			created = true
		}
		if !created {
			return err
		}
		return t.create(ctx, cl, name, useRole, role)
	})
}

// create creates one folder; an existing one is fine.
func (t *Target) create(ctx context.Context, cl *imapclient.Client, name string, withRole bool, role string) error {
	c := t.conn
	wire := c.WireName(name)
	var opts *imap.CreateOptions
	if withRole {
		opts = &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttr(role)}}
	}
	err := cl.Create(wire, opts).Wait()
	if err != nil && opts != nil && isNo(err) && !alreadyExists(err) {
		// The server would not take the attribute (Dovecot: NO [USEATTR]);
		// a folder without it is still worth having.
		err = cl.Create(wire, nil).Wait()
	}
	if err == nil {
		// A folder of that name may have existed before: forget its
		// UIDVALIDITY.
		return c.Forget(ctx, name)
	}
	if alreadyExists(err) {
		return nil
	}
	if isNo(err) {
		if ok, lerr := c.Exists(ctx, name); lerr == nil && ok {
			return nil
		}
	}
	return c.Classify(fmt.Errorf("create folder %q of %q on %s: %w", name, c.User(), c.Addr(), err))
}

func isRole(role string) bool {
	switch role {
	case mailbox.RoleSent, mailbox.RoleDrafts, mailbox.RoleTrash, mailbox.RoleJunk,
		mailbox.RoleArchive, mailbox.RoleAll, mailbox.RoleFlagged:
		return true
	}
	return false
}

func isNo(err error) bool {
	var ie *imap.Error
	return errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo
}

func alreadyExists(err error) bool {
	var ie *imap.Error
	return errors.As(err, &ie) && ie.Code == imap.ResponseCodeAlreadyExists
}

// Flags converts mailshift's flags to IMAP flags for APPEND and STORE:
// \Recent (which only the server sets) and anything that is not a valid
// flag atom are left out.
func Flags(flags []string) []imap.Flag {
	out := make([]imap.Flag, 0, len(flags))
	seen := map[string]bool{}
	for _, f := range flags {
		if strings.EqualFold(f, `\Recent`) || !validFlag(f) || seen[strings.ToLower(f)] {
			continue
		}
		seen[strings.ToLower(f)] = true
		out = append(out, imap.Flag(f))
	}
	return out
}

// validFlag reports whether f is a flag go-imap will encode: an atom,
// optionally with one leading backslash (and not \*).
func validFlag(f string) bool {
	s := strings.TrimPrefix(f, `\`)
	if s == "" || s == "*" {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch <= ' ' || ch >= 0x7f {
			return false
		}
		switch ch {
		case '(', ')', '{', '%', '*', '"', '\\', ']':
			return false
		}
	}
	return true
}

// Append stores a message of exactly size bytes read from body in folder,
// with flags (less \Recent) and the internal date (to the second). With
// UIDPLUS the result has the new message's UID.
//
// A refusal of the message itself (a NO or BAD to the APPEND: [TOOBIG],
// [OVERQUOTA], [CANNOT], a keyword the server will not take, a message
// over APPENDLIMIT, a NO without a code, ...) is a *target.RejectedError;
// NO [TRYCREATE] wraps mailbox.ErrFolderGone; NO [UNAVAILABLE], [INUSE]
// and throttling answers wrap mailbox.ErrBusy; see appendErr. A body that yields
// more or fewer than size bytes is an error and breaks the connection (the
// next call reconnects).
func (t *Target) Append(ctx context.Context, folder string, flags []string, date time.Time, size int64, body io.Reader) (target.Appended, error) {
	c := t.conn
	if size < 0 {
		return target.Appended{}, fmt.Errorf("append to folder %q of %q: negative size %d", folder, c.User(), size)
	}
	if limit := c.AppendLimit(); limit > 0 && size > limit {
		return target.Appended{}, &target.RejectedError{
			Code:   string(imap.ResponseCodeTooBig),
			Reason: fmt.Sprintf("the message has %d bytes; %s accepts at most %d (APPENDLIMIT)", size, c.Addr(), limit),
		}
	}
	var labels []string
	if t.gmailLabels() {
		flags, labels = imapconn.SplitLabelFlags(flags)
	}
	opts := &imap.AppendOptions{Flags: Flags(flags)}
	if !date.IsZero() {
		opts.Time = date.Truncate(time.Second)
	}
	wire := c.WireName(folder)
	var out target.Appended
	err := c.Do(ctx, func(cl *imapclient.Client) error {
		cmd := cl.Append(wire, size, opts)
		readErr, writeErr := copyLiteral(cmd, body, size)
		if readErr != nil {
			// The server still waits for the rest of the literal: the
			// connection cannot be used any more.
			c.Break()
			cmd.Close()
			return fmt.Errorf("append to folder %q of %q on %s: message body: %w", folder, c.User(), c.Addr(), readErr)
		}
		closeErr := cmd.Close()
		data, err := cmd.Wait()
		if err == nil {
			err = writeErr
		}
		if err == nil {
			err = closeErr
		}
		if err != nil {
			return t.appendErr(ctx, folder, err)
		}
		out = target.Appended{UIDValidity: data.UIDValidity, UID: uint32(data.UID)}
		return nil
	})
	if err == nil {
		err = t.setLabels(ctx, folder, out.UID, labels)
	}
	return out, err
}

// copyLiteral copies exactly size bytes from body into w. readErr is a
// failure of body (including a body of the wrong length), writeErr one of
// the connection or the server (which may have refused the message before
// it was sent).
func copyLiteral(w io.Writer, body io.Reader, size int64) (readErr, writeErr error) {
	buf := make([]byte, 32<<10)
	var n int64
	for {
		k, err := body.Read(buf)
		if k > 0 {
			if n+int64(k) > size {
				return fmt.Errorf("longer than the %d bytes announced", size), nil
			}
			if _, werr := w.Write(buf[:k]); werr != nil {
				return nil, werr
			}
			n += int64(k)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err, nil
		}
	}
	if n != size {
		return fmt.Errorf("%d bytes, not the %d announced", n, size), nil
	}
	return nil, nil
}

// appendErr classifies a failed APPEND. The server's NO or BAD to this
// message is a *target.RejectedError (a mailbox.ErrRefused), so
// that the copy engine records it against the message and goes on: a
// keyword or flag the server will not take, [CANNOT], [TOOBIG],
// [OVERQUOTA], a [LIMIT] about the size, a NO without a code. Not so:
// answers that ask for less load ([UNAVAILABLE], [INUSE], other [LIMIT]s,
// throttling texts: mailbox.ErrBusy), a missing folder ([TRYCREATE],
// [NONEXISTENT], or a NO without a code for a folder LIST does not know:
// mailbox.ErrFolderGone), [SERVERBUG] (transient), and refusals of the
// folder or the account rather than the message ([NOPERM], [CONTACTADMIN],
// [EXPIRED], [PRIVACYREQUIRED], [AUTHORIZATIONFAILED],
// [AUTHENTICATIONFAILED]: mailbox.ErrRefused).
func (t *Target) appendErr(ctx context.Context, folder string, err error) error {
	c := t.conn
	wrap := func(err error) error {
		return c.Classify(fmt.Errorf("append to folder %q of %q on %s: %w", folder, c.User(), c.Addr(), err))
	}
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo && ie.Type != imap.StatusResponseTypeBad {
		return wrap(err)
	}
	switch ie.Code {
	case imap.ResponseCodeTryCreate, imap.ResponseCodeNonExistent:
		return fmt.Errorf("append to folder %q of %q on %s: %w (server: %s)", folder, c.User(), c.Addr(), mailbox.ErrFolderGone, ie.Text)
	case imap.ResponseCodeServerBug,
		imap.ResponseCodeNoPerm, imap.ResponseCodeContactAdmin, imap.ResponseCodeExpired,
		imap.ResponseCodePrivacyRequired, imap.ResponseCodeAuthorizationFailed,
		imap.ResponseCodeAuthenticationFailed:
		return wrap(err)
	case "":
		// Old servers say a folder is missing without TRYCREATE.
		if ie.Type == imap.StatusResponseTypeNo {
			if ok, lerr := c.Exists(ctx, folder); lerr == nil && !ok {
				return fmt.Errorf("append to folder %q of %q on %s: %w (server: %s)", folder, c.User(), c.Addr(), mailbox.ErrFolderGone, ie.Text)
			}
		}
	}
	if cerr := wrap(err); errors.Is(cerr, mailbox.ErrBusy) {
		return cerr
	}
	return &target.RejectedError{Code: string(ie.Code), Reason: ie.Text}
}

// SetFlags replaces the flags of message uid in folder (UID STORE
// FLAGS.SILENT). \Recent and invalid flags are left out. A UID the folder
// does not hold is not an error.
//
// On Gmail the imapconn.LabelFlag keywords among flags are added as labels
// (a label the message has and flags lacks is not taken away).
func (t *Target) SetFlags(ctx context.Context, folder string, uid uint32, flags []string) error {
	c := t.conn
	if t.gmailLabels() {
		var labels []string
		flags, labels = imapconn.SplitLabelFlags(flags)
		if err := t.setLabels(ctx, folder, uid, labels); err != nil {
			return err
		}
	}
	return c.Do(ctx, func(cl *imapclient.Client) error {
		if err := c.Use(ctx, folder, true); err != nil {
			return err
		}
		var set imap.UIDSet
		set.AddNum(imap.UID(uid))
		err := cl.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsSet, Silent: true, Flags: Flags(flags)}, nil).Close()
		if err != nil {
			return fmt.Errorf("set flags of uid %d in folder %q of %q on %s: %w", uid, folder, c.User(), c.Addr(), err)
		}
		return nil
	})
}

// Expunge removes the messages uids from folder, and no others. With
// UIDPLUS: UID STORE +FLAGS.SILENT (\Deleted), then UID EXPUNGE of the same
// UIDs. Without it, EXPUNGE would take every \Deleted message of the
// folder, so the other messages marked \Deleted lose the flag for the
// moment of the EXPUNGE and get it back after; should the connection break
// in between, they are left without \Deleted (a flag difference a later
// sync puts right; no message is lost).
func (t *Target) Expunge(ctx context.Context, folder string, uids []uint32) error {
	c := t.conn
	if len(uids) == 0 {
		return nil
	}
	var set imap.UIDSet
	want := make(map[uint32]bool, len(uids))
	for _, u := range uids {
		if u != 0 {
			set.AddNum(imap.UID(u))
			want[u] = true
		}
	}
	if len(want) == 0 {
		return nil
	}
	deleted := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
	fail := func(step string, err error) error {
		return fmt.Errorf("expunge from folder %q of %q on %s: %s: %w", folder, c.User(), c.Addr(), step, err)
	}
	return c.Do(ctx, func(cl *imapclient.Client) error {
		if err := c.Use(ctx, folder, true); err != nil {
			return err
		}
		if c.Caps().Has(imap.CapUIDPlus) {
			if err := cl.Store(set, deleted, nil).Close(); err != nil {
				return fail("store \\Deleted", err)
			}
			if err := cl.UIDExpunge(set).Close(); err != nil {
				return fail("uid expunge", err)
			}
			return nil
		}
		found, err := cl.UIDSearch(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDeleted}}, nil).Wait()
		if err != nil {
			return fail("search deleted", err)
		}
		var others imap.UIDSet
		for _, u := range found.AllUIDs() {
			if !want[uint32(u)] {
				others.AddNum(u)
			}
		}
		if len(others) > 0 {
			undelete := &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
			if err := cl.Store(others, undelete, nil).Close(); err != nil {
				return fail("clear \\Deleted of other messages", err)
			}
		}
		if err := cl.Store(set, deleted, nil).Close(); err != nil {
			return fail("store \\Deleted", err)
		}
		if err := cl.Expunge().Close(); err != nil {
			return fail("expunge", err)
		}
		if len(others) > 0 {
			if err := cl.Store(others, deleted, nil).Close(); err != nil {
				return fail("restore \\Deleted of other messages", err)
			}
		}
		return nil
	})
}

// DeleteFolder deletes folder (not its subfolders: a server either keeps
// the folder as a \Noselect parent or refuses with [HASCHILDREN]). A folder
// that does not exist is not an error.
func (t *Target) DeleteFolder(ctx context.Context, name string) error {
	c := t.conn
	if strings.EqualFold(name, "INBOX") {
		return fmt.Errorf("delete folder INBOX of %q on %s: INBOX cannot be deleted", c.User(), c.Addr())
	}
	return c.Do(ctx, func(cl *imapclient.Client) error {
		if err := c.Forget(ctx, name); err != nil {
			return err
		}
		err := cl.Delete(c.WireName(name)).Wait()
		if err == nil {
			return nil
		}
		var ie *imap.Error
		if errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo {
			if ie.Code == imap.ResponseCodeNonExistent {
				return nil
			}
			if ok, lerr := c.Exists(ctx, name); lerr == nil && !ok {
				return nil
			}
		}
		return fmt.Errorf("delete folder %q of %q on %s: %w", name, c.User(), c.Addr(), err)
	})
}

// RenameFolder renames folder from to to (RENAME; the server moves the
// subfolders along). Missing parents of to are created by the server.
func (t *Target) RenameFolder(ctx context.Context, from, to string) error {
	c := t.conn
	return c.Do(ctx, func(cl *imapclient.Client) error {
		if err := c.Forget(ctx, from); err != nil {
			return err
		}
		if err := cl.Rename(c.WireName(from), c.WireName(to), nil).Wait(); err != nil {
			return fmt.Errorf("rename folder %q of %q on %s to %q: %w", from, c.User(), c.Addr(), to, err)
		}
		return nil
	})
}

// Batches tells whether the server offers MULTIAPPEND (and the connection
// for it could be opened).
func (t *Target) Batches() bool {
	t.batchMu.Lock()
	defer t.batchMu.Unlock()
	// Gmail offers no MULTIAPPEND; its labels are set per message.
	return !t.noBatch && !t.gmailLabels() && t.conn.Caps().Has(imap.Cap("MULTIAPPEND"))
}

// AppendBatch stores items in folder with one MULTIAPPEND, which is ten
// times faster than one APPEND per message on Dovecot, over a connection
// of the Target's own (opened on first use with the same options, kept for
// the next batch). Calls running at once each get a connection: on Dovecot
// two connections storing groups into one folder take half the time of
// one; where no more can be opened, they take turns on those there are. A
// refusal of the batch, a server without MULTIAPPEND, and no MULTIAPPEND
// connection to be had (for batchPause after that) give an error wrapping
// target.ErrBatchRefused: nothing was stored.
func (t *Target) AppendBatch(ctx context.Context, folder string, items []mailbox.Item) ([]target.Appended, error) {
	a, err := t.appender(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]target.Appended, len(items))
	ai := make([]mailbox.Item, len(items))
	for i, it := range items {
		ai[i] = it
		if !it.Date.IsZero() {
			ai[i].Date = it.Date.Truncate(time.Second)
		}
	}
	validity, uids, err := a.Append(ctx, folder, ai)
	if err != nil {
		var refused *imapconn.BatchRefusedError
		if errors.As(err, &refused) {
			if refused.Bad {
				t.dropAppender(a) // the Appender closed its connection
			} else {
				t.putAppender(a)
			}
			return nil, fmt.Errorf("append to folder %q of %q on %s: %w: %w", folder, t.conn.User(), t.conn.Addr(), target.ErrBatchRefused, err)
		}
		t.dropAppender(a)
		return nil, err
	}
	t.putAppender(a)
	for i := range out {
		out[i].UIDValidity = validity
		if uids != nil {
			out[i].UID = uids[i]
		}
	}
	return out, nil
}

// appender returns an idle MULTIAPPEND connection, or opens one. When
// one more cannot be opened while others are (a server that caps a user's
// connections), it waits for one of those instead.
func (t *Target) appender(ctx context.Context) (*imapconn.Appender, error) {
	t.batchMu.Lock()
	for {
		switch {
		case t.closed:
			t.batchMu.Unlock()
			return nil, fmt.Errorf("append to %q on %s: the target is closed", t.conn.User(), t.conn.Addr())
		case t.noBatch:
			t.batchMu.Unlock()
			return nil, fmt.Errorf("%w: %s offers no MULTIAPPEND", target.ErrBatchRefused, t.conn.Addr())
		case len(t.idle) > 0:
			a := t.idle[len(t.idle)-1]
			t.idle = t.idle[:len(t.idle)-1]
			t.batchMu.Unlock()
			return a, nil
		case t.appenders == 0 && time.Now().Before(t.noneUntil):
			t.batchMu.Unlock()
			return nil, fmt.Errorf("%w: no MULTIAPPEND connection to %s could be opened a moment ago", target.ErrBatchRefused, t.conn.Addr())
		}
		t.appenders++
		t.batchMu.Unlock()
		a, err := t.openAppender(ctx)
		t.batchMu.Lock()
		if err == nil {
			t.batchMu.Unlock()
			return a, nil
		}
		t.appenders--
		t.batchFree.Broadcast()
		if errors.Is(err, target.ErrBatchRefused) || ctx.Err() != nil {
			t.batchMu.Unlock()
			return nil, err
		}
		if t.appenders == 0 {
			// None at all: the batch goes one by one over the Target's own
			// connection, which is logged in already, and so do the next
			// ones for a while, instead of a refused login each.
			t.noneUntil = time.Now().Add(batchPause)
			t.batchMu.Unlock()
			return nil, fmt.Errorf("%w: %w", target.ErrBatchRefused, err)
		}
		// Others are open: wait for one of them to come back.
		for len(t.idle) == 0 && t.appenders > 0 && !t.closed {
			t.batchFree.Wait()
		}
	}
}

// openAppender opens a MULTIAPPEND connection with the Target's options.
func (t *Target) openAppender(ctx context.Context) (*imapconn.Appender, error) {
	c, err := imapconn.Dial(ctx, t.conn.Options())
	if err != nil {
		return nil, err
	}
	a, err := c.Appender(ctx)
	if err != nil {
		c.Close()
		t.batchMu.Lock()
		t.noBatch = true
		t.batchMu.Unlock()
		return nil, fmt.Errorf("%w: %w", target.ErrBatchRefused, err)
	}
	return a, nil
}

// putAppender keeps a for the next batch.
func (t *Target) putAppender(a *imapconn.Appender) {
	t.batchMu.Lock()
	defer t.batchMu.Unlock()
	if t.closed {
		a.Close()
		t.appenders--
		return
	}
	t.idle = append(t.idle, a)
	t.batchFree.Signal()
}

// dropAppender closes a, which failed.
func (t *Target) dropAppender(a *imapconn.Appender) {
	a.Close()
	t.batchMu.Lock()
	defer t.batchMu.Unlock()
	t.appenders--
	t.batchFree.Broadcast()
}
