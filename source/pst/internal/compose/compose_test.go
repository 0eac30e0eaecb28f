package compose

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// entity is a parsed MIME entity: its header, media type, decoded body
// (leaves), parts (multiparts) or embedded message (message/rfc822).
type entity struct {
	header    textproto.MIMEHeader
	mediaType string
	params    map[string]string
	body      []byte
	parts     []*entity
	message   *entity
}

// parseMessage parses a built message with the standard library.
func parseMessage(t *testing.T, raw []byte) *entity {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("net/mail: %v", err)
	}
	if v := m.Header.Get("MIME-Version"); v != "1.0" {
		t.Errorf("MIME-Version %q", v)
	}
	return parseEntity(t, textproto.MIMEHeader(m.Header), m.Body)
}

func parseEntity(t *testing.T, h textproto.MIMEHeader, body io.Reader) *entity {
	t.Helper()
	e := &entity{header: h}
	ct := h.Get("Content-Type")
	if ct == "" {
		t.Fatalf("no Content-Type in %v", h)
	}
	var err error
	e.mediaType, e.params, err = mime.ParseMediaType(ct)
	if err != nil {
		t.Fatalf("Content-Type %q: %v", ct, err)
	}
	cte := strings.ToLower(h.Get("Content-Transfer-Encoding"))
	switch {
	case strings.HasPrefix(e.mediaType, "multipart/"):
		if cte != "" {
			t.Errorf("%s with Content-Transfer-Encoding %q", e.mediaType, cte)
		}
		mr := multipart.NewReader(body, e.params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("multipart: %v", err)
			}
			e.parts = append(e.parts, parseEntity(t, p.Header, p))
		}
		if len(e.parts) == 0 {
			t.Errorf("%s without parts", e.mediaType)
		}
	case e.mediaType == "message/rfc822":
		if cte != "7bit" && cte != "8bit" {
			t.Errorf("message/rfc822 with Content-Transfer-Encoding %q", cte)
		}
		raw, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		e.body = raw
		e.message = parseMessage(t, raw)
	default:
		var r io.Reader
		switch cte {
		case "quoted-printable":
			r = quotedprintable.NewReader(body)
		case "base64":
			r = base64.NewDecoder(base64.StdEncoding, body)
		default:
			t.Fatalf("%s with Content-Transfer-Encoding %q", e.mediaType, cte)
		}
		e.body, err = io.ReadAll(r)
		if err != nil {
			t.Fatalf("%s body: %v", e.mediaType, err)
		}
	}
	return e
}

// shape describes an entity tree as text, e.g. "mixed(alternative(plain,html),image/png)".
func (e *entity) shape() string {
	switch {
	case e.parts != nil:
		var s []string
		for _, p := range e.parts {
			s = append(s, p.shape())
		}
		return strings.TrimPrefix(e.mediaType, "multipart/") + "(" + strings.Join(s, ",") + ")"
	case e.message != nil:
		return "rfc822[" + e.message.shape() + "]"
	case e.mediaType == "text/plain" || e.mediaType == "text/html":
		return strings.TrimPrefix(e.mediaType, "text/")
	}
	return e.mediaType
}

// filename returns the decoded Content-Disposition filename.
func (e *entity) filename(t *testing.T) (disposition, name string) {
	t.Helper()
	d, p, err := mime.ParseMediaType(e.header.Get("Content-Disposition"))
	if err != nil {
		t.Fatalf("Content-Disposition %q: %v", e.header.Get("Content-Disposition"), err)
	}
	return d, p["filename"]
}

// checkLines checks that every line ends with CRLF and is at most 998
// bytes, and that header lines stay within 78 bytes unless kept.
func checkLines(t *testing.T, raw []byte) {
	t.Helper()
	if !bytes.HasSuffix(raw, []byte("\r\n")) {
		t.Errorf("message does not end with CRLF")
	}
	for i, line := range bytes.SplitAfter(raw, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if !bytes.HasSuffix(line, []byte("\r\n")) {
			t.Fatalf("line %d does not end with CRLF: %.80q", i+1, line)
		}
		if bytes.IndexByte(line[:len(line)-2], '\r') >= 0 {
			t.Fatalf("line %d has a bare CR: %.80q", i+1, line)
		}
		if len(line)-2 > 998 {
			t.Fatalf("line %d is %d bytes: %.80q", i+1, len(line)-2, line)
		}
	}
}

