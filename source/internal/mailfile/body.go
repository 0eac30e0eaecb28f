package mailfile

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

// SmallFile is the size up to which a message file is read whole when it
// is delivered; larger ones are streamed.
const SmallFile = 1 << 20

// Listed is what a listing learnt of a message file, so that a later
// delivery can tell whether the file is still the same.
type Listed struct {
	Raw   int64     // size of the file
	MTime time.Time // modification time of the file
	Size  int64     // size with CRLF line endings; -1 if not known exactly
}

// Same reports whether fi still describes the file as l does.
func (l Listed) Same(fi os.FileInfo) bool {
	return fi.Size() == l.Raw && fi.ModTime().Equal(l.MTime)
}

// Body is a message file delivered with CRLF line endings. Its Size is
// exact: taken from the listing when the file is unchanged and its size was
// counted then, else counted before the first byte is delivered. Reads fail
// once ctx ends.
type Body struct {
	ctx  context.Context
	r    io.Reader
	size int64
}

// NewBody prepares the delivery of f, a message file as l lists it. The
// caller closes f once the body is consumed.
func NewBody(ctx context.Context, f *os.File, l Listed) (*Body, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() <= SmallFile {
		b, err := io.ReadAll(io.LimitReader(f, SmallFile+1))
		if err != nil {
			return nil, err
		}
		b = ToCRLF(b)
		return &Body{ctx: ctx, r: bytes.NewReader(b), size: int64(len(b))}, nil
	}
	size := l.Size
	if size < 0 || !l.Same(fi) {
		if size, _, err = CRLFSize(f); err != nil {
			return nil, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
	}
	return &Body{ctx: ctx, r: NewReader(f, size), size: size}, nil
}

// NewStream wraps r, whose output is exactly size bytes, as a Body whose
// reads fail once ctx ends.
func NewStream(ctx context.Context, r io.Reader, size int64) *Body {
	return &Body{ctx: ctx, r: r, size: size}
}

// Size is the number of bytes the body delivers.
func (b *Body) Size() int64 { return b.size }

// Read implements io.Reader.
func (b *Body) Read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	return b.r.Read(p)
}

// ReadHead reads the first SniffSize bytes of f (fewer if it is shorter).
func ReadHead(f io.Reader) ([]byte, error) {
	head := make([]byte, SniffSize)
	n, err := io.ReadFull(f, head)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return head[:n], nil
}
