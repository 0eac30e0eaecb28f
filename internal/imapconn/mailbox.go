package imapconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/mailshift/mailshift/internal/mailbox"
)

// Limits of one UID FETCH of bodies: how many messages, and roughly how many
// bytes (by RFC822.SIZE). The byte bound limits what is drained when the
// caller's function fails halfway through a batch.
const (
	fetchBatchMessages = 500
	fetchBatchBytes    = 32 << 20
)

// doSelect sends SELECT (write) or EXAMINE, with CONDSTORE where offered,
// and remembers the selection.
func (c *Conn) doSelect(ctx context.Context, folder string, write bool) (*imap.SelectData, error) {
	if write && !c.writable {
		return nil, fmt.Errorf("imap %s: folder %q: refusing to SELECT read-write on a read-only connection", c.addr, folder)
	}
	wire := c.WireName(folder)
	condStore := c.caps.Has(imap.CapCondStore)
	c.sel = selection{}
	data, err := c.client.Select(wire, &imap.SelectOptions{ReadOnly: !write, CondStore: condStore}).Wait()
	if err != nil {
		verb := "examine"
		if write {
			verb = "select"
		}
		return nil, c.folderErr(ctx, verb, folder, err)
	}
	c.sel = selection{name: wire, write: write, condStore: condStore, uidValidity: data.UIDValidity}
	return data, nil
}

// Use makes folder the selected one unless it already is: EXAMINE, or SELECT
// when write is set (a read-write selection also serves reading). When the
// folder had to be opened again (after a reconnect or another folder) and
// its UIDVALIDITY is not the one Messages last reported, the error wraps
// ErrUIDValidity.
func (c *Conn) Use(ctx context.Context, folder string, write bool) error {
	end, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	return c.ctxErr(ctx, c.use(ctx, folder, write))
}

func (c *Conn) use(ctx context.Context, folder string, write bool) error {
	wire := c.WireName(folder)
	selected := false
	if c.sel.name == wire && (c.sel.write || !write) {
		mb := c.client.Mailbox()
		selected = mb != nil && mb.Name == wire
	}
	if !selected {
		if _, err := c.doSelect(ctx, folder, write || c.writable); err != nil {
			return err
		}
	}
	prev, ok := c.validity[wire]
	if !ok {
		c.validity[wire] = c.sel.uidValidity
	} else if prev != c.sel.uidValidity {
		// Kept as it is, so that every later call fails the same way
		// until Messages lists the folder again.
		return fmt.Errorf("folder %q of %q on %s: UIDVALIDITY is %d, was %d: %w",
			folder, c.opts.User, c.addr, c.sel.uidValidity, prev, ErrUIDValidity)
	}
	return nil
}

// Messages opens a folder afresh (EXAMINE, or SELECT on a connection that
// AllowWrite was called on; with CONDSTORE where offered) and lists its
// messages, oldest (lowest UID) first: UID FETCH 1:* (UID FLAGS
// INTERNALDATE RFC822.SIZE [MODSEQ]). The folder's counters come from the
// selection; Bytes is the sum of the messages' sizes. \Recent is left out
// of the flags: it is the server's, not the message's.
func (c *Conn) Messages(ctx context.Context, folder string) (mailbox.Folder, []mailbox.Message, error) {
	end, err := c.begin(ctx)
	if err != nil {
		return mailbox.Folder{}, nil, err
	}
	defer end()
	f, data, err := c.reselect(ctx, folder)
	if err != nil {
		return f, nil, err
	}
	f.Bytes = 0
	var msgs []mailbox.Message
	if data.NumMessages > 0 {
		msgs, err = c.metadata()
		if err != nil {
			return mailbox.Folder{}, nil, c.ctxErr(ctx, fmt.Errorf("list messages of folder %q of %q on %s: %w", folder, c.opts.User, c.addr, err))
		}
	}
	for _, m := range msgs {
		f.Bytes += m.Size
		if f.UIDNext <= m.UID {
			f.UIDNext = m.UID + 1 // a server that did not say UIDNEXT
		}
	}
	return f, msgs, nil
}