func build(t *testing.T, m *Message) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Build(&b, m); err != nil {
		t.Fatalf("Build: %v", err)
	}
	checkLines(t, b.Bytes())
	var again bytes.Buffer
	if err := Build(&again, m); err != nil {
		t.Fatalf("second Build: %v", err)
	}
	if !bytes.Equal(b.Bytes(), again.Bytes()) {
		t.Fatalf("two builds differ")
	}
	return b.Bytes()
}

func bytesAttachment(data []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
}

var date = time.Date(2024, 3, 5, 14, 7, 9, 0, time.FixedZone("CET", 3600))

func decodeHeader(t *testing.T, s string) string {
	t.Helper()
	d, err := new(mime.WordDecoder).DecodeHeader(s)
	if err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return d
}

func TestHeaderFromFields(t *testing.T) {
	m := &Message{
		From:       Address{"Jörg Müller", "joerg@example.de"},
		Sender:     &Address{"Assistant", "assistant@example.de"},
		To:         []Address{{"Ann, Smith", "ann@example.com"}, {"", "bob@example.com"}, {"Zoë \"Z\" Ödön", "zoe@example.com"}, {`John Q. "Quote" Public`, "jqp@example.com"}},
		Cc:         []Address{{"Exchange User", "/O=EXAMPLE/OU=EXCHANGE ADMINISTRATIVE GROUP/CN=RECIPIENTS/CN=USER"}},
		Bcc:        []Address{{"Hidden", "hidden@example.com"}},
		Subject:    "Grüße aus Köln — a rather long subject line that will certainly need to be folded over lines",
		Date:       date,
		MessageID:  "<abc@example.de>",
		InReplyTo:  "<prev@example.com>",
		References: "<a@example.com> <b@example.com>",
		Text:       "Hallo\n",
	}
	raw := build(t, m)
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Jörg Müller" || from[0].Address != "joerg@example.de" {
		t.Errorf("From %v, %v", from, err)
	}
	sender, err := h.AddressList("Sender")
	if err != nil || len(sender) != 1 || sender[0].Address != "assistant@example.de" {
		t.Errorf("Sender %v, %v", sender, err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 4 || to[0].Name != "Ann, Smith" || to[1].Address != "bob@example.com" || to[2].Name != `Zoë "Z" Ödön` || to[3].Name != `John Q. "Quote" Public` {
		t.Errorf("To %v, %v", to, err)
	}
	if cc := h.Get("Cc"); cc != "Exchange User:;" {
		t.Errorf("Cc %q, want an empty group", cc)
	}
	if _, err := h.AddressList("Cc"); err != nil {
		t.Errorf("Cc: %v", err)
	}
	if bcc, err := h.AddressList("Bcc"); err != nil || len(bcc) != 1 || bcc[0].Address != "hidden@example.com" {
		t.Errorf("Bcc %v, %v", bcc, err)
	}
	if got := decodeHeader(t, h.Get("Subject")); strings.TrimSpace(got) != strings.TrimSpace(m.Subject) { // the parser trims
		t.Errorf("Subject %q", got)
	}
	if d, err := h.Date(); err != nil || !d.Equal(date) {
		t.Errorf("Date %v, %v", d, err)
	}
	if h.Get("Date") != "Tue, 05 Mar 2024 14:07:09 +0100" {
		t.Errorf("Date %q", h.Get("Date"))
	}
	for k, v := range map[string]string{"Message-Id": m.MessageID, "In-Reply-To": m.InReplyTo, "References": m.References} {
		if h.Get(k) != v {
			t.Errorf("%s %q, want %q", k, h.Get(k), v)
		}
	}
	// Generated header lines are folded to 78 bytes.
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for _, l := range strings.Split(string(head), "\r\n") {
		if len(l) > 78 {
			t.Errorf("header line of %d bytes: %q", len(l), l)
		}
	}
	// Sender equal to From is not written; a zero Date is not written.
	m.Sender = &Address{"Jörg Müller", "JOERG@example.de"}
	m.Date = time.Time{}
	raw = build(t, m)
	msg, _ = mail.ReadMessage(bytes.NewReader(raw))
	if msg.Header.Get("Sender") != "" || msg.Header.Get("Date") != "" {
		t.Errorf("Sender %q, Date %q", msg.Header.Get("Sender"), msg.Header.Get("Date"))
	}
	// Empty addresses write no field; a bare message ID gets its brackets.
	raw = build(t, &Message{From: Address{}, To: []Address{{}}, MessageID: "bare@example.com", Text: "x"})
	msg, _ = mail.ReadMessage(bytes.NewReader(raw))
	if _, ok := msg.Header["From"]; ok {
		t.Errorf("From %q written", msg.Header.Get("From"))
	}
	if _, ok := msg.Header["To"]; ok {
		t.Errorf("To %q written", msg.Header.Get("To"))
	}
	if id := msg.Header.Get("Message-Id"); id != "<bare@example.com>" {
		t.Errorf("Message-ID %q", id)
	}
}

func TestBodies(t *testing.T) {
	text := "Line one\nline two\r\nline three\rline four with trailing space \n\n" +
		strings.Repeat("long ", 60) + "\n=_mailshift_ and --=_x and é ü 日本\x00end"
	html := "<html><body><p>Héllo</p>\n" + strings.Repeat("<b>x</b>", 200) + "</body></html>"
	for _, c := range []struct {
		name, text, html, shape string
	}{
		{"text", text, "", "plain"},
		{"html", "", html, "html"},
		{"both", text, html, "alternative(plain,html)"},
		{"none", "", "", "plain"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := parseMessage(t, build(t, &Message{Subject: "s", Text: c.text, HTML: c.html}))
			if e.shape() != c.shape {
				t.Fatalf("shape %s, want %s", e.shape(), c.shape)
			}
			leaves := []*entity{e}
			if e.parts != nil {
				leaves = e.parts
			}
			for _, l := range leaves {
				if l.params["charset"] != "utf-8" || l.header.Get("Content-Transfer-Encoding") != "quoted-printable" {
					t.Errorf("%s: %v %q", l.mediaType, l.params, l.header.Get("Content-Transfer-Encoding"))
				}
				want := crlf(c.text)
				if l.mediaType == "text/html" {
					want = crlf(c.html)
				}
				if string(l.body) != want {
					t.Errorf("%s body:\n got %q\nwant %q", l.mediaType, l.body, want)
				}
			}
		})
	}
}

