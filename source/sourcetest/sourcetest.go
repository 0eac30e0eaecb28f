// Package sourcetest is the conformance suite every source.Source passes:
// IMAP accounts, Maildir trees, mbox files, EML trees. A kind of source
// takes part by writing a Fixture (folders of messages with flags and
// internal dates) into its medium and opening a Source on it; Run then
// checks what mailshift relies on: folders and their counters, stable and
// unique keys, exact sizes, byte-exact CRLF bodies delivered in any order,
// flags and internal dates, read-only access, vanished messages, missing
// folders, cancellation, duplicates and new arrivals.
//
// What a medium cannot hold (flags in EML files, keywords in some
// formats) is declared in Abilities, and the checks expect exactly what
// the medium keeps instead of skipping the check.
package sourcetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/source"
)

// Message is one message of a fixture.
type Message struct {
	// Body is the whole message with CRLF line endings: what the source
	// must deliver, byte for byte.
	Body []byte
	// Flags are IMAP flags and keywords (\Seen, $Forwarded, Work, ...).
	Flags []string
	// InternalDate is to the second.
	InternalDate time.Time
}

// Folder is one folder of a fixture.
type Folder struct {
	// Name has "/" as the hierarchy delimiter; the inbox is "INBOX".
	Name     string
	Messages []Message
}

// Fixture is what a medium holds when a check starts.
type Fixture struct {
	Folders []Folder
}

// DateSource says where a kind of source takes a message's internal date
// from.
type DateSource int

// Where internal dates come from.
const (
	// DateKept: the medium keeps the internal date (to the second).
	DateKept DateSource = iota
	// DateHeader: the internal date is the message's Date header.
	DateHeader
)

// Abilities declare what a kind of medium keeps of a message besides its
// bytes.
type Abilities struct {
	// Flags are the system flags the medium keeps, of \Seen, \Answered,
	// \Flagged, \Draft and \Deleted; the others are neither written nor
	// expected.
	Flags []string
	// Keywords says whether keywords ($Forwarded, Work, ...) are kept.
	Keywords bool
	// Dates says where internal dates come from.
	Dates DateSource
}

// AllFlags are the system flags a message can carry.
var AllFlags = []string{`\Answered`, `\Deleted`, `\Draft`, `\Flagged`, `\Seen`}

