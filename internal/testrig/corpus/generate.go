// Package corpus provides test mail: deterministic generated messages and
// whole mailboxes (Generate, Mailbox), and the real, messy messages of the
// shared test data (Messy).
//
// Generated messages are RFC 5322 with CRLF line endings throughout, of
// varied sizes, some with base64 attachments, RFC 2047 encoded and raw
// 8-bit headers, exact duplicates, a shared Message-ID with different
// content, and no Message-ID at all; each with flags, keywords and an
// internal date. The same seed always gives the same bytes.
package corpus

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"math/rand/v2"
	"mime"
	"strings"
	"time"
)

// Message is one message to put into a mailbox.
type Message struct {
	// Body is the whole message (header and body), CRLF line endings.
	Body []byte
	// Flags are IMAP flags and keywords: `\Seen`, `\Answered`,
	// `\Flagged`, `\Draft`, `\Deleted`, `$Forwarded`, `$Label1`, `Work`.
	Flags []string
	// InternalDate is the IMAP internal date, to the second, in varied
	// time zones (compare with Equal).
	InternalDate time.Time
	// Folder is the folder's path with "/" as the hierarchy separator
	// ("Archive/2023"); Generate puts everything in "INBOX".
	Folder string
}

// Folders are the folders of Mailbox, parents before children. "Empty"
// gets no message, so callers create every folder in this list rather
// than the ones messages name. "Notes.old" has a "." inside a name
// component (a "." separator server cannot hold it as is);
// "Projekte/Überblick" is non-ASCII (modified UTF-7 on the wire).
var Folders = []string{"INBOX", "Sent", "Drafts", "Trash", "Archive", "Archive/2023", "Projekte", "Projekte/Überblick", "Notes.old", "Empty"}

// folderWeights is how Mailbox spreads messages over Folders.
var folderWeights = []struct {
	name   string
	weight int
}{
	{"INBOX", 40}, {"Sent", 18}, {"Archive/2023", 15}, {"Projekte/Überblick", 8},
	{"Trash", 7}, {"Notes.old", 5}, {"Drafts", 5}, {"Archive", 2},
}

// epoch is the reference "now" of generated mail: dates lie in the eight
// years before it. Fixed, so that output does not depend on the clock.
var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Generate returns n deterministic messages in INBOX whose sizes vary
// around avgSize bytes (default 4096 if avgSize <= 0). About 3% are exact
// duplicates of an earlier message (same bytes: duplicates must stay
// duplicates), 1% reuse an earlier Message-ID with other content, and 2%
// have no Message-ID.
func Generate(seed int64, n int, avgSize int) []Message {
	g := newGen(seed, avgSize)
	msgs := make([]Message, 0, n)
	for i := 0; i < n; i++ {
		msgs = append(msgs, g.message(i, "INBOX", msgs))
	}
	return msgs
}

// Mailbox plans a whole mailbox: n deterministic messages like Generate's
// spread over Folders (Empty stays empty); duplicates are mostly in the
// folder of their original. Messages in Drafts are \Draft, those in Sent
// and Trash \Seen.
func Mailbox(seed int64, n int, avgSize int) []Message {
	g := newGen(seed, avgSize)
	total := 0
	for _, f := range folderWeights {
		total += f.weight
	}
	msgs := make([]Message, 0, n)
	for i := 0; i < n; i++ {
		r := g.r.IntN(total)
		folder := ""
		for _, f := range folderWeights {
			if r < f.weight {
				folder = f.name
				break
			}
			r -= f.weight
		}
		msgs = append(msgs, g.message(i, folder, msgs))
	}
	return msgs
}

// gen holds the random source of one Generate or Mailbox call.
type gen struct {
	r       *rand.Rand
	avgSize int
	seed    int64
}

func newGen(seed int64, avgSize int) *gen {
	if avgSize <= 0 {
		avgSize = 4096
	}
	return &gen{r: rand.New(rand.NewPCG(uint64(seed), 0x6d61696c73686966)), avgSize: avgSize, seed: seed}
}

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

func pick[T any](g *gen, xs []T) T { return xs[g.r.IntN(len(xs))] }

// message makes message number i for folder; earlier holds the messages
// made so far (for duplicates).
func (g *gen) message(i int, folder string, earlier []Message) Message {
	if len(earlier) > 0 && g.chance(0.03) {
		orig := earlier[g.r.IntN(len(earlier))]
		m := Message{
			Body:         bytes.Clone(orig.Body),
			InternalDate: orig.InternalDate,
			Folder:       folder,
		}
		if g.chance(0.8) {
			m.Folder = orig.Folder // mostly side by side with the original
		}
		m.Flags = g.flags(m.Folder)
		return m
	}

	sent := g.randomDate()
	internal := sent.Add(time.Duration(g.r.IntN(600)) * time.Second)
	internal = internal.In(pick(g, zones))
	m := Message{InternalDate: internal, Folder: folder}
	m.Flags = g.flags(folder)

	var id string
	switch r := g.r.Float64(); {
	case r < 0.02:
		// no Message-ID
	case r < 0.03 && len(earlier) > 0:
		id = messageID(earlier[g.r.IntN(len(earlier))].Body) // reused, other content
	default:
		id = fmt.Sprintf("<%d.%d.%08x@gen.mailshift.test>", g.seed, i, g.r.Uint32())
	}
	m.Body = g.body(i, folder, sent, id)
	return m
}