func TestAttachments(t *testing.T) {
	png := bytes.Repeat([]byte{0x89, 'P', 'N', 'G', 0, 1, 2, 0xff}, 1000)
	pdf := []byte("%PDF-1.4 fake")
	longName := strings.Repeat("Очень длинное имя файла ", 12) + ".zzq"
	m := &Message{
		Subject: "attachments",
		Text:    "see the picture",
		HTML:    `<p>see <img src="cid:image001.png@01DA0000.12345678"></p>`,
		Attachments: []Attachment{
			{Name: "image001.png", MIMEType: "image/png", ContentID: "image001.png@01DA0000.12345678", Inline: true, Size: int64(len(png)), Open: bytesAttachment(png)},
			{Name: "Bericht über Größe.pdf", Open: bytesAttachment(pdf)},
			{Name: longName, MIMEType: "garbage", Open: bytesAttachment([]byte("docx"))},
			{Name: `we"ird\name;.txt`, MIMEType: "TEXT/Plain", Open: bytesAttachment([]byte("plain\n"))},
			{Name: "unreferenced.gif", MIMEType: "image/gif", ContentID: "<nothere@x>", Inline: true, Open: bytesAttachment([]byte("GIF89a"))},
			{Name: "forwarded.eml", MIMEType: "message/rfc822", Open: bytesAttachment([]byte("Subject: x\r\n\r\nraw"))},
			{Name: "", Open: nil},
		},
	}
	e := parseMessage(t, build(t, m))
	want := "mixed(alternative(plain,related(html,image/png)),application/pdf,application/octet-stream,plain,image/gif,application/octet-stream,application/octet-stream)"
	if e.shape() != want {
		t.Fatalf("shape\n got %s\nwant %s", e.shape(), want)
	}
	img := e.parts[0].parts[1].parts[1]
	if !bytes.Equal(img.body, png) || img.header.Get("Content-Id") != "<image001.png@01DA0000.12345678>" {
		t.Errorf("inline image: %d bytes, Content-ID %q", len(img.body), img.header.Get("Content-Id"))
	}
	if d, n := img.filename(t); d != "inline" || n != "image001.png" {
		t.Errorf("inline image disposition %q %q", d, n)
	}
	for i, w := range []struct {
		disp, name string
		data       []byte
	}{
		{"attachment", "Bericht über Größe.pdf", pdf},
		{"attachment", longName, []byte("docx")},
		{"attachment", `we"ird\name;.txt`, []byte("plain\n")},
		{"inline", "unreferenced.gif", []byte("GIF89a")},
		{"attachment", "forwarded.eml", []byte("Subject: x\r\n\r\nraw")},
		{"attachment", "", nil},
	} {
		p := e.parts[i+1]
		d, n := p.filename(t)
		if d != w.disp || n != w.name {
			t.Errorf("attachment %d: disposition %q filename %q, want %q %q", i, d, n, w.disp, w.name)
		}
		if w.name != "" && p.params["name"] != w.name {
			t.Errorf("attachment %d: Content-Type name %q", i, p.params["name"])
		}
		if !bytes.Equal(p.body, w.data) {
			t.Errorf("attachment %d: body %q", i, p.body)
		}
	}
	if cid := e.parts[4].header.Get("Content-Id"); cid != "<nothere@x>" {
		t.Errorf("Content-ID %q", cid)
	}
}

