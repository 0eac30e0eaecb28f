package imapconn

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/mailshift/mailshift/internal/mailbox"
)

// statusBatch is how many STATUS commands are in flight at once when LIST
// did not return the counters.
const statusBatch = 32

// isInbox reports whether name is INBOX, whose name is case-insensitive.
func isInbox(name string) bool { return strings.EqualFold(name, "INBOX") }

// normInbox spells INBOX, and INBOX as the first component of a path, in
// capitals.
func (c *Conn) normInbox(name string) string {
	if isInbox(name) {
		return "INBOX"
	}
	if c.delim != 0 {
		if first, rest, ok := strings.Cut(name, string(c.delim)); ok && isInbox(first) {
			return "INBOX" + string(c.delim) + rest
		}
	}
	return name
}

// WireName returns the server's name of a folder named as mailshift sees
// it: with the personal namespace prefix added ("Sent" is "INBOX.Sent" on
// Courier); INBOX is always INBOX. Modified UTF-7 is go-imap's business.
func (c *Conn) WireName(name string) string {
	name = c.normInbox(name)
	if name == "INBOX" {
		return name
	}
	return c.prefix + name
}

// LocalName returns the folder name mailshift uses for a name the server
// listed: without the personal namespace prefix. ok is false for names
// outside the personal namespace (shared folders, other users' folders) and
// for the namespace's root itself.
func (c *Conn) LocalName(wire string) (name string, ok bool) {
	if isInbox(wire) {
		return "INBOX", true
	}
	if c.prefix != "" {
		if len(wire) <= len(c.prefix) || !strings.EqualFold(wire[:len(c.prefix)], c.prefix) {
			return "", false
		}
		return c.normInbox(wire[len(c.prefix):]), true
	}
	for _, p := range c.others {
		root := strings.TrimSuffix(p, string(c.delim))
		if strings.HasPrefix(wire, p) || wire == root {
			return "", false
		}
	}
	return c.normInbox(wire), true
}

// statusOptions asks for the counters mailshift keeps, as far as the server
// offers them.
func (c *Conn) statusOptions() *imap.StatusOptions {
	return &imap.StatusOptions{
		NumMessages:   true,
		UIDNext:       true,
		UIDValidity:   true,
		Size:          c.caps.Has(imap.CapStatusSize),
		HighestModSeq: c.caps.Has(imap.CapCondStore),
	}
}

// applyStatus copies STATUS counters into f.
func applyStatus(f *mailbox.Folder, st *imap.StatusData) {
	if st.NumMessages != nil {
		f.Messages = *st.NumMessages
	}
	f.UIDNext = uint32(st.UIDNext)
	f.UIDValidity = st.UIDValidity
	f.HighestModSeq = st.HighestModSeq
	f.Bytes = -1
	if st.Size != nil {
		f.Bytes = *st.Size
	}
}

// roleOf returns the special-use role among a folder's attributes.
func roleOf(attrs []imap.MailboxAttr) string {
	for _, a := range attrs {
		for _, r := range []string{mailbox.RoleSent, mailbox.RoleDrafts, mailbox.RoleTrash, mailbox.RoleJunk,
			mailbox.RoleArchive, mailbox.RoleAll, mailbox.RoleFlagged, mailbox.RoleImportant} {
			if strings.EqualFold(string(a), r) {
				return r
			}
		}
	}
	return ""
}

// noSelect reports whether a folder's attributes say it holds no messages.
func noSelect(attrs []imap.MailboxAttr) bool {
	for _, a := range attrs {
		if strings.EqualFold(string(a), string(imap.MailboxAttrNoSelect)) ||
			strings.EqualFold(string(a), string(imap.MailboxAttrNonExistent)) {
			return true
		}
	}
	return false
}

// Folders lists every folder of the personal namespace with its counters:
// one LIST "" "*", with RETURN (SPECIAL-USE STATUS (...)) where the server
// offers LIST-EXTENDED, SPECIAL-USE and LIST-STATUS, and a STATUS per
// folder for what LIST did not tell. INBOX comes first, then by name.
//
// One folder's counters that cannot be read (a NO to its STATUS, or an
// answer go-imap cannot parse, on which it closes the connection) do not
// fail the listing: that folder comes with Error set and zero counters,
// the connection is dialled again if it was closed, and the others are
// read as usual.
func (c *Conn) Folders(ctx context.Context) ([]mailbox.Folder, error) {
	end, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	fs, err := c.folders(ctx)
	return fs, c.ctxErr(ctx, err)
}

// folders lists the folders (list), reads the counters LIST did not give
// (statusMissing) and puts INBOX first, then the others by name.
func (c *Conn) folders(ctx context.Context) ([]mailbox.Folder, error) {
	list, err := c.list(ctx)
	if err != nil {
		return nil, err
	}
	folders, wires := c.foldersOf(list)
	if err := c.statusMissing(ctx, folders, wires); err != nil {
		return nil, err
	}
	sort.SliceStable(folders, func(i, j int) bool {
		a, b := folders[i].Name, folders[j].Name
		if (a == "INBOX") != (b == "INBOX") {
			return a == "INBOX"
		}
		return a < b
	})
	return folders, nil
}

