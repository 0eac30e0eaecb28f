package compose

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// DefaultSpoolMemory is how many bytes a Spool keeps in memory when
// NewSpool is given no limit.
const DefaultSpoolMemory = 8 << 20

// Spool holds a built message so that its exact size is known before it is
// sent: the first bytes in memory, the rest in a temporary file, removed by
// Close. Write it fully, then call Size and Reader. A Spool is not safe
// for concurrent use.
type Spool struct {
	dir    string
	limit  int
	mem    []byte
	file   *os.File
	size   int64
	err    error
	closed bool
}

// NewSpool returns an empty Spool that keeps up to memLimit bytes in memory
// (DefaultSpoolMemory when memLimit <= 0) and spills the rest to a
// temporary file in dir (os.TempDir when dir is "").
func NewSpool(dir string, memLimit int) *Spool {
	if memLimit <= 0 {
		memLimit = DefaultSpoolMemory
	}
	return &Spool{dir: dir, limit: memLimit}
}

// Write appends p.
func (s *Spool) Write(p []byte) (int, error) {
	if s.closed {
		return 0, errors.New("compose: write to a closed spool")
	}
	if s.err != nil {
		return 0, s.err
	}
	n := 0
	if s.file == nil {
		if room := s.limit - len(s.mem); room > 0 {
			k := min(room, len(p))
			if len(s.mem)+k > cap(s.mem) {
				// Grow by doubling, but never beyond the limit.
				grown := make([]byte, len(s.mem), min(s.limit, max(2*cap(s.mem), len(s.mem)+k, 4096)))
				copy(grown, s.mem)
				s.mem = grown
			}
			s.mem = append(s.mem, p[:k]...)
			n, p = k, p[k:]
			s.size += int64(k)
		}
		if len(p) == 0 {
			return n, nil
		}
		f, err := os.CreateTemp(s.dir, "mailshift-spool-*")
		if err != nil {
			s.err = fmt.Errorf("compose: spool: %w", err)
			return n, s.err
		}
		s.file = f
	}
	k, err := s.file.Write(p)
	s.size += int64(k)
	n += k
	if err != nil {
		s.err = fmt.Errorf("compose: spool: %w", err)
		return n, s.err
	}
	return n, nil
}

// Size returns the number of bytes written.
func (s *Spool) Size() int64 { return s.size }

// Reader returns a reader of everything written so far, from the start.
// Each call returns a new, independent reader, valid until Close.
func (s *Spool) Reader() (io.Reader, error) {
	if s.closed {
		return nil, errors.New("compose: read of a closed spool")
	}
	if s.err != nil {
		return nil, s.err
	}
	mem := bytes.NewReader(s.mem)
	if s.file == nil {
		return mem, nil
	}
	return io.MultiReader(mem, io.NewSectionReader(s.file, 0, s.size-int64(len(s.mem)))), nil
}

// Close releases the memory and removes the temporary file, if any.
func (s *Spool) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.mem = nil
	if s.file == nil {
		return nil
	}
	name := s.file.Name()
	err := s.file.Close()
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("compose: spool: %w", err)
	}
	return nil
}