func TestEmbedded(t *testing.T) {
	inner := &Message{
		From:    Address{"Inner", "inner@example.com"},
		To:      []Address{{"", "x@example.com"}},
		Subject: "the innermost",
		Date:    date,
		Text:    "deepest",
		Attachments: []Attachment{
			{Name: "data.bin", Open: bytesAttachment([]byte{0, 1, 2, 3})},
		},
	}
	middle := &Message{
		TransportHeaders: "Received: from a by b; Tue, 5 Mar 2024 10:00:00 +0000\r\nFrom: Middle <middle@example.com>\r\nSubject: Übermittelt\r\nContent-Type: text/plain\r\n",
		Subject:          "ignored",
		HTML:             "<p>middle</p>",
		Attachments:      []Attachment{{Embedded: inner}},
	}
	outer := &Message{
		Subject: "outer",
		Text:    "outer text",
		Attachments: []Attachment{
			{Name: "Forwarded message", Embedded: middle},
		},
	}
	e := parseMessage(t, build(t, outer))
	if got, want := e.shape(), "mixed(plain,rfc822[mixed(html,rfc822[mixed(plain,application/octet-stream)])])"; got != want {
		t.Fatalf("shape\n got %s\nwant %s", got, want)
	}
	mid := e.parts[1]
	if cte := mid.header.Get("Content-Transfer-Encoding"); cte != "8bit" {
		t.Errorf("8-bit embedded header: Content-Transfer-Encoding %q", cte)
	}
	if _, n := mid.filename(t); n != "Forwarded message.eml" {
		t.Errorf("embedded filename %q", n)
	}
	if s := mid.message.header.Get("Subject"); s != "Übermittelt" {
		t.Errorf("embedded Subject %q", s)
	}
	in := mid.message.parts[1]
	if cte := in.header.Get("Content-Transfer-Encoding"); cte != "7bit" {
		t.Errorf("ASCII embedded message: Content-Transfer-Encoding %q", cte)
	}
	if _, n := in.filename(t); n != "the innermost.eml" {
		t.Errorf("inner filename %q", n)
	}
	if s := in.message.header.Get("Subject"); s != "the innermost" {
		t.Errorf("inner Subject %q", s)
	}
	if string(in.message.parts[0].body) != "deepest" || !bytes.Equal(in.message.parts[1].body, []byte{0, 1, 2, 3}) {
		t.Errorf("inner bodies %q %q", in.message.parts[0].body, in.message.parts[1].body)
	}
	// The embedded message is the same bytes as the message built alone.
	var alone bytes.Buffer
	if err := Build(&alone, inner); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(in.body, alone.Bytes()) {
		t.Errorf("embedded message differs from the message built alone")
	}
	// Messages embedded in themselves too deep are refused.
	loop := &Message{Subject: "loop"}
	loop.Attachments = []Attachment{{Embedded: loop}}
	if err := Build(io.Discard, loop); err == nil {
		t.Error("a message embedded in itself: no error")
	}
}

