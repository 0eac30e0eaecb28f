package imapconn

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
)

// An administrator logs in on behalf of a user, both ways Dovecot offers:
// SASL PLAIN with an authorization identity, and "user*master".
func TestMasterLoginDovecot(t *testing.T) {
	t.Parallel()
	s := dovecot.Start(t, dovecot.Options{Master: true, NoSpecialUse: true})
	s.AddUser("alice", "alice-own-pw")
	seed := imaptest.Login(t, s.Addr, "alice", "alice-own-pw")
	if err := seed.Create("Projekte", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	seed.Logout().Wait()
	ctx := context.Background()

	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"authzid", Options{MasterUser: dovecot.MasterUser}},
		{"separator plain", Options{MasterUser: dovecot.MasterUser, MasterSeparator: dovecot.MasterSeparator}},
		{"separator login", Options{MasterUser: dovecot.MasterUser, MasterSeparator: dovecot.MasterSeparator, Auth: AuthLogin}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.Addr, o.User, o.Password = s.Addr, "alice", dovecot.MasterPassword
			c := dial(t, o)
			fs, err := c.Folders(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(fs); !strings.Contains(strings.Join(got, ","), "Projekte") {
				t.Errorf("the master login does not see alice's folders: %q", got)
			}
			if c.User() != "alice" {
				t.Errorf("User() = %q, want the mailbox's owner", c.User())
			}

			o.Password = "wrong-master-pw"
			o.TLS = TLSNone
			_, err = Dial(ctx, o)
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("wrong master password: %v", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, `"alice"`) || !strings.Contains(msg, dovecot.MasterUser) || strings.Contains(msg, "wrong-master-pw") {
				t.Errorf("error should name the user and the master login, not the password: %s", msg)
			}
		})
	}

	// The user's own password is not the master's.
	_, err := Dial(ctx, Options{Addr: s.Addr, TLS: TLSNone, User: "alice", MasterUser: dovecot.MasterUser, Password: "alice-own-pw"})
	if !errors.Is(err, ErrAuth) {
		t.Errorf("master login with the user's password: %v", err)
	}
}

// TLS against Dovecot with a certificate the test made: both TLS modes
// work with ca_file; an unknown CA fails naming the server and ca_file.
func TestTLSDovecot(t *testing.T) {
	t.Parallel()
	s := dovecot.Start(t, dovecot.Options{TLS: true, NoSpecialUse: true})
	s.AddUser("alice", "pw")
	ctx := context.Background()
	for _, tc := range []struct {
		mode TLSMode
		addr string
	}{{TLSStartTLS, s.Addr}, {TLSImplicit, s.TLSAddr}, {TLSImplicit, "localhost:" + strconv.Itoa(s.TLSPort)}} {
		t.Run(string(tc.mode)+" "+tc.addr, func(t *testing.T) {
			c := dial(t, Options{Addr: tc.addr, TLS: tc.mode, CAFile: s.CertFile, User: "alice", Password: "pw"})
			if _, err := c.Folders(ctx); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(c.Server(), "Dovecot") && !strings.Contains(c.Server(), "dovecot") {
				t.Logf("server: %q", c.Server())
			}
			_, err := Dial(ctx, Options{Addr: tc.addr, TLS: tc.mode, User: "alice", Password: "pw"})
			if err == nil {
				t.Fatal("a certificate of an unknown CA was accepted")
			}
			msg := err.Error()
			t.Log(msg)
			host, _, _ := net.SplitHostPort(tc.addr)
			for _, want := range []string{host, "certificate", "ca_file"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error lacks %q: %s", want, msg)
				}
			}
		})
	}

	// Implicit TLS to the plain port, and STARTTLS to the TLS port, fail
	// quickly and say what to do.
	_, err := Dial(ctx, Options{Addr: s.Addr, TLS: TLSImplicit, CAFile: s.CertFile, User: "alice", Password: "pw", Timeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), s.Addr) {
		t.Errorf("implicit TLS on the STARTTLS port: %v", err)
	}
}

