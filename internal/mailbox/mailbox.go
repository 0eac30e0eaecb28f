// Package mailbox holds the model every part of mailshift shares: a
// mailbox's folders and messages, a message's body as it streams, what an
// endpoint says about itself (Description), the special-use roles, and the
// errors that mean the same whatever the backend. It imports nothing of
// mailshift's; the source and target packages build their interfaces on it.
package mailbox

import (
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
	// RoleImportant is Gmail's "[Gmail]/Important" (not in RFC 6154):
	// https://developers.google.com/gmail/imap/imap-extensions
	RoleImportant = `\Important`
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
	// NoKeywords: the server keeps no keywords it does not know already
	// (PERMANENTFLAGS of INBOX without \*, as on Exchange); false when it
	// does, or nobody looked (sources are not asked).
	NoKeywords bool
	// Warnings name the optional features that could not be read (an
	// answer to QUOTA, ID or NAMESPACE the endpoint's library could not
	// parse, say) and what was assumed instead; the fields they concern
	// hold their "unknown" values. Empty when everything was read.
	Warnings []string
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
	// Error says why the folder's counters could not be read (the server
	// refused, or answered something unreadable); "" when they were. The
	// copy engine skips such a folder for the pass and reports it.
	Error string
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

// Item is a message on its way to a target: its exact bytes, flags and
// internal date.
type Item struct {
	Flags []string
	Date  time.Time
	Body  []byte
}
