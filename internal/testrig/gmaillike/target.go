package gmaillike

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailshift/mailshift/internal/mutf7"
	"github.com/mailshift/mailshift/internal/testrig/relay"
)

// folderLabel is the label a folder stands for, the inverse of
// LabelFolder [ext][faq]; "" for All Mail (no label: archived), and
// outside is true for Spam and Trash, which hold mail outside All Mail
// [spam].
func folderLabel(folder string) (label string, outside bool) {
	switch folder {
	case AllMail:
		return "", false
	case Spam, Trash:
		return "", true
	}
	for l, f := range systemFolders {
		if f == folder {
			return l, false
		}
	}
	return folder, false
}

// appended takes note of a message a client appended to folder, where the
// server gave it uid. A message the account holds already (same bytes)
// takes the appended copy as its own and gains the folder's label [dup];
// a new one gets a new X-GM-MSGID, the folder's label and a copy in All
// Mail [store][ext].
func (s *Server) appended(user, folder string, uid uint32, m Message) error {
	a, err := s.account(user)
	if err != nil {
		return err
	}
	label, outside := folderLabel(folder)
	s.mu.Lock()
	a.nextUID[folder] = max(a.nextUID[folder], uid)
	if a.ids[folder] == nil {
		a.ids[folder] = map[uint32]uint64{}
	}
	for id, old := range a.msgs {
		if bytes.Equal(old.Body, m.Body) {
			a.ids[folder][uid] = id
			if label != "" && !slices.Contains(a.labels[id], label) {
				a.labels[id] = append(a.labels[id], label)
			}
			s.mu.Unlock()
			return nil
		}
	}
	id := a.nextID
	a.nextID++
	a.ids[folder][uid] = id
	a.msgs[id] = m
	if label != "" {
		a.labels[id] = []string{label}
	}
	s.mu.Unlock()
	if outside || folder == AllMail {
		return nil
	}
	return s.store(user, a, AllMail, id, m)
}

// addLabels adds labels to the message with uid in folder: it then shows
// in each label's folder too [store].
func (s *Server) addLabels(user, folder string, uid uint32, labels []string) error {
	a, err := s.account(user)
	if err != nil {
		return err
	}
	s.mu.Lock()
	id, ok := a.ids[folder][uid]
	m := a.msgs[id]
	var add []string
	for _, l := range labels {
		if ok && !slices.Contains(a.labels[id], l) {
			a.labels[id] = append(a.labels[id], l)
			add = append(add, l)
		}
	}
	s.mu.Unlock()
	for _, l := range add {
		if err := s.store(user, a, LabelFolder(l), id, m); err != nil {
			return err
		}
	}
	return nil
}

// Stored is one message of an account as the server holds it.
type Stored struct {
	ID     uint64   // X-GM-MSGID
	Labels []string // X-GM-LABELS
	Message
}

// Messages returns user's messages, one per X-GM-MSGID, in the order
// they were made.
func (s *Server) Messages(user string) []Stored {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[user]
	if a == nil {
		return nil
	}
	var out []Stored
	for id, m := range a.msgs {
		out = append(out, Stored{ID: id, Labels: slices.Clone(a.labels[id]), Message: m})
	}
	slices.SortFunc(out, func(x, y Stored) int {
		if x.ID < y.ID {
			return -1
		}
		return 1
	})
	return out
}

// appendDate is the layout of APPEND's date-time argument (RFC 3501).
// The day is two digits or a space and a digit.
const appendDate = "_2-Jan-2006 15:04:05 -0700"

var appendUIDRe = regexp.MustCompile(`(?i)\[APPENDUID \d+ (\d+)\]`)

// decodeName is a folder name as the client sent it, modified UTF-7
// decoded.
func decodeName(s string) string {
	if d, err := mutf7.Decode(s); err == nil {
		return d
	}
	return s
}

// appendArgs reads an APPEND's folder, flags and date (RFC 3501:
// mailbox [flag-list] [date-time] literal).
func appendArgs(rest string) (folder string, flags []string, date time.Time) {
	folder, rest, _ = relay.Astring(rest)
	rest = strings.TrimLeft(rest, " ")
	if strings.HasPrefix(rest, "(") {
		if i := strings.IndexByte(rest, ')'); i > 0 {
			flags = strings.Fields(rest[1:i])
			rest = strings.TrimLeft(rest[i+1:], " ")
		}
	}
	if strings.HasPrefix(rest, `"`) {
		if d, _, ok := relay.Astring(rest); ok {
			date, _ = time.Parse(appendDate, d)
		}
	}
	return folder, flags, date
}

// storeLabels answers "UID STORE set +X-GM-LABELS (labels)" [store]
// itself; ok is false for any other STORE, which goes to the server.
func (l *link) storeLabels(tag, rest string) (answer string, ok bool) {
	f := strings.SplitN(strings.TrimSpace(rest), " ", 3)
	if len(f) < 3 || !strings.EqualFold(strings.TrimSuffix(f[1], ".SILENT"), "+X-GM-LABELS") {
		return "", false
	}
	if l.user == "" || l.selected == "" {
		return tag + " BAD No mailbox selected\r\n", true
	}
	labels, err := labelList(f[2])
	if err != nil {
		return tag + " BAD " + err.Error() + "\r\n", true
	}
	uids, err := uidSet(f[0])
	if err != nil {
		return tag + " BAD " + err.Error() + "\r\n", true
	}
	for _, uid := range uids {
		if err := l.p.s.addLabels(l.user, decodeName(l.selected), uid, labels); err != nil {
			return tag + " NO " + err.Error() + "\r\n", true
		}
	}
	return tag + " OK Success\r\n", true
}

// labelList reads a parenthesised list of labels, astrings in modified
// UTF-7 [ext].
func labelList(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "(") || !strings.HasSuffix(s, ")") {
		return nil, fmt.Errorf("labels %q are not a parenthesised list", s)
	}
	s = s[1 : len(s)-1]
	var out []string
	for strings.TrimSpace(s) != "" {
		l, r, ok := relay.Astring(s)
		if !ok {
			return nil, fmt.Errorf("label list %q is malformed", s)
		}
		if strings.HasPrefix(l, `\`) {
			out = append(out, l)
		} else {
			out = append(out, decodeName(l))
		}
		s = r
	}
	return out, nil
}

// uidSet reads a UID set of single UIDs and ranges ("3", "1:4,7"); a
// range's "*" is not supported.
func uidSet(s string) ([]uint32, error) {
	var out []uint32
	for _, part := range strings.Split(s, ",") {
		lo, hi, rng := strings.Cut(part, ":")
		a, err := strconv.ParseUint(lo, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("UID set %q: %v", s, err)
		}
		b := a
		if rng {
			if b, err = strconv.ParseUint(hi, 10, 32); err != nil {
				return nil, fmt.Errorf("UID set %q: %v", s, err)
			}
		}
		for u := min(a, b); u <= max(a, b); u++ {
			out = append(out, uint32(u))
		}
	}
	return out, nil
}

// Label adds labels to message id of user, as the user does in Gmail's
// web interface: the message then shows in each label's folder [store].
func (s *Server) Label(user string, id uint64, labels ...string) error {
	a, err := s.account(user)
	if err != nil {
		return err
	}
	s.mu.Lock()
	var uid uint32
	for u, i := range a.ids[AllMail] {
		if i == id {
			uid = u
		}
	}
	s.mu.Unlock()
	if uid == 0 {
		return fmt.Errorf("gmaillike: %s has no message %d in All Mail", user, id)
	}
	return s.addLabels(user, AllMail, uid, labels)
}
