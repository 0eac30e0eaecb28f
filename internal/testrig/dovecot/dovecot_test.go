package dovecot

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/mailshift/mailshift/internal/testrig/daemon"
)

// testMessage returns a small CRLF message of about size bytes.
func testMessage(subject string, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: a@example.org\r\nTo: b@example.org\r\nSubject: %s\r\nMessage-ID: <%s@example.org>\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\n\r\n", subject, strings.ReplaceAll(subject, " ", "."))
	for b.Len() < size {
		b.WriteString("The quick brown fox jumps over the lazy dog.\r\n")
	}
	return b.Bytes()
}

func login(t *testing.T, addr, user, pass string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatalf("login %s on %s: %v", user, addr, err)
	}
	return c
}

func appendMsg(c *imapclient.Client, mailbox string, body []byte, flags ...imap.Flag) (*imap.AppendData, error) {
	cmd := c.Append(mailbox, int64(len(body)), &imap.AppendOptions{
		Flags: flags,
		Time:  time.Date(2021, 3, 4, 5, 6, 7, 0, time.FixedZone("", 3600)),
	})
	if _, err := cmd.Write(body); err != nil {
		cmd.Close()
		return nil, err
	}
	if err := cmd.Close(); err != nil {
		return nil, err
	}
	return cmd.Wait()
}

func wantCaps(t *testing.T, c *imapclient.Client, want, notWant []imap.Cap) {
	t.Helper()
	caps := c.Caps()
	for _, w := range want {
		if !caps.Has(w) {
			t.Errorf("capability %s missing from %v", w, caps)
		}
	}
	for _, w := range notWant {
		if caps.Has(w) {
			t.Errorf("capability %s should be hidden: %v", w, caps)
		}
	}
}

