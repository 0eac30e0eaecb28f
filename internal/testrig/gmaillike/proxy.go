package gmaillike

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mailshift/mailshift/internal/mutf7"
	"github.com/mailshift/mailshift/internal/testrig/relay"
)

// proxy adds Gmail's behaviour to the in-memory server behind it. It reads
// the IMAP stream line by line, literals included, both ways.
type proxy struct {
	s     *Server
	addr  string
	relay *relay.Proxy

	mu     sync.Mutex
	delays map[string]time.Duration // per user, while throttled
}

func startProxy(s *Server, upstream string) (*proxy, error) {
	p := &proxy{s: s, delays: map[string]time.Duration{}}
	r, err := relay.Start("gmaillike", upstream, func(rl *relay.Link) relay.Handler {
		return &link{Link: rl, p: p, selecting: map[string]string{}}
	})
	if err != nil {
		return nil, err
	}
	p.relay, p.addr = r, r.Addr
	return p, nil
}

func (p *proxy) setDelay(user string, d time.Duration, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.delays[user] = d
	} else {
		delete(p.delays, user)
	}
}

func (p *proxy) delay(user string) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.delays[user]
}

func (p *proxy) close() error { return p.relay.Close() }

// link is one client connection and its connection to the server.
type link struct {
	*relay.Link
	p *proxy

	mu        sync.Mutex
	loginTag  string            // the LOGIN or AUTHENTICATE in progress
	loginUser string            // its user
	authWait  bool              // AUTHENTICATE PLAIN waits for the client's response
	user      string            // logged in as; "" before
	counted   bool              // counted against the connection limit
	selecting map[string]string // tag -> folder of a SELECT or EXAMINE in progress
	selected  string
	gmTag     string // the FETCH asking X-GM-* items in progress
	gmWant    []string
	appTag    string  // the APPEND in progress
	appFolder string  // its folder
	appMsg    Message // its message, the body once read
}

// Closed gives back the connection the link counted against its user's
// limit, if it did.
func (l *link) Closed() {
	l.mu.Lock()
	user, counted := l.user, l.counted
	l.mu.Unlock()
	if counted {
		l.p.s.logout(user)
	}
}

// command returns a command line's tag, name (upper case, "UID FETCH" for
// UID commands) and the rest of the line after the name.
func command(line []byte) (tag, cmd, rest string) {
	s := strings.TrimRight(string(line), "\r\n")
	f := strings.SplitN(s, " ", 3)
	if len(f) < 2 {
		return "", "", ""
	}
	tag, cmd = f[0], strings.ToUpper(f[1])
	if len(f) == 3 {
		rest = f[2]
	}
	if cmd == "UID" {
		g := strings.SplitN(rest, " ", 2)
		cmd += " " + strings.ToUpper(g[0])
		rest = ""
		if len(g) == 2 {
			rest = g[1]
		}
	}
	return tag, cmd, rest
}

// Up forwards commands to the server, answering some itself.
func (l *link) Up() {
	r := bufio.NewReaderSize(l.Client, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		line, answer := l.command(line)
		if answer != "" {
			if l.Reply(answer) != nil {
				return
			}
			continue
		}
		if err := l.forward(r, line); err != nil {
			return
		}
	}
}

// forward sends a command and what completes it to the server, keeping
// the first literal of an APPEND as the message appended.
func (l *link) forward(r *bufio.Reader, line []byte) error {
	l.mu.Lock()
	tag, _, _ := command(line)
	keep := tag != "" && tag == l.appTag
	l.mu.Unlock()
	n, _, ok := relay.Literal(line)
	if !keep || !ok {
		return relay.Forward(l.Server, r, line)
	}
	if _, err := l.Server.Write(line); err != nil {
		return err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return err
	}
	l.mu.Lock()
	l.appMsg.Body = body
	l.mu.Unlock()
	if _, err := l.Server.Write(body); err != nil {
		return err
	}
	rest, err := r.ReadBytes('\n')
	if err != nil {
		return err
	}
	return relay.Forward(l.Server, r, rest)
}

