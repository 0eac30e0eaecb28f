package mailfile

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// mutf7 is the base64 alphabet of modified UTF-7 (RFC 3501 5.1.3): ","
// instead of "/", no padding.
var mutf7 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

var errMUTF7 = errors.New("not valid modified UTF-7")

// DecodeMUTF7 decodes a folder name in modified UTF-7, as Dovecot and
// Courier write folder names on disk ("&ANw-berblick" is "Überblick").
func DecodeMUTF7(s string) (string, error) {
	if !strings.Contains(s, "&") {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] > 0x7e {
				return "", errMUTF7
			}
		}
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", errMUTF7
		}
		if c != '&' {
			b.WriteByte(c)
			continue
		}
		j := strings.IndexByte(s[i+1:], '-')
		if j < 0 {
			return "", errMUTF7
		}
		enc := s[i+1 : i+1+j]
		i += j + 1
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		raw, err := mutf7.DecodeString(enc)
		if err != nil || len(raw)%2 != 0 {
			return "", errMUTF7
		}
		units := make([]uint16, len(raw)/2)
		for k := range units {
			units[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
		}
		for _, r := range utf16.Decode(units) {
			if r == utf8.RuneError || r >= 0x20 && r <= 0x7e {
				return "", errMUTF7 // a lone surrogate, or ASCII that needed no encoding
			}
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}

// EncodeMUTF7 encodes a folder name in modified UTF-7.
func EncodeMUTF7(s string) string {
	var b strings.Builder
	var run []rune
	flush := func() {
		if len(run) == 0 {
			return
		}
		units := utf16.Encode(run)
		raw := make([]byte, 0, 2*len(units))
		for _, u := range units {
			raw = append(raw, byte(u>>8), byte(u))
		}
		b.WriteByte('&')
		b.WriteString(mutf7.EncodeToString(raw))
		b.WriteByte('-')
		run = run[:0]
	}
	for _, r := range s {
		switch {
		case r == '&':
			flush()
			b.WriteString("&-")
		case r >= 0x20 && r <= 0x7e:
			flush()
			b.WriteRune(r)
		default:
			run = append(run, r)
		}
	}
	flush()
	return b.String()
}

// FolderName turns a name as it is on disk into a Unicode folder name:
// modified UTF-7 when it is valid modified UTF-7 (mutf7 true), else the
// name itself when it is valid UTF-8, else the name read as Latin-1.
func FolderName(disk string, mutf7 bool) string {
	if mutf7 {
		if n, err := DecodeMUTF7(disk); err == nil {
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