func TestTransportHeaders(t *testing.T) {
	th := "Microsoft Mail Internet Headers Version 2.0\n" +
		"Received: from mail.example.com (mail.example.com [192.0.2.1])\n" +
		"\tby mx.example.org with ESMTPS id abc123\n" +
		"\tfor <user@example.org>; Tue, 5 Mar 2024 10:00:00 +0000\n" +
		"MIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed;\n" +
		"\tboundary=\"----=_NextPart_000_0001\"\n" +
		"From: \"Sender, Some\" <sender@example.com>\n" +
		"To: user@example.org\n" +
		"Subject: =?iso-8859-1?q?Gr=FC=DFe?=\n" +
		"Date: Tue, 5 Mar 2024 11:00:00 +0100\n" +
		"Message-ID: <orig@example.com>\n" +
		"Content-Transfer-Encoding: 7bit\n" +
		"content-disposition: inline\n" +
		"Content-Language: de-DE\n" +
		"X-Long: " + strings.Repeat("word ", 300) + "\n" +
		"X-MS-Has-Attach: yes\n" +
		"\n" +
		"This is not a header\n"
	m := &Message{
		TransportHeaders: th,
		Subject:          "from the PST",
		From:             Address{"PST", "pst@example.com"},
		Text:             "body",
		HTML:             "<p>body</p>",
	}
	raw := build(t, m)
	head, _, _ := strings.Cut(string(raw), "\r\n\r\n")
	wantKept := "Received: from mail.example.com (mail.example.com [192.0.2.1])\r\n" +
		"\tby mx.example.org with ESMTPS id abc123\r\n" +
		"\tfor <user@example.org>; Tue, 5 Mar 2024 10:00:00 +0000\r\n" +
		"From: \"Sender, Some\" <sender@example.com>\r\n" +
		"To: user@example.org\r\n" +
		"Subject: =?iso-8859-1?q?Gr=FC=DFe?=\r\n" +
		"Date: Tue, 5 Mar 2024 11:00:00 +0100\r\n" +
		"Message-ID: <orig@example.com>\r\n" +
		"Content-Language: de-DE\r\n"
	if !strings.HasPrefix(head, wantKept) {
		t.Errorf("kept header:\n%s", head)
	}
	for _, gone := range []string{"Microsoft Mail", "NextPart", "7bit", "content-disposition", "from the PST", "pst@example.com", "This is not"} {
		if strings.Contains(head, gone) {
			t.Errorf("header still has %q", gone)
		}
	}
	if n := strings.Count(head, "MIME-Version"); n != 1 {
		t.Errorf("%d MIME-Version fields", n)
	}
	if !strings.Contains(head, "X-MS-Has-Attach: yes\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative;") {
		t.Errorf("new MIME fields not after the kept ones:\n%s", head)
	}
	e := parseMessage(t, raw)
	if e.shape() != "alternative(plain,html)" {
		t.Errorf("shape %s", e.shape())
	}
	if got := decodeHeader(t, e.header.Get("Subject")); got != "Grüße" {
		t.Errorf("Subject %q", got)
	}
	if x := e.header.Get("X-Long"); strings.Count(x, "word") != 300 {
		t.Errorf("X-Long lost words: %d", strings.Count(x, "word"))
	}

	// Missing essentials are added from the fields; a header of no
	// fields at all is replaced by a made one.
	m.TransportHeaders = "Received: from a by b; Tue, 5 Mar 2024 10:00:00 +0000\r\n"
	m.Date = date
	m.MessageID = "<pst@example.com>"
	h := parseMessage(t, build(t, m)).header
	if h.Get("Subject") != "from the PST" || h.Get("From") != `PST <pst@example.com>` || h.Get("Date") == "" || h.Get("Message-Id") != "<pst@example.com>" || h.Get("Received") == "" {
		t.Errorf("added fields: %v", h)
	}
	m.TransportHeaders = "Microsoft Mail Internet Headers Version 2.0\r\n\r\n"
	h = parseMessage(t, build(t, m)).header
	if h.Get("Subject") != "from the PST" || h.Get("Received") != "" {
		t.Errorf("made header: %v", h)
	}
}

