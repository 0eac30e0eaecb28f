// Package identity computes what of a message survives a server that
// re-renders it. Exchange and Microsoft 365 serve an appended message as
// MIME they generate again from the item's properties: header fields come
// back reordered and refolded, transfer encodings change, boundaries are
// new, and the size is an estimate (see internal/testrig/exchangelike for
// the sources). Bytes and sizes cannot tell such a copy from its original;
// an Identity can: the Message-ID, the date, the From and To addresses, the
// subject, the attachments' names and decoded sizes, and a hash of the
// decoded text parts with whitespace normalised.
//
// Text is compared after its transfer encoding is undone, in the charset
// it declares (no charset is converted, so that an unknown charset is no
// obstacle). A message whose MIME structure cannot be taken apart is
// identified by its header fields and the normalised text of its whole
// body; one whose header cannot be read, by its whole text.
package identity

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-message"
)

// Identity is what of a message survives re-rendering.
type Identity struct {
	MessageID   string
	Date        string // RFC 3339 in UTC when the Date field parses, else the field normalised
	From        []string
	To          []string
	Subject     string
	Attachments []Attachment
	// Text is the SHA-256 (hex) of the decoded text parts, each with its
	// runs of white space made one space.
	Text string
	// Whole tells that the MIME structure could not be taken apart: Text
	// is then the hash of the whole body, normalised.
	Whole bool
}

// Attachment is a part that is not text to read: its file name (decoded)
// and its size once its transfer encoding is undone (for a text or
// message part, with runs of white space counted as one space: a renderer
// may change line ends and trailing blanks).
type Attachment struct {
	Name string
	Size int64
}

// Of reads a message and returns its identity. It fails only when r
// fails; a message whose header cannot be read at all is identified by its
// whole text, normalised.
func Of(r io.Reader) (Identity, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return Identity{}, err
	}
	h := sha256.New()
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && (e == nil || !tolerable(err)) {
		// No header to read: the whole message, normalised, is all there is.
		writeText(h, raw)
		return Identity{Whole: true, Text: hex.EncodeToString(h.Sum(nil))}, nil
	}
	id := headerIdentity(e.Header)
	if err := walk(e, h, &id); err != nil {
		id.Attachments, id.Whole = nil, true
		h.Reset()
		writeText(h, wholeBody(raw))
	}
	id.Text = hex.EncodeToString(h.Sum(nil))
	return id, nil
}

// tolerable: an unknown charset or transfer encoding leaves the part
// readable as it is.
func tolerable(err error) bool {
	return message.IsUnknownCharset(err) || message.IsUnknownEncoding(err)
}

// Key is a short string equal for two messages exactly when their
// identities are equal.
func (id Identity) Key() string {
	h := sha256.New()
	for _, s := range id.fields() {
		io.WriteString(h, s)
		h.Write([]byte{0})
	}
	return "id1:" + hex.EncodeToString(h.Sum(nil))
}

func (id Identity) fields() []string {
	att := make([]string, len(id.Attachments))
	for i, a := range id.Attachments {
		att[i] = fmt.Sprintf("%s/%d", a.Name, a.Size)
	}
	return []string{id.MessageID, id.Date, strings.Join(id.From, ","), strings.Join(id.To, ","), id.Subject,
		strings.Join(att, "|"), id.Text, fmt.Sprint(id.Whole)}
}

// Diff names what differs between two identities ("" when nothing does),
// for a person: "subject", "attachments", "text", ...
func Diff(a, b Identity) string {
	names := []string{"Message-ID", "date", "from", "to", "subject", "attachments", "text", "structure"}
	fa, fb := a.fields(), b.fields()
	var out []string
	for i := range fa {
		if fa[i] != fb[i] {
			out = append(out, names[i])
		}
	}
	return strings.Join(out, ", ")
}

// headerIdentity reads the identifying header fields.
func headerIdentity(h message.Header) Identity {
	id := Identity{
		MessageID: strings.Trim(squash(h.Get("Message-Id")), "<>"),
		Subject:   squash(decodeWords(h.Get("Subject"))),
		From:      addresses(h.Get("From")),
		To:        addresses(h.Get("To")),
	}
	raw := squash(h.Get("Date"))
	if t, err := mail.ParseDate(raw); err == nil {
		id.Date = t.UTC().Format(time.RFC3339)
	} else {
		id.Date = raw
	}
	return id
}

// walk goes through e's parts: text into h, the rest into id.Attachments.
func walk(e *message.Entity, h io.Writer, id *Identity) error {
	if mr := e.MultipartReader(); mr != nil {
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil && (p == nil || !tolerable(err)) {
				return err
			}
			if err := walk(p, h, id); err != nil {
				return err
			}
		}
	}
	mt, params, _ := mime.ParseMediaType(e.Header.Get("Content-Type"))
	disp, dparams, _ := mime.ParseMediaType(e.Header.Get("Content-Disposition"))
	name := decodeWords(dparams["filename"])
	if name == "" {
		name = decodeWords(params["name"])
	}
	isText := mt == "" || strings.HasPrefix(mt, "text/")
	if isText && name == "" && disp != "attachment" {
		b, err := io.ReadAll(e.Body)
		if err != nil {
			return err
		}
		writeText(h, b)
		return nil
	}
	b, err := io.ReadAll(e.Body)
	if err != nil {
		return err
	}
	if isText || strings.HasPrefix(mt, "message/") {
		// Line ends and trailing blanks of text are the renderer's: count
		// the text with white space normalised, as for the text hash.
		b = []byte(squash(string(b)))
	}
	id.Attachments = append(id.Attachments, Attachment{Name: name, Size: int64(len(b))})
	return nil
}

// writeText writes b with every run of white space made one space, and a
// separator after it.
func writeText(h io.Writer, b []byte) {
	io.WriteString(h, strings.Join(strings.Fields(string(b)), " "))
	h.Write([]byte{0})
}

// wholeBody is what follows the header of raw.
func wholeBody(raw []byte) []byte {
	for _, sep := range []string{"\r\n\r\n", "\n\n"} {
		if i := bytes.Index(raw, []byte(sep)); i >= 0 {
			return raw[i+len(sep):]
		}
	}
	return nil
}

// squash makes every run of white space one space and trims the ends.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

// decoder decodes encoded words in any charset, leaving the bytes of
// charsets it does not know as they are.
var decoder = mime.WordDecoder{CharsetReader: func(charset string, r io.Reader) (io.Reader, error) { return r, nil }}

func decodeWords(s string) string {
	d, err := decoder.DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

// addresses returns the addresses of a field, lower-cased and sorted; a
// field that does not parse is kept as one normalised string.
func addresses(v string) []string {
	v = squash(v)
	if v == "" {
		return nil
	}
	list, err := (&mail.AddressParser{WordDecoder: &decoder}).ParseList(v)
	if err != nil {
		return []string{strings.ToLower(v)}
	}
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = strings.ToLower(a.Address)
	}
	slices.Sort(out)
	return out
}
