package exchangelike

import (
	"bytes"
	"errors"
	"io"
	"mime"
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
// A message the parser cannot take apart (an unknown transfer encoding, a
// multipart without boundary) is stored as received: how Exchange renders
// such mail is not documented, and the server imitates documented
// behaviour only.
func Render(raw []byte) []byte {
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		return raw
	}
	var out bytes.Buffer
	if err := writeEntity(&out, nil, e); err != nil {
		return raw
	}
	return out.Bytes()
}

// writeEntity writes e re-rendered, to out at the top, else as a part of
// parent.
func writeEntity(out io.Writer, parent *message.Writer, e *message.Entity) error {
	h := rerenderHeader(e.Header)
	mr := e.MultipartReader()
	if mr != nil {
		h.Del("Content-Transfer-Encoding")
	} else {
		h.Set("Content-Transfer-Encoding", newEncoding(e.Header))
	}
	var (
		w   *message.Writer
		err error
	)
	if parent == nil {
		w, err = message.CreateWriter(out, h)
	} else {
		w, err = parent.CreatePart(h)
	}
	if err != nil {
		return err
	}
	if mr != nil {
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if err := writeEntity(nil, w, p); err != nil {
				return err
			}
		}
	} else if _, err := io.Copy(w, e.Body); err != nil {
		return err
	}
	return w.Close()
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
