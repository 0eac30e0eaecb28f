package pst

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/pim"
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
	s.ExportItems(ctx, func(it pim.Item, err error) error {
		if err == nil {
			it.Encode()
		}
		return nil
	})
}

// FuzzRecurrence reads recurrence blobs and time zones: never a panic,
// and what parses encodes.
func FuzzRecurrence(f *testing.F) {
	f.Add(recurBlob(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), 30*time.Minute, 2, 6, []time.Time{time.Date(2026, 3, 16, 9, 0, 0, 0, time.UTC)},
		[]wException{{orig: time.Date(2026, 3, 23, 9, 0, 0, 0, time.UTC), start: time.Date(2026, 3, 23, 10, 0, 0, 0, time.UTC), end: time.Date(2026, 3, 23, 10, 30, 0, 0, time.UTC), subject: "moved"}}),
		berlinZone())
	f.Fuzz(func(t *testing.T, recur, zone []byte) {
		rec, ok := parseRecurrence(recur)
		z := parseZone(zone, "Z")
		if !ok {
			return
		}
		it := pim.Item{Key: "k", Kind: pim.KindEvent, Event: &pim.Event{Summary: "s", Start: time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC),
			End: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), Zone: z, Recurrence: &rec.Recurrence}}
		if _, err := it.Encode(); err != nil {
			t.Fatalf("%v", err)
		}
	})
}
