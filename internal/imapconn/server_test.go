package imapconn

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// testServer is go-imap's in-memory server on 127.0.0.1.
type testServer struct {
	Addr    string // plain (and STARTTLS, if TLS was asked for)
	TLSAddr string // implicit TLS, if TLS was asked for
	CAFile  string // PEM of the self-signed certificate, if TLS was asked for
	mem     *imapmemserver.Server
	users   map[string]*imapmemserver.User
}

// serverConfig shapes a testServer.
type serverConfig struct {
	caps   imap.CapSet // default IMAP4rev1 + IMAP4rev2
	prefix string      // personal namespace prefix, e.g. "INBOX/"
	tls    bool        // STARTTLS on Addr, implicit TLS on TLSAddr
}

// prefixSession gives the memory server's session a namespace prefix.
type prefixSession struct {
	imapserver.Session
	prefix string
}

func (s *prefixSession) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: s.prefix, Delim: '/'}}}, nil
}

func (s *prefixSession) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	return s.Session.(imapserver.SessionMove).Move(w, numSet, dest)
}

func startServer(t *testing.T, cfg serverConfig) *testServer {
	t.Helper()
	if cfg.caps == nil {
		cfg.caps = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}}
	}
	ts := &testServer{mem: imapmemserver.New(), users: map[string]*imapmemserver.User{}}
	opts := &imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			sess := ts.mem.NewSession()
			if cfg.prefix != "" {
				sess = &prefixSession{Session: sess, prefix: cfg.prefix}
			}
			return sess, nil, nil
		},
		Caps:         cfg.caps,
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
	}
	if cfg.tls {
		cert, caFile := selfSigned(t)
		opts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		ts.CAFile = caFile
	}
	srv := imapserver.New(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	ts.Addr = ln.Addr().String()
	if cfg.tls {
		tln, err := tls.Listen("tcp", "127.0.0.1:0", opts.TLSConfig)
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(tln)
		ts.TLSAddr = tln.Addr().String()
	}
	t.Cleanup(func() { srv.Close() })
	return ts
}

// user adds a user with an INBOX and the given other folders.
func (ts *testServer) user(t *testing.T, name, password string, folders ...string) *imapmemserver.User {
	t.Helper()
	u := imapmemserver.NewUser(name, password)
	for _, f := range append([]string{"INBOX"}, folders...) {
		if err := u.Create(f, nil); err != nil {
			t.Fatalf("create %s: %v", f, err)
		}
	}
	ts.mem.AddUser(u)
	ts.users[name] = u
	return u
}

// add appends a message to a user's folder and returns its UID.
func add(t *testing.T, u *imapmemserver.User, folder string, body []byte, date time.Time, flags ...imap.Flag) uint32 {
	t.Helper()
	data, err := u.Append(folder, bytes.NewReader(body), &imap.AppendOptions{Flags: flags, Time: date})
	if err != nil {
		t.Fatalf("append to %s: %v", folder, err)
	}
	return uint32(data.UID)
}

// message makes a small RFC 5322 message; pad makes it bigger.
func message(subject string, pad int) []byte {
	var b bytes.Buffer
	b.WriteString("From: a@example.org\r\nTo: b@example.org\r\nSubject: " + subject + "\r\n")
	b.WriteString("Message-ID: <" + subject + "@example.org>\r\n\r\n")
	b.WriteString("Hello, " + subject + ".\r\n")
	for i := 0; i < pad; i++ {
		b.WriteString("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstu\r\n")
	}
	return b.Bytes()
}

// selfSigned makes a certificate for 127.0.0.1 and localhost and writes it
// to a PEM file.
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mailshift test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, file
}

// scriptedServer is a hand-written IMAP server on 127.0.0.1 that answers
// each command by the function given; it lets a test imitate a server's
// exact wording (Dovecot's, a stalling server's).
func scriptedServer(t *testing.T, greeting string, answer func(tag, cmd, line string) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go serveScript(c, greeting, answer)
		}
	}()
	return ln.Addr().String()
}

func serveScript(c net.Conn, greeting string, answer func(tag, cmd, line string) string) {
	defer c.Close()
	io.WriteString(c, greeting+"\r\n")
	buf := make([]byte, 0, 4096)
	tmp := make([]byte, 4096)
	for {
		i := bytes.Index(buf, []byte("\r\n"))
		if i < 0 {
			n, err := c.Read(tmp)
			if err != nil {
				return
			}
			buf = append(buf, tmp[:n]...)
			continue
		}
		line := string(buf[:i])
		buf = buf[i+2:]
		tag, rest, _ := cut(line)
		cmd, _, _ := cut(rest)
		if cmd == "UID" {
			_, r2, _ := cut(rest)
			sub, _, _ := cut(r2)
			cmd = "UID " + sub
		}
		out := answer(tag, cmd, line)
		if out == "" {
			continue // stall
		}
		if _, err := io.WriteString(c, out); err != nil {
			return
		}
		if cmd == "LOGOUT" {
			return
		}
	}
}

func cut(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
