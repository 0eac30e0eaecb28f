// Package targettest is the conformance suite every target.Target passes:
// IMAP servers through target/imaptarget, the in-memory fake of
// internal/testrig/fakemail. A kind of target takes part by handing out
// fresh accounts (Kind.New) that the suite opens connections to; Run then
// checks what the copy engine relies on: folders created (nested, again,
// with a special-use role), renamed with their subfolders and deleted;
// messages appended one by one and in batches and read back byte for byte
// with their flags, keywords and internal dates; UIDs and APPENDUID;
// refusals of a message and of a batch; flags replaced; messages expunged
// and no others; missing folders; and a connection that drops in the
// middle of an append, which must leave the message or group wholly stored
// or wholly absent, never in part.
//
// What a kind of server does differently (no UIDPLUS, no MULTIAPPEND, no
// keywords, a new UIDVALIDITY on rename) is declared in Abilities, and the
// checks expect exactly that instead of skipping.
package targettest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/target"
)

// Abilities declare what a kind of target does.
type Abilities struct {
	// Keywords says whether keywords ($Forwarded, Work, ...) are kept;
	// without, they are dropped silently (the system flags are always
	// kept).
	Keywords bool
	// UIDPlus says whether appends return the new messages' UIDs, and
	// Describe reports UIDPlus. Without it a UID may still be returned (a
	// server that says APPENDUID without announcing UIDPLUS); if it is, it
	// must be right.
	UIDPlus bool
	// Batches says whether the target is a target.BatchAppender whose
	// Batches reports true.
	Batches bool
	// Roles says whether CreateFolder gives a folder the special-use role
	// asked for (CREATE-SPECIAL-USE); without, the folder is created
	// without one.
	Roles bool
	// RenameKeepsUIDValidity says whether a renamed folder keeps its
	// UIDVALIDITY (Dovecot); if not, it gets a new one (Courier).
	RenameKeepsUIDValidity bool
	// RefuseOver, if > 0, is the size in bytes above which the account
	// refuses a message; 0 if the kind cannot be made to refuse.
	RefuseOver int64
}

// Account is a fresh mailbox on a kind of target: INBOX and whatever
// folders the server creates by itself.
type Account interface {
	// Open opens a new connection; the account closes it when the test
	// ends.
	Open(t *testing.T) target.Target
	// CutAfter makes the connections to the account drop once about n
	// more bytes have been sent towards the server (a fault proxy for a
	// network server, the fake's fault knob). It applies once.
	CutAfter(t *testing.T, n int64)
}

// Kind is a kind of target under test.
type Kind struct {
	// Name is what Describe reports as Kind.
	Name string
	// Abilities declare what the target does.
	Abilities Abilities
	// New returns a fresh account.
	New func(t *testing.T) Account
	// Skip names checks the kind is known to fail, with the reason (a gap
	// to close); they are reported as skipped.
	Skip map[string]string
}

// Message is a message the checks append.
type Message struct {
	Body  []byte
	Flags []string
	Date  time.Time
}

// SystemFlags are the flags every target keeps.
var SystemFlags = []string{`\Answered`, `\Deleted`, `\Draft`, `\Flagged`, `\Seen`}

