package imaptarget

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
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
	"github.com/mailshift/mailshift/target"
)

// server is go-imap's in-memory server with one user "bob", shaped by the
// test: capabilities, namespace prefix, APPEND refusals, CREATE recording.
type server struct {
	Addr string
	user *imapmemserver.User

	caps         imap.CapSet
	prefix       string
	appendLimit  uint32                           // advertised APPENDLIMIT, 0 for none
	refuseAppend func(mailbox string) *imap.Error // refuses after reading the literal
	refuseUse    bool                             // CREATE with USE fails with NO [USEATTR]
	needParents  bool                             // CREATE of a folder whose parent is missing fails, as on servers that do not create superiors
	leafParents  bool                             // a folder created on its own cannot get children (Dovecot with mbox storage)

	mu      sync.Mutex
	creates []string // CREATE names with their USE attributes
	leaves  []string // folders created on their own, with leafParents
}

// session wraps the memory server's session with the server's quirks.
type session struct {
	imapserver.Session
	srv *server
}

func (s *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: s.srv.prefix, Delim: '/'}}}, nil
}

func (s *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	return s.Session.(imapserver.SessionMove).Move(w, numSet, dest)
}

func (s *session) Append(mailbox string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	if s.srv.refuseAppend != nil {
		if ie := s.srv.refuseAppend(mailbox); ie != nil {
			io.Copy(io.Discard, r)
			return nil, ie
		}
	}
	return s.Session.Append(mailbox, r, options)
}

func (s *session) Create(name string, options *imap.CreateOptions) error {
	s.srv.mu.Lock()
	rec := name
	if options != nil && len(options.SpecialUse) > 0 {
		rec = fmt.Sprintf("%s %v", name, options.SpecialUse)
	}
	s.srv.creates = append(s.srv.creates, rec)
	s.srv.mu.Unlock()
	if s.srv.refuseUse && options != nil && len(options.SpecialUse) > 0 {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: "USEATTR", Text: "special-use not allowed"}
	}
	// Superiors are created with the folder (RFC 3501 6.3.3), unless the
	// server is told to want them first.
	parts := strings.Split(name, "/")
	for i := 1; i < len(parts); i++ {
		p := strings.Join(parts[:i], "/")
		if strings.EqualFold(p, "INBOX") {
			continue
		}
		_, err := s.srv.user.Status(p, &imap.StatusOptions{})
		exists := err == nil
		s.srv.mu.Lock()
		leaf := slices.Contains(s.srv.leaves, p)
		s.srv.mu.Unlock()
		switch {
		case exists && leaf:
			return &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Mailbox doesn't allow inferior mailboxes"}
		case exists:
		case s.srv.needParents:
			return &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Parent mailbox doesn't exist"}
		default:
			if err := s.Session.Create(p, nil); err != nil {
				return err
			}
		}
	}
	if err := s.Session.Create(name, options); err != nil {
		return err
	}
	if s.srv.leafParents {
		s.srv.mu.Lock()
		s.srv.leaves = append(s.srv.leaves, name)
		s.srv.mu.Unlock()
	}
	return nil
}

// limitSession adds APPENDLIMIT.
type limitSession struct{ *session }

func (s limitSession) AppendLimit() uint32 { return s.srv.appendLimit }

func start(t *testing.T, srv *server, folders ...string) *server {
	t.Helper()
	if srv.caps == nil {
		srv.caps = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}}
	}
	mem := imapmemserver.New()
	srv.user = imapmemserver.NewUser("bob", "pw")
	for _, f := range append([]string{"INBOX"}, folders...) {
		if err := srv.user.Create(f, nil); err != nil {
			t.Fatal(err)
		}
	}
	mem.AddUser(srv.user)
	s := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			sess := &session{Session: mem.NewSession(), srv: srv}
			if srv.appendLimit > 0 {
				return limitSession{sess}, nil, nil
			}
			return sess, nil, nil
		},
		Caps:         srv.caps,
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	srv.Addr = ln.Addr().String()
	return srv
}

