package corpus

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// RequireEnv is the environment variable that, set to "1" (as CI does),
// turns a missing shared test data folder from a skip into a failure.
const RequireEnv = "MAILSHIFT_REQUIRE_TESTDATA"

// DirEnv is the environment variable that, when set, names the shared
// test data folder instead of the search for "shared/testdata".
const DirEnv = "MAILSHIFT_TESTDATA"

// findTestdata returns the shared/testdata folder found by walking up from
// the current directory (a test binary runs in its package directory; the
// folder sits beside the repository: REPO/../shared/testdata), or "".
func findTestdata() string {
	if d := os.Getenv(DirEnv); d != "" {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d
		}
		return ""
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		candidate := filepath.Join(dir, "shared", "testdata")
		if fi, err := os.Stat(candidate); err == nil && fi.IsDir() {
			return candidate
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// TestdataDir returns the path of the shared test data folder
// (shared/testdata beside the repository, or $MAILSHIFT_TESTDATA). If it is
// absent the test is skipped, or fails when MAILSHIFT_REQUIRE_TESTDATA=1.
func TestdataDir(t testing.TB) string {
	t.Helper()
	d := findTestdata()
	if d == "" {
		msg := "shared test data not found: no shared/testdata in the current directory or any parent (set " + DirEnv + " to point at it)"
		if os.Getenv(RequireEnv) == "1" {
			t.Fatal(msg + "; " + RequireEnv + "=1 requires it")
		}
		t.Skip(msg + "; skipping (set " + RequireEnv + "=1 to fail instead)")
	}
	return d
}

// Messy returns the real messages under shared/testdata/eml (every *.eml
// file: bad MIME structure, 8-bit headers, bare LF line endings, ...), raw
// bytes keyed by the path relative to eml/ with "/" separators, e.g.
// "enmime/attachment.eml". Skips or fails like TestdataDir when absent.
func Messy(t testing.TB) map[string][]byte {
	t.Helper()
	root := filepath.Join(TestdataDir(t), "eml")
	msgs := make(map[string][]byte)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".eml") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		msgs[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatalf("reading %s: %v", root, err)
	}
	if len(msgs) == 0 {
		t.Fatalf("no .eml files under %s", root)
	}
	return msgs
}

// ToCRLF returns b with every bare LF turned into CRLF, as an IMAP server
// (Dovecot) serves a message that was stored with LF line endings. CRLF
// pairs and lone CRs are left alone. For comparing what a server serves
// with a file.
func ToCRLF(b []byte) []byte {
	n := bytes.Count(b, []byte("\n")) - bytes.Count(b, []byte("\r\n"))
	if n == 0 {
		return bytes.Clone(b)
	}
	out := make([]byte, 0, len(b)+n)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// DovecotServes returns what Dovecot 2.3 serves (BODY[]) for a message
// appended as b: ToCRLF(b), with every NUL byte replaced by 0x80 and a
// lone CR at the very end dropped. (A lone CR elsewhere is kept.)
func DovecotServes(b []byte) []byte {
	out := ToCRLF(b)
	for i, c := range out {
		if c == 0 {
			out[i] = 0x80
		}
	}
	if n := len(out); n > 0 && out[n-1] == '\r' {
		out = out[:n-1]
	}
	return out
}