// A server without STARTTLS: imap:// (STARTTLS) fails before any password
// is sent, and saying so; tls: none works on loopback only.
func TestNoStartTLSDovecot(t *testing.T) {
	t.Parallel()
	s := dovecot.Start(t, dovecot.Options{NoSpecialUse: true})
	s.AddUser("alice", "pw")
	ctx := context.Background()
	_, err := Dial(ctx, Options{Addr: s.Addr, User: "alice", Password: "pw"})
	// Depending on whether the greeting listed capabilities, the error says
	// the server does not offer STARTTLS or that it refused it.
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") || !strings.Contains(err.Error(), "tls: none on a loopback host") || !strings.Contains(err.Error(), s.Addr) {
		t.Fatalf("STARTTLS against a server without it: %v", err)
	}
	dial(t, Options{Addr: s.Addr, TLS: TLSNone, User: "alice", Password: "pw"})
	// The same server under a non-loopback name is refused before dialing.
	_, err = Dial(ctx, Options{Addr: "mail.example.org:" + strconv.Itoa(s.Port), TLS: TLSNone, User: "alice", Password: "pw"})
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "allow_insecure") {
		t.Errorf("tls: none to a non-loopback host: %v", err)
	}
}

// No password or token ever goes to a server over a connection that was
// meant to be encrypted and is not: whatever the server does with
// STARTTLS, it never sees LOGIN or AUTHENTICATE.
func TestNoCredentialsWithoutTLS(t *testing.T) {
	for _, tc := range []struct {
		name     string
		greeting string
		starttls string // the answer to STARTTLS
	}{
		{"not offered", "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready", "NO not here"},
		{"refused", "* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] ready", "NO [UNAVAILABLE] TLS is broken"},
		{"offered without capability list", "* OK ready", "BAD what?"},
		{"accepted but not done", "* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] ready", "OK Begin TLS negotiation now"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var got []string
			addr := scriptedServer(t, tc.greeting, func(tag, cmd, line string) string {
				mu.Lock()
				got = append(got, cmd)
				mu.Unlock()
				switch cmd {
				case "CAPABILITY":
					caps := "IMAP4rev1 AUTH=PLAIN"
					if strings.Contains(tc.greeting, "STARTTLS") {
						caps += " STARTTLS"
					}
					return "* CAPABILITY " + caps + "\r\n" + tag + " OK done\r\n"
				case "STARTTLS":
					return tag + " " + tc.starttls + "\r\n"
				case "LOGIN", "AUTHENTICATE":
					return tag + " OK logged in\r\n"
				}
				return tag + " BAD unknown\r\n"
			})
			for _, auth := range []string{AuthPlain, AuthLogin, AuthXOAuth2} {
				_, err := Dial(context.Background(), Options{Addr: addr, TLS: TLSStartTLS, Auth: auth, User: "alice", Password: "s3cret", Timeout: 300 * time.Millisecond})
				if err == nil {
					t.Fatalf("auth %s: logged in without TLS", auth)
				}
				if !strings.Contains(err.Error(), addr) {
					t.Errorf("auth %s: error does not name the server: %v", auth, err)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for _, c := range got {
				if c == "LOGIN" || c == "AUTHENTICATE" {
					t.Fatalf("the server received %s over an unencrypted connection (commands: %q)", c, got)
				}
			}
		})
	}
}

// UIDs right after Changes sees what another connection expunged and
// appended meanwhile. (Dovecot answers a UID SEARCH in a folder selected
// already from the view of its last sync: without opening the folder
// again, the expunged message would still be listed.)
func TestUIDsOnSelectedFolderDovecot(t *testing.T) {
	t.Parallel()
	s := dovecot.Start(t, dovecot.Options{})
	s.AddUser("uma", "pw")
	other := imaptest.Login(t, s.Addr, "uma", "pw")
	defer other.Logout()
	date := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	var uids []uint32
	for i := range 5 {
		uids = append(uids, imaptest.Append(t, other, "INBOX", nil, date, []byte("Subject: m"+strconv.Itoa(i)+"\r\n\r\nbody\r\n")))
	}
	c := dial(t, Options{Addr: s.Addr, User: "uma", Password: "pw"})
	ctx := context.Background()
	f, changed, err := c.Changes(ctx, "INBOX", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != 5 || f.Messages != 5 {
		t.Fatalf("Changes: %d messages, counters %+v", len(changed), f)
	}

	if _, err := other.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := other.Store(imap.UIDSetNum(imap.UID(uids[1])), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := other.UIDExpunge(imap.UIDSetNum(imap.UID(uids[1]))).Close(); err != nil {
		t.Fatal(err)
	}
	added := imaptest.Append(t, other, "INBOX", nil, date, []byte("Subject: late\r\n\r\nbody\r\n"))

	f, got, err := c.UIDs(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	want := []uint32{uids[0], uids[2], uids[3], uids[4], added}
	if !slices.Equal(got, want) {
		t.Errorf("UIDs = %v, want %v (the expunged %d gone, the appended %d there)", got, want, uids[1], added)
	}
	if f.UIDValidity == 0 || f.Messages != 5 {
		t.Errorf("counters %+v", f)
	}
}
