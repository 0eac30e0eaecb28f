// Package quirkproxy is an IMAP proxy for tests that makes a well-behaved
// server (internal/memserver, say) answer like the real servers mailshift
// meets: it refuses APPENDs that carry keywords, garbles one folder's
// STATUS answer, answers GETQUOTAROOT the way Courier does for a user
// without quota, garbles ID and NAMESPACE, hides or adds capabilities, and
// drops the connection on a given command.
//
// It reads the IMAP stream line by line, literals included, in both
// directions: commands are forwarded or answered by the proxy itself,
// responses are forwarded with the lines it is told to change rewritten.
// The quirks may change while connections are open (Set); they apply to
// the commands and responses that follow.
//
// Where the behaviours come from:
//   - BareQuota is Courier IMAP's answer when QUOTA is advertised and the
//     user has no quota (TESTING.md, "Cyrus and Courier beside Dovecot").
//   - RefuseKeywords: a server that cannot create keywords (no \* in its
//     PERMANENTFLAGS, RFC 3501) may fail the APPEND instead of dropping
//     them; [CANNOT] is RFC 5530's code for an operation the server cannot
//     perform. The text is not a particular server's.
//   - BadStatus, BadID, BadNamespace are not modelled on a server: they are
//     answers go-imap v2.0.0-beta.8 cannot parse (a negative number, an ID
//     value that is not a string, a NAMESPACE with two parts of three),
//     standing for the unreadable answers of real servers to optional
//     features, on which go-imap closes the connection.
package quirkproxy

import (
	"bufio"
	"bytes"
	"io"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mailshift/mailshift/internal/testrig/relay"
)

// Quirks says how the proxy misbehaves. The zero value forwards
// everything unchanged.
type Quirks struct {
	// RefuseKeywords answers an APPEND whose flags hold a keyword (a flag
	// without a backslash) with NO [CANNOT], as servers that store no
	// keywords do; the server never sees it.
	RefuseKeywords bool
	// BadStatus names a folder (as on the wire) whose STATUS answer, also
	// within a LIST-STATUS answer, is made unparseable ("MESSAGES -1").
	BadStatus string
	// BareQuota advertises QUOTA and answers GETQUOTAROOT INBOX with a
	// bare `* QUOTA "ROOT"` (no resource list), as Courier does for a user
	// without quota. go-imap cannot parse it and closes the connection.
	BareQuota bool
	// BadID advertises ID and answers it with a key without a value.
	BadID bool
	// BadNamespace answers NAMESPACE with two namespaces of three.
	BadNamespace bool
	// HideCaps are left out of every capability list the server sends
	// (e.g. "IMAP4rev2", so that the client speaks IMAP4rev1 only: no
	// LIST-STATUS).
	HideCaps []string
	// DropOn closes the connection, both ways, when the client sends this
	// command (e.g. "STATUS"), instead of forwarding it.
	DropOn string
}

// Proxy forwards connections from Addr to the upstream server.
type Proxy struct {
	// Addr is the proxy's address, "127.0.0.1:PORT"; clients connect here.
	Addr string

	relay *relay.Proxy

	mu     sync.Mutex
	quirks Quirks

	refused atomic.Int64
	drops   atomic.Int64

	counted map[string]int64 // commands clients sent, by name; under mu
}

// Start listens on a free loopback port and forwards to upstream.
func Start(upstream string, q Quirks) (*Proxy, error) {
	p := &Proxy{quirks: q, counted: map[string]int64{}}
	r, err := relay.Start("quirkproxy", upstream, func(rl *relay.Link) relay.Handler { return &link{Link: rl, p: p} })
	if err != nil {
		return nil, err
	}
	p.relay, p.Addr = r, r.Addr
	return p, nil
}

// Set replaces the quirks.
func (p *Proxy) Set(q Quirks) {
	p.mu.Lock()
	p.quirks = q
	p.mu.Unlock()
}

func (p *Proxy) get() Quirks {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.quirks
}

// Connections is how many connections the proxy accepted.
func (p *Proxy) Connections() int64 { return p.relay.Accepted() }

// Refused is how many APPENDs the proxy refused (RefuseKeywords).
func (p *Proxy) Refused() int64 { return p.refused.Load() }

// Drops is how many connections the proxy dropped (DropOn).
func (p *Proxy) Drops() int64 { return p.drops.Load() }

// Commands is how many commands named cmd ("LIST", "UID FETCH") clients
// sent through the proxy, whatever it did with them.
func (p *Proxy) Commands(cmd string) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counted[strings.ToUpper(cmd)]
}

func (p *Proxy) count(cmd string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counted[cmd]++
}

// Close stops listening and closes every connection.
func (p *Proxy) Close() error { return p.relay.Close() }

// link is one client connection and its server connection.
type link struct {
	*relay.Link
	p *Proxy
}

// Closed is called when the link closes; the proxy keeps nothing per link.
func (l *link) Closed() {}

