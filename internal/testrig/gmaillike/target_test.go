package gmaillike

import (
	"bufio"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// raw is a plain IMAP connection for commands no client library sends.
type raw struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
	n int
}

func rawDial(t *testing.T, s *Server) *raw {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := &raw{t: t, c: c, r: bufio.NewReader(c)}
	r.line() // greeting
	r.do("LOGIN ann pw")
	return r
}

func (r *raw) line() string {
	r.t.Helper()
	l, err := r.r.ReadString('\n')
	if err != nil {
		r.t.Fatal(err)
	}
	return l
}

// do sends a command (and a literal after a continuation) and returns its
// tagged answer.
func (r *raw) do(cmd string, lit ...string) string {
	r.t.Helper()
	r.n++
	tag := fmt.Sprintf("t%d", r.n)
	fmt.Fprintf(r.c, "%s %s\r\n", tag, cmd)
	for {
		l := r.line()
		if strings.HasPrefix(l, "+") && len(lit) > 0 {
			fmt.Fprintf(r.c, "%s\r\n", lit[0])
			lit = lit[1:]
			continue
		}
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				r.t.Fatalf("%s: %s", cmd, l)
			}
			return l
		}
	}
}

// TestAppendAndStoreLabels: an APPEND to a label folder makes a message
// with that label, in All Mail too; STORE +X-GM-LABELS adds labels, and
// the message shows in their folders; the same message appended to
// another folder is not stored twice but gains the label.
func TestAppendAndStoreLabels(t *testing.T) {
	s := start(t)
	r := rawDial(t, s)
	r.do("CREATE Work")
	r.do("CREATE Other")
	body := "From: a@example.com\r\nSubject: hi\r\nMessage-ID: <x@example.com>\r\n\r\nhello\r\n"
	ans := r.do(fmt.Sprintf(`APPEND Work (\Seen) "05-Mar-2024 10:00:00 +0000" {%d}`, len(body)), body)
	var uid uint32
	if _, err := fmt.Sscanf(ans[strings.Index(ans, "APPENDUID"):], "APPENDUID %d %d", new(uint32), &uid); err != nil {
		t.Fatalf("%s: %v", ans, err)
	}
	r.do("SELECT Work")
	r.do(fmt.Sprintf(`UID STORE %d +X-GM-LABELS (\Inbox "Muy Importante")`, uid))
	dup := r.do(fmt.Sprintf(`APPEND Other {%d}`, len(body)), body)
	if !strings.Contains(dup, "APPENDUID") {
		t.Errorf("duplicate append: %s", dup)
	}

	ms := s.Messages("ann")
	if len(ms) != 1 {
		t.Fatalf("%d messages: %+v", len(ms), ms)
	}
	m := ms[0]
	if !slices.Equal(m.Labels, []string{"Work", `\Inbox`, "Muy Importante", "Other"}) {
		t.Errorf("labels %q", m.Labels)
	}
	if string(m.Body) != body || !slices.Equal(m.Flags, []string{`\Seen`}) || !m.Date.Equal(time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("message %+v", m)
	}
	c := dial(t, s)
	for _, f := range []string{"Work", "INBOX", "Muy Importante", "Other", AllMail} {
		_, got, err := c.GmailLabels(t.Context(), f)
		if err != nil || len(got) != 1 || got[0].MsgID != m.ID {
			t.Errorf("%s: %+v %v", f, got, err)
		}
	}
}