func TestDeterministicBoundaries(t *testing.T) {
	m := &Message{Subject: "a", Text: "t", HTML: "<p>h</p>", Attachments: []Attachment{{Name: "a.txt", Open: bytesAttachment([]byte("x"))}}}
	a := build(t, m)
	m.Text = "t2"
	b := build(t, m)
	ba, bb := parseMessage(t, a).params["boundary"], parseMessage(t, b).params["boundary"]
	if ba == bb {
		t.Errorf("different messages share boundary %q", ba)
	}
	e := parseMessage(t, a)
	if inner := e.parts[0].params["boundary"]; inner == ba || strings.HasPrefix(inner, ba) || strings.HasPrefix(ba, inner) {
		t.Errorf("nested boundaries %q and %q", ba, inner)
	}
	// Content that spells out the boundary cannot end a part early.
	m.Text = "--" + bb + "\n--" + bb + "--\n"
	e = parseMessage(t, build(t, m))
	if string(e.parts[0].parts[0].body) != crlf(m.Text) {
		t.Errorf("body %q", e.parts[0].parts[0].body)
	}
}

func TestLongHeaders(t *testing.T) {
	var to []Address
	for i := range 200 {
		to = append(to, Address{fmt.Sprintf("Recipient Nummer %d Ä", i), fmt.Sprintf("r%d@example.com", i)})
	}
	m := &Message{
		From:       Address{strings.Repeat("Very Long Display Name ", 30), "long@example.com"},
		To:         to,
		Subject:    strings.Repeat("x", 1500) + " " + strings.Repeat("ü", 700),
		References: strings.Repeat("<ref@example.com> ", 100),
		Text:       strings.Repeat("y", 5000),
		Attachments: []Attachment{
			{Name: strings.Repeat("Ж", 400) + ".txt", Open: bytesAttachment([]byte("z"))},
			{Name: strings.Repeat("a", 400) + ".txt", Open: bytesAttachment([]byte("z"))},
		},
	}
	raw := build(t, m)
	e := parseMessage(t, raw)
	if got := decodeHeader(t, e.header.Get("Subject")); got != m.Subject {
		t.Errorf("Subject does not round-trip (%d bytes)", len(got))
	}
	if l, err := mail.Header(e.header).AddressList("To"); err != nil || len(l) != 200 || l[199].Name != "Recipient Nummer 199 Ä" {
		t.Errorf("To: %d addresses, %v", len(l), err)
	}
	for i, a := range m.Attachments {
		if _, n := e.parts[i+1].filename(t); n != a.Name {
			t.Errorf("long filename %d does not round-trip: %q", i, n)
		}
	}
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for _, l := range strings.Split(string(head), "\r\n") {
		if len(l) > 78 {
			t.Errorf("header line of %d bytes: %.60q", len(l), l)
		}
	}
}