// messageID returns the Message-ID header value of a generated message.
func messageID(b []byte) string {
	for _, line := range bytes.Split(b, []byte("\r\n")) {
		if len(line) == 0 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Message-ID: ")); ok {
			return string(v)
		}
	}
	return ""
}

var zones = []*time.Location{
	time.UTC, time.UTC, time.UTC,
	time.FixedZone("", 3600), time.FixedZone("", 7200),
	time.FixedZone("", -5*3600), time.FixedZone("", -8*3600),
	time.FixedZone("", 5*3600+1800),
}

// randomDate is a second-precision time in the eight years before epoch.
func (g *gen) randomDate() time.Time {
	secs := g.r.Int64N(8 * 365 * 24 * 3600)
	return epoch.Add(-time.Duration(secs) * time.Second).In(pick(g, zones))
}

// flags draws flags and keywords, shaped by the folder.
func (g *gen) flags(folder string) []string {
	var f []string
	add := func(p float64, flag string) {
		if g.chance(p) {
			f = append(f, flag)
		}
	}
	switch folder {
	case "Sent":
		f = append(f, `\Seen`)
	case "Drafts":
		f = append(f, `\Draft`)
		add(0.3, `\Seen`)
	case "Trash":
		f = append(f, `\Seen`)
		add(0.3, `\Deleted`)
	default:
		add(0.7, `\Seen`)
		add(0.02, `\Draft`)
		add(0.03, `\Deleted`)
	}
	add(0.15, `\Answered`)
	add(0.1, `\Flagged`)
	add(0.05, `$Forwarded`)
	add(0.03, `$Label1`)
	add(0.05, `Work`)
	return f
}

var (
	firstNames = []string{"Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hugo", "Ines", "Jonas", "Karin", "Lukas"}
	lastNames  = []string{"Meyer", "Schmidt", "Fischer", "Weber", "Wagner", "Becker", "Hoffmann", "Koch", "Richter", "Klein"}
	domains    = []string{"example.org", "example.com", "example.net", "firma.example", "uni.example"}
	// 8-bit display names and subjects (UTF-8 unless noted).
	utf8Names    = []string{"Jürgen Müller", "Zoë Brontë", "Łukasz Żółć", "Søren Ærø", "José Peña", "Ἀθηνᾶ", "山田太郎"}
	utf8Subjects = []string{
		"Grüße aus München", "Überblick Q3 – Zahlen", "Réunion à 15h", "Ñandú y pingüino",
		"Привет, как дела?", "会議の議事録", "Smörgåsbord 🍞 heute", "Straße & Maß",
	}
	words = strings.Fields(`the project meeting report budget plan review draft
		invoice customer server migration mailbox folder message attached please
		find below thanks regards schedule tomorrow next week update status team
		offer contract data backup network account password change request
		approval deadline question answer summary notes agenda call`)
	utf8Words   = strings.Fields("Grüße Überblick Änderung Straße naïve café façade Ελλάδα Москва 東京")
	xMailers    = []string{"Mozilla Thunderbird 115.3", "Microsoft Outlook 16.0", "Apple Mail (2.3654)", "Roundcube Webmail/1.6", "mutt/2.2.12"}
	attachTypes = []struct{ ctype, name string }{
		{"application/pdf", "report.pdf"}, {"image/png", "diagram.png"},
		{"application/zip", "archive.zip"}, {"application/octet-stream", "data.bin"},
		{"image/jpeg", "Foto Überblick.jpg"},
	}
)

func (g *gen) address() (name, addr string) {
	first, last := pick(g, firstNames), pick(g, lastNames)
	return first + " " + last, strings.ToLower(first+"."+last) + "@" + pick(g, domains)
}

// targetSize draws a size from a log-normal distribution with mean avgSize.
func (g *gen) targetSize() int {
	const sigma = 0.9
	mu := math.Log(float64(g.avgSize)) - sigma*sigma/2
	s := int(math.Exp(mu + sigma*g.r.NormFloat64()))
	return min(max(s, 300), 20*g.avgSize)
}