// Changes opens folder afresh, like Messages, but lists only the messages
// whose metadata changed after modification sequence since, new messages
// included: UID FETCH 1:* (...) (CHANGEDSINCE since). It needs CONDSTORE
// (see Caps); when the folder's HIGHESTMODSEQ is still since, nothing is
// fetched. Bytes is -1: the folder's size is not known from the changes.
func (c *Conn) Changes(ctx context.Context, folder string, since uint64) (mailbox.Folder, []mailbox.Message, error) {
	end, err := c.begin(ctx)
	if err != nil {
		return mailbox.Folder{}, nil, err
	}
	defer end()
	if !c.caps.Has(imap.CapCondStore) {
		return mailbox.Folder{}, nil, mailbox.Mark(mailbox.ErrRefused, fmt.Errorf("imap %s: folder %q: the server does not offer CONDSTORE", c.addr, folder))
	}
	f, data, err := c.reselect(ctx, folder)
	if err != nil {
		return f, nil, err
	}
	f.Bytes = -1
	if data.NumMessages == 0 || data.HighestModSeq != 0 && data.HighestModSeq <= since {
		return f, nil, nil
	}
	got, err := c.fetchMetaSince(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, since)
	if err != nil {
		return mailbox.Folder{}, nil, c.ctxErr(ctx, fmt.Errorf("list changed messages of folder %q of %q on %s: %w", folder, c.opts.User, c.addr, err))
	}
	msgs := make([]mailbox.Message, 0, len(got))
	for _, it := range got {
		if it.flags && it.date && it.size {
			msgs = append(msgs, it.msg)
		}
	}
	slices.SortFunc(msgs, func(a, b mailbox.Message) int { return int(int64(a.UID) - int64(b.UID)) })
	return f, msgs, nil
}

// UIDs opens folder afresh and lists the UIDs of all its messages, in
// ascending order (UID SEARCH ALL; one compact answer with ESEARCH).
func (c *Conn) UIDs(ctx context.Context, folder string) (mailbox.Folder, []uint32, error) {
	end, err := c.begin(ctx)
	if err != nil {
		return mailbox.Folder{}, nil, err
	}
	defer end()
	f, data, err := c.reselect(ctx, folder)
	if err != nil || data.NumMessages == 0 {
		return f, nil, err
	}
	var opts *imap.SearchOptions
	if c.caps.Has(imap.CapESearch) {
		opts = &imap.SearchOptions{ReturnAll: true}
	}
	res, err := c.client.UIDSearch(&imap.SearchCriteria{}, opts).Wait()
	if err != nil {
		return mailbox.Folder{}, nil, c.ctxErr(ctx, fmt.Errorf("search folder %q of %q on %s: %w", folder, c.opts.User, c.addr, err))
	}
	all := res.AllUIDs()
	out := make([]uint32, len(all))
	for i, u := range all {
		out[i] = uint32(u)
	}
	slices.Sort(out)
	return f, out, nil
}

// reselect opens folder afresh and returns its counters.
func (c *Conn) reselect(ctx context.Context, folder string) (mailbox.Folder, *imap.SelectData, error) {
	data, err := c.doSelect(ctx, folder, c.writable)
	if err != nil {
		return mailbox.Folder{}, nil, c.ctxErr(ctx, err)
	}
	wire := c.WireName(folder)
	c.validity[wire] = data.UIDValidity
	return mailbox.Folder{
		Name:          folder,
		Role:          c.roles[wire],
		Messages:      data.NumMessages,
		UIDValidity:   data.UIDValidity,
		UIDNext:       uint32(data.UIDNext),
		HighestModSeq: data.HighestModSeq,
		Bytes:         -1,
	}, data, nil
}

// metaItems are what a FETCH answer must carry for a message's metadata.
type metaItems struct {
	msg                  mailbox.Message
	flags, date, size, m bool
}

