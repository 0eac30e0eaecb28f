package pst

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/testrig/corpus"
)

// FuzzOpen opens arbitrary bytes as a PST and walks everything: folders,
// messages, items, fetched bodies. It must never panic or hang. Checksums
// are not checked, so that changed bytes reach the structures behind them.
func FuzzOpen(f *testing.F) {
	if d := findSamples(); d != "" {
		files, _ := filepath.Glob(filepath.Join(d, "*.pst"))
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	recoverPanics = false
	f.Fuzz(func(t *testing.T, data []byte) {
		walkAll(data)
	})
}

// findSamples returns the shared sample folder, or "" (the fuzz target
// also runs its own corpus without them).
func findSamples() string {
	if d := os.Getenv(corpus.DirEnv); d != "" {
		return filepath.Join(d, "pst")
	}
	dir, _ := os.Getwd()
	for dir != "" {
		p := filepath.Join(dir, "shared", "testdata", "pst")
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return ""
}

// walkAll opens data and reads everything it can.
func walkAll(data []byte) {
	s, err := open("fuzz.pst", bytes.NewReader(data), int64(len(data)), false)
	if err != nil {
		return
	}
	ctx := context.Background()
	folders, err := s.Folders(ctx)
	if err != nil {
		return
	}
	for _, fo := range folders {
		s.Items(ctx, fo.Name)
		_, msgs, err := s.Messages(ctx, fo.Name)
		if err != nil {
			continue
		}
		s.Skipped(fo.Name)
		s.Fetch(ctx, fo.Name, msgs, func(m mailbox.Message, b mailbox.Body) error {
			n, err := io.Copy(io.Discard, b)
			if err == nil && n != b.Size() {
				panic("body size differs from bytes read")
			}
			return nil
		})
	}
}
