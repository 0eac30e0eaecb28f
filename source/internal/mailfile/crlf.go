// Package mailfile holds what the file sources (Maildir, mbox, EML) share:
// delivering stored messages with CRLF line endings at a size known before
// the first byte (as an IMAP server does with a message it stores with LF
// line endings), telling a mail message from another file by its first
// bytes, the modified UTF-7 of folder names on disk, and reading the Date
// header.
package mailfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrChanged is returned (wrapped) when a file's content no longer has the
// size it had when it was listed: it was rewritten meanwhile.
var ErrChanged = errors.New("message changed since it was listed")

// CRLFSize returns the size of r's content once every bare LF (one not
// preceded by CR) has become CRLF, and the number of bytes read.
func CRLFSize(r io.Reader) (size, raw int64, err error) {
	buf := make([]byte, 64<<10)
	prevCR := false
	for {
		n, err := r.Read(buf)
		if n > 0 {
			b := buf[:n]
			raw += int64(n)
			size += int64(n) + int64(BareLFs(b, prevCR))
			prevCR = b[n-1] == '\r'
		}
		if err == io.EOF {
			return size, raw, nil
		}
		if err != nil {
			return 0, raw, err
		}
	}
}

// BareLFs counts the LFs in b that are not preceded by CR; prevCR says
// whether the byte before b was a CR.
func BareLFs(b []byte, prevCR bool) int {
	n := 0
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return n
		}
		if i > 0 && b[i-1] != '\r' || i == 0 && !prevCR {
			n++
		}
		b = b[i+1:]
		prevCR = false
	}
}

// ToCRLF returns b with every bare LF turned into CRLF; CRLF pairs and lone
// CRs stay as they are.
func ToCRLF(b []byte) []byte {
	n := BareLFs(b, false)
	if n == 0 {
		return b
	}
	out := make([]byte, 0, len(b)+n)
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return append(out, b...)
		}
		out = append(out, b[:i]...)
		if i == 0 && (len(out) == 0 || out[len(out)-1] != '\r') || i > 0 && b[i-1] != '\r' {
			out = append(out, '\r')
		}
		out = append(out, '\n')
		b = b[i+1:]
	}
}

// Reader streams its source with every bare LF turned into CRLF, and
// delivers exactly Size bytes: if the source turns out shorter or longer
// than that (the file changed since its size was taken), Read fails with
// an error wrapping ErrChanged instead of delivering a body of another
// size than announced.
type Reader struct {
	src    io.Reader
	size   int64
	n      int64  // bytes delivered
	buf    []byte // read buffer
	pend   []byte // input not yet converted
	prevCR bool   // the last input byte converted was CR
	owedLF bool   // a CR was written for a bare LF whose LF is still owed
	err    error
}

// NewReader returns a Reader over src whose output is size bytes (the
// CRLF size of src's content, see CRLFSize).
func NewReader(src io.Reader, size int64) *Reader {
	return &Reader{src: src, size: size}
}

// Size is the number of bytes Read delivers.
func (r *Reader) Size() int64 { return r.size }

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	rem := r.size - r.n
	if rem == 0 {
		r.err = r.checkEnd()
		return 0, r.err
	}
	if int64(len(p)) > rem {
		p = p[:rem]
	}
	w := 0
	for w < len(p) {
		if r.owedLF {
			p[w] = '\n'
			w++
			r.owedLF, r.prevCR = false, false
			continue
		}
		if len(r.pend) == 0 {
			if w > 0 {
				break
			}
			if err := r.fill(); err != nil {
				if err == io.EOF {
					err = fmt.Errorf("%w: it ended after %d of %d bytes", ErrChanged, r.n, r.size)
				}
				r.err = err
				return 0, err
			}
			continue
		}
		// Copy up to the next LF, then handle the LF.
		chunk := r.pend
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			chunk = chunk[:i]
		}
		if len(chunk) > 0 {
			m := copy(p[w:], chunk)
			w += m
			r.prevCR = chunk[m-1] == '\r'
			r.pend = r.pend[m:]
			continue
		}
		// r.pend[0] is a LF.
		r.pend = r.pend[1:]
		if r.prevCR {
			p[w] = '\n'
			w++
			r.prevCR = false
			continue
		}
		p[w] = '\r'
		w++
		r.owedLF = true
	}
	r.n += int64(w)
	return w, nil
}

// fill reads the next chunk of input.
func (r *Reader) fill() error {
	if r.buf == nil {
		r.buf = make([]byte, 32<<10)
	}
	for tries := 0; ; tries++ {
		n, err := r.src.Read(r.buf)
		if n > 0 {
			r.pend = r.buf[:n]
			return nil
		}
		if err != nil {
			return err
		}
		if tries > 100 {
			return io.ErrNoProgress
		}
	}
}

// checkEnd is called once Size bytes were delivered: the input must be
// exhausted too.
func (r *Reader) checkEnd() error {
	if r.owedLF || len(r.pend) > 0 {
		return fmt.Errorf("%w: it is longer than the %d bytes listed", ErrChanged, r.size)
	}
	if err := r.fill(); err != io.EOF {
		if err == nil {
			return fmt.Errorf("%w: it is longer than the %d bytes listed", ErrChanged, r.size)
		}
		return err
	}
	return io.EOF
}