// metadata fetches the metadata of every message of the selected folder. A
// message whose answer came incomplete (an unsolicited FETCH of flags can
// take the place of the answer in go-imap) is asked for again once.
func (c *Conn) metadata() ([]mailbox.Message, error) {
	all := imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}} // 1:*
	got, err := c.fetchMeta(all)
	if err != nil {
		return nil, err
	}
	var again imap.UIDSet
	for uid, it := range got {
		if !it.flags || !it.date || !it.size || c.sel.condStore && !it.m {
			again.AddNum(imap.UID(uid))
		}
	}
	if len(again) > 0 {
		more, err := c.fetchMeta(again)
		if err != nil {
			return nil, err
		}
		for uid, it := range more {
			got[uid] = it
		}
	}
	msgs := make([]mailbox.Message, 0, len(got))
	for _, it := range got {
		msgs = append(msgs, it.msg)
	}
	slices.SortFunc(msgs, func(a, b mailbox.Message) int { return int(int64(a.UID) - int64(b.UID)) })
	return msgs, nil
}

func (c *Conn) fetchMeta(uids imap.UIDSet) (map[uint32]*metaItems, error) {
	return c.fetchMetaSince(uids, 0)
}

// fetchMetaSince fetches the metadata of uids, only of those changed after
// modification sequence since when it is not 0 (CHANGEDSINCE).
func (c *Conn) fetchMetaSince(uids imap.UIDSet, since uint64) (map[uint32]*metaItems, error) {
	cmd := c.client.Fetch(uids, &imap.FetchOptions{
		UID: true, Flags: true, InternalDate: true, RFC822Size: true, ModSeq: c.sel.condStore,
		ChangedSince: since,
	})
	got := map[uint32]*metaItems{}
	for {
		m := cmd.Next()
		if m == nil {
			break
		}
		var it metaItems
		for {
			item := m.Next()
			if item == nil {
				break
			}
			switch item := item.(type) {
			case imapclient.FetchItemDataUID:
				it.msg.UID = uint32(item.UID)
			case imapclient.FetchItemDataFlags:
				it.msg.Flags, it.flags = Flags(item.Flags), true
			case imapclient.FetchItemDataInternalDate:
				it.msg.InternalDate, it.date = item.Time, true
			case imapclient.FetchItemDataRFC822Size:
				it.msg.Size, it.size = item.Size, true
			case imapclient.FetchItemDataModSeq:
				it.msg.ModSeq, it.m = item.ModSeq, true
			}
		}
		if it.msg.UID == 0 {
			continue
		}
		it.msg.Key = strconv.FormatUint(uint64(it.msg.UID), 10)
		if prev := got[it.msg.UID]; prev == nil || !prev.date && it.date {
			got[it.msg.UID] = &it
		}
	}
	if err := cmd.Close(); err != nil && !expungeIssued(err) {
		return nil, err
	}
	return got, nil
}

// Flags converts flags to mailshift's strings, leaving out \Recent.
func Flags(fs []imap.Flag) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		if strings.EqualFold(string(f), `\Recent`) {
			continue
		}
		out = append(out, string(f))
	}
	return out
}

// expungeIssued reports a NO [EXPUNGEISSUED]: some messages asked for were
// expunged meanwhile; what the server could send has been sent.
func expungeIssued(err error) bool {
	var ie *imap.Error
	return errors.As(err, &ie) && ie.Code == "EXPUNGEISSUED"
}

