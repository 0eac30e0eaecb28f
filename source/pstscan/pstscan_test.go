package pstscan

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
)

// TestFindByContent finds the files that begin with the PST signature
// whatever their names, once when roots overlap, and leaves out short
// files and files named .pst that are not PST files.
func TestFindByContent(t *testing.T) {
	root := t.TempDir()
	sample, err := os.ReadFile(filepath.Join(corpus.TestdataDir(t), "pst", "pstsdk-sample1.pst"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"a/mail.pst":        sample,
		"a/b/renamed.bak":   sample,
		"a/fake.pst":        []byte("not a PST file at all"),
		"a/short.pst":       []byte("!BD"),
		"c/empty.pst":       nil,
		"c/deep/x/y/z.ost2": sample,
	}
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, problems, err := Find(context.Background(), []string{filepath.Join(root, "a"), root})
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, p := range got {
		r, _ := filepath.Rel(root, p)
		rel = append(rel, filepath.ToSlash(r))
	}
	want := []string{"a/b/renamed.bak", "a/mail.pst", "c/deep/x/y/z.ost2"}
	if !slices.Equal(rel, want) || len(problems) != 0 {
		t.Errorf("found %v (problems %v), want %v", rel, problems, want)
	}
	if _, _, err := Find(context.Background(), []string{filepath.Join(root, "missing")}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("a missing root: %v", err)
	}
	if got := Roots(" /home , /srv/share,,"); !slices.Equal(got, []string{"/home", "/srv/share"}) {
		t.Errorf("Roots = %q", got)
	}
}

// BenchmarkScan finds and inspects the PST files of a tree of 2,000 other
// files and 50 PST files (copies of a sample), and reports the files
// walked and the PST files inspected per second.
func BenchmarkScan(b *testing.B) {
	root := b.TempDir()
	sample, err := os.ReadFile(filepath.Join(corpus.TestdataDir(b), "pst", "tika-testPST_variousBodyTypes.pst"))
	if err != nil {
		b.Fatal(err)
	}
	const others, psts = 2000, 50
	for i := range others {
		dir := filepath.Join(root, fmt.Sprintf("u%02d", i%40), "docs")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.txt", i)), []byte("a document"), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	for i := range psts {
		if err := os.WriteFile(filepath.Join(root, fmt.Sprintf("u%02d", i%40), fmt.Sprintf("a%d.pst", i)), sample, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		files, _, err := Scan(context.Background(), []string{root})
		if err != nil || len(files) != psts {
			b.Fatalf("%d files, %v", len(files), err)
		}
	}
	s := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(others+psts)/s, "files-walked/s")
	b.ReportMetric(psts/s, "pst-inspected/s")
}
