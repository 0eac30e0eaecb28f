package pst

import (
	"bytes"
	"errors"
	"io"
	"strings"

	"github.com/mailshift/mailshift/source/pst/internal/compose"
)

// This file is the one place that turns the file's messages into MIME,
// through internal/compose.

// toCompose converts a message read from the file for compose.Build.
func toCompose(m *message) *compose.Message {
	addr := func(a address) compose.Address { return compose.Address{Name: a.name, Email: a.email} }
	addrs := func(as []address) []compose.Address {
		var out []compose.Address
		for _, a := range as {
			out = append(out, addr(a))
		}
		return out
	}
	cm := &compose.Message{
		TransportHeaders: m.headers,
		From:             addr(m.from),
		To:               addrs(m.to),
		Cc:               addrs(m.cc),
		Bcc:              addrs(m.bcc),
		Subject:          m.subject,
		Date:             m.date,
		MessageID:        m.messageID,
		InReplyTo:        m.inReplyTo,
		References:       m.references,
		Text:             m.text,
		HTML:             m.html,
	}
	if m.sender != (address{}) {
		s := addr(m.sender)
		cm.Sender = &s
	}
	for _, a := range m.attach {
		ca := compose.Attachment{
			Name:      a.name,
			MIMEType:  a.mimeType,
			ContentID: a.contentID,
			// Shown in the body: hidden from the attachment list, or
			// referred to by the HTML.
			Inline: a.contentID != "" && (a.hidden || strings.Contains(m.html, a.contentID)),
			Size:   a.size,
		}
		switch {
		case a.embedded != nil:
			ca.Embedded = toCompose(a.embedded)
		case a.data != nil:
			s := a.data
			ca.Open = func() (io.ReadCloser, error) { return io.NopCloser(s.reader()), nil }
		case a.inline != nil:
			b := a.inline
			ca.Open = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		}
		cm.Attachments = append(cm.Attachments, ca)
	}
	return cm
}

// built is a composed message: its bytes and their exact size.
type built interface {
	io.Reader
	Size() int64
	Close() error
}

// countWriter counts what is written to it.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// measure composes m and returns its size without keeping the bytes.
func measure(m *message) (int64, error) {
	var c countWriter
	if err := compose.Build(&c, toCompose(m)); err != nil {
		return 0, err
	}
	return c.n, nil
}

// errSizeChanged is returned when a second composition of a message does
// not give the size of the first (it never should: composing is
// deterministic).
var errSizeChanged = errors.New("composed message changed size between two readings")

// streamBody composes m, whose size is known to be size, into a pipe read by
// the caller: nothing is held in memory or on disk beyond one buffer.
func streamBody(m *message, size int64) built {
	pr, pw := io.Pipe()
	b := &pipeBody{pr: pr, size: size, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		c := &limitWriter{w: pw, left: size}
		err := compose.Build(c, toCompose(m))
		if err == nil && c.left != 0 {
			err = errSizeChanged
		}
		pw.CloseWithError(err)
	}()
	return b
}

// limitWriter refuses to write more than left bytes.
type limitWriter struct {
	w    io.Writer
	left int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.left {
		return 0, errSizeChanged
	}
	n, err := l.w.Write(p)
	l.left -= int64(n)
	return n, err
}

type pipeBody struct {
	pr   *io.PipeReader
	size int64
	done chan struct{}
}

func (b *pipeBody) Read(p []byte) (int, error) { return b.pr.Read(p) }
func (b *pipeBody) Size() int64                { return b.size }

// Close abandons what is left unread and waits for the composer to stop.
func (b *pipeBody) Close() error {
	b.pr.CloseWithError(errClosed)
	<-b.done
	return nil
}

var errClosed = errors.New("message body closed")