// Fetch streams the bodies of msgs of folder to fn with UID FETCH (UID
// BODY.PEEK[]) in batches, selecting the folder as Use does (EXAMINE unless
// AllowWrite). A body's Size is the literal's size. Messages the server no
// longer has are skipped. If fn fails, Fetch stops and returns its error.
func (c *Conn) Fetch(ctx context.Context, folder string, msgs []mailbox.Message, fn func(mailbox.Message, mailbox.Body) error) error {
	if len(msgs) == 0 {
		return nil
	}
	end, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	if err := c.use(ctx, folder, false); err != nil {
		return c.ctxErr(ctx, err)
	}
	byUID := make(map[uint32]mailbox.Message, len(msgs))
	for _, m := range msgs {
		if m.UID != 0 {
			byUID[m.UID] = m
		}
	}
	done := make(map[uint32]bool, len(msgs))
	for start := 0; start < len(msgs); {
		var (
			set   imap.UIDSet
			batch []mailbox.Message
			bytes int64
		)
		for ; start < len(msgs) && len(batch) < fetchBatchMessages && (bytes < fetchBatchBytes || len(batch) == 0); start++ {
			m := msgs[start]
			if m.UID == 0 || done[m.UID] {
				continue
			}
			set.AddNum(imap.UID(m.UID))
			batch = append(batch, m)
			bytes += m.Size
		}
		if len(batch) == 0 {
			continue
		}
		if err := c.fetchBodies(set, byUID, done, fn); err != nil {
			return c.fetchErr(ctx, folder, err)
		}
		// Ask once more for what did not come (see metadata); what is still
		// missing then was expunged.
		var again imap.UIDSet
		for _, m := range batch {
			if !done[m.UID] {
				again.AddNum(imap.UID(m.UID))
			}
		}
		if len(again) > 0 {
			if err := c.fetchBodies(again, byUID, done, fn); err != nil {
				return c.fetchErr(ctx, folder, err)
			}
		}
	}
	return nil
}

// fetchErr returns the caller's function's error as it is, and explains
// any other.
func (c *Conn) fetchErr(ctx context.Context, folder string, err error) error {
	var fe fnError
	if errors.As(err, &fe) {
		return fe.err
	}
	return c.ctxErr(ctx, fmt.Errorf("fetch from folder %q of %q on %s: %w", folder, c.opts.User, c.addr, err))
}

// fnError marks an error of the caller's function, so that it is returned
// as it is.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }
func (e fnError) Unwrap() error { return e.err }

func (c *Conn) fetchBodies(set imap.UIDSet, byUID map[uint32]mailbox.Message, done map[uint32]bool, fn func(mailbox.Message, mailbox.Body) error) error {
	cmd := c.client.Fetch(set, &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	var fnErr error
	for fnErr == nil {
		m := cmd.Next()
		if m == nil {
			break
		}
		var uid uint32
		for {
			item := m.Next()
			if item == nil {
				break
			}
			switch item := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = uint32(item.UID)
			case imapclient.FetchItemDataBodySection:
				meta, ok := byUID[uid]
				if item.Literal == nil || !ok || done[uid] {
					continue
				}
				done[uid] = true
				lit := &literal{LiteralReader: item.Literal}
				if err := fn(meta, lit); err != nil {
					fnErr = err
				}
				if lit.broken() {
					// The connection broke in the middle of the literal.
					// go-imap's reader has moved on already: reading any
					// more of this command (Next and Close discard what is
					// left of the literal) would race with it. Abandon the
					// command with its connection; the next call dials again.
					c.Break()
					if fnErr == nil {
						fnErr = fmt.Errorf("body of uid %d: %w", uid, io.ErrUnexpectedEOF)
					}
					return fnError{fnErr}
				}
			}
			if fnErr != nil {
				break
			}
		}
	}
	closeErr := cmd.Close() // drains what is left of the batch
	if fnErr != nil {
		return fnError{fnErr}
	}
	if closeErr != nil && !expungeIssued(closeErr) {
		return closeErr
	}
	return nil
}

// literal is a message body as go-imap streams it, noting whether it ended
// before its announced size (a connection broken mid-literal).
type literal struct {
	imap.LiteralReader
	n   int64
	err error
}

func (l *literal) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.LiteralReader.Read(p)
	l.n += int64(n)
	if err != nil {
		l.err = err
	}
	return n, err
}

// broken tells whether reading stopped with an error before the end.
func (l *literal) broken() bool { return l.err != nil && l.n < l.Size() }