func TestAttachmentErrors(t *testing.T) {
	errOpen := errors.New("block missing")
	m := &Message{Text: "x", Attachments: []Attachment{{Name: "a.bin", Open: func() (io.ReadCloser, error) { return nil, errOpen }}}}
	if err := Build(io.Discard, m); !errors.Is(err, errOpen) || !strings.Contains(err.Error(), "a.bin") {
		t.Errorf("open error: %v", err)
	}
	errRead := errors.New("bad block")
	m.Attachments[0].Open = func() (io.ReadCloser, error) {
		return io.NopCloser(io.MultiReader(strings.NewReader("abc"), &failReader{errRead})), nil
	}
	if err := Build(io.Discard, m); !errors.Is(err, errRead) {
		t.Errorf("read error: %v", err)
	}
	errWrite := errors.New("disk full")
	m.Attachments[0].Open = bytesAttachment(make([]byte, 1<<20))
	if err := Build(&failWriter{after: 100, err: errWrite}, m); !errors.Is(err, errWrite) {
		t.Errorf("write error: %v", err)
	}
	if err := Build(io.Discard, nil); err == nil {
		t.Error("nil message: no error")
	}
}

type failReader struct{ err error }

func (f *failReader) Read([]byte) (int, error) { return 0, f.err }

type failWriter struct {
	after int
	err   error
}

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after -= len(p); f.after < 0 {
		return 0, f.err
	}
	return len(p), nil
}

func TestCRLF(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "a": "a", "a\nb": "a\r\nb", "a\rb": "a\r\nb", "a\r\nb": "a\r\nb",
		"\n\n": "\r\n\r\n", "\r\r\n": "\r\n\r\n", "\r": "\r\n",
	} {
		if got := crlf(in); got != want {
			t.Errorf("crlf(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRandomMessages builds messages of random text in many scripts and
// checks that each parses back with what went in.
func TestRandomMessages(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	alphabet := []rune("abc XYZ 012 .,;:<>\"'()[]@\\=?_-\t/éüßЖЯ日本語😀\u00a0\u200b")
	str := func(n int) string {
		r := make([]rune, rng.IntN(n+1))
		for i := range r {
			r[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(r)
	}
	for i := range 200 {
		m := &Message{
			From:    Address{str(30), "from@example.com"},
			To:      []Address{{str(40), "to@example.com"}, {str(5), "x@example.org"}},
			Subject: str(200),
			Date:    date.Add(time.Duration(i) * time.Hour),
			Text:    str(300) + "\n" + str(100),
			HTML:    "<p>" + str(300) + "</p>",
			Attachments: []Attachment{
				{Name: str(120), Open: bytesAttachment([]byte(str(50)))},
			},
		}
		e := parseMessage(t, build(t, m))
		h := mail.Header(e.header)
		if got := decodeHeader(t, h.Get("Subject")); strings.TrimSpace(got) != strings.TrimSpace(m.Subject) { // the parser trims
			t.Fatalf("message %d: Subject %q, want %q", i, got, m.Subject)
		}
		to, err := h.AddressList("To")
		if err != nil || len(to) != 2 || strings.TrimSpace(to[0].Name) != strings.TrimSpace(m.To[0].Name) {
			t.Fatalf("message %d: To %q: %v, %v", i, h.Get("To"), to, err)
		}
		if !strings.HasPrefix(e.shape(), "mixed(alternative(plain,html),") { // the type follows the random extension
			t.Fatalf("message %d: shape %s", i, e.shape())
		}
		if string(e.parts[0].parts[0].body) != crlf(m.Text) {
			t.Fatalf("message %d: text differs", i)
		}
		if _, n := e.parts[1].filename(t); n != m.Attachments[0].Name {
			t.Fatalf("message %d: filename %q, want %q", i, n, m.Attachments[0].Name)
		}
	}
}