// Keeps returns the flags of flags that a medium with these abilities
// keeps, sorted.
func (a Abilities) Keeps(flags []string) []string {
	var out []string
	for _, f := range flags {
		if strings.HasPrefix(f, `\`) && slices.Contains(a.Flags, f) || !strings.HasPrefix(f, `\`) && a.Keywords {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	slices.Sort(out)
	return out
}

// date is the internal date a medium with these abilities gives m.
func (a Abilities) date(m Message) time.Time {
	if a.Dates == DateHeader {
		d, _ := headerDate(m.Body)
		return d
	}
	return m.InternalDate
}

// Medium is a fixture written into a kind of storage: a Maildir tree, a
// directory of mbox files, an EML tree, an IMAP account.
type Medium interface {
	// Open opens a new Source on what the medium holds now; the medium
	// closes it when the test ends.
	Open(t *testing.T) source.Source
	// Add adds m to folder, as a new arrival would.
	Add(t *testing.T, folder string, m Message)
	// Remove removes the i-th message written to folder (counting the
	// fixture's messages in order, then those added).
	Remove(t *testing.T, folder string, i int)
	// Digest sums up everything the medium holds (file names, contents,
	// times; an IMAP account's messages, flags and dates), so that any
	// change shows.
	Digest(t *testing.T) string
}

// Kind is a kind of source under test.
type Kind struct {
	// Name is what Describe reports as Kind.
	Name string
	// Abilities declare what the medium keeps.
	Abilities Abilities
	// New writes fx into a fresh medium.
	New func(t *testing.T, fx Fixture) Medium
}

// Names of the fixture's folders.
const (
	Inbox   = "INBOX"
	Sent    = "Sent"
	Nested  = "Archive/2023"
	Unicode = "Projekte/Überblick"
	Empty   = "Empty"
)

// Standard is the fixture Run writes: generated messages of varied sizes
// in nested and non-ASCII folders, an empty folder, two identical
// messages, lines that an mbox must quote ("From ", ">From "), a message
// over 1 MiB and one with a 100 KB line, flags and keywords.
func Standard() Fixture {
	gen := corpus.Generate(7, 24, 2000)
	msg := func(i int) Message {
		g := gen[i]
		return Message{Body: g.Body, Flags: g.Flags, InternalDate: g.InternalDate}
	}
	date := func(s string) time.Time {
		d, err := time.Parse(time.RFC1123Z, s)
		if err != nil {
			panic(err)
		}
		return d
	}
	quoting := Message{
		Body: []byte("From: Quoting Test <q@example.org>\r\nTo: alice@example.org\r\nSubject: lines an mbox must quote\r\n" +
			"Date: Tue, 05 Mar 2024 09:15:00 +0100\r\nMessage-ID: <quoting@example.org>\r\n\r\n" +
			"From here on, the lines start with From.\r\n>From the quoted side.\r\n>>From deeper.\r\n\r\nFrom the end\r\n"),
		Flags:        []string{`\Seen`, `\Answered`, "$Forwarded"},
		InternalDate: date("Tue, 05 Mar 2024 09:16:07 +0100"),
	}
	dup := Message{
		Body: []byte("From: Twice <twice@example.org>\r\nTo: alice@example.org\r\nSubject: the same message twice\r\n" +
			"Date: Wed, 06 Mar 2024 10:00:00 +0000\r\nMessage-ID: <twice@example.org>\r\n\r\nI am here twice.\r\n"),
		Flags:        []string{`\Flagged`},
		InternalDate: date("Wed, 06 Mar 2024 10:00:05 +0000"),
	}
	dup2 := dup
	dup2.Flags = []string{`\Seen`, "Work"}
	return Fixture{Folders: []Folder{
		{Name: Inbox, Messages: []Message{
			msg(0), msg(1), quoting, msg(2), dup, msg(3), big(), dup2, msg(4), longLine(), msg(5), msg(6), msg(7), msg(8),
		}},
		{Name: Sent, Messages: []Message{msg(9), msg(10), msg(11), msg(12)}},
		{Name: Nested, Messages: []Message{msg(13), msg(14), msg(15)}},
		{Name: Unicode, Messages: []Message{msg(16), msg(17)}},
		{Name: Empty},
	}}
}

// big is a message over 1 MiB (larger than what file sources read whole).
func big() Message {
	var b bytes.Buffer
	b.WriteString("From: Big <big@example.org>\r\nTo: alice@example.org\r\nSubject: a large message\r\n" +
		"Date: Thu, 07 Mar 2024 11:00:00 -0500\r\nMessage-ID: <big@example.org>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=us-ascii\r\n\r\n")
	for i := 0; b.Len() < 1200<<10; i++ {
		fmt.Fprintf(&b, "line %06d of a large message, with some text to fill it up to seventy-six\r\n", i)
	}
	return Message{Body: b.Bytes(), Flags: []string{`\Seen`, `\Draft`}, InternalDate: time.Date(2024, 3, 7, 16, 0, 9, 0, time.UTC)}
}

// longLine is a message with a line of 100 KB.
func longLine() Message {
	body := "From: Long <long@example.org>\r\nTo: alice@example.org\r\nSubject: one very long line\r\n" +
		"Date: Fri, 08 Mar 2024 12:00:00 +0000\r\nMessage-ID: <long@example.org>\r\n\r\n" +
		strings.Repeat("0123456789", 10<<10) + "\r\nshort line\r\n"
	return Message{Body: []byte(body), Flags: []string{`\Deleted`, `\Seen`, "$Label1"}, InternalDate: time.Date(2024, 3, 8, 12, 0, 30, 0, time.UTC)}
}

// Arrival is the message the incremental check adds to INBOX: the newest
// of all.
func Arrival() Message {
	d := time.Now().UTC().Truncate(time.Second)
	body := "From: New Arrival <new@example.org>\r\nTo: alice@example.org\r\nSubject: arrived after the first listing\r\n" +
		"Date: " + d.Format(time.RFC1123Z) + "\r\nMessage-ID: <arrival@example.org>\r\n\r\nJust arrived.\r\n"
	return Message{Body: []byte(body), Flags: []string{`\Flagged`}, InternalDate: d}
}

// Run runs every check on k, each on a fresh medium holding Standard().
func Run(t *testing.T, k Kind) {
	fx := Standard()
	run := func(name string, check func(c *checker, t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			c := &checker{kind: k, fx: fx}
			c.medium = k.New(t, fx)
			check(c, t)
		})
	}
	run("Describe", (*checker).describe)
	run("Folders", (*checker).folders)
	run("Messages", (*checker).messages)
	run("FetchAll", (*checker).fetchAll)
	run("FetchSubset", (*checker).fetchSubset)
	run("StableKeys", (*checker).stableKeys)
	run("ReadOnly", (*checker).readOnly)
	run("MissingFolder", (*checker).missingFolder)
	run("Vanished", (*checker).vanished)
	run("Cancel", (*checker).cancel)
	run("Duplicates", (*checker).duplicates)
	run("Incremental", (*checker).incremental)
}

// checker holds one check's medium.
type checker struct {
	kind   Kind
	fx     Fixture
	medium Medium
}

// name is a fixture folder's name as the source spells it.
func name(folder string, delim rune) string {
	if delim == 0 || delim == '/' {
		return folder
	}
	return strings.ReplaceAll(folder, "/", string(delim))
}

func (c *checker) open(t *testing.T) (source.Source, rune) {
	t.Helper()
	src := c.medium.Open(t)
	d, err := src.Describe(context.Background())
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	return src, d.Delimiter
}

func (c *checker) describe(t *testing.T) {
	src := c.medium.Open(t)
	d, err := src.Describe(context.Background())
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if d.Kind != c.kind.Name {
		t.Errorf("Describe: Kind %q, want %q", d.Kind, c.kind.Name)
	}
	if d.Delimiter == 0 {
		t.Errorf("Describe: no delimiter, but the fixture has nested folders")
	}
	if d.QuotaLimit == 0 && d.QuotaUsed == 0 {
		t.Errorf("Describe: quota 0 of 0 bytes: an unknown quota is -1")
	}
}

func (c *checker) folders(t *testing.T) {
	src, delim := c.open(t)
	got, err := src.Folders(context.Background())
	if err != nil {
		t.Fatalf("Folders: %v", err)
	}
	byName := map[string]mailbox.Folder{}
	for _, f := range got {
		if _, dup := byName[f.Name]; dup {
			t.Errorf("Folders: %q listed twice", f.Name)
		}
		byName[f.Name] = f
	}
	for _, want := range c.fx.Folders {
		n := name(want.Name, delim)
		f, ok := byName[n]
		if !ok {
			t.Errorf("Folders: %q missing (got %v)", n, folderNames(got))
			continue
		}
		if f.NoSelect {
			t.Errorf("Folders: %q is NoSelect", n)
		}
		if int(f.Messages) != len(want.Messages) {
			t.Errorf("Folders: %q has %d messages, want %d", n, f.Messages, len(want.Messages))
		}
		if f.Bytes != bytesOf(want.Messages) {
			t.Errorf("Folders: %q has %d bytes, want %d", n, f.Bytes, bytesOf(want.Messages))
		}
	}
}

func folderNames(fs []mailbox.Folder) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

func bytesOf(msgs []Message) int64 {
	var n int64
	for _, m := range msgs {
		n += int64(len(m.Body))
	}
	return n
}

// list lists a folder and checks the listing's invariants.
func (c *checker) list(t *testing.T, src source.Source, folder string) (mailbox.Folder, []mailbox.Message) {
	t.Helper()
	f, msgs, err := src.Messages(context.Background(), folder)
	if err != nil {
		t.Fatalf("Messages(%q): %v", folder, err)
	}
	if f.Name != folder {
		t.Errorf("Messages(%q): folder named %q", folder, f.Name)
	}
	if int(f.Messages) != len(msgs) {
		t.Errorf("Messages(%q): folder says %d messages, %d listed", folder, f.Messages, len(msgs))
	}
	if f.UIDValidity == 0 {
		t.Errorf("Messages(%q): UIDVALIDITY 0", folder)
	}
	var sum int64
	keys := map[string]bool{}
	var prev uint32
	for _, m := range msgs {
		sum += m.Size
		if m.Key == "" {
			t.Errorf("Messages(%q): message UID %d without a key", folder, m.UID)
		}
		if keys[m.Key] {
			t.Errorf("Messages(%q): key %q listed twice", folder, m.Key)
		}
		keys[m.Key] = true
		if m.UID == 0 || m.UID <= prev {
			t.Errorf("Messages(%q): UID %d after %d: UIDs must be >0, unique and ascending", folder, m.UID, prev)
		}
		prev = m.UID
		if f.UIDNext <= m.UID {
			t.Errorf("Messages(%q): UIDNEXT %d not above UID %d", folder, f.UIDNext, m.UID)
		}
		if m.InternalDate.IsZero() {
			t.Errorf("Messages(%q): key %q has no internal date", folder, m.Key)
		}
		if slices.ContainsFunc(m.Flags, func(f string) bool { return strings.EqualFold(f, `\Recent`) }) {
			t.Errorf("Messages(%q): key %q carries \\Recent", folder, m.Key)
		}
	}
	if f.Bytes != sum {
		t.Errorf("Messages(%q): folder says %d bytes, the messages' sizes add up to %d", folder, f.Bytes, sum)
	}
	if sk, ok := src.(source.Skipper); ok {
		if s := sk.Skipped(folder); len(s) > 0 {
			t.Errorf("Messages(%q): skipped %v in a clean fixture", folder, s)
		}
	}
	return f, msgs
}

func (c *checker) messages(t *testing.T) {
	src, delim := c.open(t)
	for _, want := range c.fx.Folders {
		n := name(want.Name, delim)
		_, msgs := c.list(t, src, n)
		if len(msgs) != len(want.Messages) {
			t.Errorf("Messages(%q): %d messages, want %d", n, len(msgs), len(want.Messages))
		}
		var sizes, wantSizes []int64
		for _, m := range msgs {
			sizes = append(sizes, m.Size)
		}
		for _, m := range want.Messages {
			wantSizes = append(wantSizes, int64(len(m.Body)))
		}
		slices.Sort(sizes)
		slices.Sort(wantSizes)
		if !slices.Equal(sizes, wantSizes) {
			t.Errorf("Messages(%q): sizes %v, want %v", n, sizes, wantSizes)
		}
	}
}

// fetched is a delivered message.
type fetched struct {
	msg  mailbox.Message
	body []byte
}

// fetch delivers msgs and checks each body's size and CRLF line endings.
func fetch(t *testing.T, src source.Source, folder string, msgs []mailbox.Message) map[string]fetched {
	t.Helper()
	out := map[string]fetched{}
	err := src.Fetch(context.Background(), folder, msgs, func(m mailbox.Message, b mailbox.Body) error {
		body, err := io.ReadAll(b)
		if err != nil {
			return fmt.Errorf("reading key %q: %w", m.Key, err)
		}
		if _, dup := out[m.Key]; dup {
			t.Errorf("Fetch(%q): key %q delivered twice", folder, m.Key)
		}
		if b.Size() != int64(len(body)) {
			t.Errorf("Fetch(%q): key %q: Body.Size %d, but %d bytes read", folder, m.Key, b.Size(), len(body))
		}
		if m.Size != int64(len(body)) {
			t.Errorf("Fetch(%q): key %q: listed size %d, %d bytes delivered", folder, m.Key, m.Size, len(body))
		}
		if n := bareLF(body); n > 0 {
			t.Errorf("Fetch(%q): key %q: %d bare LF line endings (want CRLF)", folder, m.Key, n)
		}
		out[m.Key] = fetched{msg: m, body: body}
		return nil
	})
	if err != nil {
		t.Fatalf("Fetch(%q): %v", folder, err)
	}
	return out
}

func bareLF(b []byte) int {
	return bytes.Count(b, []byte("\n")) - bytes.Count(b, []byte("\r\n"))
}

// fingerprint is a message as compared: bytes, flags, internal date.
func fingerprint(body []byte, flags []string, date time.Time) string {
	fl := slices.Clone(flags)
	slices.Sort(fl)
	return fmt.Sprintf("%x|%s|%s", body, strings.Join(fl, " "), date.UTC().Truncate(time.Second).Format(time.RFC3339))
}

func (c *checker) fetchAll(t *testing.T) {
	src, delim := c.open(t)
	for _, want := range c.fx.Folders {
		n := name(want.Name, delim)
		_, msgs := c.list(t, src, n)
		got := fetch(t, src, n, msgs)
		if len(got) != len(msgs) {
			t.Errorf("Fetch(%q): %d of %d messages delivered", n, len(got), len(msgs))
		}
		count := map[string]int{}
		for _, m := range want.Messages {
			count[fingerprint(m.Body, c.kind.Abilities.Keeps(m.Flags), c.kind.Abilities.date(m))]++
		}
		for _, m := range msgs {
			g, ok := got[m.Key]
			if !ok {
				t.Errorf("Fetch(%q): key %q not delivered", n, m.Key)
				continue
			}
			fp := fingerprint(g.body, m.Flags, m.InternalDate)
			if count[fp] == 0 {
				t.Errorf("Fetch(%q): key %q: no fixture message has these bytes, flags %v and date %s (%d bytes, starts %q)",
					n, m.Key, m.Flags, m.InternalDate.UTC().Format(time.RFC3339), len(g.body), head(g.body))
				c.explain(t, want.Messages, g.body)
				continue
			}
			count[fp]--
		}
	}
}

// explain tells how a delivered body differs from the closest fixture
// message (the one with the same Message-ID, else the same size).
func (c *checker) explain(t *testing.T, msgs []Message, body []byte) {
	t.Helper()
	id := func(b []byte) string {
		v, _ := headerField(b, "Message-ID")
		return v
	}
	for _, m := range msgs {
		if id(m.Body) != id(body) {
			continue
		}
		if !bytes.Equal(m.Body, body) {
			i := 0
			for i < len(m.Body) && i < len(body) && m.Body[i] == body[i] {
				i++
			}
			t.Logf("  bytes differ from the fixture's %s at offset %d: fixture %q, delivered %q (fixture %d bytes, delivered %d)",
				id(body), i, around(m.Body, i), around(body, i), len(m.Body), len(body))
			return
		}
		t.Logf("  fixture %s: flags %v (kept: %v), date %s", id(body), m.Flags, c.kind.Abilities.Keeps(m.Flags),
			c.kind.Abilities.date(m).UTC().Format(time.RFC3339))
	}
}

func around(b []byte, i int) []byte {
	lo, hi := max(i-20, 0), min(i+20, len(b))
	return b[lo:hi]
}

func head(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

func (c *checker) fetchSubset(t *testing.T) {
	src, delim := c.open(t)
	n := name(Inbox, delim)
	_, msgs := c.list(t, src, n)
	all := fetch(t, src, n, msgs)
	var subset []mailbox.Message
	for i := len(msgs) - 1; i >= 0; i -= 2 { // every other one, last first
		subset = append(subset, msgs[i])
	}
	got := fetch(t, src, n, subset)
	if len(got) != len(subset) {
		t.Errorf("Fetch(%q) of %d messages: %d delivered", n, len(subset), len(got))
	}
	for _, m := range subset {
		g, ok := got[m.Key]
		if !ok {
			t.Errorf("Fetch(%q): key %q of the subset not delivered", n, m.Key)
			continue
		}
		if !bytes.Equal(g.body, all[m.Key].body) {
			t.Errorf("Fetch(%q): key %q delivers other bytes in a subset than in the whole", n, m.Key)
		}
	}
	for k := range got {
		if !slices.ContainsFunc(subset, func(m mailbox.Message) bool { return m.Key == k }) {
			t.Errorf("Fetch(%q): key %q delivered but not asked for", n, k)
		}
	}
	// One message alone, then nothing at all.
	one := fetch(t, src, n, msgs[len(msgs)/2:len(msgs)/2+1])
	if len(one) != 1 {
		t.Errorf("Fetch(%q) of one message: %d delivered", n, len(one))
	}
	if none := fetch(t, src, n, nil); len(none) != 0 {
		t.Errorf("Fetch(%q) of no message: %d delivered", n, len(none))
	}
}

func (c *checker) stableKeys(t *testing.T) {
	src1, delim := c.open(t)
	src2, _ := c.open(t)
	for _, want := range c.fx.Folders {
		n := name(want.Name, delim)
		f1, m1 := c.list(t, src1, n)
		f2, m2 := c.list(t, src2, n)
		if f1.UIDValidity != f2.UIDValidity {
			t.Errorf("%q: UIDVALIDITY %d, then %d after reopening", n, f1.UIDValidity, f2.UIDValidity)
		}
		b1, b2 := fetch(t, src1, n, m1), fetch(t, src2, n, m2)
		if len(b1) != len(b2) {
			t.Errorf("%q: %d messages, then %d after reopening", n, len(b1), len(b2))
		}
		for k, g1 := range b1 {
			g2, ok := b2[k]
			if !ok {
				t.Errorf("%q: key %q gone after reopening", n, k)
				continue
			}
			if !bytes.Equal(g1.body, g2.body) || g1.msg.UID != g2.msg.UID {
				t.Errorf("%q: key %q names another message after reopening (UID %d, then %d)", n, k, g1.msg.UID, g2.msg.UID)
			}
		}
	}
}

func (c *checker) readOnly(t *testing.T) {
	before := c.medium.Digest(t)
	src, delim := c.open(t)
	if _, err := src.Folders(context.Background()); err != nil {
		t.Fatalf("Folders: %v", err)
	}
	for _, want := range c.fx.Folders {
		n := name(want.Name, delim)
		_, msgs := c.list(t, src, n)
		fetch(t, src, n, msgs)
	}
	if err := src.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if after := c.medium.Digest(t); after != before {
		t.Errorf("the medium changed by reading it:\nbefore %s\nafter  %s", before, after)
	}
}

func (c *checker) missingFolder(t *testing.T) {
	src, delim := c.open(t)
	missing := name("Nope/Missing", delim)
	if _, _, err := src.Messages(context.Background(), missing); !errors.Is(err, mailbox.ErrFolderGone) {
		t.Errorf("Messages(%q): %v, want an error wrapping ErrFolderGone", missing, err)
	}
	_, msgs := c.list(t, src, name(Inbox, delim))
	err := src.Fetch(context.Background(), missing, msgs[:1], func(mailbox.Message, mailbox.Body) error {
		t.Errorf("Fetch(%q) delivered a message", missing)
		return nil
	})
	if !errors.Is(err, mailbox.ErrFolderGone) {
		t.Errorf("Fetch(%q): %v, want an error wrapping ErrFolderGone", missing, err)
	}
}

func (c *checker) vanished(t *testing.T) {
	src, delim := c.open(t)
	n := name(Inbox, delim)
	_, msgs := c.list(t, src, n)
	c.medium.Remove(t, Inbox, 0)
	removed := c.fx.Folders[0].Messages[0].Body
	got := fetch(t, src, n, msgs)
	if len(got) != len(msgs)-1 {
		t.Errorf("Fetch(%q) after removing one of %d messages: %d delivered", n, len(msgs), len(got))
	}
	for k, g := range got {
		if bytes.Equal(g.body, removed) {
			t.Errorf("Fetch(%q): key %q delivers the removed message", n, k)
		}
	}
	_, after := c.list(t, src, n)
	if len(after) != len(msgs)-1 {
		t.Errorf("Messages(%q) after removing one of %d messages: %d listed", n, len(msgs), len(after))
	}
}

func (c *checker) cancel(t *testing.T) {
	src, delim := c.open(t)
	n := name(Inbox, delim)
	_, msgs := c.list(t, src, n)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := src.Fetch(ctx, n, msgs, func(mailbox.Message, mailbox.Body) error {
		t.Errorf("Fetch with an ended context delivered a message")
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch with an ended context: %v, want context.Canceled", err)
	}
	if _, _, err := src.Messages(ctx, n); !errors.Is(err, context.Canceled) {
		t.Errorf("Messages with an ended context: %v, want context.Canceled", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	err = src.Fetch(ctx, n, msgs, func(m mailbox.Message, b mailbox.Body) error {
		calls++
		if calls == 1 {
			if _, err := io.ReadAll(b); err != nil {
				return err
			}
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch cancelled after the first message: %v, want context.Canceled", err)
	}
	if calls >= len(msgs) {
		t.Errorf("Fetch cancelled after the first message went on to deliver all %d", calls)
	}
	// The source is still usable with a live context.
	src2, _ := c.open(t)
	_, msgs2 := c.list(t, src2, n)
	if got := fetch(t, src2, n, msgs2); len(got) != len(msgs) {
		t.Errorf("after a cancelled Fetch: %d of %d messages delivered", len(got), len(msgs))
	}
}

func (c *checker) duplicates(t *testing.T) {
	src, delim := c.open(t)
	n := name(Inbox, delim)
	_, msgs := c.list(t, src, n)
	got := fetch(t, src, n, msgs)
	var dupBody []byte
	seen := map[string]int{}
	for _, m := range c.fx.Folders[0].Messages {
		seen[string(m.Body)]++
		if seen[string(m.Body)] == 2 {
			dupBody = m.Body
		}
	}
	var keys []string
	for k, g := range got {
		if bytes.Equal(g.body, dupBody) {
			keys = append(keys, k)
		}
	}
	if len(keys) != 2 {
		t.Errorf("two identical messages: %d delivered (keys %v)", len(keys), keys)
	}
}

func (c *checker) incremental(t *testing.T) {
	src, delim := c.open(t)
	n := name(Inbox, delim)
	_, before := c.list(t, src, n)
	arrival := Arrival()
	c.medium.Add(t, Inbox, arrival)
	check := func(label string, src source.Source) {
		_, after := c.list(t, src, n)
		old := map[string]mailbox.Message{}
		var maxUID uint32
		for _, m := range before {
			old[m.Key] = m
			maxUID = max(maxUID, m.UID)
		}
		var added []mailbox.Message
		for _, m := range after {
			if o, ok := old[m.Key]; ok {
				delete(old, m.Key)
				if o.UID != m.UID {
					t.Errorf("%s: key %q had UID %d, now %d", label, m.Key, o.UID, m.UID)
				}
				continue
			}
			added = append(added, m)
		}
		for k := range old {
			t.Errorf("%s: key %q gone after a message was added", label, k)
		}
		if len(added) != 1 {
			t.Fatalf("%s: %d new keys after adding one message", label, len(added))
		}
		if added[0].UID <= maxUID {
			t.Errorf("%s: the new message has UID %d, not above the others' %d", label, added[0].UID, maxUID)
		}
		got := fetch(t, src, n, added)
		g := got[added[0].Key]
		if fingerprint(g.body, g.msg.Flags, g.msg.InternalDate) != fingerprint(arrival.Body, c.kind.Abilities.Keeps(arrival.Flags), c.kind.Abilities.date(arrival)) {
			t.Errorf("%s: the new message is %q with flags %v and date %s", label, head(g.body), g.msg.Flags, g.msg.InternalDate)
		}
	}
	check("same source", src)
	src2, _ := c.open(t)
	check("reopened", src2)
}

// headerDate reads a message's Date header.
func headerDate(b []byte) (time.Time, bool) {
	v, ok := headerField(b, "Date")
	if !ok {
		return time.Time{}, false
	}
	d, err := parseDate(v)
	return d, err == nil
}

// headerField returns the unfolded value of a message's first header
// field called name.
func headerField(b []byte, name string) (string, bool) {
	hdr, _, _ := bytes.Cut(b, []byte("\r\n\r\n"))
	lines := strings.Split(string(hdr), "\r\n")
	for i, l := range lines {
		k, v, ok := strings.Cut(l, ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), name) {
			continue
		}
		for _, cont := range lines[i+1:] {
			if cont == "" || cont[0] != ' ' && cont[0] != '\t' {
				break
			}
			v += cont
		}
		return strings.TrimSpace(v), true
	}
	return "", false
}

func parseDate(v string) (time.Time, error) { return mail.ParseDate(v) }

// TreeDigest sums up a directory tree for Medium.Digest: every name, mode,
// size, modification time and content.
func TreeDigest(t *testing.T, root string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %v %d %d\n", p, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("digest of %s: %v", root, err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
