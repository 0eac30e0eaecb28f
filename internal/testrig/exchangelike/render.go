package exchangelike

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/quotedprintable"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// Render returns raw as an Exchange-like server serves it back after an
// APPEND: the MIME regenerated from the parsed message rather than the
// bytes received (fact 1 of the package comment). Header fields come back
// in another order (reversed here), unfolded and folded again at the
// writer's width; every multipart boundary is new; each leaf part's body
// is decoded and encoded again with another transfer encoding
// (quoted-printable and 7bit/8bit text becomes base64, base64 text becomes
// quoted-printable, other media base64). What a reader sees — addresses,
// subject, dates, decoded text and attachments — is unchanged.
//
// Text keeps its charset: bodies are decoded from their transfer encoding
// only (no charset reader is installed), and written back under the same
// Content-Type. Quoted-printable text comes back with CRLF line ends.
//
// A message the parser cannot take apart (an unknown transfer encoding, a
// multipart without boundary) is stored as received: how Exchange renders
// such mail is not documented, and the server imitates documented
// behaviour only.
func Render(raw []byte) []byte {
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) {
		return raw
	}
	var out bytes.Buffer
	if err := writeEntity(&out, e); err != nil {
		return raw
	}
	return out.Bytes()
}

// writeEntity writes e re-rendered: its header, then its parts between
// new boundaries, or its body in a new transfer encoding.
func writeEntity(out io.Writer, e *message.Entity) error {
	h := rerenderHeader(e.Header)
	mr := e.MultipartReader()
	if mr == nil {
		enc := newEncoding(e.Header)
		h.Set("Content-Transfer-Encoding", enc)
		if err := textproto.WriteHeader(out, h.Header); err != nil {
			return err
		}
		return encodeBody(out, enc, e.Body)
	}
	mt, params, err := mime.ParseMediaType(e.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	boundary := fmt.Sprintf("_%x_exchangelike_", rand.Uint64())
	params["boundary"] = boundary
	h.Set("Content-Type", mime.FormatMediaType(mt, params))
	h.Del("Content-Transfer-Encoding")
	if err := textproto.WriteHeader(out, h.Header); err != nil {
		return err
	}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && (p == nil || !message.IsUnknownCharset(err)) {
			return err
		}
		fmt.Fprintf(out, "\r\n--%s\r\n", boundary)
		if err := writeEntity(out, p); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(out, "\r\n--%s--\r\n", boundary)
	return err
}

// encodeBody writes body in transfer encoding enc.
func encodeBody(out io.Writer, enc string, body io.Reader) error {
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	switch enc {
	case "base64":
		s := base64.StdEncoding.EncodeToString(b)
		for len(s) > 76 {
			io.WriteString(out, s[:76]+"\r\n")
			s = s[76:]
		}
		_, err = io.WriteString(out, s)
		return err
	case "quoted-printable":
		w := quotedprintable.NewWriter(out)
		if _, err := w.Write(b); err != nil {
			return err
		}
		return w.Close()
	}
	_, err = out.Write(b)
	return err
}

// newEncoding picks the transfer encoding a re-rendered leaf part gets:
// never the one it came with where there is a choice.
func newEncoding(h message.Header) string {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	old := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	switch {
	case strings.HasPrefix(mt, "message/"), strings.HasPrefix(mt, "multipart/"):
		return "8bit"
	case mt == "" || strings.HasPrefix(mt, "text/"):
		if old == "base64" {
			return "quoted-printable"
		}
		return "base64"
	}
	return "base64"
}

// rerenderHeader returns h's fields in reverse order, each value unfolded
// (the writer folds long ones again).
func rerenderHeader(h message.Header) message.Header {
	type kv struct{ k, v string }
	var fs []kv
	for f := h.Fields(); f.Next(); {
		fs = append(fs, kv{f.Key(), unfold(f.Value())})
	}
	var out textproto.Header
	for _, f := range fs { // Add prepends: the order comes out reversed
		out.Add(f.k, f.v)
	}
	return message.Header{Header: out}
}

// unfold joins a folded header value into one line.
func unfold(v string) string {
	v = strings.ReplaceAll(v, "\r\n", "\n")
	var b strings.Builder
	for i, line := range strings.Split(v, "\n") {
		if i > 0 {
			b.WriteByte(' ')
			line = strings.TrimLeft(line, " \t")
		}
		b.WriteString(line)
	}
	return b.String()
}

// Servable tells whether the server can serve raw back at all: its
// backend (imapmemserver) answers an empty BODY[] for a message whose
// header go-message cannot read (a first line that is not a header field,
// say). How Exchange stores such a message is not documented, so tests
// leave these messages out.
func Servable(raw []byte) bool {
	_, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	return err == nil
}
