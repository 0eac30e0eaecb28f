package mailfile

import (
	"strings"
	"unicode/utf8"

	"github.com/mailshift/mailshift/internal/mutf7"
)

// FolderName turns a name as it is on disk into a Unicode folder name:
// modified UTF-7 when it is valid modified UTF-7 (encoded true), else the
// name itself when it is valid UTF-8, else the name read as Latin-1.
func FolderName(disk string, encoded bool) string {
	if encoded {
		if n, err := mutf7.Decode(disk); err == nil {
			return n
		}
	}
	if utf8.ValidString(disk) {
		return disk
	}
	rs := make([]rune, len(disk))
	for i := 0; i < len(disk); i++ {
		rs[i] = rune(disk[i])
	}
	return string(rs)
}

// FolderOrder orders folder names for listing: INBOX first, then the
// others by name.
func FolderOrder(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "INBOX":
		return -1
	case b == "INBOX":
		return 1
	}
	return strings.Compare(a, b)
}

// PlainPath reports whether a folder name can be turned into a path below
// a root directory as it is: no empty, "." or ".." component, no NUL.
func PlainPath(folder string) bool {
	if strings.ContainsRune(folder, 0) {
		return false
	}
	for _, p := range strings.Split(folder, "/") {
		if p == "" || p == "." || p == ".." {
			return false
		}
	}
	return true
}
