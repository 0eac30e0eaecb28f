// Package target owns the writer side: the Target interface, a mailbox
// mailshift writes to, and the optional abilities beside it. A Target can
// also be read back, which verification and exactly-once recovery need.
package target

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
)

// Appended is where an APPEND put a message. UID is 0 when the server did
// not say (no UIDPLUS); the caller then finds the message by content.
type Appended struct {
	UIDValidity uint32
	UID         uint32
}

// Target is a writable mailbox.
type Target interface {
	// Describe tells what the server is and can do.
	Describe(ctx context.Context) (mailbox.Description, error)
	// Folders lists every folder with its counters.
	Folders(ctx context.Context) ([]mailbox.Folder, error)
	// Messages lists the messages of one folder, oldest first (sizes and
	// internal dates as the server reports them), and its counters.
	Messages(ctx context.Context, folder string) (mailbox.Folder, []mailbox.Message, error)
	// Fetch streams the bodies of msgs (from a Messages call on the same
	// folder) to fn, in any order; a message that vanished is skipped.
	Fetch(ctx context.Context, folder string, msgs []mailbox.Message, fn func(mailbox.Message, mailbox.Body) error) error
	// Status returns a folder's current counters (UIDVALIDITY, UIDNEXT, ...);
	// errors wrap mailbox.ErrFolderGone if it does not exist.
	Status(ctx context.Context, folder string) (mailbox.Folder, error)
	// CreateFolder creates a folder (and missing parents), with a
	// special-use role where the server allows it. Creating an existing
	// folder is not an error.
	CreateFolder(ctx context.Context, name, role string) error
	// Append stores one message of exactly size bytes read from body with
	// the given flags and internal date.
	Append(ctx context.Context, folder string, flags []string, date time.Time, size int64, body io.Reader) (Appended, error)
	// SetFlags replaces a message's flags (system flags and keywords).
	SetFlags(ctx context.Context, folder string, uid uint32, flags []string) error
	// Expunge removes messages by UID.
	Expunge(ctx context.Context, folder string, uids []uint32) error
	// DeleteFolder removes a folder (test cleanup, mirror deletions).
	DeleteFolder(ctx context.Context, name string) error
	// RenameFolder renames a folder (with its subfolders), keeping its
	// messages and, on most servers, its UIDVALIDITY.
	RenameFolder(ctx context.Context, from, to string) error
	// Close logs out.
	Close() error
}

// KeywordChecker is a Target that can tell whether its server keeps
// keywords it does not know yet. Describe does not ask (it costs the
// server a SELECT of INBOX): the caller asks once per server and run,
// and sets Description.NoKeywords from the answer.
type KeywordChecker interface {
	KeepsKeywords(ctx context.Context) (bool, error)
}

// RejectedError is a message the target refused for a reason that will not
// change by retrying (too big, over quota, malformed). The copy engine
// records it against the message and goes on with the rest.
type RejectedError struct {
	Code   string // server response code, e.g. "TOOBIG", "OVERQUOTA"; may be empty
	Reason string // the server's text
}

// Is makes a refused message a refusal of the item: errors.Is(err,
// mailbox.ErrRefused) holds, and it is never retried.
func (e *RejectedError) Is(target error) bool { return target == mailbox.ErrRefused }

func (e *RejectedError) Error() string {
	if e.Code != "" {
		return "target refused the message: [" + e.Code + "] " + e.Reason
	}
	return "target refused the message: " + e.Reason
}

// BatchAppender is implemented by targets that can store several messages
// with one command, all or none (IMAP MULTIAPPEND).
type BatchAppender interface {
	// Batches tells whether AppendBatch can store several messages with
	// one command on this target; if not, append them one by one.
	Batches() bool
	// AppendBatch stores items in folder and returns where each went, in
	// order (UIDs 0 when the server does not say them). An error wrapping
	// ErrBatchRefused means nothing was stored (the target refused the
	// batch, or cannot take batches): append the messages one by one. After
	// any other error it is unknown whether the batch was stored.
	AppendBatch(ctx context.Context, folder string, items []mailbox.Item) ([]Appended, error)
}

// ErrBatchRefused is wrapped by a BatchAppender's error when the target
// refused a whole batch (and stored none of it).
var ErrBatchRefused = errors.New("target refused the batch")
