package maildir

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
	"github.com/mailshift/mailshift/source/sourcetest"
)

// TestDovecotMaildir fills a real Dovecot account over IMAP (both layouts
// Dovecot offers), changes flags and expunges a message the way a mail
// client would, then reads the account's Maildir directly and compares it
// folder by folder and message by message with what Dovecot serves:
// bytes, flags, internal dates, UIDs and UIDVALIDITY.
func TestDovecotMaildir(t *testing.T) {
	for _, c := range []struct {
		sep    string
		layout Layout
	}{{"/", LayoutFS}, {".", LayoutMaildirPP}} {
		t.Run(string(c.layout), func(t *testing.T) {
			srv := dovecot.Start(t, dovecot.Options{Separator: c.sep})
			srv.AddUser("alice", "secret")
			var seed []imaptest.Message
			for _, m := range corpus.Mailbox(11, 80, 2500) {
				seed = append(seed, imaptest.Message{Folder: m.Folder, Body: m.Body, Flags: m.Flags, InternalDate: m.InternalDate})
			}
			// A message stored with LF line endings, as a local delivery
			// agent writes it, and one without flags (it stays in new/).
			seed = append(seed,
				imaptest.Message{Folder: "INBOX", Body: []byte("From: lf@example.org\nSubject: bare LF\n\nline one\nline two\n"), InternalDate: time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)},
				imaptest.Message{Folder: "Archive/2023", Body: []byte("From: new@example.org\r\nSubject: unseen\r\n\r\nnew\r\n"), InternalDate: time.Date(2024, 5, 2, 8, 0, 0, 0, time.UTC)},
			)
			imaptest.Seed(t, srv.Addr, "alice", "secret", seed)

			// A mail client: flags change (files are renamed), one message
			// is expunged (the uidlist keeps fewer lines than UIDs given).
			cl := imaptest.Login(t, srv.Addr, "alice", "secret")
			if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			store := func(uids imap.UIDSet, op imap.StoreFlagsOp, flags ...imap.Flag) {
				t.Helper()
				if err := cl.Store(uids, &imap.StoreFlags{Op: op, Silent: true, Flags: flags}, nil).Close(); err != nil {
					t.Fatal(err)
				}
			}
			store(imap.UIDSetNum(1, 3, 5), imap.StoreFlagsAdd, imap.FlagFlagged, "ClientTag")
			store(imap.UIDSetNum(2), imap.StoreFlagsDel, imap.FlagSeen)
			store(imap.UIDSetNum(4), imap.StoreFlagsAdd, imap.FlagDeleted)
			if err := cl.UIDExpunge(imap.UIDSetNum(4)).Close(); err != nil {
				t.Fatal(err)
			}
			cl.Logout().Wait()

			served := imaptest.Snapshot(t, srv.Addr, "alice", "secret")
			validity := uidValidities(t, srv, served)

			root := srv.MaildirPath("alice")
			before := sourcetest.TreeDigest(t, root)
			s := open(t, root)
			if s.Layout() != c.layout {
				t.Errorf("layout %q, want %q", s.Layout(), c.layout)
			}
			folders, err := s.Folders(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			ours := map[string]mailbox.Folder{}
			for _, f := range folders {
				ours[f.Name] = f
			}
			compared := 0
			for wire, want := range served {
				name := strings.ReplaceAll(wire, c.sep, "/")
				f, ok := ours[name]
				if !ok {
					if len(want) > 0 {
						t.Errorf("folder %q (%q on the server, %d messages) not found", name, wire, len(want))
					}
					continue
				}
				g, msgs, err := s.Messages(context.Background(), name)
				if err != nil {
					t.Fatal(err)
				}
				if len(want) > 0 && g.UIDValidity != validity[wire] {
					t.Errorf("%q: UIDVALIDITY %d, the server says %d", name, g.UIDValidity, validity[wire])
				}
				if int(f.Messages) != len(want) || len(msgs) != len(want) {
					t.Errorf("%q: %d messages (Folders %d), the server has %d", name, len(msgs), f.Messages, len(want))
				}
				got := map[uint32]imaptest.Message{}
				err = s.Fetch(context.Background(), name, msgs, func(m mailbox.Message, b mailbox.Body) error {
					var buf bytes.Buffer
					if _, err := buf.ReadFrom(b); err != nil {
						return err
					}
					if m.Size != int64(buf.Len()) {
						t.Errorf("%q UID %d: listed size %d, %d bytes delivered", name, m.UID, m.Size, buf.Len())
					}
					got[m.UID] = imaptest.Message{Body: buf.Bytes(), Flags: m.Flags, InternalDate: m.InternalDate, UID: m.UID}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				for _, w := range want {
					compared++
					g, ok := got[w.UID]
					if !ok {
						t.Errorf("%q UID %d: not read from the Maildir", name, w.UID)
						continue
					}
					if !bytes.Equal(g.Body, w.Body) {
						t.Errorf("%q UID %d: bytes differ from what the server serves (%d vs %d bytes)", name, w.UID, len(g.Body), len(w.Body))
					}
					if !slices.Equal(g.Flags, w.Flags) {
						t.Errorf("%q UID %d: flags %v, the server says %v", name, w.UID, g.Flags, w.Flags)
					}
					if !g.InternalDate.Equal(w.InternalDate) {
						t.Errorf("%q UID %d: internal date %v, the server says %v", name, w.UID, g.InternalDate, w.InternalDate)
					}
				}
				if len(s.Skipped(name)) > 0 {
					t.Errorf("%q: skipped %v", name, s.Skipped(name))
				}
			}
			if compared != len(seed)-1 {
				t.Errorf("compared %d messages, the account has %d", compared, len(seed)-1)
			}
			if after := sourcetest.TreeDigest(t, root); after != before {
				t.Error("reading the Maildir changed it")
			}
		})
	}
}

// uidValidities asks the server for each folder's UIDVALIDITY.
func uidValidities(t *testing.T, srv *dovecot.Server, folders map[string][]imaptest.Message) map[string]uint32 {
	t.Helper()
	cl := imaptest.Login(t, srv.Addr, "alice", "secret")
	out := map[string]uint32{}
	for f := range folders {
		sel, err := cl.Select(f, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		out[f] = sel.UIDValidity
	}
	cl.Logout().Wait()
	return out
}