func open(t *testing.T, srv *server) *Target {
	t.Helper()
	tg, err := Open(context.Background(), imapconn.Options{Addr: srv.Addr, TLS: imapconn.TLSNone, User: "bob", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg
}

func body(subject string, lines int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: x@example.org\r\nSubject: %s\r\n\r\n", subject)
	for i := 0; i < lines; i++ {
		fmt.Fprintf(&b, "%05d the quick brown fox jumps over the lazy dog\r\n", i)
	}
	return b.Bytes()
}

func norm(fs []string) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = strings.ToLower(f)
	}
	slices.Sort(out)
	return out
}

func folderNames(t *testing.T, tg *Target) []string {
	t.Helper()
	fs, err := tg.Folders(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

// readBack returns the messages of folder with their bodies.
func readBack(t *testing.T, tg *Target, folder string) ([]mailbox.Message, map[uint32][]byte) {
	t.Helper()
	_, msgs, err := tg.Messages(context.Background(), folder)
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[uint32][]byte{}
	err = tg.Fetch(context.Background(), folder, msgs, func(m mailbox.Message, b mailbox.Body) error {
		data, err := io.ReadAll(b)
		bodies[m.UID] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return msgs, bodies
}

func TestAppendReadBack(t *testing.T) {
	srv := start(t, &server{}, "Entwürfe")
	tg := open(t, srv)
	ctx := context.Background()
	cases := []struct {
		folder string
		flags  []string
		want   []string
		date   time.Time
		body   []byte
	}{
		{"Entwürfe", []string{`\Seen`, `\Draft`, "$Forwarded", "Junk"}, []string{`\Seen`, `\Draft`, "$Forwarded", "Junk"},
			time.Date(2018, 5, 6, 7, 8, 9, 0, time.FixedZone("", 5*3600+1800)), body("a", 3)},
		// \Recent is the server's; a flag that is no atom cannot be sent.
		{"Entwürfe", []string{`\Recent`, "bad flag", `\Answered`}, []string{`\Answered`},
			time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC), body("b", 20000)},
		{"INBOX", nil, nil, time.Date(2030, 12, 24, 18, 0, 59, 0, time.Local), body("c", 0)},
	}
	uids := map[string][]uint32{}
	for _, c := range cases {
		a, err := tg.Append(ctx, c.folder, c.flags, c.date.Add(400*time.Millisecond), int64(len(c.body)), bytes.NewReader(c.body))
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		if a.UID == 0 || a.UIDValidity == 0 {
			t.Errorf("no APPENDUID: %+v", a)
		}
		uids[c.folder] = append(uids[c.folder], a.UID)
	}
	for _, folder := range []string{"Entwürfe", "INBOX"} {
		msgs, bodies := readBack(t, tg, folder)
		st, err := tg.Status(ctx, folder)
		if err != nil {
			t.Fatal(err)
		}
		var i int
		for _, c := range cases {
			if c.folder != folder {
				continue
			}
			m := msgs[i]
			if m.UID != uids[folder][i] {
				t.Errorf("%s: uid %d, APPENDUID said %d", folder, m.UID, uids[folder][i])
			}
			if !bytes.Equal(bodies[m.UID], c.body) {
				t.Errorf("%s uid %d: body differs", folder, m.UID)
			}
			if !m.InternalDate.Equal(c.date) {
				t.Errorf("%s uid %d: date %v, want %v", folder, m.UID, m.InternalDate, c.date)
			}
			if !slices.Equal(norm(m.Flags), norm(c.want)) {
				t.Errorf("%s uid %d: flags %v, want %v", folder, m.UID, m.Flags, c.want)
			}
			i++
		}
		if st.Messages != uint32(i) || st.UIDNext != uids[folder][i-1]+1 || st.UIDValidity == 0 {
			t.Errorf("%s: status %+v", folder, st)
		}
	}
}

func TestSetFlags(t *testing.T) {
	srv := start(t, &server{})
	tg := open(t, srv)
	ctx := context.Background()
	b := body("x", 1)
	a, err := tg.Append(ctx, "INBOX", []string{`\Seen`, "Old"}, time.Now(), int64(len(b)), bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	other, err := tg.Append(ctx, "INBOX", []string{`\Flagged`}, time.Now(), int64(len(b)), bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range [][]string{{`\Answered`, "$Forwarded", "New"}, {}, {`\Seen`}} {
		if err := tg.SetFlags(ctx, "INBOX", a.UID, want); err != nil {
			t.Fatal(err)
		}
		_, msgs, err := tg.Messages(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(norm(msgs[0].Flags), norm(want)) {
			t.Errorf("flags %v, want %v", msgs[0].Flags, want)
		}
		if msgs[1].UID != other.UID || !slices.Equal(norm(msgs[1].Flags), norm([]string{`\Flagged`})) {
			t.Errorf("other message touched: %+v", msgs[1])
		}
	}
}

func TestExpunge(t *testing.T) {
	for _, tc := range []struct {
		name string
		caps imap.CapSet
	}{
		{"uidplus", nil},
		{"no uidplus", imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapNamespace: {}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := start(t, &server{caps: tc.caps}, "Box")
			tg := open(t, srv)
			ctx := context.Background()
			if got := tg.Conn().Caps().Has(imap.CapUIDPlus); got != (tc.caps == nil) {
				t.Fatalf("UIDPLUS %v", got)
			}
			var uids []uint32
			for i := range 6 {
				b := body(fmt.Sprint(i), i)
				flags := []string{`\Seen`}
				if i == 4 {
					flags = append(flags, `\Deleted`) // marked, but not to be expunged
				}
				a, err := tg.Append(ctx, "Box", flags, time.Now(), int64(len(b)), bytes.NewReader(b))
				if err != nil {
					t.Fatal(err)
				}
				uids = append(uids, a.UID)
			}
			if tc.caps != nil {
				// Without UIDPLUS the UIDs come from the folder.
				_, msgs, err := tg.Messages(ctx, "Box")
				if err != nil {
					t.Fatal(err)
				}
				uids = uids[:0]
				for _, m := range msgs {
					uids = append(uids, m.UID)
				}
			}
			if err := tg.Expunge(ctx, "Box", []uint32{uids[1], uids[3], 999}); err != nil {
				t.Fatal(err)
			}
			_, msgs, err := tg.Messages(ctx, "Box")
			if err != nil {
				t.Fatal(err)
			}
			var left []uint32
			for _, m := range msgs {
				left = append(left, m.UID)
				deleted := slices.ContainsFunc(m.Flags, func(f string) bool { return strings.EqualFold(f, `\Deleted`) })
				if deleted != (m.UID == uids[4]) {
					t.Errorf("uid %d: flags %v", m.UID, m.Flags)
				}
			}
			if want := []uint32{uids[0], uids[2], uids[4], uids[5]}; !slices.Equal(left, want) {
				t.Errorf("left %v, want %v", left, want)
			}
		})
	}
}

func TestCreateFolder(t *testing.T) {
	srv := start(t, &server{}, "Existing")
	tg := open(t, srv)
	ctx := context.Background()
	for range 2 { // the second round finds everything in place
		for _, n := range []string{"Ärger/Sub/Tief", "Entwürfe", "Existing", "Existing/Child", "INBOX", "inbox/Unter"} {
			if err := tg.CreateFolder(ctx, n, ""); err != nil {
				t.Fatalf("create %s: %v", n, err)
			}
		}
	}
	want := []string{"INBOX", "Entwürfe", "Existing", "Existing/Child", "INBOX/Unter", "Ärger", "Ärger/Sub", "Ärger/Sub/Tief"}
	got := folderNames(t, tg)
	slices.Sort(got[1:])
	slices.Sort(want[1:])
	if !slices.Equal(got, want) {
		t.Errorf("folders %q, want %q", got, want)
	}
	// A created folder takes messages at once.
	b := body("x", 0)
	if _, err := tg.Append(ctx, "Ärger/Sub/Tief", nil, time.Now(), int64(len(b)), bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	if err := tg.CreateFolder(ctx, "A//B", ""); err == nil {
		t.Error("empty name component accepted")
	}
}

func TestCreateFolderWithPrefix(t *testing.T) {
	srv := start(t, &server{prefix: "INBOX/"}, "INBOX/Sent")
	tg := open(t, srv)
	ctx := context.Background()
	if err := tg.CreateFolder(ctx, "Projekte/Übersicht", ""); err != nil {
		t.Fatal(err)
	}
	if err := tg.CreateFolder(ctx, "Sent", mailbox.RoleSent); err != nil {
		t.Fatal(err)
	}
	if got, want := folderNames(t, tg), []string{"INBOX", "Projekte", "Projekte/Übersicht", "Sent"}; !slices.Equal(got, want) {
		t.Errorf("folders %q, want %q", got, want)
	}
	if !slices.Contains(srv.creates, "INBOX/Projekte/Übersicht") {
		t.Errorf("creates %q", srv.creates)
	}
	b := body("x", 0)
	if _, err := tg.Append(ctx, "Projekte/Übersicht", nil, time.Now(), int64(len(b)), bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	st, err := tg.Status(ctx, "Projekte/Übersicht")
	if err != nil || st.Messages != 1 {
		t.Errorf("status %+v %v", st, err)
	}
}

func TestCreateSpecialUse(t *testing.T) {
	caps := imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}, imap.CapSpecialUse: {}, imap.CapCreateSpecialUse: {}}
	srv := start(t, &server{caps: caps})
	tg := open(t, srv)
	if err := tg.CreateFolder(context.Background(), "Gesendet", mailbox.RoleSent); err != nil {
		t.Fatal(err)
	}
	if want := []string{`Gesendet [\Sent]`}; !slices.Equal(srv.creates, want) {
		t.Errorf("creates %q, want %q", srv.creates, want)
	}

	// A server that refuses the attribute still gets the folder.
	srv2 := start(t, &server{caps: caps, refuseUse: true})
	tg2 := open(t, srv2)
	if err := tg2.CreateFolder(context.Background(), "Papierkorb", mailbox.RoleTrash); err != nil {
		t.Fatal(err)
	}
	if want := []string{`Papierkorb [\Trash]`, "Papierkorb"}; !slices.Equal(srv2.creates, want) {
		t.Errorf("creates %q, want %q", srv2.creates, want)
	}
	if got := folderNames(t, tg2); !slices.Contains(got, "Papierkorb") {
		t.Errorf("folders %q", got)
	}

	// Without CREATE-SPECIAL-USE no USE is sent.
	srv3 := start(t, &server{})
	tg3 := open(t, srv3)
	if err := tg3.CreateFolder(context.Background(), "Sent", mailbox.RoleSent); err != nil {
		t.Fatal(err)
	}
	if want := []string{"Sent"}; !slices.Equal(srv3.creates, want) {
		t.Errorf("creates %q", srv3.creates)
	}
}

func TestAppendRefused(t *testing.T) {
	ctx := context.Background()
	small := body("small", 1)

	t.Run("folder missing", func(t *testing.T) {
		tg := open(t, start(t, &server{}))
		_, err := tg.Append(ctx, "Nowhere", nil, time.Now(), int64(len(small)), bytes.NewReader(small))
		if !errors.Is(err, mailbox.ErrFolderGone) {
			t.Errorf("err %v", err)
		}
	})

	t.Run("over APPENDLIMIT", func(t *testing.T) {
		srv := start(t, &server{appendLimit: 1000})
		tg := open(t, srv)
		if d, err := tg.Describe(ctx); err != nil || d.AppendLimit != 1000 {
			t.Fatalf("describe %+v %v", d, err)
		}
		big := body("big", 100)
		_, err := tg.Append(ctx, "INBOX", nil, time.Now(), int64(len(big)), bytes.NewReader(big))
		var re *target.RejectedError
		if !errors.As(err, &re) || re.Code != "TOOBIG" {
			t.Fatalf("err %v", err)
		}
		if _, err := tg.Append(ctx, "INBOX", nil, time.Now(), int64(len(small)), bytes.NewReader(small)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("refused by the server before the literal", func(t *testing.T) {
		// go-imap's server refuses literals over 100 MiB before reading
		// them; the body is never read in full.
		tg := open(t, start(t, &server{}))
		const size = 101 << 20
		_, err := tg.Append(ctx, "INBOX", nil, time.Now(), size, io.LimitReader(zeros{}, size))
		var re *target.RejectedError
		if !errors.As(err, &re) || re.Code != "TOOBIG" {
			t.Fatalf("err %v", err)
		}
		// The connection is usable again (go-imap closes it; it reconnects).
		if _, err := tg.Append(ctx, "INBOX", nil, time.Now(), int64(len(small)), bytes.NewReader(small)); err != nil {
			t.Fatal(err)
		}
	})

	for _, tc := range []struct {
		code     imap.ResponseCode
		text     string
		rejected bool
		gone     bool
		busy     bool
	}{
		{"OVERQUOTA", "nope", true, false, false},
		{"LIMIT", "Mail size is too large", true, false, false}, // Dovecot's quota_max_mail_size
		{"LIMIT", "Too many commands, slow down", false, false, true},
		{"", "nope", true, false, false},
		{"PARSE", "nope", true, false, false},
		{"TRYCREATE", "nope", false, true, false},
		{"UNAVAILABLE", "nope", false, false, true},
		{"INUSE", "nope", false, false, true},
		{"SERVERBUG", "nope", false, false, false},
	} {
		t.Run("NO ["+string(tc.code)+"] "+tc.text, func(t *testing.T) {
			srv := start(t, &server{refuseAppend: func(mailbox string) *imap.Error {
				return &imap.Error{Type: imap.StatusResponseTypeNo, Code: tc.code, Text: tc.text}
			}})
			tg := open(t, srv)
			_, err := tg.Append(ctx, "INBOX", nil, time.Now(), int64(len(small)), bytes.NewReader(small))
			var re *target.RejectedError
			if errors.As(err, &re) != tc.rejected || errors.Is(err, mailbox.ErrFolderGone) != tc.gone || errors.Is(err, mailbox.ErrBusy) != tc.busy {
				t.Fatalf("err %v (%T)", err, err)
			}
			if re != nil && (re.Code != string(tc.code) || re.Reason != tc.text) {
				t.Errorf("rejection %+v", re)
			}
			var ie *imap.Error
			if !tc.rejected && !tc.gone && !errors.As(err, &ie) {
				t.Errorf("server error not kept: %v", err)
			}
			// The connection is still good.
			if _, err := tg.Status(ctx, "INBOX"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestAppendWrongSize(t *testing.T) {
	srv := start(t, &server{})
	tg := open(t, srv)
	ctx := context.Background()
	b := body("x", 10)
	for _, size := range []int64{int64(len(b)) + 5, int64(len(b)) - 5} {
		if _, err := tg.Append(ctx, "INBOX", nil, time.Now(), size, bytes.NewReader(b)); err == nil {
			t.Errorf("size %d for %d bytes accepted", size, len(b))
		}
	}
	// Nothing half-written was stored, and the target works again.
	if _, err := tg.Append(ctx, "INBOX", nil, time.Now(), int64(len(b)), bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	msgs, bodies := readBack(t, tg, "INBOX")
	if len(msgs) != 1 || !bytes.Equal(bodies[msgs[0].UID], b) {
		t.Errorf("%d messages", len(msgs))
	}
}

func TestStatusAndDelete(t *testing.T) {
	srv := start(t, &server{}, "Old", "Old/Child")
	tg := open(t, srv)
	ctx := context.Background()
	if _, err := tg.Status(ctx, "Missing"); !errors.Is(err, mailbox.ErrFolderGone) {
		t.Errorf("status of missing folder: %v", err)
	}
	// Deleting the selected folder works.
	if _, _, err := tg.Messages(ctx, "Old/Child"); err != nil {
		t.Fatal(err)
	}
	if err := tg.DeleteFolder(ctx, "Old/Child"); err != nil {
		t.Fatal(err)
	}
	if err := tg.DeleteFolder(ctx, "Old/Child"); err != nil {
		t.Errorf("second delete: %v", err)
	}
	if _, err := tg.Status(ctx, "Old/Child"); !errors.Is(err, mailbox.ErrFolderGone) {
		t.Errorf("status after delete: %v", err)
	}
	if got, want := folderNames(t, tg), []string{"INBOX", "Old"}; !slices.Equal(got, want) {
		t.Errorf("folders %q", got)
	}
	if err := tg.DeleteFolder(ctx, "INBOX"); err == nil {
		t.Error("INBOX deleted")
	}
	// A re-created folder is new: another UIDVALIDITY.
	st1, _ := tg.Status(ctx, "Old")
	if err := tg.DeleteFolder(ctx, "Old"); err != nil {
		t.Fatal(err)
	}
	if err := tg.CreateFolder(ctx, "Old", ""); err != nil {
		t.Fatal(err)
	}
	st2, err := tg.Status(ctx, "Old")
	if err != nil || st2.UIDValidity == st1.UIDValidity {
		t.Errorf("uidvalidity %d then %d (%v)", st1.UIDValidity, st2.UIDValidity, err)
	}
}

func TestWrongPasswordAndInsecure(t *testing.T) {
	srv := start(t, &server{})
	const pw = "hunter2-but-wrong"
	_, err := Open(context.Background(), imapconn.Options{Addr: srv.Addr, TLS: imapconn.TLSNone, User: "bob", Password: pw})
	if !errors.Is(err, imapconn.ErrAuth) || strings.Contains(err.Error(), pw) {
		t.Errorf("wrong password: %v", err)
	}
	_, err = Open(context.Background(), imapconn.Options{Addr: "192.0.2.1:143", TLS: imapconn.TLSNone, User: "bob", Password: pw})
	if !errors.Is(err, imapconn.ErrConfig) {
		t.Errorf("insecure: %v", err)
	}
	// With allow_insecure the settings are accepted (the dial itself is
	// not tried here: 192.0.2.1 is unreachable by design).
}

func TestCancelledAppend(t *testing.T) {
	srv := start(t, &server{})
	tg := open(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	// A body that blocks until the context ends.
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() {
		pw.Write(bytes.Repeat([]byte("x"), 10000))
		<-ctx.Done()
		pw.CloseWithError(ctx.Err())
	}()
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := tg.Append(ctx, "INBOX", nil, time.Now(), 1<<20, pr)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned after %v", d)
	}
	if _, err := tg.Status(context.Background(), "INBOX"); err != nil {
		t.Errorf("after cancel: %v", err)
	}
}

// CreateFolder sends one CREATE of the full name; a server that wants the
// parents first gets them one by one; a server on which a folder created
// alone can have no children (Dovecot with mbox storage) is never asked
// for the parent alone.
func TestCreateFolderOnce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		srv     *server
		creates []string
	}{
		{"superiors created by the server", &server{}, []string{"A/B/C"}},
		{"mbox-like", &server{leafParents: true}, []string{"A/B/C"}},
		{"parents first", &server{needParents: true}, []string{"A/B/C", "A", "A/B", "A/B/C"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := start(t, tc.srv)
			tg := open(t, srv)
			ctx := context.Background()
			if err := tg.CreateFolder(ctx, "A/B/C", ""); err != nil {
				t.Fatal(err)
			}
			if got, want := folderNames(t, tg), []string{"INBOX", "A", "A/B", "A/B/C"}; !slices.Equal(got, want) {
				t.Errorf("folders %q, want %q", got, want)
			}
			srv.mu.Lock()
			creates := slices.Clone(srv.creates)
			srv.mu.Unlock()
			if !slices.Equal(creates, tc.creates) {
				t.Errorf("creates %q, want %q", creates, tc.creates)
			}
			// Creating it again changes nothing.
			if err := tg.CreateFolder(ctx, "A/B/C", ""); err != nil {
				t.Fatalf("again: %v", err)
			}
		})
	}
}
