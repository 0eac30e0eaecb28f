// Package source owns the model of a mailbox as mailshift sees it (folders,
// messages, descriptions of servers) and the Source interface every kind of
// origin implements: IMAP servers, and later Maildir, mbox, EML and PST files.
//
// A Source is read-only: nothing it does may change the mailbox it reads.
// Implementations are not safe for concurrent use; open one per goroutine.
package source

import (
	"context"
	"io"
	"time"
)

// Special-use roles of a folder (RFC 6154), as mailshift names them.
const (
	RoleSent    = `\Sent`
	RoleDrafts  = `\Drafts`
	RoleTrash   = `\Trash`
	RoleJunk    = `\Junk`
	RoleArchive = `\Archive`
	RoleAll     = `\All`
	RoleFlagged = `\Flagged`
)

// Description tells what kind of server or archive an endpoint is.
type Description struct {
	Kind         string   // "imap", "maildir", ...
	Server       string   // software as seen (IMAP ID name/version or greeting), may be empty
	Capabilities []string // IMAP capabilities, sorted; empty for files
	Delimiter    rune     // hierarchy separator of folder names; 0 if flat
	Prefix       string   // personal namespace prefix, e.g. "INBOX." on Courier; "" if none
	AppendLimit  int64    // largest message the server accepts, 0 if unknown
	QuotaUsed    int64    // bytes in use, -1 if unknown
	QuotaLimit   int64    // bytes allowed, -1 if unknown or unlimited
	UIDPlus      bool     // APPEND returns the new message's UID
	CondStore    bool     // CONDSTORE (HIGHESTMODSEQ, CHANGEDSINCE) offered
}

// Folder is one folder (IMAP mailbox) with its counters. Name is the full
// path in Unicode as the endpoint names it, with the endpoint's delimiter and
// without its personal namespace prefix ("INBOX.Sent" on Courier is "Sent").
type Folder struct {
	Name          string
	Role          string // special-use attribute (RoleSent, ...), "" if none
	NoSelect      bool   // a hierarchy node that holds no messages
	Messages      uint32
	Bytes         int64 // -1 if the endpoint could not tell
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64 // 0 without CONDSTORE
}

// Message is a message's metadata. Key is its stable identity within the
// folder and UIDValidity: the decimal UID on IMAP, a file's unique name on
// Maildir, and so on.
type Message struct {
	Key          string
	UID          uint32 // IMAP UID; for file sources an ordinal that grows with arrival, or 0
	Size         int64  // as the endpoint reports it; the fetched literal's size is authoritative
	Flags        []string
	InternalDate time.Time
	ModSeq       uint64 // 0 without CONDSTORE
}

// Body is a message's content as it streams from the endpoint. Size is the
// exact number of bytes Read will return.
type Body interface {
	io.Reader
	Size() int64
}

// Source is a read-only mailbox: an IMAP account, a Maildir tree, ...
type Source interface {
	// Describe tells what the endpoint is and can do.
	Describe(ctx context.Context) (Description, error)
	// Folders lists every folder with its counters.
	Folders(ctx context.Context) ([]Folder, error)
	// Messages lists the messages of one folder, oldest first, and the
	// folder's current counters.
	Messages(ctx context.Context, folder string) (Folder, []Message, error)
	// Fetch streams the bodies of msgs (from a Messages call on the same
	// folder) to fn, in any order. A message that vanished meanwhile is
	// skipped. fn must consume or abandon the body before returning.
	Fetch(ctx context.Context, folder string, msgs []Message, fn func(Message, Body) error) error
	// Close releases connections and files.
	Close() error
}

// ErrFolderGone is returned (wrapped) when a folder no longer exists.
var ErrFolderGone = errFolderGone{}

type errFolderGone struct{}

func (errFolderGone) Error() string { return "folder does not exist" }

// Skip is an item a source passed over because it is not a readable
// message: a non-mail file in a Maildir, a truncated mbox message, a file
// without read permission. Item names it (a path, or a path and offset).
type Skip struct {
	Item   string
	Reason string
}

// Skipper is implemented by sources that pass over unreadable items instead
// of failing the whole folder. collect records what they skipped as
// problems and the reports list them.
type Skipper interface {
	// Skipped lists what the last Messages call on folder passed over.
	Skipped(folder string) []Skip
}

// ChangeTracker is implemented by sources that can tell cheaply what
// changed in a folder, so that an incremental pass costs what changed, not
// what the folder holds (IMAP with CONDSTORE). Callers use it only when
// Description.CondStore is set and the folder has a HighestModSeq.
type ChangeTracker interface {
	// Changes lists the messages of folder whose metadata changed, or that
	// arrived, after modification sequence since, with the folder's
	// current counters (Bytes -1).
	Changes(ctx context.Context, folder string, since uint64) (Folder, []Message, error)
	// Keys lists the keys of every message in folder, with its counters
	// (Bytes -1).
	Keys(ctx context.Context, folder string) (Folder, []string, error)
}
