package imapconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/memserver"
	"github.com/mailshift/mailshift/internal/testrig/quirkproxy"
)

// quirky starts an in-memory server with user alice (password pw) and
// folders, each holding as many messages as its position in the list
// (INBOX none), behind a proxy with quirks q.
func quirky(t *testing.T, q quirkproxy.Quirks, folders ...string) *quirkproxy.Proxy {
	t.Helper()
	srv, err := memserver.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := srv.AddUser("alice", "pw"); err != nil {
		t.Fatal(err)
	}
	for i, f := range folders {
		if err := srv.CreateFolder("alice", f); err != nil {
			t.Fatal(err)
		}
		for j := range i + 1 {
			if err := srv.Append("alice", f, nil, time.Now(), message(fmt.Sprintf("%s %d", f, j), 0)); err != nil {
				t.Fatal(err)
			}
		}
	}
	p, err := quirkproxy.Start(srv.Addr, q)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// Courier answers GETQUOTAROOT for a user without quota with a bare
// `* QUOTA "ROOT"`, which go-imap cannot parse: Describe still works, the
// quota is unknown, a warning says why, and the connection is back for the
// next call.
func TestDescribeUnreadableQuota(t *testing.T) {
	p := quirky(t, quirkproxy.Quirks{BareQuota: true}, "A")
	c := dial(t, Options{Addr: p.Addr, User: "alice", Password: "pw"})
	ctx := context.Background()
	if !c.Caps().Has(imap.CapQuota) {
		t.Fatal("QUOTA not advertised")
	}
	for range 2 { // the second time GETQUOTAROOT is not sent again
		d, err := c.Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.QuotaUsed != -1 || d.QuotaLimit != -1 {
			t.Errorf("quota %d/%d, want unknown", d.QuotaUsed, d.QuotaLimit)
		}
		if len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "QUOTA") {
			t.Errorf("warnings %q", d.Warnings)
		}
	}
	fs, err := c.Folders(ctx)
	if err != nil {
		t.Fatalf("folders after the quota: %v", err)
	}
	if got := names(fs); len(got) != 2 {
		t.Errorf("folders %q", got)
	}
	if n := p.Connections(); n != 2 {
		t.Errorf("%d connections, want 2 (one dialled again after the quota)", n)
	}
}

// ID and NAMESPACE answers go-imap cannot parse make the server software
// and the namespace unknown, with warnings; the connection still comes up.
func TestUnreadableIDAndNamespace(t *testing.T) {
	p := quirky(t, quirkproxy.Quirks{BadID: true, BadNamespace: true}, "A/B")
	c := dial(t, Options{Addr: p.Addr, User: "alice", Password: "pw"})
	ctx := context.Background()
	d, err := c.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Warnings) != 2 || !strings.HasPrefix(d.Warnings[0], "NAMESPACE:") || !strings.HasPrefix(d.Warnings[1], "ID:") {
		t.Errorf("warnings %q", d.Warnings)
	}
	if d.Delimiter != '/' || d.Prefix != "" {
		t.Errorf("delimiter %q prefix %q", d.Delimiter, d.Prefix)
	}
	fs, err := c.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(fs), ","); got != "INBOX,A,A/B" {
		t.Errorf("folders %s", got)
	}
}

// One folder's counters go-imap cannot parse (in a LIST-STATUS answer, or
// in the answer to its STATUS) do not fail the listing: every folder is
// listed, that one with Error set; the other folders keep their counters.
func TestFoldersWithUnreadableStatus(t *testing.T) {
	for _, tc := range []struct {
		name string
		hide []string
	}{
		{"LIST-STATUS", nil},
		{"STATUS", []string{"IMAP4rev2"}}, // IMAP4rev1 only: plain LIST, then STATUS
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := quirky(t, quirkproxy.Quirks{BadStatus: "Bad", HideCaps: tc.hide}, "A", "Bad", "C", "D/E")
			c := dial(t, Options{Addr: p.Addr, User: "alice", Password: "pw"})
			ctx := context.Background()
			if got := c.Caps().Has(imap.CapIMAP4rev2); got != (tc.hide == nil) {
				t.Fatalf("IMAP4rev2 %v", got)
			}
			for range 2 {
				fs, err := c.Folders(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if got := strings.Join(names(fs), ","); got != "INBOX,A,Bad,C,D,D/E" {
					t.Fatalf("folders %s", got)
				}
				want := map[string]uint32{"INBOX": 0, "A": 1, "C": 3, "D/E": 4}
				for _, f := range fs {
					switch {
					case f.Name == "Bad":
						if f.Error == "" || f.Messages != 0 || f.UIDValidity != 0 || f.UIDNext != 0 {
							t.Errorf("Bad: %+v", f)
						}
						if !strings.Contains(f.Error, "imapwire") {
							t.Errorf("Bad: error %q", f.Error)
						}
					case f.Name == "D": // memserver's CreateFolder made it
						if f.Error != "" {
							t.Errorf("D: %+v", f)
						}
					default:
						if f.Error != "" || f.Messages != want[f.Name] || f.UIDValidity == 0 || f.UIDNext == 0 {
							t.Errorf("%s: %+v", f.Name, f)
						}
					}
				}
			}
			_, err := c.Status(ctx, "Bad")
			if !errors.Is(err, mailbox.ErrProtocol) || mailbox.Retryable(err) {
				t.Errorf("status of Bad: %v", err)
			}
			if f, err := c.Status(ctx, "C"); err != nil || f.Messages != 3 {
				t.Errorf("status of C after Bad: %+v, %v", f, err)
			}
			if _, msgs, err := c.Messages(ctx, "Bad"); err != nil || len(msgs) != 2 {
				t.Errorf("messages of Bad: %d, %v", len(msgs), err)
			}
		})
	}
}

