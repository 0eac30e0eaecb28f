package imapconn

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/mailshift/mailshift/internal/mailbox"
)

func dial(t *testing.T, o Options) *Conn {
	t.Helper()
	if o.TLS == "" {
		o.TLS = TLSNone
	}
	c, err := Dial(context.Background(), o)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func names(fs []mailbox.Folder) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

func TestFoldersNestedAndNonASCII(t *testing.T) {
	ts := startServer(t, serverConfig{})
	u := ts.user(t, "alice", "pw", "Entwürfe", "Ärger", "Ärger/Sub", "Sent")
	add(t, u, "Ärger/Sub", message("one", 0), time.Now())
	add(t, u, "Ärger/Sub", message("two", 10), time.Now())

	c := dial(t, Options{Addr: ts.Addr, User: "alice", Password: "pw"})
	if c.Delimiter() != '/' || c.Prefix() != "" {
		t.Errorf("delimiter %q prefix %q", c.Delimiter(), c.Prefix())
	}
	fs, err := c.Folders(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"INBOX", "Entwürfe", "Sent", "Ärger", "Ärger/Sub"}
	if got := names(fs); !slices.Equal(got, want) {
		t.Fatalf("folders %q, want %q", got, want)
	}
	for _, f := range fs {
		if f.UIDValidity == 0 || f.UIDNext == 0 {
			t.Errorf("%s: no counters: %+v", f.Name, f)
		}
		if f.Name == "Ärger/Sub" {
			if f.Messages != 2 || f.UIDNext != 3 {
				t.Errorf("%s: %+v", f.Name, f)
			}
			if want := int64(len(message("one", 0)) + len(message("two", 10))); f.Bytes != want {
				t.Errorf("%s: bytes %d, want %d", f.Name, f.Bytes, want)
			}
		}
	}
	// The folder can be opened by its Unicode name.
	f, msgs, err := c.Messages(context.Background(), "Ärger/Sub")
	if err != nil || len(msgs) != 2 || f.Messages != 2 {
		t.Fatalf("messages: %v %+v %d", err, f, len(msgs))
	}
}

func TestNamespacePrefix(t *testing.T) {
	ts := startServer(t, serverConfig{prefix: "INBOX/"})
	u := ts.user(t, "alice", "pw", "INBOX/Sent", "INBOX/Ärger", "INBOX/Ärger/Sub", "Shared")
	add(t, u, "INBOX/Sent", message("sent", 0), time.Now())

	c := dial(t, Options{Addr: ts.Addr, User: "alice", Password: "pw"})
	if c.Prefix() != "INBOX/" {
		t.Fatalf("prefix %q", c.Prefix())
	}
	fs, err := c.Folders(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// "Shared" is outside the personal namespace.
	if got, want := names(fs), []string{"INBOX", "Sent", "Ärger", "Ärger/Sub"}; !slices.Equal(got, want) {
		t.Fatalf("folders %q, want %q", got, want)
	}
	if w := c.WireName("Sent"); w != "INBOX/Sent" {
		t.Errorf("wire name %q", w)
	}
	if w := c.WireName("inbox"); w != "INBOX" {
		t.Errorf("wire name of inbox %q", w)
	}
	_, msgs, err := c.Messages(context.Background(), "Sent")
	if err != nil || len(msgs) != 1 {
		t.Fatalf("messages of Sent: %v, %d", err, len(msgs))
	}
}

func TestMessagesAndFetch(t *testing.T) {
	ts := startServer(t, serverConfig{})
	u := ts.user(t, "alice", "pw")
	date1 := time.Date(2021, 3, 4, 5, 6, 7, 0, time.FixedZone("", 2*3600))
	date2 := time.Date(2022, 12, 31, 23, 59, 59, 0, time.UTC)
	bodies := [][]byte{message("a", 0), message("b", 5000), message("c", 3)}
	uid1 := add(t, u, "INBOX", bodies[0], date1, imap.FlagSeen, imap.FlagFlagged, "$Forwarded")
	uid2 := add(t, u, "INBOX", bodies[1], date2) // unseen
	uid3 := add(t, u, "INBOX", bodies[2], date2, "Junk")

	c := dial(t, Options{Addr: ts.Addr, User: "alice", Password: "pw"})
	f, msgs, err := c.Messages(context.Background(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if f.Messages != 3 || f.UIDNext != uid3+1 || f.UIDValidity == 0 || f.Bytes != int64(len(bodies[0])+len(bodies[1])+len(bodies[2])) {
		t.Errorf("folder %+v", f)
	}
	if len(msgs) != 3 {
		t.Fatalf("%d messages", len(msgs))
	}
	want := []mailbox.Message{
		{Key: "1", UID: uid1, Size: int64(len(bodies[0])), Flags: []string{`\Seen`, `\Flagged`, "$Forwarded"}, InternalDate: date1},
		{Key: "2", UID: uid2, Size: int64(len(bodies[1])), Flags: []string{}, InternalDate: date2},
		{Key: "3", UID: uid3, Size: int64(len(bodies[2])), Flags: []string{"Junk"}, InternalDate: date2},
	}
	for i, m := range msgs {
		w := want[i]
		// The memory server spells keywords in lower case.
		if m.Key != w.Key || m.UID != w.UID || m.Size != w.Size || !sameFlags(m.Flags, w.Flags) || !m.InternalDate.Equal(w.InternalDate) {
			t.Errorf("message %d: %+v, want %+v", i, m, w)
		}
	}

	got := map[uint32][]byte{}
	err = c.Fetch(context.Background(), "INBOX", msgs, func(m mailbox.Message, b mailbox.Body) error {
		data, err := io.ReadAll(b)
		if err != nil {
			return err
		}
		if int64(len(data)) != b.Size() {
			t.Errorf("uid %d: read %d bytes, Size %d", m.UID, len(data), b.Size())
		}
		got[m.UID] = data
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, uid := range []uint32{uid1, uid2, uid3} {
		if !bytes.Equal(got[uid], bodies[i]) {
			t.Errorf("uid %d: body differs", uid)
		}
	}
	// Fetching did not mark the unseen message \Seen.
	_, msgs, err = c.Messages(context.Background(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(msgs[1].Flags, `\Seen`) {
		t.Errorf("fetch set \\Seen: %v", msgs[1].Flags)
	}

	// A function that reads nothing and fails stops Fetch with its error;
	// the connection stays usable.
	errStop := errors.New("stop")
	n := 0
	err = c.Fetch(context.Background(), "INBOX", msgs, func(mailbox.Message, mailbox.Body) error { n++; return errStop })
	if !errors.Is(err, errStop) || n != 1 {
		t.Errorf("fetch with failing fn: %v after %d calls", err, n)
	}
	if _, err := c.Folders(context.Background()); err != nil {
		t.Errorf("after failed fetch: %v", err)
	}
	// Vanished messages are skipped.
	gone := append(msgs, mailbox.Message{Key: "99", UID: 99})
	n = 0
	if err := c.Fetch(context.Background(), "INBOX", gone, func(mailbox.Message, mailbox.Body) error { n++; return nil }); err != nil || n != 3 {
		t.Errorf("fetch with a vanished message: %v, %d bodies", err, n)
	}
}

// sameFlags compares flag sets; flags are case-insensitive.
func sameFlags(a, b []string) bool {
	norm := func(fs []string) []string {
		out := make([]string, len(fs))
		for i, f := range fs {
			out[i] = strings.ToLower(f)
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(norm(a), norm(b))
}

func TestReadOnlyRefusesSelect(t *testing.T) {
	ts := startServer(t, serverConfig{})
	ts.user(t, "alice", "pw")
	c := dial(t, Options{Addr: ts.Addr, User: "alice", Password: "pw"})
	if err := c.Use(context.Background(), "INBOX", true); err == nil {
		t.Error("read-write select on a read-only connection succeeded")
	}
	if err := c.Use(context.Background(), "INBOX", false); err != nil {
		t.Error(err)
	}
}

func TestFolderGone(t *testing.T) {
	ts := startServer(t, serverConfig{})
	ts.user(t, "alice", "pw")
	c := dial(t, Options{Addr: ts.Addr, User: "alice", Password: "pw"})
	if _, _, err := c.Messages(context.Background(), "Nope"); !errors.Is(err, mailbox.ErrFolderGone) {
		t.Errorf("messages: %v", err)
	}
	if _, err := c.Status(context.Background(), "Nope"); !errors.Is(err, mailbox.ErrFolderGone) {
		t.Errorf("status: %v", err)
	}
	err := c.Fetch(context.Background(), "Nope", []mailbox.Message{{UID: 1}}, func(mailbox.Message, mailbox.Body) error { return nil })
	if !errors.Is(err, mailbox.ErrFolderGone) {
		t.Errorf("fetch: %v", err)
	}
}

func TestWrongPassword(t *testing.T) {
	ts := startServer(t, serverConfig{})
	ts.user(t, "alice", "right")
	for _, auth := range []string{AuthPlain, AuthLogin} {
		t.Run(auth, func(t *testing.T) {
			const pw = "s3cr3t-Passw0rd"
			_, err := Dial(context.Background(), Options{Addr: ts.Addr, TLS: TLSNone, Auth: auth, User: "alice", Password: pw})
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("err %v, want ErrAuth", err)
			}
			if strings.Contains(err.Error(), pw) {
				t.Errorf("password in error: %v", err)
			}
			if !strings.Contains(err.Error(), `"alice"`) || !strings.Contains(err.Error(), "127.0.0.1") {
				t.Errorf("error does not name user and host: %v", err)
			}
			var ae *AuthError
			if !errors.As(err, &ae) || ae.Text == "" {
				t.Errorf("no server text: %#v", ae)
			}
		})
	}
	// Right password with both mechanisms.
	for _, auth := range []string{AuthPlain, AuthLogin} {
		dial(t, Options{Addr: ts.Addr, Auth: auth, User: "alice", Password: "right"})
	}
}

func TestInsecureRefusedBeforeDialing(t *testing.T) {
	start := time.Now()
	_, err := Dial(context.Background(), Options{Addr: "192.0.2.1:143", TLS: TLSNone, User: "u", Password: "p", Timeout: time.Hour})
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "allow_insecure: true") || !strings.Contains(err.Error(), "tls: none") {
		t.Fatalf("err %v", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("took %v: it must fail before dialing", time.Since(start))
	}
	// Loopback is fine (the connection is refused or works, but the
	// settings are not the problem).
	if _, err := Dial(context.Background(), Options{Addr: "127.0.0.1:1", TLS: TLSNone, User: "u"}); errors.Is(err, ErrConfig) {
		t.Errorf("loopback refused as config error: %v", err)
	}
	// Other settings errors.
	for _, o := range []Options{
		{Addr: "127.0.0.1:1", TLS: "tls13", User: "u"},
		{Addr: "127.0.0.1:1", TLS: TLSNone, Auth: "cram-md5", User: "u"},
		{Addr: "127.0.0.1:1", TLS: TLSNone, Auth: AuthLogin, AuthzID: "x", User: "u"},
		{Addr: "127.0.0.1:1", TLS: TLSNone},
	} {
		if _, err := Dial(context.Background(), o); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

func TestTLS(t *testing.T) {
	ts := startServer(t, serverConfig{tls: true})
	ts.user(t, "alice", "pw")
	for _, tc := range []struct {
		mode TLSMode
		addr string
	}{{TLSStartTLS, ts.Addr}, {TLSImplicit, ts.TLSAddr}} {
		t.Run(string(tc.mode), func(t *testing.T) {
			c := dial(t, Options{Addr: tc.addr, TLS: tc.mode, CAFile: ts.CAFile, User: "alice", Password: "pw"})
			if _, err := c.Folders(context.Background()); err != nil {
				t.Fatal(err)
			}
			_, err := Dial(context.Background(), Options{Addr: tc.addr, TLS: tc.mode, User: "alice", Password: "pw"})
			if err == nil || !strings.Contains(err.Error(), "certificate") || !strings.Contains(err.Error(), "ca_file") {
				t.Fatalf("without CA file: %v", err)
			}
			dial(t, Options{Addr: tc.addr, TLS: tc.mode, InsecureSkipVerify: true, User: "alice", Password: "pw"})
		})
	}
}

func TestStartTLSNotOffered(t *testing.T) {
	ts := startServer(t, serverConfig{})
	ts.user(t, "alice", "pw")
	_, err := Dial(context.Background(), Options{Addr: ts.Addr, TLS: TLSStartTLS, User: "alice", Password: "pw"})
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("err %v", err)
	}
}

// stallingServer logs in and then never answers LIST.
func stallingServer(t *testing.T) string {
	return scriptedServer(t, "* OK [CAPABILITY IMAP4rev1] stalling server ready", func(tag, cmd, line string) string {
		switch cmd {
		case "CAPABILITY":
			return "* CAPABILITY IMAP4rev1\r\n" + tag + " OK done\r\n"
		case "LOGIN":
			return tag + " OK [CAPABILITY IMAP4rev1] logged in\r\n"
		case "LIST":
			if strings.HasSuffix(line, `"" ""`) {
				return "* LIST (\\Noselect) \"/\" \"\"\r\n" + tag + " OK done\r\n"
			}
			return "" // stall
		case "LOGOUT":
			return "* BYE\r\n" + tag + " OK bye\r\n"
		}
		return tag + " BAD unknown\r\n"
	})
}

func TestCancelUnblocks(t *testing.T) {
	addr := stallingServer(t)
	c := dial(t, Options{Addr: addr, User: "alice", Password: "pw"})
	if got := c.Server(); got != "stalling server ready" {
		t.Errorf("server from greeting: %q", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Folders(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned after %v", d)
	}
	// The next call reconnects (and stalls again, until its own deadline).
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := c.Folders(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second call: %v", err)
	}
}

func TestTimeout(t *testing.T) {
	addr := stallingServer(t)
	c := dial(t, Options{Addr: addr, User: "alice", Password: "pw", Timeout: 300 * time.Millisecond})
	start := time.Now()
	_, err := c.Folders(context.Background())
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("err %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("returned after %v", d)
	}
}

// An idle connection is not cut by the timeout.
func TestIdleIsNotTimeout(t *testing.T) {
	ts := startServer(t, serverConfig{})
	ts.user(t, "alice", "pw")
	c := dial(t, Options{Addr: ts.Addr, User: "alice", Password: "pw", Timeout: 200 * time.Millisecond})
	time.Sleep(500 * time.Millisecond)
	if !c.alive() {
		t.Fatal("idle connection died")
	}
	if _, err := c.Folders(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestReconnectAfterBreak(t *testing.T) {
	ts := startServer(t, serverConfig{})
	u := ts.user(t, "alice", "pw")
	add(t, u, "INBOX", message("x", 0), time.Now())
	c := dial(t, Options{Addr: ts.Addr, User: "alice", Password: "pw"})
	_, msgs, err := c.Messages(context.Background(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	c.Break()
	n := 0
	if err := c.Fetch(context.Background(), "INBOX", msgs, func(mailbox.Message, mailbox.Body) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("fetch after break: %v, %d", err, n)
	}
	// Closed for good.
	c.Close()
	if _, err := c.Folders(context.Background()); err == nil {
		t.Error("call after Close succeeded")
	}
}

// dovecotLike imitates Dovecot 2.3's answers: ID, NAMESPACE with ".",
// SPECIAL-USE and LIST-STATUS with HIGHESTMODSEQ, QUOTA, CONDSTORE.
func dovecotLike(t *testing.T) string {
	const caps = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT LITERAL+ NAMESPACE UIDPLUS LIST-EXTENDED SPECIAL-USE CONDSTORE QRESYNC LIST-STATUS STATUS=SIZE QUOTA APPENDLIMIT=10485760"
	return scriptedServer(t, "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN] Dovecot ready.", func(tag, cmd, line string) string {
		switch cmd {
		case "CAPABILITY":
			return "* CAPABILITY " + caps + "\r\n" + tag + " OK Pre-login capabilities listed, post-login capabilities have more.\r\n"
		case "AUTHENTICATE":
			return tag + " OK [CAPABILITY " + caps + "] Logged in\r\n"
		case "NAMESPACE":
			return `* NAMESPACE (("" ".")) NIL (("shared." "."))` + "\r\n" + tag + " OK Namespace completed.\r\n"
		case "ID":
			return `* ID ("name" "Dovecot" "version" "2.3.19")` + "\r\n" + tag + " OK ID completed.\r\n"
		case "GETQUOTAROOT":
			return "* QUOTAROOT INBOX \"User quota\"\r\n* QUOTA \"User quota\" (STORAGE 512 1024)\r\n" + tag + " OK Getquotaroot completed.\r\n"
		case "LIST":
			return "* LIST (\\HasNoChildren) \".\" INBOX\r\n" +
				"* STATUS INBOX (MESSAGES 2 UIDNEXT 7 UIDVALIDITY 1600000000 SIZE 2048 HIGHESTMODSEQ 12)\r\n" +
				"* LIST (\\HasNoChildren \\Sent) \".\" Sent\r\n" +
				"* STATUS Sent (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 1600000001 SIZE 10 HIGHESTMODSEQ 3)\r\n" +
				"* LIST (\\Noselect \\HasChildren) \".\" &AMQ-rger\r\n" +
				"* LIST (\\HasNoChildren \\Drafts) \".\" Entw&APw-rfe\r\n" +
				"* STATUS Entw&APw-rfe (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 1600000002 SIZE 0 HIGHESTMODSEQ 1)\r\n" +
				"* LIST (\\HasNoChildren) \".\" &AMQ-rger.Sub\r\n" +
				"* STATUS &AMQ-rger.Sub (MESSAGES 3 UIDNEXT 4 UIDVALIDITY 1600000003 SIZE 99 HIGHESTMODSEQ 5)\r\n" +
				"* LIST (\\Noselect \\HasChildren) \".\" shared\r\n" +
				"* LIST (\\HasNoChildren) \".\" shared.team\r\n" +
				tag + " OK List completed.\r\n"
		case "EXAMINE":
			return "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded)\r\n" +
				"* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n* 2 EXISTS\r\n* 0 RECENT\r\n" +
				"* OK [UIDVALIDITY 1600000000] UIDs valid\r\n* OK [UIDNEXT 7] Predicted next UID\r\n" +
				"* OK [HIGHESTMODSEQ 12] Highest\r\n" + tag + " OK [READ-ONLY] Examine completed (0.001 + 0.000 secs).\r\n"
		case "UID FETCH":
			return "* 1 FETCH (UID 3 MODSEQ (10) FLAGS (\\Seen $Forwarded) INTERNALDATE \"04-Mar-2021 05:06:07 +0200\" RFC822.SIZE 1000)\r\n" +
				"* 2 FETCH (UID 6 MODSEQ (12) FLAGS (\\Recent) INTERNALDATE \"05-Mar-2021 05:06:07 +0000\" RFC822.SIZE 1048)\r\n" +
				tag + " OK Fetch completed.\r\n"
		case "LOGOUT":
			return "* BYE Logging out\r\n" + tag + " OK Logout completed.\r\n"
		}
		return tag + " BAD Error in IMAP command " + cmd + "\r\n"
	})
}

func TestDovecotLike(t *testing.T) {
	addr := dovecotLike(t)
	c := dial(t, Options{Addr: addr, User: "alice", Password: "pw"})
	ctx := context.Background()
	d, err := c.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != "imap" || d.Server != "Dovecot 2.3.19" || d.Delimiter != '.' || d.Prefix != "" ||
		d.AppendLimit != 10485760 || d.QuotaUsed != 512*1024 || d.QuotaLimit != 1024*1024 || !d.UIDPlus || !d.CondStore {
		t.Errorf("description %+v", d)
	}
	if !slices.IsSorted(d.Capabilities) || !slices.Contains(d.Capabilities, "CONDSTORE") {
		t.Errorf("capabilities %v", d.Capabilities)
	}
	fs, err := c.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []mailbox.Folder{
		{Name: "INBOX", Messages: 2, Bytes: 2048, UIDValidity: 1600000000, UIDNext: 7, HighestModSeq: 12},
		{Name: "Entwürfe", Role: mailbox.RoleDrafts, Bytes: 0, UIDValidity: 1600000002, UIDNext: 1, HighestModSeq: 1},
		{Name: "Sent", Role: mailbox.RoleSent, Messages: 1, Bytes: 10, UIDValidity: 1600000001, UIDNext: 2, HighestModSeq: 3},
		{Name: "Ärger", NoSelect: true, Bytes: -1},
		{Name: "Ärger.Sub", Messages: 3, Bytes: 99, UIDValidity: 1600000003, UIDNext: 4, HighestModSeq: 5},
	}
	if !slices.Equal(fs, want) {
		t.Errorf("folders\n got %+v\nwant %+v", fs, want)
	}
	f, msgs, err := c.Messages(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if f.HighestModSeq != 12 || f.UIDNext != 7 || f.Messages != 2 || f.Bytes != 2048 {
		t.Errorf("folder %+v", f)
	}
	if len(msgs) != 2 || msgs[0].UID != 3 || msgs[0].ModSeq != 10 || msgs[1].ModSeq != 12 || len(msgs[1].Flags) != 0 ||
		!msgs[0].InternalDate.Equal(time.Date(2021, 3, 4, 3, 6, 7, 0, time.UTC)) {
		t.Errorf("messages %+v", msgs)
	}
}

func TestGreetingText(t *testing.T) {
	for in, want := range map[string]string{
		"* OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.": "Dovecot ready.",
		"* OK Courier-IMAP ready.":                            "Courier-IMAP ready.",
		"* ok [ALERT] x":                                      "x",
		"* OK":                                                "",
	} {
		if got := greetingText(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

// Do runs nested calls of the Conn inside it.
func TestDoNested(t *testing.T) {
	ts := startServer(t, serverConfig{})
	ts.user(t, "alice", "pw", "Sub")
	c := dial(t, Options{Addr: ts.Addr, User: "alice", Password: "pw"})
	err := c.Do(context.Background(), func(cl *imapclient.Client) error {
		ok, err := c.Exists(context.Background(), "Sub")
		if err != nil || !ok {
			t.Errorf("exists: %v %v", ok, err)
		}
		return cl.Noop().Wait()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A folder re-created behind the Conn's back voids the UIDs the caller
// holds; Fetch says so until Messages lists the folder again.
func TestUIDValidityChanged(t *testing.T) {
	ts := startServer(t, serverConfig{})
	u := ts.user(t, "alice", "pw", "Box")
	add(t, u, "Box", message("old", 0), time.Now())
	c := dial(t, Options{Addr: ts.Addr, User: "alice", Password: "pw"})
	ctx := context.Background()
	_, msgs, err := c.Messages(ctx, "Box")
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Delete("Box"); err != nil {
		t.Fatal(err)
	}
	if err := u.Create("Box", nil); err != nil {
		t.Fatal(err)
	}
	add(t, u, "Box", message("new", 0), time.Now())
	c.Break() // the reconnect selects the new folder
	nop := func(mailbox.Message, mailbox.Body) error { return nil }
	for range 2 {
		if err := c.Fetch(ctx, "Box", msgs, nop); !errors.Is(err, ErrUIDValidity) {
			t.Fatalf("fetch: %v", err)
		}
	}
	if _, msgs, err = c.Messages(ctx, "Box"); err != nil {
		t.Fatal(err)
	}
	if err := c.Fetch(ctx, "Box", msgs, nop); err != nil {
		t.Fatal(err)
	}
}
