package imapsource

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/imapconn"
	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/memserver"
	"github.com/mailshift/mailshift/internal/testrig/quirkproxy"
)

// A source server with Courier's habits and one folder whose STATUS
// answer go-imap cannot parse: Describe works (quota unknown, with a
// warning), Folders lists every folder with the bad one marked, and the
// other folders are read as usual; the bad folder's Status is an
// unreadable answer, not retried.
func TestQuirkySource(t *testing.T) {
	srv, err := memserver.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := srv.AddUser("ann", "pw"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"Archive", "Odd", "Sent"} {
		if err := srv.CreateFolder("ann", f); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			body := fmt.Appendf(nil, "From: a@example.org\r\nSubject: %s %d\r\n\r\nhello\r\n", f, i)
			if err := srv.Append("ann", f, []string{`\Seen`}, time.Now(), body); err != nil {
				t.Fatal(err)
			}
		}
	}
	p, err := quirkproxy.Start(srv.Addr, quirkproxy.Quirks{BareQuota: true, BadStatus: "Odd"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	ctx := context.Background()
	s, err := Open(ctx, imapconn.Options{Addr: p.Addr, TLS: imapconn.TLSNone, User: "ann", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	d, err := s.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.QuotaUsed != -1 || d.QuotaLimit != -1 || len(d.Warnings) != 1 || !strings.HasPrefix(d.Warnings[0], "QUOTA:") {
		t.Errorf("description: quota %d/%d, warnings %q", d.QuotaUsed, d.QuotaLimit, d.Warnings)
	}
	fs, err := s.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fs {
		got = append(got, fmt.Sprintf("%s:%d:%t", f.Name, f.Messages, f.Error != ""))
	}
	if want := "INBOX:0:false Archive:2:false Odd:0:true Sent:2:false"; strings.Join(got, " ") != want {
		t.Errorf("folders %s, want %s", strings.Join(got, " "), want)
	}
	if _, err := s.conn.Status(ctx, "Odd"); !errors.Is(err, mailbox.ErrProtocol) || mailbox.Retryable(err) {
		t.Errorf("status of Odd: %v", err)
	}
	_, msgs, err := s.Messages(ctx, "Sent")
	if err != nil || len(msgs) != 2 {
		t.Fatalf("messages of Sent: %d, %v", len(msgs), err)
	}
	n := 0
	if err := s.Fetch(ctx, "Sent", msgs, func(mailbox.Message, mailbox.Body) error { n++; return nil }); err != nil || n != 2 {
		t.Errorf("fetch: %d bodies, %v", n, err)
	}
}
