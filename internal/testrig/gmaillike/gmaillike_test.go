package gmaillike

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/imapconn"
	"github.com/mailshift/mailshift/internal/mailbox"
)

func start(t *testing.T) *Server {
	t.Helper()
	s, err := Start(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.AddUser("ann", "pw"); err != nil {
		t.Fatal(err)
	}
	return s
}

func msg(i int, labels ...string) Message {
	body := fmt.Sprintf("From: a@example.com\r\nSubject: m%d\r\nMessage-ID: <m%d@example.com>\r\n\r\nbody %d\r\n", i, i, i)
	return Message{Body: []byte(body), Date: time.Date(2024, 1, i, 10, 0, 0, 0, time.UTC), Labels: labels}
}

func dial(t *testing.T, s *Server) *imapconn.Conn {
	t.Helper()
	c, err := imapconn.Dial(context.Background(), imapconn.Options{Addr: s.Addr, TLS: imapconn.TLSNone, User: "ann", Password: "pw", Timeout: 5 * time.Second, ThrottleWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestLabelsAsFolders: a message shows in All Mail and in one folder per
// label, with the same X-GM-MSGID; X-GM-LABELS lists the labels; LIST says
// the special uses.
func TestLabelsAsFolders(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	id1, _ := s.Add("ann", msg(1, `\Inbox`, "Work", "Muy Importante"))
	id2, _ := s.Add("ann", msg(2))
	s.AddOutside("ann", Trash, msg(3))
	c := dial(t, s)
	if !c.GmailExt() {
		t.Fatal("no X-GM-EXT-1")
	}
	fs, err := c.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]string{}
	counts := map[string]uint32{}
	for _, f := range fs {
		roles[f.Name], counts[f.Name] = f.Role, f.Messages
		if f.Name == "[Gmail]" && !f.NoSelect {
			t.Error("[Gmail] is selectable")
		}
	}
	if roles[AllMail] != mailbox.RoleAll || roles[Sent] != mailbox.RoleSent || roles[Trash] != mailbox.RoleTrash {
		t.Errorf("roles %v", roles)
	}
	if counts[AllMail] != 2 || counts["INBOX"] != 1 || counts["Work"] != 1 || counts["Muy Importante"] != 1 || counts[Trash] != 1 {
		t.Errorf("counts %v", counts)
	}
	_, all, err := c.GmailLabels(ctx, AllMail)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].MsgID != id1 || all[1].MsgID != id2 {
		t.Fatalf("All Mail: %+v", all)
	}
	if !slices.Equal(all[0].Labels, []string{`\Inbox`, "Work", "Muy Importante"}) || len(all[1].Labels) != 0 {
		t.Errorf("labels %+v", all)
	}
	_, work, err := c.GmailLabels(ctx, "Work")
	if err != nil || len(work) != 1 || work[0].MsgID != id1 {
		t.Errorf("Work: %+v %v", work, err)
	}
	// The main connection still works.
	if _, msgs, err := c.Messages(ctx, "INBOX"); err != nil || len(msgs) != 1 {
		t.Errorf("INBOX: %v %v", msgs, err)
	}
}

// TestLimits: [THROTTLED] makes the client pause; [OVERQUOTA] is the
// account's limit; the connection limit refuses a login as busy, not as
// bad credentials.
func TestLimits(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	s.Add("ann", msg(1, `\Inbox`))
	c := dial(t, s)
	s.SetThrottled("ann", true, 0)
	for range 3 {
		if _, _, err := c.Messages(ctx, "INBOX"); err != nil {
			t.Fatal(err)
		}
	}
	if c.Throttled() < 2 {
		t.Errorf("paused %d times after [THROTTLED]", c.Throttled())
	}
	s.SetThrottled("ann", false, 0)

	_, msgs, err := c.Messages(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	s.SetDailyQuota("ann", 10)
	fetch := func() error {
		return c.Fetch(ctx, "INBOX", msgs, func(_ mailbox.Message, b mailbox.Body) error { _, err := io.Copy(io.Discard, b); return err })
	}
	if err := fetch(); err != nil {
		t.Fatalf("first fetch: %v", err)
	}
	err = fetch()
	if !errors.Is(err, mailbox.ErrAccountLimit) || mailbox.Retryable(err) {
		t.Errorf("fetch over the daily limit: %v", err)
	}
	s.ResetQuota("ann")
	if err := fetch(); err != nil {
		t.Errorf("fetch on a new day: %v", err)
	}

	s.SetMaxConnections(1)
	_, err = imapconn.Dial(ctx, imapconn.Options{Addr: s.Addr, TLS: imapconn.TLSNone, User: "ann", Password: "pw", Timeout: 5 * time.Second})
	if err == nil || errors.Is(err, mailbox.ErrAuth) || !errors.Is(imapconn.Classify(err), mailbox.ErrBusy) {
		t.Errorf("login beyond the connection limit: %v", err)
	}
	if n := s.Connections("ann"); n != 1 {
		t.Errorf("%d connections", n)
	}
}