// Keeps returns the flags of flags that a target with these abilities
// keeps, sorted, without duplicates and \Recent.
func (a Abilities) Keeps(flags []string) []string {
	out := []string{}
	for _, f := range flags {
		if strings.HasPrefix(f, `\`) {
			i := slices.IndexFunc(SystemFlags, func(s string) bool { return strings.EqualFold(s, f) })
			if i < 0 {
				continue
			}
			f = SystemFlags[i]
		} else if !a.Keywords {
			continue
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

// Messages returns n varied messages (generated mail of about avg bytes,
// with flags, keywords and dates) for the checks.
func Messages(seed int64, n, avg int) []Message {
	var out []Message
	for _, g := range corpus.Generate(seed, n, avg) {
		out = append(out, Message{Body: g.Body, Flags: g.Flags, Date: g.InternalDate})
	}
	return out
}

// Special returns messages that a target must store exactly as well: one
// over 1 MiB, one with a 100 KB line, one with 8-bit text, one with a
// keyword and every system flag, one with no flags, one in a time zone
// east of UTC.
func Special() []Message {
	var big bytes.Buffer
	big.WriteString("From: Big <big@example.org>\r\nTo: alice@example.org\r\nSubject: a large message\r\n" +
		"Date: Thu, 07 Mar 2024 11:00:00 -0500\r\nMessage-ID: <big@targettest.example.org>\r\n\r\n")
	for i := 0; big.Len() < 1200<<10; i++ {
		fmt.Fprintf(&big, "line %06d of a large message, with some text to fill it up to seventy-six\r\n", i)
	}
	east := time.FixedZone("+0530", 5*3600+1800)
	return []Message{
		{Body: big.Bytes(), Flags: []string{`\Seen`}, Date: time.Date(2024, 3, 7, 16, 0, 9, 0, time.UTC)},
		{Body: []byte("From: Long <long@example.org>\r\nSubject: one very long line\r\nMessage-ID: <long@targettest.example.org>\r\n\r\n" +
			strings.Repeat("0123456789", 10<<10) + "\r\nshort line\r\n"),
			Flags: []string{`\Flagged`, "$Label1"}, Date: time.Date(2023, 12, 31, 23, 59, 59, 0, time.UTC)},
		{Body: []byte("From: =?UTF-8?Q?J=C3=B6rg?= <j@example.org>\r\nSubject: 8bit\r\nMessage-ID: <8bit@targettest.example.org>\r\n" +
			"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln, ½ € – ok\r\n"),
			Flags: SystemFlags, Date: time.Date(2022, 6, 1, 8, 30, 0, 0, east)},
		{Body: []byte("From: k@example.org\r\nSubject: keywords\r\nMessage-ID: <kw@targettest.example.org>\r\n\r\nkeywords\r\n"),
			Flags: []string{"$Forwarded", "Work", `\Answered`}, Date: time.Date(2021, 1, 2, 3, 4, 5, 0, time.UTC)},
		{Body: []byte("From: n@example.org\r\nSubject: no flags\r\nMessage-ID: <none@targettest.example.org>\r\n\r\nnothing\r\n"),
			Date: time.Date(2020, 2, 29, 12, 0, 0, 0, time.UTC)},
	}
}

// Run runs every check on k, each on a fresh account.
func Run(t *testing.T, k Kind) {
	run := func(name string, check func(c *checker, t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			if why, ok := k.Skip[name]; ok {
				t.Skip(why)
			}
			c := &checker{kind: k, a: k.Abilities}
			c.acct = k.New(t)
			check(c, t)
		})
	}
	run("Describe", (*checker).describe)
	run("CreateFolder", (*checker).createFolder)
	run("CreateRole", (*checker).createRole)
	run("RenameFolder", (*checker).renameFolder)
	run("RenameMissing", (*checker).renameMissing)
	run("DeleteFolder", (*checker).deleteFolder)
	run("MissingFolder", (*checker).missingFolder)
	run("Append", (*checker).appendReadBack)
	run("AppendNoDate", (*checker).appendNoDate)
	run("AppendBatch", (*checker).appendBatch)
	run("RefuseMessage", (*checker).refuseMessage)
	run("RefuseBatch", (*checker).refuseBatch)
	run("SetFlags", (*checker).setFlags)
	run("Expunge", (*checker).expunge)
	run("FetchVanished", (*checker).fetchVanished)
	run("TwoConnections", (*checker).twoConnections)
	run("WrongSize", (*checker).wrongSize)
	run("Cancel", (*checker).cancel)
	run("CutAppend", (*checker).cutAppend)
	run("CutBatch", (*checker).cutBatch)
}

// checker holds one check's account.
type checker struct {
	kind  Kind
	a     Abilities
	acct  Account
	delim rune
}

var ctx = context.Background()

// open opens a connection and learns the delimiter.
func (c *checker) open(t *testing.T) target.Target {
	t.Helper()
	tg := c.acct.Open(t)
	if c.delim == 0 {
		d, err := tg.Describe(ctx)
		if err != nil {
			t.Fatalf("Describe: %v", err)
		}
		c.delim = d.Delimiter
		if c.delim == 0 {
			c.delim = '/'
		}
	}
	return tg
}

// name joins a folder name's components with the target's delimiter.
func (c *checker) name(parts ...string) string { return strings.Join(parts, string(c.delim)) }

func (c *checker) describe(t *testing.T) {
	tg := c.acct.Open(t)
	d, err := tg.Describe(ctx)
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if d.Kind != c.kind.Name {
		t.Errorf("Describe: Kind %q, want %q", d.Kind, c.kind.Name)
	}
	if d.Delimiter == 0 {
		t.Errorf("Describe: no delimiter")
	}
	if d.UIDPlus != c.a.UIDPlus {
		t.Errorf("Describe: UIDPlus %v, but the kind declares %v", d.UIDPlus, c.a.UIDPlus)
	}
	if d.QuotaLimit == 0 && d.QuotaUsed == 0 {
		t.Errorf("Describe: quota 0 of 0 bytes: an unknown quota is -1")
	}
	ba, ok := tg.(target.BatchAppender)
	if got := ok && ba.Batches(); got != c.a.Batches {
		t.Errorf("Batches: %v, but the kind declares %v", got, c.a.Batches)
	}
	if _, err := tg.Folders(ctx); err != nil {
		t.Errorf("Folders: %v", err)
	}
}

// folders lists the folders by name.
func folders(t *testing.T, tg target.Target) map[string]mailbox.Folder {
	t.Helper()
	fs, err := tg.Folders(ctx)
	if err != nil {
		t.Fatalf("Folders: %v", err)
	}
	out := map[string]mailbox.Folder{}
	for _, f := range fs {
		if _, dup := out[f.Name]; dup {
			t.Errorf("Folders: %q listed twice", f.Name)
		}
		if f.Error != "" {
			t.Errorf("Folders: %q listed with the error %q", f.Name, f.Error)
		}
		out[f.Name] = f
	}
	return out
}

func names(m map[string]mailbox.Folder) []string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// status returns a folder's counters, failing the test on an error.
func status(t *testing.T, tg target.Target, folder string) mailbox.Folder {
	t.Helper()
	f, err := tg.Status(ctx, folder)
	if err != nil {
		t.Fatalf("Status(%q): %v", folder, err)
	}
	if f.UIDValidity == 0 {
		t.Errorf("Status(%q): UIDVALIDITY 0", folder)
	}
	if f.UIDNext == 0 {
		t.Errorf("Status(%q): UIDNEXT 0", folder)
	}
	return f
}

func create(t *testing.T, tg target.Target, folder, role string) {
	t.Helper()
	if err := tg.CreateFolder(ctx, folder, role); err != nil {
		t.Fatalf("CreateFolder(%q, %q): %v", folder, role, err)
	}
}

func (c *checker) createFolder(t *testing.T) {
	tg := c.open(t)
	leaf := c.name("Projekte", "2024", "Überblick")
	create(t, tg, leaf, "")
	got := folders(t, tg)
	for _, n := range []string{c.name("Projekte"), c.name("Projekte", "2024"), leaf} {
		if _, ok := got[n]; !ok {
			t.Errorf("Folders after creating %q: %q missing (got %v)", leaf, n, names(got))
		}
	}
	if f := got[leaf]; f.NoSelect {
		t.Errorf("Folders: the created folder %q is NoSelect", leaf)
	}
	st := status(t, tg, leaf)
	// A parent made on the way may be a mere hierarchy node (\Noselect);
	// created by name, it holds mail.
	parent := c.name("Projekte", "2024")
	create(t, tg, parent, "")
	if f := folders(t, tg)[parent]; f.NoSelect {
		t.Errorf("Folders: %q is NoSelect after creating it by name", parent)
	}
	c.appendOne(t, tg, parent, Messages(10, 1, 500)[0])
	if pst := status(t, tg, parent); pst.Messages != 1 {
		t.Errorf("Status(%q): %d messages after one append", parent, pst.Messages)
	}
	if st.Messages != 0 {
		t.Errorf("Status(%q) of a new folder: %d messages", leaf, st.Messages)
	}
	// Again, and INBOX in any spelling: not an error, nothing changes.
	create(t, tg, leaf, "")
	create(t, tg, "INBOX", "")
	create(t, tg, "inbox", "")
	if again := status(t, tg, leaf); again.UIDValidity != st.UIDValidity {
		t.Errorf("Status(%q): UIDVALIDITY %d, then %d after creating it again", leaf, st.UIDValidity, again.UIDValidity)
	}
	// A sibling under an existing parent; another connection sees both.
	sib := c.name("Projekte", "2025")
	create(t, tg, sib, "")
	other := c.acct.Open(t)
	got = folders(t, other)
	for _, n := range []string{leaf, sib} {
		if _, ok := got[n]; !ok {
			t.Errorf("Folders on another connection: %q missing (got %v)", n, names(got))
		}
	}
	if err := tg.CreateFolder(ctx, "", ""); err == nil {
		t.Errorf("CreateFolder of an empty name: no error")
	}
}

func (c *checker) createRole(t *testing.T) {
	tg := c.open(t)
	// \Archive: a role every server with CREATE-SPECIAL-USE takes (Cyrus
	// refuses \Flagged and \All by default).
	n := c.name("Archives by mailshift")
	create(t, tg, n, mailbox.RoleArchive)
	f, ok := folders(t, tg)[n]
	if !ok {
		t.Fatalf("Folders: %q missing after creating it with a role", n)
	}
	switch {
	case c.a.Roles && f.Role != mailbox.RoleArchive:
		t.Errorf("Folders: %q has role %q, want %q", n, f.Role, mailbox.RoleArchive)
	case !c.a.Roles && f.Role != "":
		t.Errorf("Folders: %q has role %q, but the kind declares no roles", n, f.Role)
	}
	// An existing folder asked for with a role is not an error.
	plain := c.name("Plain")
	create(t, tg, plain, "")
	create(t, tg, plain, mailbox.RoleTrash)
	status(t, tg, plain)
}

// appendOne appends m and checks what Append says.
func (c *checker) appendOne(t *testing.T, tg target.Target, folder string, m Message) target.Appended {
	t.Helper()
	ap, err := tg.Append(ctx, folder, m.Flags, m.Date, int64(len(m.Body)), bytes.NewReader(m.Body))
	if err != nil {
		t.Fatalf("Append to %q (%d bytes): %v", folder, len(m.Body), err)
	}
	c.checkAppended(t, folder, ap)
	return ap
}

func (c *checker) checkAppended(t *testing.T, folder string, ap target.Appended) {
	t.Helper()
	if c.a.UIDPlus && (ap.UID == 0 || ap.UIDValidity == 0) {
		t.Errorf("Append to %q: UIDVALIDITY %d UID %d, but the kind declares UIDPLUS", folder, ap.UIDValidity, ap.UID)
	}
}

// stored is a message read back from the target.
type stored struct {
	msg  mailbox.Message
	body []byte
}

// readBack lists folder and fetches every message, checking the listing's
// invariants and exact sizes.
func readBack(t *testing.T, tg target.Target, folder string) (mailbox.Folder, []stored) {
	t.Helper()
	f, msgs, err := tg.Messages(ctx, folder)
	if err != nil {
		t.Fatalf("Messages(%q): %v", folder, err)
	}
	if int(f.Messages) != len(msgs) {
		t.Errorf("Messages(%q): folder says %d messages, %d listed", folder, f.Messages, len(msgs))
	}
	var prev uint32
	for _, m := range msgs {
		if m.UID == 0 || m.UID <= prev {
			t.Errorf("Messages(%q): UID %d after %d: UIDs must be >0 and ascending", folder, m.UID, prev)
		}
		prev = m.UID
		if f.UIDNext <= m.UID {
			t.Errorf("Messages(%q): UIDNEXT %d not above UID %d", folder, f.UIDNext, m.UID)
		}
	}
	bodies := map[uint32][]byte{}
	err = tg.Fetch(ctx, folder, msgs, func(m mailbox.Message, b mailbox.Body) error {
		data, err := io.ReadAll(b)
		if err != nil {
			return err
		}
		if b.Size() != int64(len(data)) {
			t.Errorf("Fetch(%q): UID %d: Body.Size %d, %d bytes read", folder, m.UID, b.Size(), len(data))
		}
		if _, dup := bodies[m.UID]; dup {
			t.Errorf("Fetch(%q): UID %d delivered twice", folder, m.UID)
		}
		bodies[m.UID] = data
		return nil
	})
	if err != nil {
		t.Fatalf("Fetch(%q): %v", folder, err)
	}
	out := make([]stored, 0, len(msgs))
	for _, m := range msgs {
		b, ok := bodies[m.UID]
		if !ok {
			t.Errorf("Fetch(%q): UID %d listed but not delivered", folder, m.UID)
			continue
		}
		if m.Size != int64(len(b)) {
			t.Errorf("Messages(%q): UID %d listed with size %d, %d bytes delivered", folder, m.UID, m.Size, len(b))
		}
		out = append(out, stored{msg: m, body: b})
	}
	return f, out
}

// same checks that got holds want, in order: bytes, kept flags and dates
// to the second.
func (c *checker) same(t *testing.T, folder string, want []Message, got []stored) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%q holds %d messages, want %d", folder, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		w, g := want[i], got[i]
		if !bytes.Equal(g.body, w.Body) {
			j := 0
			for j < len(g.body) && j < len(w.Body) && g.body[j] == w.Body[j] {
				j++
			}
			t.Errorf("%q message %d (UID %d): %d bytes stored for %d appended, first difference at offset %d", folder, i+1, g.msg.UID, len(g.body), len(w.Body), j)
		}
		gf := slices.Clone(g.msg.Flags)
		slices.Sort(gf)
		if wf := c.a.Keeps(w.Flags); !slices.Equal(gf, wf) && !(len(gf) == 0 && len(wf) == 0) {
			t.Errorf("%q message %d (UID %d): flags %v, want %v (appended with %v)", folder, i+1, g.msg.UID, gf, wf, w.Flags)
		}
		if !w.Date.IsZero() && !g.msg.InternalDate.Equal(w.Date.Truncate(time.Second)) {
			t.Errorf("%q message %d (UID %d): internal date %s, want %s", folder, i+1, g.msg.UID,
				g.msg.InternalDate.Format(time.RFC3339), w.Date.Format(time.RFC3339))
		}
	}
}

func (c *checker) appendReadBack(t *testing.T) {
	tg := c.open(t)
	folder := c.name("Copied", "Mail")
	create(t, tg, folder, "")
	before := status(t, tg, folder)
	want := append(Messages(11, 6, 3000), Special()...)
	var aps []target.Appended
	for _, m := range want {
		aps = append(aps, c.appendOne(t, tg, folder, m))
	}
	after := status(t, tg, folder)
	if after.UIDValidity != before.UIDValidity {
		t.Errorf("Status(%q): UIDVALIDITY %d before appending, %d after", folder, before.UIDValidity, after.UIDValidity)
	}
	if int(after.Messages) != len(want) {
		t.Errorf("Status(%q): %d messages after appending %d", folder, after.Messages, len(want))
	}
	var sum int64
	for _, m := range want {
		sum += int64(len(m.Body))
	}
	f, got := readBack(t, tg, folder)
	if f.Bytes >= 0 && f.Bytes != sum {
		t.Errorf("Messages(%q): folder says %d bytes, %d appended", folder, f.Bytes, sum)
	}
	c.same(t, folder, want, got)
	for i, ap := range aps {
		if ap.UID == 0 {
			continue
		}
		if ap.UIDValidity != after.UIDValidity {
			t.Errorf("Append %d: APPENDUID validity %d, the folder's is %d", i+1, ap.UIDValidity, after.UIDValidity)
		}
		if i < len(got) && got[i].msg.UID != ap.UID {
			t.Errorf("Append %d: APPENDUID %d, but the message listed there has UID %d", i+1, ap.UID, got[i].msg.UID)
		}
		if ap.UID >= after.UIDNext {
			t.Errorf("Append %d: UID %d, but UIDNEXT is %d", i+1, ap.UID, after.UIDNext)
		}
		if i > 0 && aps[i-1].UID != 0 && ap.UID <= aps[i-1].UID {
			t.Errorf("Append %d: UID %d after %d", i+1, ap.UID, aps[i-1].UID)
		}
	}
	// A fresh connection reads the same.
	_, again := readBack(t, c.acct.Open(t), folder)
	c.same(t, folder+" (another connection)", want, again)

	// Appending into INBOX works too, spelled in any case.
	m := Messages(12, 1, 500)[0]
	c.appendOne(t, tg, "INBOX", m)
	if _, got := readBack(t, tg, "INBOX"); len(got) != 1 || !bytes.Equal(got[0].body, m.Body) {
		t.Errorf("INBOX holds %d messages after one append", len(got))
	}
}

func (c *checker) appendNoDate(t *testing.T) {
	tg := c.open(t)
	m := Messages(13, 1, 800)[0]
	m.Date = time.Time{}
	start := time.Now().Add(-time.Minute)
	c.appendOne(t, tg, "INBOX", m)
	_, got := readBack(t, tg, "INBOX")
	if len(got) != 1 {
		t.Fatalf("INBOX holds %d messages after one append", len(got))
	}
	if d := got[0].msg.InternalDate; d.Before(start) || d.After(time.Now().Add(time.Minute)) {
		t.Errorf("a message appended without a date has internal date %s, want about now", d)
	}
}

func (c *checker) missingFolder(t *testing.T) {
	tg := c.open(t)
	missing := c.name("Nope", "Missing")
	if _, err := tg.Status(ctx, missing); !errors.Is(err, mailbox.ErrFolderGone) {
		t.Errorf("Status(%q): %v, want an error wrapping ErrFolderGone", missing, err)
	}
	if _, _, err := tg.Messages(ctx, missing); !errors.Is(err, mailbox.ErrFolderGone) {
		t.Errorf("Messages(%q): %v, want an error wrapping ErrFolderGone", missing, err)
	}
	m := Messages(14, 1, 500)[0]
	c.appendOne(t, tg, "INBOX", m)
	_, inbox, _ := tg.Messages(ctx, "INBOX")
	err := tg.Fetch(ctx, missing, inbox, func(mailbox.Message, mailbox.Body) error {
		t.Errorf("Fetch(%q) delivered a message", missing)
		return nil
	})
	if !errors.Is(err, mailbox.ErrFolderGone) {
		t.Errorf("Fetch(%q): %v, want an error wrapping ErrFolderGone", missing, err)
	}
	_, err = tg.Append(ctx, missing, m.Flags, m.Date, int64(len(m.Body)), bytes.NewReader(m.Body))
	if !errors.Is(err, mailbox.ErrFolderGone) {
		t.Errorf("Append to %q: %v, want an error wrapping ErrFolderGone", missing, err)
	}
	if ba, ok := tg.(target.BatchAppender); ok && c.a.Batches {
		_, err := ba.AppendBatch(ctx, missing, []mailbox.Item{{Flags: m.Flags, Date: m.Date, Body: m.Body}})
		if err == nil {
			t.Errorf("AppendBatch to %q: no error", missing)
		} else if !errors.Is(err, target.ErrBatchRefused) && !errors.Is(err, mailbox.ErrFolderGone) {
			t.Errorf("AppendBatch to %q: %v, want an error wrapping ErrBatchRefused or ErrFolderGone", missing, err)
		}
	}
	if _, err := tg.Status(ctx, missing); !errors.Is(err, mailbox.ErrFolderGone) {
		t.Errorf("Status(%q) after appending to it: %v: the append created it", missing, err)
	}
	// The connection still serves.
	status(t, tg, "INBOX")
}

func (c *checker) renameFolder(t *testing.T) {
	tg := c.open(t)
	from, sub := c.name("Old"), c.name("Old", "Sub")
	create(t, tg, sub, "")
	create(t, tg, from, "")
	want := Messages(15, 3, 2000)
	c.appendOne(t, tg, from, want[0])
	c.appendOne(t, tg, from, want[1])
	c.appendOne(t, tg, sub, want[2])
	stFrom, stSub := status(t, tg, from), status(t, tg, sub)

	to, toSub := c.name("Renamed", "New"), c.name("Renamed", "New", "Sub")
	if err := tg.RenameFolder(ctx, from, to); err != nil {
		t.Fatalf("RenameFolder(%q, %q): %v", from, to, err)
	}
	got := folders(t, tg)
	for _, n := range []string{from, sub} {
		if _, ok := got[n]; ok {
			t.Errorf("Folders after renaming %q: %q still listed", from, n)
		}
		if _, err := tg.Status(ctx, n); !errors.Is(err, mailbox.ErrFolderGone) {
			t.Errorf("Status(%q) after renaming it: %v, want an error wrapping ErrFolderGone", n, err)
		}
	}
	for _, p := range []struct {
		name   string
		before mailbox.Folder
		want   []Message
	}{{to, stFrom, want[:2]}, {toSub, stSub, want[2:]}} {
		if _, ok := got[p.name]; !ok {
			t.Errorf("Folders after renaming %q to %q: %q missing (got %v)", from, to, p.name, names(got))
			continue
		}
		st := status(t, tg, p.name)
		switch {
		case c.a.RenameKeepsUIDValidity && st.UIDValidity != p.before.UIDValidity:
			t.Errorf("Status(%q): UIDVALIDITY %d, was %d before the rename (the kind declares it kept)", p.name, st.UIDValidity, p.before.UIDValidity)
		case !c.a.RenameKeepsUIDValidity && st.UIDValidity == p.before.UIDValidity:
			t.Errorf("Status(%q): UIDVALIDITY %d kept across the rename (the kind declares a new one)", p.name, st.UIDValidity)
		}
		_, msgs := readBack(t, tg, p.name)
		c.same(t, p.name, p.want, msgs)
	}
	// The renamed folder takes appends; the old name can be made again.
	c.appendOne(t, tg, to, Messages(16, 1, 500)[0])
	create(t, tg, from, "")
	if st := status(t, tg, from); st.Messages != 0 {
		t.Errorf("Status(%q) created again after the rename: %d messages", from, st.Messages)
	}
}

func (c *checker) renameMissing(t *testing.T) {
	tg := c.open(t)
	if err := tg.RenameFolder(ctx, c.name("Nope", "Missing"), c.name("Elsewhere")); err == nil {
		t.Errorf("RenameFolder of a missing folder: no error")
	}
	if _, ok := folders(t, tg)[c.name("Elsewhere")]; ok {
		t.Errorf("RenameFolder of a missing folder created its new name")
	}
}

func (c *checker) deleteFolder(t *testing.T) {
	tg := c.open(t)
	n := c.name("Doomed")
	create(t, tg, n, "")
	c.appendOne(t, tg, n, Messages(17, 1, 500)[0])
	old := status(t, tg, n)
	if err := tg.DeleteFolder(ctx, n); err != nil {
		t.Fatalf("DeleteFolder(%q): %v", n, err)
	}
	if _, ok := folders(t, tg)[n]; ok {
		t.Errorf("Folders: %q listed after deleting it", n)
	}
	if _, err := tg.Status(ctx, n); !errors.Is(err, mailbox.ErrFolderGone) {
		t.Errorf("Status(%q) after deleting it: %v, want an error wrapping ErrFolderGone", n, err)
	}
	if err := tg.DeleteFolder(ctx, n); err != nil {
		t.Errorf("DeleteFolder(%q) of a folder that is gone: %v", n, err)
	}
	if err := tg.DeleteFolder(ctx, "INBOX"); err == nil {
		t.Errorf("DeleteFolder(INBOX): no error")
	}
	status(t, tg, "INBOX")
	// Made again, it is empty and has another UIDVALIDITY.
	create(t, tg, n, "")
	st := status(t, tg, n)
	if st.Messages != 0 {
		t.Errorf("Status(%q) created again: %d messages", n, st.Messages)
	}
	if st.UIDValidity == old.UIDValidity {
		t.Errorf("Status(%q) created again: the deleted folder's UIDVALIDITY %d", n, st.UIDValidity)
	}
}

// batcher returns tg as a BatchAppender that batches, or skips when the
// kind declares none (after checking that it does not claim to batch).
func (c *checker) batcher(t *testing.T, tg target.Target) target.BatchAppender {
	t.Helper()
	ba, ok := tg.(target.BatchAppender)
	if !c.a.Batches {
		if ok && ba.Batches() {
			t.Errorf("Batches: true, but the kind declares no batches")
		}
		if ok {
			m := Messages(18, 1, 500)[0]
			_, err := ba.AppendBatch(ctx, "INBOX", []mailbox.Item{{Flags: m.Flags, Date: m.Date, Body: m.Body}})
			if !errors.Is(err, target.ErrBatchRefused) {
				t.Errorf("AppendBatch without batches: %v, want an error wrapping ErrBatchRefused", err)
			}
			if st := status(t, tg, "INBOX"); st.Messages != 0 {
				t.Errorf("AppendBatch without batches stored %d messages", st.Messages)
			}
		}
		t.Skip("the kind declares no batches")
	}
	if !ok || !ba.Batches() {
		t.Fatalf("the kind declares batches, but the target is no BatchAppender that batches")
	}
	return ba
}

func items(msgs []Message) []mailbox.Item {
	out := make([]mailbox.Item, len(msgs))
	for i, m := range msgs {
		out[i] = mailbox.Item{Flags: m.Flags, Date: m.Date, Body: m.Body}
	}
	return out
}

// checkBatch checks what AppendBatch said about n messages.
func (c *checker) checkBatch(t *testing.T, folder string, aps []target.Appended, n int) {
	t.Helper()
	if len(aps) != n {
		t.Fatalf("AppendBatch of %d messages to %q: %d results", n, folder, len(aps))
	}
	for i, ap := range aps {
		c.checkAppended(t, folder, ap)
		if i > 0 && ap.UID != 0 && ap.UID <= aps[i-1].UID {
			t.Errorf("AppendBatch to %q: message %d has UID %d after %d", folder, i+1, ap.UID, aps[i-1].UID)
		}
	}
}

func (c *checker) appendBatch(t *testing.T) {
	tg := c.open(t)
	ba := c.batcher(t, tg)
	folder := c.name("Batched")
	create(t, tg, folder, "")
	first := append(Messages(19, 6, 4000), Special()[1:]...)
	second := Messages(20, 3, 200_000)
	aps1, err := ba.AppendBatch(ctx, folder, items(first))
	if err != nil {
		t.Fatalf("AppendBatch of %d messages: %v", len(first), err)
	}
	c.checkBatch(t, folder, aps1, len(first))
	aps2, err := ba.AppendBatch(ctx, folder, items(second))
	if err != nil {
		t.Fatalf("AppendBatch of %d messages: %v", len(second), err)
	}
	c.checkBatch(t, folder, aps2, len(second))
	if none, err := ba.AppendBatch(ctx, folder, nil); err != nil || len(none) != 0 {
		t.Errorf("AppendBatch of nothing: %d results, %v", len(none), err)
	}
	st := status(t, tg, folder)
	_, got := readBack(t, tg, folder)
	want := append(slices.Clone(first), second...)
	c.same(t, folder, want, got)
	if all := append(aps1, aps2...); all[0].UID != 0 {
		if all[len(all)-1].UID >= st.UIDNext {
			t.Errorf("AppendBatch: last UID %d, but UIDNEXT is %d", all[len(all)-1].UID, st.UIDNext)
		}
		if aps2[0].UID <= aps1[len(aps1)-1].UID {
			t.Errorf("AppendBatch: the second batch starts at UID %d, the first ended at %d", aps2[0].UID, aps1[len(aps1)-1].UID)
		}
		for i, ap := range all {
			if ap.UIDValidity != st.UIDValidity {
				t.Errorf("AppendBatch: message %d has UIDVALIDITY %d, the folder %d", i+1, ap.UIDValidity, st.UIDValidity)
			}
			if i < len(got) && got[i].msg.UID != ap.UID {
				t.Errorf("AppendBatch: message %d said UID %d, but the message listed there has UID %d", i+1, ap.UID, got[i].msg.UID)
			}
		}
	}
	// Single appends go on after the batches.
	ap := c.appendOne(t, tg, folder, Messages(21, 1, 500)[0])
	if ap.UID != 0 && ap.UID <= aps2[len(aps2)-1].UID {
		t.Errorf("Append after batches: UID %d, the last batch ended at %d", ap.UID, aps2[len(aps2)-1].UID)
	}
}

// oversize returns a message the account refuses.
func (c *checker) oversize(t *testing.T) Message {
	t.Helper()
	if c.a.RefuseOver <= 0 {
		t.Skip("the kind cannot be made to refuse a message")
	}
	var b bytes.Buffer
	b.WriteString("From: o@example.org\r\nSubject: too big\r\nMessage-ID: <oversize@targettest.example.org>\r\n\r\n")
	for int64(b.Len()) <= c.a.RefuseOver {
		b.WriteString("this message is larger than the account takes, line after line\r\n")
	}
	return Message{Body: b.Bytes(), Flags: []string{`\Seen`}, Date: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *checker) refuseMessage(t *testing.T) {
	tg := c.open(t)
	big := c.oversize(t)
	folder := c.name("Refusals")
	create(t, tg, folder, "")
	_, err := tg.Append(ctx, folder, big.Flags, big.Date, int64(len(big.Body)), bytes.NewReader(big.Body))
	var rej *target.RejectedError
	if !errors.As(err, &rej) {
		t.Fatalf("Append of a message over the limit: %v, want a *target.RejectedError", err)
	}
	// Nothing stored, and the same connection goes on.
	ok := Messages(22, 2, 1000)
	for _, m := range ok {
		c.appendOne(t, tg, folder, m)
	}
	_, got := readBack(t, tg, folder)
	c.same(t, folder, ok, got)
}

func (c *checker) refuseBatch(t *testing.T) {
	tg := c.open(t)
	big := c.oversize(t)
	ba := c.batcher(t, tg)
	folder := c.name("Refusals")
	create(t, tg, folder, "")
	group := Messages(23, 4, 2000)
	bad := slices.Insert(slices.Clone(group), 2, big)
	aps, err := ba.AppendBatch(ctx, folder, items(bad))
	if !errors.Is(err, target.ErrBatchRefused) {
		t.Fatalf("AppendBatch holding a message over the limit: %d results, %v; want an error wrapping ErrBatchRefused", len(aps), err)
	}
	if st := status(t, tg, folder); st.Messages != 0 {
		t.Errorf("AppendBatch refused, but %d messages were stored", st.Messages)
	}
	// One by one, the refused message is a RejectedError and the others
	// are stored; a batch without it goes through.
	for i, m := range bad {
		_, err := tg.Append(ctx, folder, m.Flags, m.Date, int64(len(m.Body)), bytes.NewReader(m.Body))
		var rej *target.RejectedError
		switch {
		case i == 2 && !errors.As(err, &rej):
			t.Errorf("Append of the message over the limit: %v, want a *target.RejectedError", err)
		case i != 2 && err != nil:
			t.Errorf("Append of message %d of the refused batch: %v", i+1, err)
		}
	}
	aps, err = ba.AppendBatch(ctx, folder, items(group))
	if err != nil {
		t.Fatalf("AppendBatch after a refused one: %v", err)
	}
	c.checkBatch(t, folder, aps, len(group))
	_, got := readBack(t, tg, folder)
	c.same(t, folder, append(slices.Clone(group), group...), got)
}

func (c *checker) setFlags(t *testing.T) {
	tg := c.open(t)
	folder := c.name("Flags")
	create(t, tg, folder, "")
	msgs := Messages(24, 3, 1000)
	msgs[0].Flags = []string{`\Seen`, "Work"}
	msgs[1].Flags = []string{`\Flagged`, `\Deleted`}
	msgs[2].Flags = nil
	for _, m := range msgs {
		c.appendOne(t, tg, folder, m)
	}
	_, before := readBack(t, tg, folder)
	if len(before) != 3 {
		t.Fatalf("%q holds %d messages, want 3", folder, len(before))
	}
	changes := [][]string{
		{`\Answered`, `\Flagged`, "$Forwarded"}, // system flags and keywords replaced
		{},                                      // everything removed, \Deleted included
		{`\Seen`, `\Draft`, "Private"},          // added to none
	}
	for i, fl := range changes {
		if err := tg.SetFlags(ctx, folder, before[i].msg.UID, fl); err != nil {
			t.Fatalf("SetFlags(%q, UID %d, %v): %v", folder, before[i].msg.UID, fl, err)
		}
		msgs[i].Flags = fl
	}
	// A UID the folder does not hold is not an error.
	if err := tg.SetFlags(ctx, folder, before[2].msg.UID+1000, []string{`\Seen`}); err != nil {
		t.Errorf("SetFlags of a UID the folder does not hold: %v", err)
	}
	_, after := readBack(t, c.acct.Open(t), folder)
	c.same(t, folder, msgs, after)
	for i := range min(len(after), len(before)) {
		if after[i].msg.UID != before[i].msg.UID {
			t.Errorf("SetFlags changed UID %d to %d", before[i].msg.UID, after[i].msg.UID)
		}
	}
}

func (c *checker) expunge(t *testing.T) {
	tg := c.open(t)
	folder := c.name("Expunge")
	create(t, tg, folder, "")
	msgs := Messages(25, 6, 1000)
	for i := range msgs {
		msgs[i].Flags = []string{`\Seen`}
	}
	msgs[4].Flags = []string{`\Deleted`, `\Seen`} // marked, but not to be expunged
	for _, m := range msgs {
		c.appendOne(t, tg, folder, m)
	}
	_, before := readBack(t, tg, folder)
	if len(before) != len(msgs) {
		t.Fatalf("%q holds %d messages, want %d", folder, len(before), len(msgs))
	}
	gone := []uint32{before[1].msg.UID, before[3].msg.UID, before[5].msg.UID + 1000}
	if err := tg.Expunge(ctx, folder, gone); err != nil {
		t.Fatalf("Expunge(%q, %v): %v", folder, gone, err)
	}
	if err := tg.Expunge(ctx, folder, nil); err != nil {
		t.Errorf("Expunge(%q) of nothing: %v", folder, err)
	}
	_, after := readBack(t, c.acct.Open(t), folder)
	c.same(t, folder, []Message{msgs[0], msgs[2], msgs[4], msgs[5]}, after)
	for i, j := range []int{0, 2, 4, 5} {
		if i < len(after) && after[i].msg.UID != before[j].msg.UID {
			t.Errorf("after Expunge: message %d has UID %d, was %d", j+1, after[i].msg.UID, before[j].msg.UID)
		}
	}
}

func (c *checker) fetchVanished(t *testing.T) {
	tg := c.open(t)
	folder := c.name("Vanishing")
	create(t, tg, folder, "")
	want := Messages(26, 3, 1000)
	for _, m := range want {
		c.appendOne(t, tg, folder, m)
	}
	_, msgs, err := tg.Messages(ctx, folder)
	if err != nil {
		t.Fatalf("Messages(%q): %v", folder, err)
	}
	other := c.acct.Open(t)
	if err := other.Expunge(ctx, folder, []uint32{msgs[1].UID}); err != nil {
		t.Fatalf("Expunge on another connection: %v", err)
	}
	got := map[uint32][]byte{}
	err = tg.Fetch(ctx, folder, msgs, func(m mailbox.Message, b mailbox.Body) error {
		data, err := io.ReadAll(b)
		if err != nil {
			return err
		}
		got[m.UID] = data
		return nil
	})
	if err != nil {
		t.Fatalf("Fetch(%q) after another connection expunged a message: %v", folder, err)
	}
	// The others are delivered. The expunged one is skipped, or (Cyrus,
	// Courier: a session that has not been told of the expunge yet)
	// delivered as it was.
	for i, m := range msgs {
		b, ok := got[m.UID]
		switch {
		case !ok && i != 1:
			t.Errorf("Fetch(%q) after UID %d was expunged: UID %d not delivered", folder, msgs[1].UID, m.UID)
		case ok && !bytes.Equal(b, want[i].Body):
			t.Errorf("Fetch(%q) after UID %d was expunged: UID %d delivered other bytes (%d bytes for %d, starting %q)", folder, msgs[1].UID, m.UID, len(b), len(want[i].Body), b[:min(len(b), 40)])
		case ok && i == 1:
			t.Logf("Fetch(%q): UID %d, expunged by another connection, was still delivered", folder, m.UID)
		}
	}
	// Listed again, it is gone.
	if _, now, err := tg.Messages(ctx, folder); err != nil || len(now) != 2 {
		t.Errorf("Messages(%q) after UID %d was expunged: %d listed, %v", folder, msgs[1].UID, len(now), err)
	}
}

func (c *checker) twoConnections(t *testing.T) {
	t1, t2 := c.open(t), c.acct.Open(t)
	folder := c.name("Shared")
	create(t, t1, folder, "")
	create(t, t2, folder, "")
	msgs := Messages(27, 4, 1000)
	for i, m := range msgs {
		tg := t1
		if i%2 == 1 {
			tg = t2
		}
		c.appendOne(t, tg, folder, m)
	}
	_, got1 := readBack(t, t1, folder)
	_, got2 := readBack(t, t2, folder)
	c.same(t, folder+" (first connection)", msgs, got1)
	c.same(t, folder+" (second connection)", msgs, got2)
}

// cutError checks the error of an append whose connection was cut.
func cutError(t *testing.T, what string, err error) {
	t.Helper()
	var rej *target.RejectedError
	switch {
	case err == nil:
		t.Fatalf("%s: no error, though the connection was cut in the middle", what)
	case errors.As(err, &rej), errors.Is(err, target.ErrBatchRefused), errors.Is(err, mailbox.ErrFolderGone):
		t.Errorf("%s: %v: a dropped connection is no refusal", what, err)
	case !mailbox.Retryable(err):
		t.Errorf("%s: %v is not retryable; a dropped connection is transient", what, err)
	case !errors.Is(err, mailbox.ErrTransient):
		t.Logf("%s: %v is retryable only for want of a classification (not marked mailbox.ErrTransient)", what, err)
	}
}

// wholeOrNothing checks that folder holds before, then either none or all
// of group, and returns whether the group was stored.
func (c *checker) wholeOrNothing(t *testing.T, folder string, before, group []Message) bool {
	t.Helper()
	_, got := readBack(t, c.acct.Open(t), folder)
	switch len(got) {
	case len(before):
		c.same(t, folder, before, got)
		return false
	case len(before) + len(group):
		c.same(t, folder, append(slices.Clone(before), group...), got)
		return true
	}
	t.Errorf("%q holds %d messages after a cut: %d before and a group of %d either stored whole or not at all", folder, len(got), len(before), len(group))
	c.same(t, folder, append(slices.Clone(before), group...), got)
	return false
}

// afterCut checks that the connection that was cut either serves again or
// fails with a retryable error.
func afterCut(t *testing.T, tg target.Target) {
	t.Helper()
	if _, err := tg.Status(ctx, "INBOX"); err != nil && !mailbox.Retryable(err) {
		t.Errorf("Status on the connection that was cut: %v is not retryable", err)
	}
}

func (c *checker) cutAppend(t *testing.T) {
	tg := c.open(t)
	folder := c.name("Cut")
	create(t, tg, folder, "")
	before := Messages(28, 1, 1000)
	c.appendOne(t, tg, folder, before[0])
	m := Special()[0] // over 1 MiB
	c.acct.CutAfter(t, int64(len(m.Body))/3)
	_, err := tg.Append(ctx, folder, m.Flags, m.Date, int64(len(m.Body)), bytes.NewReader(m.Body))
	cutError(t, "Append cut in the middle", err)
	afterCut(t, tg)
	stored := c.wholeOrNothing(t, folder, before, []Message{m})
	t.Logf("the message cut in the middle was stored: %v", stored)
	// A new connection stores it (again).
	tg2 := c.acct.Open(t)
	c.appendOne(t, tg2, folder, m)
	want := append(slices.Clone(before), m)
	if stored {
		want = append(want, m)
	}
	_, got := readBack(t, tg2, folder)
	c.same(t, folder, want, got)
}

func (c *checker) cutBatch(t *testing.T) {
	tg := c.open(t)
	ba := c.batcher(t, tg)
	folder := c.name("Cut")
	create(t, tg, folder, "")
	before := Messages(29, 2, 1000)
	if _, err := ba.AppendBatch(ctx, folder, items(before)); err != nil {
		t.Fatalf("AppendBatch before the cut: %v", err)
	}
	group := Messages(30, 8, 60_000)
	var size int64
	for _, m := range group {
		size += int64(len(m.Body))
	}
	c.acct.CutAfter(t, size/2)
	_, err := ba.AppendBatch(ctx, folder, items(group))
	cutError(t, "AppendBatch cut in the middle", err)
	afterCut(t, tg)
	stored := c.wholeOrNothing(t, folder, before, group)
	t.Logf("the group cut in the middle was stored: %v", stored)
	// A new connection stores the group (again), and its UIDs come after.
	tg2 := c.acct.Open(t)
	ba2 := c.batcher(t, tg2)
	aps, err := ba2.AppendBatch(ctx, folder, items(group))
	if err != nil {
		t.Fatalf("AppendBatch on a new connection after the cut: %v", err)
	}
	c.checkBatch(t, folder, aps, len(group))
	want := append(slices.Clone(before), group...)
	if stored {
		want = append(want, group...)
	}
	_, got := readBack(t, tg2, folder)
	c.same(t, folder, want, got)
}

func (c *checker) wrongSize(t *testing.T) {
	tg := c.open(t)
	m := Messages(31, 1, 2000)[0]
	for _, size := range []int64{int64(len(m.Body)) + 5, int64(len(m.Body)) - 5} {
		if _, err := tg.Append(ctx, "INBOX", m.Flags, m.Date, size, bytes.NewReader(m.Body)); err == nil {
			t.Errorf("Append of %d bytes announced as %d: no error", len(m.Body), size)
		}
	}
	// Nothing half-written was stored, and the connection serves again.
	c.appendOne(t, tg, "INBOX", m)
	_, got := readBack(t, tg, "INBOX")
	c.same(t, "INBOX", []Message{m}, got)
}

func (c *checker) cancel(t *testing.T) {
	tg := c.open(t)
	m := Messages(32, 1, 2000)[0]
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := tg.Append(done, "INBOX", m.Flags, m.Date, int64(len(m.Body)), bytes.NewReader(m.Body)); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with an ended context: %v, want context.Canceled", err)
	}
	if _, err := tg.Status(done, "INBOX"); !errors.Is(err, context.Canceled) {
		t.Errorf("Status with an ended context: %v, want context.Canceled", err)
	}
	if ba, ok := tg.(target.BatchAppender); ok && c.a.Batches {
		if _, err := ba.AppendBatch(done, "INBOX", items([]Message{m})); !errors.Is(err, context.Canceled) {
			t.Errorf("AppendBatch with an ended context: %v, want context.Canceled", err)
		}
	}
	// A body that stalls until the context ends: Append returns soon after.
	live, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() {
		pw.Write(m.Body[:len(m.Body)/2])
		<-live.Done()
		pw.CloseWithError(live.Err())
	}()
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	if _, err := tg.Append(live, "INBOX", m.Flags, m.Date, int64(len(m.Body)), pr); !errors.Is(err, context.Canceled) {
		t.Errorf("Append cancelled while the body stalls: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Append cancelled while the body stalls returned after %v", d)
	}
	// Nothing was stored, and the connection serves a live context.
	if st := status(t, tg, "INBOX"); st.Messages != 0 {
		t.Errorf("INBOX holds %d messages after cancelled appends", st.Messages)
	}
	c.appendOne(t, tg, "INBOX", m)
}