// Up forwards commands from the client to the server.
func (l *link) Up() {
	r := bufio.NewReaderSize(l.Client, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		q := l.p.get()
		tag, cmd := command(line)
		if cmd != "" {
			l.p.count(cmd)
		}
		switch {
		case q.DropOn != "" && strings.EqualFold(cmd, q.DropOn):
			l.p.drops.Add(1)
			return
		case q.BareQuota && cmd == "GETQUOTAROOT":
			if l.Reply("* QUOTAROOT INBOX \"ROOT\"\r\n* QUOTA \"ROOT\"\r\n"+tag+" OK Getquotaroot completed\r\n") != nil {
				return
			}
			continue
		case q.BadID && cmd == "ID":
			if l.Reply("* ID (\"name\" \"quirk\" 42)\r\n"+tag+" OK ID completed\r\n") != nil {
				return
			}
			continue
		case q.BadNamespace && cmd == "NAMESPACE":
			if l.Reply("* NAMESPACE ((\"\" \"/\")) NIL\r\n"+tag+" OK Namespace completed\r\n") != nil {
				return
			}
			continue
		case q.RefuseKeywords && cmd == "APPEND":
			var buf bytes.Buffer
			keyword, wait, err := collect(&buf, r, line)
			if err != nil {
				return
			}
			if keyword {
				// Read to its end, or to a synchronizing literal the client
				// waits to send: it gets the answer instead.
				l.p.refused.Add(1)
				if l.Reply(tag+" NO [CANNOT] Keywords are not supported\r\n") != nil {
					return
				}
				continue
			}
			if _, err := l.Server.Write(buf.Bytes()); err != nil {
				return
			}
			if wait > 0 {
				// The rest follows the server's continuation.
				if _, err := io.CopyN(l.Server, r, wait); err != nil {
					return
				}
				if line, err = r.ReadBytes('\n'); err != nil {
					return
				}
				if err := relay.Forward(l.Server, r, line); err != nil {
					return
				}
			}
			continue
		}
		if err := relay.Forward(l.Server, r, line); err != nil {
			return
		}
	}
}

// command returns the tag and the command name (upper case) of a command
// line; for UID commands the name is "UID FETCH" and the like.
func command(line []byte) (tag, cmd string) {
	f := strings.Fields(string(line))
	if len(f) < 2 {
		return "", ""
	}
	tag, cmd = f[0], strings.ToUpper(f[1])
	if cmd == "UID" && len(f) > 2 {
		cmd += " " + strings.ToUpper(f[2])
	}
	return tag, cmd
}

// collect reads an APPEND command into buf, up to its end or up to a
// synchronizing literal (wait is its size: the client sends it after a
// continuation only), and tells whether the flags of any of its messages
// (MULTIAPPEND has several) hold a keyword.
func collect(buf *bytes.Buffer, r *bufio.Reader, line []byte) (keyword bool, wait int64, err error) {
	for {
		buf.Write(line)
		keyword = keyword || hasKeyword(line)
		n, sync, ok := relay.Literal(line)
		switch {
		case !ok:
			return keyword, 0, nil
		case sync:
			return keyword, n, nil
		}
		if _, err := io.CopyN(buf, r, n); err != nil {
			return false, 0, err
		}
		if line, err = r.ReadBytes('\n'); err != nil {
			return false, 0, err
		}
	}
}

// flagsRe is the first parenthesised list of an APPEND line: its flags.
var flagsRe = regexp.MustCompile(`\(([^()]*)\)`)

// hasKeyword reports whether an APPEND line's flags hold a keyword.
func hasKeyword(line []byte) bool {
	m := flagsRe.FindSubmatch(line)
	if m == nil {
		return false
	}
	for _, f := range strings.Fields(string(m[1])) {
		if !strings.HasPrefix(f, `\`) {
			return true
		}
	}
	return false
}

// Down forwards responses from the server to the client, rewriting the
// lines the quirks concern.
func (l *link) Down() {
	r := bufio.NewReaderSize(l.Server, 64<<10)
	var buf bytes.Buffer
	for {
		buf.Reset()
		if _, err := relay.ReadResponse(r, &buf, l.rewrite); err != nil {
			return
		}
		if l.Write(buf.Bytes()) != nil {
			return
		}
	}
}

// capRe finds a capability list: "* CAPABILITY ..." or "[CAPABILITY ...]".
var capRe = regexp.MustCompile(`(?i)(^\* CAPABILITY |\[CAPABILITY )([^\]\r\n]*)`)

// rewrite changes one response line as the quirks say.
func (l *link) rewrite(line []byte) []byte {
	q := l.p.get()
	if m := capRe.FindSubmatchIndex(line); m != nil {
		caps := strings.Fields(string(line[m[4]:m[5]]))
		var out []string
		for _, c := range caps {
			hidden := false
			for _, h := range q.HideCaps {
				hidden = hidden || strings.EqualFold(c, h)
			}
			if !hidden {
				out = append(out, c)
			}
		}
		if q.BareQuota && !hasCap(out, "QUOTA") {
			out = append(out, "QUOTA")
		}
		if q.BadID && !hasCap(out, "ID") {
			out = append(out, "ID")
		}
		if q.BadNamespace && !hasCap(out, "NAMESPACE") {
			out = append(out, "NAMESPACE")
		}
		var b bytes.Buffer
		b.Write(line[:m[4]])
		b.WriteString(strings.Join(out, " "))
		b.Write(line[m[5]:])
		return b.Bytes()
	}
	if q.BadStatus != "" && bytes.HasPrefix(bytes.ToUpper(line), []byte("* STATUS ")) {
		rest := string(line[len("* STATUS "):])
		name, _, ok := relay.Astring(rest)
		if ok && name == q.BadStatus {
			return []byte("* STATUS " + relay.Quote(name) + " (MESSAGES -1 UIDNEXT 1 UIDVALIDITY 1)\r\n")
		}
	}
	return line
}

func hasCap(caps []string, c string) bool {
	for _, x := range caps {
		if strings.EqualFold(x, c) {
			return true
		}
	}
	return false
}