// A connection dropped in the middle of a call is a transient failure;
// the next call dials again.
func TestDroppedConnectionIsTransient(t *testing.T) {
	p := quirky(t, quirkproxy.Quirks{DropOn: "STATUS"}, "A")
	c := dial(t, Options{Addr: p.Addr, User: "alice", Password: "pw"})
	ctx := context.Background()
	_, err := c.Status(ctx, "A")
	if !errors.Is(err, mailbox.ErrTransient) || !mailbox.Retryable(err) {
		t.Fatalf("status over a dropped connection: %v", err)
	}
	p.Set(quirkproxy.Quirks{})
	if f, err := c.Status(ctx, "A"); err != nil || f.Messages != 1 {
		t.Errorf("status after the drop: %+v, %v", f, err)
	}
}

func TestClassify(t *testing.T) {
	no := func(code imap.ResponseCode, text string) error {
		return fmt.Errorf("append: %w", &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text})
	}
	for _, tc := range []struct {
		err  error
		kind error // nil: left as it is
	}{
		{no(imap.ResponseCodeUnavailable, "try later"), mailbox.ErrBusy},
		{no(imap.ResponseCodeInUse, "locked"), mailbox.ErrBusy},
		{no(imap.ResponseCodeLimit, "too many commands"), mailbox.ErrBusy},
		{no(imap.ResponseCodeLimit, "message size exceeds limit"), mailbox.ErrRefused},
		{no("", "Request is throttled. Suggested Backoff Time: 2000 milliseconds"), mailbox.ErrBusy},
		{no("", "Too many simultaneous connections"), mailbox.ErrBusy},
		{no("", "Please try again later"), mailbox.ErrBusy},
		{no(imap.ResponseCodeCannot, "keywords not supported"), mailbox.ErrRefused},
		{no("", "Permission denied"), mailbox.ErrRefused},
		{no(imap.ResponseCodeNonExistent, "no such folder"), mailbox.ErrFolderGone},
		{no(imap.ResponseCodeServerBug, "internal error"), mailbox.ErrTransient},
		{&imap.Error{Type: imap.StatusResponseTypeBad, Text: "syntax error"}, mailbox.ErrRefused},
		{&imap.Error{Type: imap.StatusResponseTypeBye, Text: "shutting down"}, mailbox.ErrTransient},
		{io.EOF, mailbox.ErrTransient},
		{fmt.Errorf("list: %w", io.ErrUnexpectedEOF), mailbox.ErrTransient},
		{&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", errors.New("connection reset by peer"))}, mailbox.ErrTransient},
		{fmt.Errorf("x: %w", os.ErrDeadlineExceeded), mailbox.ErrTransient},
		{errors.New("in response: cannot read tag: read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer"), mailbox.ErrTransient},
		{errors.New("in response-data: in quota-response: imapwire: expected SP, got \"\\r\""), mailbox.ErrProtocol},
		{errors.New("in response-data: unsupported response type \"X-GM\""), mailbox.ErrProtocol},
		{errors.New("in response-tagged: received tagged response with unknown tag \"T9\""), mailbox.ErrProtocol},
		{&net.DNSError{Err: "no such host", Name: "imap.exmaple.com", IsNotFound: true}, mailbox.ErrConfig},
		{&AuthError{User: "a", Host: "h", Text: "no"}, mailbox.ErrAuth},
		{fmt.Errorf("x: %w", context.Canceled), nil},
		{errors.New("something else"), nil},
	} {
		got := Classify(tc.err)
		if got.Error() != tc.err.Error() {
			t.Errorf("%v: text changed to %q", tc.err, got)
		}
		if tc.kind == nil {
			if got != tc.err {
				t.Errorf("%v: classified", tc.err)
			}
			continue
		}
		if !errors.Is(got, tc.kind) {
			t.Errorf("%v: not %v", tc.err, tc.kind)
		}
		if !errors.Is(got, tc.err) && !errors.Is(tc.err, got) {
			t.Errorf("%v: lost its chain", tc.err)
		}
		if Classify(got) != got {
			t.Errorf("%v: classified twice", tc.err)
		}
	}
}