// list sends LIST "" "*", asking special-use attributes and counters
// where the server offers them. When go-imap could not read the counters
// and closed the connection, it dials again and lists without counters.
func (c *Conn) list(ctx context.Context) ([]*imap.ListData, error) {
	var opts *imap.ListOptions
	if c.caps.Has(imap.CapListExtended) {
		opts = &imap.ListOptions{ReturnSpecialUse: c.caps.Has(imap.CapSpecialUse)}
		if c.caps.Has(imap.CapListStatus) {
			opts.ReturnStatus = c.statusOptions()
		}
	}
	list, err := c.client.List("", "*", opts).Collect()
	if err != nil && opts != nil && opts.ReturnStatus != nil && c.unreadable(err) && c.depth == 1 && ctx.Err() == nil {
		// Most likely one folder's counters that go-imap could not read,
		// and it closed the connection: list again without counters, and
		// ask each folder apart below, to learn whose they were.
		if err := c.redial(ctx); err != nil {
			return nil, err
		}
		opts.ReturnStatus = nil
		list, err = c.client.List("", "*", opts).Collect()
	}
	if err != nil {
		return nil, fmt.Errorf("list folders of %q on %s: %w", c.opts.User, c.addr, err)
	}
	return list, nil
}

// foldersOf turns LIST's answer into folders (once each, by local name),
// with the counters LIST gave, and their wire names; it notes each wire
// name's role in c.roles.
func (c *Conn) foldersOf(list []*imap.ListData) (folders []mailbox.Folder, wires []string) {
	seen := map[string]bool{}
	roles := map[string]string{}
	for _, d := range list {
		name, ok := c.LocalName(d.Mailbox)
		if !ok || seen[name] {
			continue
		}
		seen[name] = true
		f := mailbox.Folder{Name: name, Role: roleOf(d.Attrs), NoSelect: noSelect(d.Attrs), Bytes: -1}
		if name == "INBOX" {
			f.NoSelect = false
		}
		if d.Status != nil && !f.NoSelect {
			applyStatus(&f, d.Status)
		}
		wire := c.WireName(name)
		roles[wire] = f.Role
		folders = append(folders, f)
		wires = append(wires, wire)
	}
	c.roles = roles
	return folders, wires
}

// statusMissing asks STATUS, pipelined statusBatch at a time, for the
// selectable folders LIST gave no counters for.
func (c *Conn) statusMissing(ctx context.Context, folders []mailbox.Folder, wires []string) error {
	var todo []int
	for i, f := range folders {
		if !f.NoSelect && f.UIDValidity == 0 {
			todo = append(todo, i)
		}
	}
	for len(todo) > 0 {
		n := min(len(todo), statusBatch)
		if err := c.statusPipelined(ctx, folders, wires, todo[:n]); err != nil {
			return err
		}
		todo = todo[n:]
	}
	return nil
}

// statusPipelined asks STATUS of the folders at indexes batch, pipelined.
// Those whose answers were lost with the connection are asked again one
// at a time (statusAgain).
func (c *Conn) statusPipelined(ctx context.Context, folders []mailbox.Folder, wires []string, batch []int) error {
	cmds := make([]*statusCall, len(batch))
	for j, i := range batch {
		cmds[j] = &statusCall{i: i, cmd: c.client.Status(wires[i], c.statusOptions())}
	}
	var (
		lost    []int // asked, but the connection closed before the answer
		lostErr error
	)
	for _, sc := range cmds {
		st, err := sc.cmd.Wait()
		switch {
		case err == nil:
			applyStatus(&folders[sc.i], st)
		case isAnswer(err):
			statusFailed(&folders[sc.i], err)
		default:
			lost = append(lost, sc.i)
			if lostErr == nil {
				lostErr = err
			}
		}
	}
	if len(lost) == 0 {
		return nil
	}
	if c.depth != 1 || ctx.Err() != nil {
		f := folders[lost[0]]
		return fmt.Errorf("status of folder %q of %q on %s: %w", f.Name, c.opts.User, c.addr, lostErr)
	}
	return c.statusAgain(ctx, folders, wires, lost)
}

// statusAgain asks STATUS of the folders at indexes lost one at a time,
// dialling again whenever the connection is closed. The connection closed
// with commands in flight: go-imap could not read an answer, or the
// connection dropped. Which one the commands say is a race (a command
// written after the reader closed the connection fails them all with its
// write error): asking one at a time learns whose answer it was, if any.
func (c *Conn) statusAgain(ctx context.Context, folders []mailbox.Folder, wires []string, lost []int) error {
	for _, i := range lost {
		if !c.alive() {
			if err := c.redial(ctx); err != nil {
				return err
			}
		}
		st, err := c.client.Status(wires[i], c.statusOptions()).Wait()
		switch {
		case err == nil:
			applyStatus(&folders[i], st)
		case isAnswer(err) || c.unreadable(err) && ctx.Err() == nil:
			statusFailed(&folders[i], err)
		default:
			return fmt.Errorf("status of folder %q of %q on %s: %w", folders[i].Name, c.opts.User, c.addr, err)
		}
	}
	return nil
}

