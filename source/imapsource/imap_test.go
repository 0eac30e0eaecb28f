package imapsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/mailshift/mailshift/internal/imapconn"
	"github.com/mailshift/mailshift/internal/mailbox"
)

// fixture is go-imap's in-memory server with one user, reached directly
// (Addr) or through a proxy that a test can freeze (ProxyAddr).
type fixture struct {
	Addr      string
	ProxyAddr string
	user      *imapmemserver.User
	proxy     *freezer
}

func newFixture(t *testing.T, folders ...string) *fixture {
	t.Helper()
	mem := imapmemserver.New()
	u := imapmemserver.NewUser("alice", "secret")
	for _, f := range append([]string{"INBOX"}, folders...) {
		if err := u.Create(f, nil); err != nil {
			t.Fatal(err)
		}
	}
	mem.AddUser(u)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	fx := &fixture{Addr: ln.Addr().String(), user: u}
	fx.proxy = newFreezer(t, fx.Addr)
	fx.ProxyAddr = fx.proxy.addr
	return fx
}

// add appends a message on the server side and returns its UID.
func (fx *fixture) add(t *testing.T, folder string, body []byte, date time.Time, flags ...imap.Flag) uint32 {
	t.Helper()
	data, err := fx.user.Append(folder, bytes.NewReader(body), &imap.AppendOptions{Flags: flags, Time: date})
	if err != nil {
		t.Fatal(err)
	}
	return uint32(data.UID)
}

// open opens the source; the protocol exchange goes to trace.
func (fx *fixture) open(t *testing.T, addr string, trace io.Writer) *Source {
	t.Helper()
	s, err := Open(context.Background(), imapconn.Options{Addr: addr, TLS: imapconn.TLSNone, User: "alice", Password: "secret", Debug: trace})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// freezer is a TCP proxy that stops passing data while frozen.
type freezer struct {
	addr   string
	mu     sync.Mutex
	frozen bool
}

func newFreezer(t *testing.T, target string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f := &freezer{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go f.pipe(c, s)
			go f.pipe(s, c)
		}
	}()
	return f
}

func (f *freezer) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 4096)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		for f.isFrozen() {
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

func (f *freezer) freeze(v bool) {
	f.mu.Lock()
	f.frozen = v
	f.mu.Unlock()
}

func (f *freezer) isFrozen() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.frozen
}

// syncBuffer is a bytes.Buffer safe for the client's reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func msg(subject string, lines int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: a@example.org\r\nSubject: %s\r\nMessage-ID: <%s@example.org>\r\n\r\n", subject, subject)
	for i := 0; i < lines; i++ {
		fmt.Fprintf(&b, "line %d of %s, some text to make it longer\r\n", i, subject)
	}
	return b.Bytes()
}

func lowerSorted(fs []string) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = strings.ToLower(f)
	}
	slices.Sort(out)
	return out
}