// body writes the whole message.
func (g *gen) body(i int, folder string, date time.Time, id string) []byte {
	var b bytes.Buffer
	h := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }

	size := g.targetSize()
	fromName, fromAddr := g.address()
	toName, toAddr := g.address()
	if folder == "Sent" || folder == "Drafts" {
		fromName, fromAddr = "Alice Example", "alice@example.org"
	}

	if g.chance(0.5) {
		h("Received", fmt.Sprintf("from mx%d.%s by mail.example.org with ESMTPS id %08X;\r\n\t%s",
			g.r.IntN(9), pick(g, domains), g.r.Uint32(), date.Format(time.RFC1123Z)))
	}
	switch {
	case g.chance(0.06): // raw UTF-8 in a header, no RFC 2047
		h("From", fmt.Sprintf("%s <%s>", pick(g, utf8Names), fromAddr))
	case g.chance(0.1):
		h("From", fmt.Sprintf("%s <%s>", mime.QEncoding.Encode("utf-8", pick(g, utf8Names)), fromAddr))
	default:
		h("From", fmt.Sprintf("%s <%s>", fromName, fromAddr))
	}
	h("To", fmt.Sprintf("%s <%s>", toName, toAddr))
	if g.chance(0.2) {
		n1, a1 := g.address()
		n2, a2 := g.address()
		h("Cc", fmt.Sprintf("%s <%s>,\r\n %s <%s>", n1, a1, n2, a2)) // folded
	}

	subject := g.sentence(3 + g.r.IntN(6))
	switch r := g.r.Float64(); {
	case r < 0.12:
		h("Subject", mime.QEncoding.Encode("utf-8", pick(g, utf8Subjects)))
	case r < 0.2:
		h("Subject", mime.BEncoding.Encode("utf-8", pick(g, utf8Subjects)+" "+subject))
	case r < 0.25: // raw 8-bit UTF-8
		h("Subject", pick(g, utf8Subjects))
	case r < 0.27: // raw ISO-8859-1 bytes: not even UTF-8
		h("Subject", "Gr\xfc\xdfe und \xc4nderungen "+subject)
	case r < 0.35:
		h("Subject", "Re: "+subject)
	default:
		h("Subject", subject)
	}
	h("Date", date.Format(time.RFC1123Z))
	if id != "" {
		h("Message-ID", id)
	}
	if g.chance(0.15) {
		ref := fmt.Sprintf("<%08x@%s>", g.r.Uint32(), pick(g, domains))
		h("In-Reply-To", ref)
		h("References", fmt.Sprintf("<%08x@%s>\r\n %s", g.r.Uint32(), pick(g, domains), ref))
	}
	if g.chance(0.6) {
		h("X-Mailer", pick(g, xMailers))
	}
	h("MIME-Version", "1.0")

	utf8Body := g.chance(0.2)
	charset, cte := "us-ascii", "7bit"
	if utf8Body {
		charset, cte = "utf-8", "8bit"
	}
	textHeader := func() {
		h("Content-Type", "text/plain; charset="+charset+"; format=flowed")
		h("Content-Transfer-Encoding", cte)
	}

	if size > 2500 && g.chance(0.3) {
		boundary := fmt.Sprintf("----=_Part_%d_%08x", i, g.r.Uint32())
		h("Content-Type", `multipart/mixed; boundary="`+boundary+`"`)
		b.WriteString("\r\nThis is a multi-part message in MIME format.\r\n")
		b.WriteString("--" + boundary + "\r\n")
		textHeader()
		b.WriteString("\r\n")
		textLen := 200 + g.r.IntN(800)
		g.text(&b, textLen, utf8Body)
		at := pick(g, attachTypes)
		name := at.name
		if strings.ContainsFunc(name, func(r rune) bool { return r > 127 }) {
			name = mime.QEncoding.Encode("utf-8", name)
		}
		b.WriteString("--" + boundary + "\r\n")
		h("Content-Type", fmt.Sprintf(`%s; name="%s"`, at.ctype, name))
		h("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, name))
		h("Content-Transfer-Encoding", "base64")
		b.WriteString("\r\n")
		raw := make([]byte, max((size-b.Len()-len(boundary)-10)*3/4, 16))
		for j := range raw {
			raw[j] = byte(g.r.Uint32())
		}
		enc := base64.StdEncoding.EncodeToString(raw)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
		b.WriteString("--" + boundary + "--\r\n")
		return b.Bytes()
	}

	textHeader()
	b.WriteString("\r\n")
	g.text(&b, max(size-b.Len(), 20), utf8Body)
	return b.Bytes()
}

func (g *gen) sentence(n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = pick(g, words)
	}
	s := strings.Join(w, " ")
	return strings.ToUpper(s[:1]) + s[1:]
}

// text appends about n bytes of text in CRLF lines of at most 76 bytes.
func (g *gen) text(b *bytes.Buffer, n int, utf8Words8 bool) {
	end := b.Len() + n
	line := 0
	for b.Len() < end {
		w := pick(g, words)
		if utf8Words8 && g.chance(0.15) {
			w = pick(g, utf8Words)
		}
		if line > 0 && line+1+len(w) > 76 {
			b.WriteString("\r\n")
			line = 0
			if g.chance(0.1) {
				b.WriteString("\r\n") // paragraph
			}
		}
		if line > 0 {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += len(w)
	}
	b.WriteString("\r\n")
}