// statusFailed marks a folder whose counters could not be read.
func statusFailed(f *mailbox.Folder, err error) {
	*f = mailbox.Folder{Name: f.Name, Role: f.Role, Bytes: -1}
	var ie *imap.Error
	if errors.As(err, &ie) {
		f.Error = "the server refused STATUS: " + ie.Error()
		return
	}
	f.Error = "the answer to STATUS could not be read: " + err.Error()
}

// isAnswer reports whether err is the server's NO or BAD to a command (the
// connection is still usable).
func isAnswer(err error) bool {
	var ie *imap.Error
	return errors.As(err, &ie) && (ie.Type == imap.StatusResponseTypeNo || ie.Type == imap.StatusResponseTypeBad)
}

type statusCall struct {
	i   int
	cmd interface {
		Wait() (*imap.StatusData, error)
	}
}

// Status returns a folder's counters (STATUS MESSAGES UIDNEXT UIDVALIDITY,
// and HIGHESTMODSEQ where offered; Bytes is -1: Folders tells sizes).
// Errors wrap mailbox.ErrFolderGone if the folder does not exist.
func (c *Conn) Status(ctx context.Context, folder string) (mailbox.Folder, error) {
	end, err := c.begin(ctx)
	if err != nil {
		return mailbox.Folder{}, err
	}
	defer end()
	wire := c.WireName(folder)
	// Without SIZE: the server may have to add up a big folder's sizes
	// again after every append, and the copy engine asks before each batch.
	opts := c.statusOptions()
	opts.Size = false
	st, err := c.client.Status(wire, opts).Wait()
	if err != nil {
		return mailbox.Folder{}, c.folderErr(ctx, "status of", folder, err)
	}
	f := mailbox.Folder{Name: folder, Role: c.roles[wire]}
	applyStatus(&f, st)
	return f, nil
}

// Exists reports whether a folder exists (LIST names it and it is not a
// mere \NonExistent placeholder).
func (c *Conn) Exists(ctx context.Context, folder string) (bool, error) {
	end, err := c.begin(ctx)
	if err != nil {
		return false, err
	}
	defer end()
	ok, err := c.exists(c.WireName(folder))
	return ok, c.ctxErr(ctx, err)
}

func (c *Conn) exists(wire string) (bool, error) {
	// The name is a LIST pattern: a "*" or "%" in it may match more
	// folders, so compare the answers with the name.
	list, err := c.client.List("", wire, nil).Collect()
	if err != nil {
		return false, err
	}
	for _, d := range list {
		if d.Mailbox == wire || isInbox(wire) && isInbox(d.Mailbox) {
			for _, a := range d.Attrs {
				if strings.EqualFold(string(a), string(imap.MailboxAttrNonExistent)) {
					return false, nil
				}
			}
			return true, nil
		}
	}
	return false, nil
}

// folderErr turns the failure of a command on a folder into an error that
// names the folder, user and server, and wraps mailbox.ErrFolderGone when
// the folder does not exist (NO [NONEXISTENT], NO [TRYCREATE], or a NO
// without a code for a folder LIST does not know).
func (c *Conn) folderErr(ctx context.Context, op, folder string, err error) error {
	if ctx.Err() != nil || !c.alive() {
		return fmt.Errorf("%s folder %q of %q: %w", op, folder, c.opts.User, c.ctxErr(ctx, err))
	}
	var ie *imap.Error
	if errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo {
		gone := ie.Code == imap.ResponseCodeNonExistent || ie.Code == imap.ResponseCodeTryCreate
		if ie.Code == "" {
			if ok, lerr := c.exists(c.WireName(folder)); lerr == nil && !ok {
				gone = true
			}
		}
		if gone {
			return fmt.Errorf("%s folder %q of %q on %s: %w (server: %s)", op, folder, c.opts.User, c.addr, mailbox.ErrFolderGone, ie.Text)
		}
	}
	return Classify(fmt.Errorf("%s folder %q of %q on %s: %w", op, folder, c.opts.User, c.addr, err))
}

// Forget drops what the Conn remembers about a folder (selection,
// UIDVALIDITY): call it after deleting or renaming the folder. If the folder
// is selected, it is unselected first, without expunging anything, so the
// server lets it go.
func (c *Conn) Forget(ctx context.Context, folder string) error {
	wire := c.WireName(folder)
	delete(c.validity, wire)
	delete(c.roles, wire)
	if c.sel.name != wire || !c.alive() {
		return nil
	}
	end, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	c.sel = selection{}
	if c.caps.Has(imap.CapUnselect) {
		err = c.client.Unselect().Wait()
	} else {
		// Never CLOSE: it expunges. EXAMINE of another folder unselects.
		_, err = c.client.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	}
	if err != nil && !isStatus(err) {
		return c.ctxErr(ctx, err)
	}
	return nil
}
