// Package source owns the reader side: the Source interface every kind of
// origin implements (IMAP servers, Maildir, mbox, EML and PST files) and
// the optional abilities beside it. The model it speaks (folders,
// messages, bodies) is package mailbox's.
//
// A Source is read-only: nothing it does may change the mailbox it reads.
// Implementations are not safe for concurrent use; open one per goroutine.
package source

import (
	"context"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/pim"
)

// Source is a read-only mailbox: an IMAP account, a Maildir tree, ...
type Source interface {
	// Describe tells what the endpoint is and can do.
	Describe(ctx context.Context) (mailbox.Description, error)
	// Folders lists every folder with its counters.
	Folders(ctx context.Context) ([]mailbox.Folder, error)
	// Messages lists the messages of one folder, oldest first, and the
	// folder's current counters.
	Messages(ctx context.Context, folder string) (mailbox.Folder, []mailbox.Message, error)
	// Fetch streams the bodies of msgs (from a Messages call on the same
	// folder) to fn, in any order. A message that vanished meanwhile is
	// skipped. fn must consume or abandon the body before returning.
	Fetch(ctx context.Context, folder string, msgs []mailbox.Message, fn func(mailbox.Message, mailbox.Body) error) error
	// Close releases connections and files.
	Close() error
}

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
	Changes(ctx context.Context, folder string, since uint64) (mailbox.Folder, []mailbox.Message, error)
	// Keys lists the keys of every message in folder, with its counters
	// (Bytes -1).
	Keys(ctx context.Context, folder string) (mailbox.Folder, []string, error)
}

// ItemCounter is implemented by sources that hold more than mail (PST
// files: calendar items, contacts, tasks), which are not migrated. collect
// records the other items as problems and the scope of work lists them.
type ItemCounter interface {
	// Items counts the items of folder by class, mail (what Messages
	// lists) and other, keyed by the source's name for the class (PST:
	// the message class, "IPM.Note", "IPM.Appointment").
	Items(ctx context.Context, folder string) (mail, other map[string]int, err error)
}

// Watcher is implemented by sources that can wait for a folder to change
// (IMAP IDLE), so that `sync --follow` copies new mail at once instead of
// at its next interval, at the cost of one idle connection per user.
type Watcher interface {
	// Watch waits until folder changes (a message arrives, is expunged or
	// has its flags changed), at most max, and reports whether it changed.
	// With max 0 it only opens folder for watching and returns false:
	// changes after that are reported by the next call. Sources without a
	// way to be told wait max and report false. An error ends the watch;
	// open the source again to resume it.
	Watch(ctx context.Context, folder string, max time.Duration) (changed bool, err error)
}

// ItemExporter is implemented by sources that hold items other than mail
// (PST files: contacts, distribution lists, calendar items, tasks, notes
// and journal entries) and can read them for conversion to vCard and
// iCalendar.
type ItemExporter interface {
	// ExportItems calls fn with every item that is not mail, folder by
	// folder. An item that cannot be read is passed with its key, folder
	// and class, and err saying why. An error from fn ends the export.
	ExportItems(ctx context.Context, fn func(it pim.Item, err error) error) error
}