func TestFolders(t *testing.T) {
	fx := newFixture(t, "Entwürfe", "Ärger", "Ärger/Sub", "Archive/2023/Q1")
	fx.add(t, "Entwürfe", msg("draft", 3), time.Now(), imap.FlagDraft)
	s := fx.open(t, fx.Addr, nil)
	fs, err := s.Folders(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fs {
		names = append(names, f.Name)
		if f.Name == "Entwürfe" && (f.Messages != 1 || f.Bytes != int64(len(msg("draft", 3)))) {
			t.Errorf("Entwürfe: %+v", f)
		}
	}
	if want := []string{"INBOX", "Archive/2023/Q1", "Entwürfe", "Ärger", "Ärger/Sub"}; !slices.Equal(names, want) {
		t.Errorf("folders %q, want %q", names, want)
	}
	d, err := s.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != "imap" || d.Delimiter != '/' || d.Prefix != "" || !d.UIDPlus || d.CondStore || d.QuotaUsed != -1 || d.QuotaLimit != -1 ||
		!slices.IsSorted(d.Capabilities) || !slices.Contains(d.Capabilities, "IMAP4rev2") {
		t.Errorf("description %+v", d)
	}
}

func TestMessagesAndFetch(t *testing.T) {
	fx := newFixture(t, "Ärger/Sub")
	d1 := time.Date(2019, 7, 1, 12, 0, 0, 0, time.FixedZone("", -7*3600))
	d2 := time.Date(2024, 2, 29, 0, 0, 1, 0, time.UTC)
	bodies := map[uint32][]byte{}
	flags := map[uint32][]string{}
	dates := map[uint32]time.Time{}
	for i, spec := range []struct {
		date  time.Time
		flags []imap.Flag
		lines int
	}{
		{d1, []imap.Flag{imap.FlagSeen, imap.FlagAnswered}, 1},
		{d2, nil, 2000}, // unseen, larger than one read
		{d1, []imap.Flag{imap.FlagForwarded, "Work"}, 0},
		{d2, []imap.Flag{imap.FlagDeleted, imap.FlagSeen}, 5},
	} {
		b := msg(fmt.Sprintf("m%d", i), spec.lines)
		uid := fx.add(t, "Ärger/Sub", b, spec.date, spec.flags...)
		bodies[uid], dates[uid] = b, spec.date
		for _, f := range spec.flags {
			flags[uid] = append(flags[uid], string(f))
		}
	}
	// Two identical messages stay two.
	dup := msg("dup", 1)
	for range 2 {
		uid := fx.add(t, "Ärger/Sub", dup, d1)
		bodies[uid], dates[uid] = dup, d1
	}

	trace := &syncBuffer{}
	s := fx.open(t, fx.Addr, trace)
	f, msgs, err := s.Messages(context.Background(), "Ärger/Sub")
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "Ärger/Sub" || f.Messages != uint32(len(bodies)) || f.UIDValidity == 0 || f.UIDNext != uint32(len(bodies)+1) {
		t.Errorf("folder %+v", f)
	}
	if len(msgs) != len(bodies) {
		t.Fatalf("%d messages, want %d", len(msgs), len(bodies))
	}
	for i, m := range msgs {
		if i > 0 && msgs[i-1].UID >= m.UID {
			t.Errorf("not oldest first: %d after %d", m.UID, msgs[i-1].UID)
		}
		if m.Key != fmt.Sprint(m.UID) || m.Size != int64(len(bodies[m.UID])) || !m.InternalDate.Equal(dates[m.UID]) ||
			!slices.Equal(lowerSorted(m.Flags), lowerSorted(flags[m.UID])) {
			t.Errorf("message %+v: want size %d date %v flags %v", m, len(bodies[m.UID]), dates[m.UID], flags[m.UID])
		}
	}

	got := map[uint32][]byte{}
	err = s.Fetch(context.Background(), "Ärger/Sub", msgs, func(m mailbox.Message, b mailbox.Body) error {
		data, err := io.ReadAll(b)
		if err != nil {
			return err
		}
		if b.Size() != int64(len(data)) {
			t.Errorf("uid %d: Size %d, read %d", m.UID, b.Size(), len(data))
		}
		got[m.UID] = data
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for uid, want := range bodies {
		if !bytes.Equal(got[uid], want) {
			t.Errorf("uid %d: body differs (%d bytes, want %d)", uid, len(got[uid]), len(want))
		}
	}

	// The source changed nothing: the unseen message is still unseen, and
	// only read-only commands went to the server.
	_, after, err := s.Messages(context.Background(), "Ärger/Sub")
	if err != nil {
		t.Fatal(err)
	}
	for i := range msgs {
		if !slices.Equal(lowerSorted(after[i].Flags), lowerSorted(msgs[i].Flags)) {
			t.Errorf("uid %d: flags changed from %v to %v", msgs[i].UID, msgs[i].Flags, after[i].Flags)
		}
	}
	if slices.ContainsFunc(after[1].Flags, func(f string) bool { return strings.EqualFold(f, `\Seen`) }) {
		t.Errorf("fetch set \\Seen")
	}
	sent := regexp.MustCompile(`(?m)^T\d+ (.*)$`).FindAllStringSubmatch(trace.String(), -1)
	for _, l := range sent {
		cmd := l[1]
		if regexp.MustCompile(`^(SELECT|STORE|UID STORE|EXPUNGE|UID EXPUNGE|APPEND|CREATE|DELETE|RENAME|COPY|MOVE|CLOSE)\b`).MatchString(cmd) ||
			strings.Contains(cmd, "BODY[") || strings.Contains(cmd, "RFC822)") || strings.Contains(cmd, "RFC822.TEXT") {
			t.Errorf("source sent a command that may change the mailbox: %s", cmd)
		}
	}
	if !strings.Contains(trace.String(), "BODY.PEEK[]") || !strings.Contains(trace.String(), "EXAMINE") {
		t.Errorf("trace lacks EXAMINE or BODY.PEEK[]")
	}
}

func TestFolderGone(t *testing.T) {
	fx := newFixture(t)
	s := fx.open(t, fx.Addr, nil)
	if _, _, err := s.Messages(context.Background(), "Gone"); !errors.Is(err, mailbox.ErrFolderGone) {
		t.Errorf("messages: %v", err)
	}
	err := s.Fetch(context.Background(), "Gone", []mailbox.Message{{Key: "1", UID: 1}}, func(mailbox.Message, mailbox.Body) error { return nil })
	if !errors.Is(err, mailbox.ErrFolderGone) {
		t.Errorf("fetch: %v", err)
	}
}

func TestWrongPassword(t *testing.T) {
	fx := newFixture(t)
	const pw = "not-the-secret-42"
	_, err := Open(context.Background(), imapconn.Options{Addr: fx.Addr, TLS: imapconn.TLSNone, User: "alice", Password: pw})
	if !errors.Is(err, imapconn.ErrAuth) {
		t.Fatalf("err %v", err)
	}
	if strings.Contains(err.Error(), pw) {
		t.Errorf("password in error: %v", err)
	}
}

func TestInsecureRefused(t *testing.T) {
	start := time.Now()
	_, err := Open(context.Background(), imapconn.Options{Addr: "192.0.2.1:143", TLS: imapconn.TLSNone, User: "alice", Password: "x"})
	if !errors.Is(err, imapconn.ErrConfig) || !strings.Contains(err.Error(), "allow_insecure: true") {
		t.Fatalf("err %v", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("it dialed: took %v", time.Since(start))
	}
}

func TestCancelUnblocks(t *testing.T) {
	fx := newFixture(t)
	for i := range 3 {
		fx.add(t, "INBOX", msg(fmt.Sprint(i), 10), time.Now())
	}
	s := fx.open(t, fx.ProxyAddr, nil)
	_, msgs, err := s.Messages(context.Background(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	fx.proxy.freeze(true)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err = s.Fetch(ctx, "INBOX", msgs, func(mailbox.Message, mailbox.Body) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned after %v", d)
	}
	// Once the server answers again, the next call reconnects and works.
	fx.proxy.freeze(false)
	n := 0
	if err := s.Fetch(context.Background(), "INBOX", msgs, func(mailbox.Message, mailbox.Body) error { n++; return nil }); err != nil || n != 3 {
		t.Errorf("after cancel: %v, %d bodies", err, n)
	}
}