// command looks at one command line: it notes logins and selections,
// rewrites a FETCH of X-GM-* items into one the server understands, and
// returns an answer of the proxy's own instead when Gmail would refuse.
func (l *link) command(line []byte) ([]byte, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.authWait { // the client's response to AUTHENTICATE PLAIN
		l.authWait = false
		l.loginUser = plainUser(strings.TrimSpace(string(line)))
		return line, ""
	}
	tag, cmd, rest := command(line)
	switch cmd {
	case "LOGIN":
		l.loginTag = tag
		l.loginUser, _, _ = relay.Astring(rest)
	case "AUTHENTICATE":
		l.loginTag = tag
		f := strings.Fields(rest)
		if len(f) >= 2 && strings.EqualFold(f[0], "PLAIN") {
			l.loginUser = plainUser(f[1])
		} else {
			l.authWait = len(f) == 1 && strings.EqualFold(f[0], "PLAIN")
		}
	case "SELECT", "EXAMINE":
		name, _, _ := relay.Astring(rest)
		l.selecting[tag] = name
	case "CREATE":
		if name, _, _ := relay.Astring(rest); reservedName(name) {
			// The refusal is Gmail's [faq]; its wording is not documented.
			return nil, tag + " NO [CANNOT] " + name + " is a reserved name. (Failure)\r\n"
		}
	case "APPEND":
		l.appTag, l.appFolder, l.appMsg = tag, "", Message{}
		l.appFolder, l.appMsg.Flags, l.appMsg.Date = appendArgs(rest)
	case "UID STORE":
		if answer, ok := l.storeLabels(tag, rest); ok {
			return nil, answer
		}
	case "FETCH", "UID FETCH":
		if l.p.s.fetchRefused(l.user) {
			return nil, tag + " NO [OVERQUOTA] Account exceeded command or bandwidth limits. (Failure)\r\n"
		}
		if out, want := gmFetch(line); want != nil {
			l.gmTag, l.gmWant = tag, want
			return out, ""
		}
	}
	return line, ""
}

// plainUser returns the user of a SASL PLAIN response (base64 of
// authzid NUL authcid NUL password).
func plainUser(b64 string) string {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return ""
	}
	parts := bytes.Split(b, []byte{0})
	if len(parts) != 3 {
		return ""
	}
	return string(parts[1])
}

// gmItemRe finds the X-GM-* fetch items of a FETCH command [ext].
var gmItemRe = regexp.MustCompile(`(?i)\bX-GM-(MSGID|THRID|LABELS)\b`)

// gmFetch rewrites a FETCH that asks X-GM-* items into one without them
// that asks the UID (which the answer is completed by); want lists the
// items asked, upper case, nil when none were.
func gmFetch(line []byte) ([]byte, []string) {
	s := strings.TrimRight(string(line), "\r\n")
	ms := gmItemRe.FindAllString(s, -1)
	if ms == nil {
		return line, nil
	}
	want := make([]string, len(ms))
	for i, m := range ms {
		want[i] = strings.ToUpper(m)
	}
	s = gmItemRe.ReplaceAllString(s, "")
	s = strings.Join(strings.Fields(s), " ")
	s = strings.ReplaceAll(strings.ReplaceAll(s, "( ", "("), " )", ")")
	if !regexp.MustCompile(`(?i)[( ]UID[ )]`).MatchString(s[strings.Index(strings.ToUpper(s), "FETCH"):] + " ") {
		switch {
		case strings.HasSuffix(s, "()"):
			s = strings.TrimSuffix(s, "()") + "(UID)"
		case strings.Contains(s, "("):
			i := strings.Index(s, "(")
			s = s[:i+1] + "UID " + s[i+1:]
		default:
			s += " UID"
		}
	}
	s = strings.ReplaceAll(s, "()", "(UID)")
	return []byte(s + "\r\n"), want
}

// Down forwards responses to the client, Gmail's way.
func (l *link) Down() {
	r := bufio.NewReaderSize(l.Server, 64<<10)
	var buf, text bytes.Buffer
	for {
		buf.Reset()
		text.Reset()
		var first []byte
		served, err := relay.ReadResponse(r, &buf, func(line []byte) []byte {
			if first == nil {
				first = line
			}
			text.Write(line)
			return line
		})
		if err != nil {
			return
		}
		out, drop := l.response(first, buf.Bytes(), text.String(), served)
		if l.Write(out) != nil || drop {
			return
		}
	}
}

var (
	capRe   = regexp.MustCompile(`(?i)(^\* CAPABILITY |\[CAPABILITY )([^\]\r\n]*)`)
	listRe  = regexp.MustCompile(`(?i)^\* (LIST|XLIST) \(([^)]*)\) (\S+) (.*)\r\n$`)
	fetchRe = regexp.MustCompile(`(?i)^\* \d+ FETCH \(`)
	uidRe   = regexp.MustCompile(`(?i)[( ]UID (\d+)`)
	// greetingRe is the server's greeting, its text after any code.
	greetingRe = regexp.MustCompile(`^(\* OK (?:\[[^\]]*\] )?)IMAP server ready\r\n$`)
)