// specialUse lists the mailboxes with LIST RETURN (SPECIAL-USE) and maps
// each attribute to the mailbox having it.
func specialUse(t *testing.T, c *imapclient.Client) (map[imap.MailboxAttr]string, map[string]rune) {
	t.Helper()
	list, err := c.List("", "*", &imap.ListOptions{ReturnSpecialUse: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	uses := map[imap.MailboxAttr]string{}
	names := map[string]rune{}
	for _, l := range list {
		names[l.Mailbox] = l.Delim
		for _, a := range l.Attrs {
			switch a {
			case imap.MailboxAttrSent, imap.MailboxAttrDrafts, imap.MailboxAttrTrash, imap.MailboxAttrJunk, imap.MailboxAttrArchive:
				uses[a] = l.Mailbox
			}
		}
	}
	return uses, names
}

func imapCode(err error) imap.ResponseCode {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie.Code
	}
	return ""
}

// TestTwoServers runs the two layouts side by side: "/" without prefix,
// and "." with the Courier-like "INBOX." prefix.
func TestTwoServers(t *testing.T) {
	t.Parallel()
	slash := Start(t, Options{Master: true, AppendLimit: 20_000, ExtraCaps: []string{"APPENDLIMIT=20000"}})
	dot := Start(t, Options{Separator: ".", Prefix: "INBOX.", DisableCaps: []string{"UIDPLUS"}, ExtraCaps: []string{"XTEST"}, QuotaKB: 40})
	if slash.Port == dot.Port {
		t.Fatalf("both servers on port %d", slash.Port)
	}
	slash.AddUser("alice", "secret")
	dot.AddUser("alice", "secret")
	dot.AddUser("bob", "pw with spaces")

	t.Run("slash", func(t *testing.T) {
		c := login(t, slash.Addr, "alice", "secret")
		wantCaps(t, c, []imap.Cap{imap.CapIMAP4rev1, imap.CapCondStore, imap.CapQResync, imap.CapUIDPlus, imap.CapSpecialUse, imap.CapListStatus, imap.CapMove, imap.CapNamespace, imap.CapLiteralPlus, "QUOTA"}, nil)
		if limit, ok := c.Caps().AppendLimit(); !ok || limit == nil || *limit != 20_000 {
			t.Errorf("APPENDLIMIT from ExtraCaps: %v %v", limit, ok)
		}

		uses, names := specialUse(t, c)
		for attr, name := range map[imap.MailboxAttr]string{imap.MailboxAttrSent: "Sent", imap.MailboxAttrDrafts: "Drafts", imap.MailboxAttrTrash: "Trash", imap.MailboxAttrJunk: "Junk", imap.MailboxAttrArchive: "Archive"} {
			if uses[attr] != name {
				t.Errorf("%s is on %q, want %q (LIST: %v)", attr, uses[attr], name, names)
			}
		}
		if names["INBOX"] != '/' {
			t.Errorf("INBOX delimiter %q, want '/'", names["INBOX"])
		}
		if err := c.Create("Archive/2023", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if err := c.Create("Notes.old", nil).Wait(); err != nil {
			t.Fatalf("a '.' in a name with separator '/': %v", err)
		}

		data, err := appendMsg(c, "Archive/2023", testMessage("hello slash", 1000), imap.FlagSeen, "$Label1")
		if err != nil {
			t.Fatal(err)
		}
		if data.UID == 0 || data.UIDValidity == 0 {
			t.Errorf("no APPENDUID with UIDPLUS: %+v", data)
		}
		st, err := c.Status("Archive/2023", &imap.StatusOptions{NumMessages: true, HighestModSeq: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if *st.NumMessages != 1 || st.HighestModSeq == 0 {
			t.Errorf("STATUS Archive/2023: %d messages, HIGHESTMODSEQ %d", *st.NumMessages, st.HighestModSeq)
		}

		_, err = appendMsg(c, "INBOX", testMessage("too big", 30_000))
		if err == nil || imapCode(err) != imap.ResponseCodeLimit {
			t.Errorf("APPEND over AppendLimit: %v, want NO [LIMIT]", err)
		}
		// go-imap closes the connection when the server refuses a
		// synchronizing literal (any over 4 KiB): go on with a new one.
		c = login(t, slash.Addr, "alice", "secret")
		if _, err := appendMsg(c, "INBOX", testMessage("fits", 19_000)); err != nil {
			t.Errorf("APPEND under AppendLimit: %v", err)
		}

		if _, err := os.Stat(slash.MaildirPath("alice")); err != nil {
			t.Errorf("MaildirPath: %v", err)
		}
	})

	t.Run("master", func(t *testing.T) {
		c := login(t, slash.Addr, "alice"+MasterSeparator+MasterUser, MasterPassword)
		if _, names := specialUse(t, c); names["Archive/2023"] == 0 {
			t.Errorf("master login as alice does not see alice's folders: %v", names)
		}

		// The same through SASL PLAIN with an authorization identity.
		c2, err := imapclient.DialInsecure(slash.Addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		if err := c2.Authenticate(sasl.NewPlainClient("alice", MasterUser, MasterPassword)); err != nil {
			t.Fatalf("AUTHENTICATE PLAIN alice/admin: %v", err)
		}
		if st, err := c2.Status("Archive/2023", &imap.StatusOptions{NumMessages: true}).Wait(); err != nil || *st.NumMessages != 1 {
			t.Errorf("STATUS as alice via admin: %v %v", st, err)
		}

		c3, err := imapclient.DialInsecure(slash.Addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c3.Close()
		if err := c3.Login("alice*admin", "wrong").Wait(); err == nil {
			t.Error("master login with a wrong password succeeded")
		}
		if err := c3.Login("alice", "wrong").Wait(); err == nil {
			t.Error("login with a wrong password succeeded")
		}
	})

	t.Run("dot-prefix", func(t *testing.T) {
		c := login(t, dot.Addr, "alice", "secret")
		wantCaps(t, c, []imap.Cap{imap.CapCondStore, imap.CapSpecialUse, imap.CapListStatus, "QUOTA", "XTEST"}, []imap.Cap{imap.CapUIDPlus})

		ns, err := c.Namespace().Wait()
		if err != nil {
			t.Fatal(err)
		}
		if len(ns.Personal) != 1 || ns.Personal[0].Prefix != "INBOX." || ns.Personal[0].Delim != '.' {
			t.Errorf("NAMESPACE personal %+v, want INBOX. with '.'", ns.Personal)
		}
		uses, names := specialUse(t, c)
		if uses[imap.MailboxAttrSent] != "INBOX.Sent" || uses[imap.MailboxAttrTrash] != "INBOX.Trash" {
			t.Errorf("special-use %v, want INBOX.Sent, INBOX.Trash (LIST: %v)", uses, names)
		}
		if err := c.Create("INBOX.Projekte.Überblick", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if err := c.Create("INBOX.a/b", nil).Wait(); err == nil {
			t.Error("Maildir++ accepted a '/' in a folder name")
		}

		data, err := appendMsg(c, "INBOX.Projekte.Überblick", testMessage("hello dot", 1000), imap.FlagFlagged)
		if err != nil {
			t.Fatal(err)
		}
		if data.UID != 0 {
			// Dovecot still sends APPENDUID when UIDPLUS is hidden: it only
			// stops advertising it. Tests of the no-UIDPLUS path must not
			// rely on the server withholding it.
			t.Logf("APPENDUID %d even without UIDPLUS advertised", data.UID)
		}
		_, err = appendMsg(c, "INBOX", testMessage("over quota", 50_000))
		if err == nil || imapCode(err) != imap.ResponseCodeOverQuota {
			t.Errorf("APPEND over quota: %v, want NO [OVERQUOTA]", err)
		}
		c = login(t, dot.Addr, "alice", "secret")
		if _, err := appendMsg(c, "INBOX", testMessage("under quota", 10_000)); err != nil {
			t.Errorf("APPEND under quota: %v", err)
		}

		login(t, dot.Addr, "bob", "pw with spaces")
	})
}

func TestTLS(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{TLS: true, NoSpecialUse: true})
	s.AddUser("alice", "secret")
	pem, err := os.ReadFile(s.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in CertFile")
	}
	if s.TLSAddr == "" || s.TLSPort == 0 {
		t.Fatalf("no imaps listener: %+v", s)
	}
	for _, serverName := range []string{"127.0.0.1", "localhost"} {
		opts := &imapclient.Options{TLSConfig: &tls.Config{RootCAs: pool, ServerName: serverName}}
		c, err := imapclient.DialTLS(s.TLSAddr, opts)
		if err != nil {
			t.Fatalf("imaps as %s: %v", serverName, err)
		}
		if err := c.Login("alice", "secret").Wait(); err != nil {
			t.Fatalf("login over imaps: %v", err)
		}
		if _, names := specialUse(t, c); len(names) != 1 {
			t.Errorf("NoSpecialUse: folders %v, want only INBOX", names)
		}
		c.Close()

		c, err = imapclient.DialStartTLS(s.Addr, opts)
		if err != nil {
			t.Fatalf("STARTTLS as %s: %v", serverName, err)
		}
		if err := c.Login("alice", "secret").Wait(); err != nil {
			t.Fatalf("login after STARTTLS: %v", err)
		}
		c.Close()
	}

	// Without the certificate in the pool the handshake fails.
	if c, err := imapclient.DialTLS(s.TLSAddr, &imapclient.Options{TLSConfig: &tls.Config{ServerName: "127.0.0.1"}}); err == nil {
		c.Close()
		t.Error("TLS succeeded without trusting the self-signed certificate")
	}
}

func TestRestartAndStop(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	s.AddUser("alice", "secret")
	c := login(t, s.Addr, "alice", "secret")
	if _, err := appendMsg(c, "INBOX", testMessage("survives", 500)); err != nil {
		t.Fatal(err)
	}
	port := s.Port

	s.Restart(t)
	if s.Port != port {
		t.Fatalf("port changed from %d to %d", port, s.Port)
	}
	if err := c.Noop().Wait(); err == nil {
		t.Error("a connection survived the restart")
	}
	s.AddUser("bob", "pw") // users added after a restart work too
	c = login(t, s.Addr, "alice", "secret")
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if *st.NumMessages != 1 {
		t.Errorf("INBOX has %d messages after restart, want 1", *st.NumMessages)
	}
	login(t, s.Addr, "bob", "pw")

	s.Stop(t)
	if err := daemon.Greet(s.Addr, ""); err == nil {
		t.Error("server still answers after Stop")
	}
	s.Stop(t) // stopping twice is fine
	s.Restart(t)
	login(t, s.Addr, "alice", "secret")
}

func TestStartDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := StartDir(dir+"/a/very/deep/directory/so/that/dovecot's/unix/sockets/would/be/too/long", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !s.ownsRunDir {
		t.Error("a deep dir should get a short run directory")
	}
	runDir, pid := s.runDir, s.running.pid
	s.AddUser("alice", "secret")
	login(t, s.Addr, "alice", "secret")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(runDir); !os.IsNotExist(err) {
		t.Errorf("run directory %s left behind: %v", runDir, err)
	}
	if groupAlive(pid) {
		t.Error("processes left after Close")
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	ids := processIDs{user: "dovecot", group: "dovecot", loginUser: "dovenull"}
	if _, err := config("/d", "/d/run", 1, 0, "hi", Options{Separator: "\\"}, ids); err == nil {
		t.Error("separator \\ accepted")
	}
	if _, err := config("/d", "/d/run", 1, 0, "hi", Options{Separator: ".", Prefix: "INBOX"}, ids); err == nil {
		t.Error("prefix without the separator accepted")
	}
	conf, err := config("/d", "/d/run", 1143, 0, "hi", Options{DisableCaps: []string{"uidplus", "CONDSTORE"}, AppendLimit: 5}, ids)
	if err != nil {
		t.Fatal(err)
	}
	var capLine string
	for _, l := range strings.Split(conf, "\n") {
		if strings.HasPrefix(l, "imap_capability = ") {
			capLine = l
		}
	}
	caps := strings.Fields(strings.TrimPrefix(capLine, "imap_capability = "))
	if slices.Contains(caps, "UIDPLUS") || slices.Contains(caps, "CONDSTORE") || !slices.Contains(caps, "QRESYNC") || !slices.Contains(caps, "QUOTA") {
		t.Errorf("imap_capability line %q", capLine)
	}
	for _, want := range []string{"port = 1143", "mail_fsync = never", "LAYOUT=fs", "quota_max_mail_size = 5", `special_use = \Sent`} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
}

// TestHighPerformance: a server set up as Dovecot advises for a busy site
// serves logins one after the other from a few imap processes (their PIDs
// in the log's "imap(USER)<PID>" prefix; four are kept waiting, and a
// replacement is started while one is busy, so five or six take turns
// under load), where the default starts one per login; and serves them
// right.
func TestHighPerformance(t *testing.T) {
	const logins = 20
	pids := func(s *Server) map[string]bool {
		out := map[string]bool{}
		for _, line := range strings.Split(s.LogTail(1000), "\n") {
			if _, rest, ok := strings.Cut(line, "imap(reuse"); ok {
				if _, rest, ok = strings.Cut(rest, ")<"); ok {
					pid, _, _ := strings.Cut(rest, ">")
					out[pid] = true
				}
			}
		}
		return out
	}
	for _, hp := range []bool{false, true} {
		s := Start(t, Options{HighPerformance: hp})
		for i := range logins { // all before the first login: see AddUser
			s.AddUser(fmt.Sprintf("reuse%d", i), "pw")
		}
		for i := range logins {
			user := fmt.Sprintf("reuse%d", i)
			c := login(t, s.Addr, user, "pw")
			if _, err := appendMsg(c, "INBOX", testMessage("hp "+user, 300)); err != nil {
				t.Fatalf("high performance %v: append as %s: %v", hp, user, err)
			}
			if err := c.Logout().Wait(); err != nil {
				t.Fatal(err)
			}
		}
		for deadline := time.Now().Add(5 * time.Second); strings.Count(s.LogTail(1000), "Disconnected: Logged out") < logins && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		n := len(pids(s))
		t.Logf("high performance %v: %d logins in turn served by %d imap processes", hp, logins, n)
		if hp && n >= logins/2 || !hp && n != logins {
			t.Errorf("high performance %v: %d logins in turn served by %d imap processes", hp, logins, n)
		}
	}
}
