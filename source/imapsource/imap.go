// Package imapsource reads a mailbox from an IMAP server without changing
// it: folders are only EXAMINEd and bodies fetched with BODY.PEEK[], so no
// \Seen flag is set and nothing is expunged. Connection handling (TLS,
// login, timeouts, reconnects) is internal/imapconn's.
package imapsource

import (
	"context"
	"strconv"

	"github.com/mailshift/mailshift/internal/imapconn"
	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/source"
)

// Source is one IMAP account read over one connection. It is not safe for
// concurrent use; open one per goroutine.
type Source struct {
	conn *imapconn.Conn
}

var (
	_ source.Source        = (*Source)(nil)
	_ source.ChangeTracker = (*Source)(nil)
)

// Open connects and logs in. ctx bounds only the connecting; each method
// takes its own context.
func Open(ctx context.Context, o imapconn.Options) (*Source, error) {
	c, err := imapconn.Dial(ctx, o)
	if err != nil {
		return nil, err
	}
	return &Source{conn: c}, nil
}

// Conn returns the underlying connection, for callers that need more than
// the Source interface (capabilities, name mapping).
func (s *Source) Conn() *imapconn.Conn { return s.conn }

// Describe tells what the server is and can do: software, capabilities,
// delimiter and namespace prefix, APPENDLIMIT, quota of INBOX.
func (s *Source) Describe(ctx context.Context) (mailbox.Description, error) {
	return s.conn.Describe(ctx)
}

// Folders lists the folders of the personal namespace with their counters
// and special-use roles.
func (s *Source) Folders(ctx context.Context) ([]mailbox.Folder, error) {
	return s.conn.Folders(ctx)
}

// Messages EXAMINEs folder and lists its messages, oldest first, with its
// current counters. Key is the decimal UID.
func (s *Source) Messages(ctx context.Context, folder string) (mailbox.Folder, []mailbox.Message, error) {
	return s.conn.Messages(ctx, folder)
}

// Fetch streams the bodies of msgs with BODY.PEEK[]; messages expunged
// meanwhile are skipped.
func (s *Source) Fetch(ctx context.Context, folder string, msgs []mailbox.Message, fn func(mailbox.Message, mailbox.Body) error) error {
	return s.conn.Fetch(ctx, folder, msgs, fn)
}

// Changes lists the messages of folder changed or added after modification
// sequence since (CHANGEDSINCE); the server must offer CONDSTORE.
func (s *Source) Changes(ctx context.Context, folder string, since uint64) (mailbox.Folder, []mailbox.Message, error) {
	return s.conn.Changes(ctx, folder, since)
}

// Keys lists the keys (decimal UIDs) of every message of folder (UID
// SEARCH ALL).
func (s *Source) Keys(ctx context.Context, folder string) (mailbox.Folder, []string, error) {
	f, uids, err := s.conn.UIDs(ctx, folder)
	keys := make([]string, len(uids))
	for i, u := range uids {
		keys[i] = strconv.FormatUint(uint64(u), 10)
	}
	return f, keys, err
}

// Close logs out.
func (s *Source) Close() error { return s.conn.Close() }
