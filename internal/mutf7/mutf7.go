// Package mutf7 encodes and decodes modified UTF-7 (RFC 3501 5.1.3), the
// spelling of non-ASCII mailbox names on the wire before IMAP4rev2 and in
// Dovecot's and Courier's Maildir directories.
package mutf7

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// mutf7 is the base64 alphabet of modified UTF-7 (RFC 3501 5.1.3): ","
// instead of "/", no padding.
var alphabet = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

var errInvalid = errors.New("not valid modified UTF-7")

// Decode decodes a mailbox name in modified UTF-7, as IMAP servers before
// IMAP4rev2 send names and Dovecot and Courier write folder names on disk
// ("&ANw-berblick" is "Überblick"). It refuses what is not valid and
// canonical modified UTF-7.
func Decode(s string) (string, error) {
	if !strings.Contains(s, "&") {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] > 0x7e {
				return "", errInvalid
			}
		}
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", errInvalid
		}
		if c != '&' {
			b.WriteByte(c)
			continue
		}
		j := strings.IndexByte(s[i+1:], '-')
		if j < 0 {
			return "", errInvalid
		}
		enc := s[i+1 : i+1+j]
		i += j + 1
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		raw, err := alphabet.DecodeString(enc)
		if err != nil || len(raw)%2 != 0 {
			return "", errInvalid
		}
		units := make([]uint16, len(raw)/2)
		for k := range units {
			units[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
		}
		for _, r := range utf16.Decode(units) {
			if r == utf8.RuneError || r >= 0x20 && r <= 0x7e {
				return "", errInvalid // a lone surrogate, or ASCII that needed no encoding
			}
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}

// Encode encodes a mailbox name in modified UTF-7.
func Encode(s string) string {
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
		b.WriteString(alphabet.EncodeToString(raw))
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
