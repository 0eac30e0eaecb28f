package mailfile

import (
	"bytes"
	"fmt"
	"net/mail"
	"strings"
	"time"
)

// SniffSize is how many leading bytes LooksLikeMail wants to see.
const SniffSize = 4096

// LooksLikeMail tells whether a file that starts with head (its first
// SniffSize bytes, or all of it) is a mail message: its first line must
// be a header field ("Name: value", blanks before it tolerated) or an
// mbox "From " envelope line. If not, why says what it starts with
// instead.
func LooksLikeMail(head []byte) (ok bool, why string) {
	if len(head) == 0 {
		return false, "empty file (0 bytes)"
	}
	if bytes.HasPrefix(head, []byte("From ")) {
		return true, ""
	}
	line := head
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	if bytes.HasPrefix(head, []byte("\xef\xbb\xbf")) {
		return false, "not a mail message: it starts with a UTF-8 byte-order mark, not a header field"
	}
	if isFieldLine(bytes.TrimLeft(line, " \t")) {
		return true, ""
	}
	if bytes.IndexByte(head, 0) >= 0 {
		return false, fmt.Sprintf("not a mail message: binary content (starts with %q)", quoteStart(head))
	}
	return false, fmt.Sprintf("not a mail message: the first line is not a header field (it starts with %q)", quoteStart(head))
}

// isFieldLine reports whether line starts a header field: a name of
// printable ASCII other than ":", optional blanks, then ":".
func isFieldLine(line []byte) bool {
	i := 0
	for i < len(line) && line[i] > ' ' && line[i] < 0x7f && line[i] != ':' {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	return i < len(line) && line[i] == ':'
}

func quoteStart(b []byte) []byte {
	if len(b) > 24 {
		return b[:24]
	}
	return b
}

// HeaderDate returns the date of the Date header field in header (the
// start of a message, up to and including its header), if there is one
// that parses.
func HeaderDate(header []byte) (time.Time, bool) {
	v, ok := HeaderField(header, "Date")
	if !ok {
		return time.Time{}, false
	}
	t, err := mail.ParseDate(strings.TrimSpace(v))
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// HeaderField returns the unfolded value of the first header field called
// name (case-insensitive) in header, which may go on past the header.
func HeaderField(header []byte, name string) (string, bool) {
	var val []byte
	found := false
	for len(header) > 0 {
		line := header
		if i := bytes.IndexByte(header, '\n'); i >= 0 {
			line, header = header[:i], header[i+1:]
		} else {
			header = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if found {
				val = append(val, line...)
			}
			continue
		}
		if found {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon > 0 && strings.EqualFold(strings.TrimRight(string(line[:colon]), " \t"), name) {
			found = true
			val = append(val, line[colon+1:]...)
		}
	}
	return string(val), found
}