// response rewrites one whole response (first is its first line, text its
// lines without literals); drop ends the connection after it.
func (l *link) response(first, whole []byte, text string, served int64) (out []byte, drop bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if m := capRe.FindSubmatchIndex(first); m != nil {
		// X-GM-EXT-1 says the extensions are there [ext]; Gmail offers
		// SPECIAL-USE too [throttled] (MailKit#1396's capability list).
		first = append(append(append([]byte{}, first[:m[5]]...), " X-GM-EXT-1 SPECIAL-USE"...), first[m[5]:]...)
		whole = first
	}
	if greetingRe.Match(first) {
		// Gmail's greeting [ext].
		first = greetingRe.ReplaceAll(first, []byte("${1}Gimap ready for requests from 127.0.0.1\r\n"))
		whole = first
	}
	switch {
	case listRe.Match(first):
		return []byte(l.list(string(first))), false
	case fetchRe.Match(first):
		if l.user != "" && served > 0 {
			l.p.s.countServed(l.user, served)
		}
		if l.gmTag != "" {
			return l.gmItems(whole, text), false
		}
		return whole, false
	case bytes.HasPrefix(first, []byte("* ")), bytes.HasPrefix(first, []byte("+")):
		return whole, false
	}
	return l.tagged(string(first))
}

// list adds the special-use attributes [ext] to a LIST line, and
// \Noselect to "[Gmail]".
func (l *link) list(line string) string {
	m := listRe.FindStringSubmatch(line)
	name, _, _ := relay.Astring(m[4])
	attrs := m[2]
	if a, ok := specialUse[name]; ok && !strings.Contains(attrs, a) {
		attrs = strings.TrimSpace(attrs + " " + a)
	}
	if name == "[Gmail]" && !strings.Contains(attrs, `\Noselect`) {
		attrs = strings.TrimSpace(attrs + ` \Noselect`)
	}
	return "* " + m[1] + " (" + attrs + ") " + m[3] + " " + m[4] + "\r\n"
}

// gmItems adds the X-GM-* items asked for to a FETCH response.
func (l *link) gmItems(whole []byte, text string) []byte {
	m := uidRe.FindStringSubmatch(text)
	if m == nil {
		return whole
	}
	uid, _ := strconv.ParseUint(m[1], 10, 32)
	id, labels, ok := l.p.s.gmInfo(l.user, l.selected, uint32(uid))
	if !ok {
		return whole
	}
	var items []string
	for _, w := range l.gmWant {
		switch w {
		case "X-GM-MSGID", "X-GM-THRID":
			items = append(items, w+" "+strconv.FormatUint(id, 10))
		case "X-GM-LABELS":
			ls := make([]string, len(labels))
			for i, lb := range labels {
				if strings.HasPrefix(lb, `\`) {
					ls[i] = lb
				} else {
					ls[i] = relay.Quote(mutf7.Encode(lb))
				}
			}
			items = append(items, "X-GM-LABELS ("+strings.Join(ls, " ")+")")
		}
	}
	i := fetchRe.FindIndex(whole)[1]
	return append(append(append([]byte{}, whole[:i]...), strings.Join(items, " ")+" "...), whole[i:]...)
}

// tagged handles a command's completion: a login counted against the
// connection limit [conns], a folder selected, [THROTTLED] [throttled].
func (l *link) tagged(line string) ([]byte, bool) {
	tag, status, _ := command([]byte(line))
	ok := status == "OK"
	if tag == l.loginTag && l.loginTag != "" {
		l.loginTag = ""
		if ok {
			if !l.p.s.login(l.loginUser) {
				return []byte(tag + " NO [ALERT] Too many simultaneous connections. (Failure)\r\n"), true
			}
			l.user, l.counted = l.loginUser, true
		}
	}
	if name, sel := l.selecting[tag]; sel {
		delete(l.selecting, tag)
		if ok {
			l.selected = name
		}
	}
	if tag == l.gmTag {
		l.gmTag, l.gmWant = "", nil
	}
	if tag == l.appTag && tag != "" {
		l.appTag = ""
		if m := appendUIDRe.FindStringSubmatch(line); ok && m != nil && l.user != "" {
			uid, _ := strconv.ParseUint(m[1], 10, 32)
			if err := l.p.s.appended(l.user, decodeName(l.appFolder), uint32(uid), l.appMsg); err != nil {
				return []byte(tag + " NO [SERVERBUG] " + err.Error() + "\r\n"), false
			}
		}
	}
	if ok && l.user != "" && l.p.s.throttled(l.user) {
		if d := l.p.delay(l.user); d > 0 {
			time.Sleep(d)
		}
		return []byte(strings.TrimRight(line, "\r\n") + " [THROTTLED]\r\n"), false
	}
	return []byte(line), false
}
