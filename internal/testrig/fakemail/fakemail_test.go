package fakemail_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/testrig/fakemail"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/target"
)

var ctx = context.Background()

func msg(i, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: a@example.org\r\nSubject: message %d\r\n\r\n", i)
	for b.Len() < size {
		b.WriteString("some text of a message, line after line\r\n")
	}
	return b.Bytes()
}

func item(i, size int, flags ...string) mailbox.Item {
	return mailbox.Item{Flags: flags, Date: time.Date(2024, 1, 1, 0, 0, i, 0, time.UTC), Body: msg(i, size)}
}

func appendItem(t *testing.T, tg target.Target, folder string, it mailbox.Item) (target.Appended, error) {
	t.Helper()
	return tg.Append(ctx, folder, it.Flags, it.Date, int64(len(it.Body)), bytes.NewReader(it.Body))
}

func count(t *testing.T, srv *fakemail.Server, user, folder string) int {
	t.Helper()
	f, ok := srv.Folder(user, folder)
	if !ok {
		t.Fatalf("folder %q of %q missing", folder, user)
	}
	return int(f.Messages)
}

func TestCutNotStored(t *testing.T) {
	srv := fakemail.NewServer()
	tg := srv.Target("bob")
	defer tg.Close()
	if _, err := appendItem(t, tg, "INBOX", item(1, 1000)); err != nil {
		t.Fatal(err)
	}
	// 1500 bytes: the second message (1000) passes, the third crosses.
	srv.SetCut("bob", fakemail.Cut{After: 1500})
	if _, err := appendItem(t, tg, "INBOX", item(2, 1000)); err != nil {
		t.Fatalf("append before the cut: %v", err)
	}
	_, err := appendItem(t, tg, "INBOX", item(3, 1000))
	if !errors.Is(err, mailbox.ErrTransient) {
		t.Fatalf("append across the cut: %v, want a transient error", err)
	}
	if n := count(t, srv, "bob", "INBOX"); n != 2 {
		t.Errorf("INBOX holds %d messages after a cut that lost the message, want 2", n)
	}
	// The connection stays broken; a new one works, and the cut is spent.
	if _, err := tg.Status(ctx, "INBOX"); !errors.Is(err, mailbox.ErrTransient) {
		t.Errorf("Status on the cut connection: %v, want a transient error", err)
	}
	if _, _, err := tg.Messages(ctx, "INBOX"); !errors.Is(err, mailbox.ErrTransient) {
		t.Errorf("Messages on the cut connection: %v, want a transient error", err)
	}
	tg2 := srv.Target("bob")
	defer tg2.Close()
	for i := 4; i < 8; i++ {
		if _, err := appendItem(t, tg2, "INBOX", item(i, 1000)); err != nil {
			t.Fatalf("append on a new connection: %v", err)
		}
	}
	c := srv.Counters("bob")
	if c.Cuts != 1 || c.Stored != 6 || c.Appends != 7 || c.ReceivedBytes != 7*int64(len(item(1, 1000).Body)) {
		t.Errorf("counters %+v", c)
	}
}

func TestCutAnswerLostBatch(t *testing.T) {
	srv := fakemail.NewServer()
	tg := srv.Target("bob").(target.BatchAppender)
	group := []mailbox.Item{item(1, 5000), item(2, 5000), item(3, 5000)}
	srv.SetCut("bob", fakemail.Cut{After: 7000, AnswerLost: true, Times: 2})
	if _, err := tg.AppendBatch(ctx, "INBOX", group); !errors.Is(err, mailbox.ErrTransient) {
		t.Fatalf("batch across the cut: %v, want a transient error", err)
	}
	if n := count(t, srv, "bob", "INBOX"); n != 3 {
		t.Errorf("INBOX holds %d messages after a cut that lost the answer, want the whole group", n)
	}
	// The second cut comes 7000 bytes after the first.
	tg2 := srv.Target("bob").(target.BatchAppender)
	if _, err := tg2.AppendBatch(ctx, "INBOX", group[:1]); err != nil {
		t.Fatalf("batch of 5000 bytes after the cut: %v", err)
	}
	if _, err := tg2.AppendBatch(ctx, "INBOX", group[1:2]); !errors.Is(err, mailbox.ErrTransient) {
		t.Fatalf("batch crossing the second cut: %v, want a transient error", err)
	}
	tg3 := srv.Target("bob").(target.BatchAppender)
	if _, err := tg3.AppendBatch(ctx, "INBOX", group); err != nil {
		t.Fatalf("batch after the last cut: %v", err)
	}
	if n := count(t, srv, "bob", "INBOX"); n != 3+1+1+3 {
		t.Errorf("INBOX holds %d messages, want 8", n)
	}
	if c := srv.Counters("bob"); c.Cuts != 2 || c.Batches != 4 || c.Stored != 8 {
		t.Errorf("counters %+v", c)
	}
}

func TestRefuseKeywords(t *testing.T) {
	srv := fakemail.NewServer()
	srv.Change(func(o *fakemail.Options) {
		o.Refuse = func(folder string, flags []string, body []byte) *target.RejectedError {
			for _, f := range flags {
				if f[0] != '\\' {
					return &target.RejectedError{Code: "CANNOT", Reason: "no keywords here"}
				}
			}
			return nil
		}
	})
	tg := srv.Target("bob")
	var rej *target.RejectedError
	if _, err := appendItem(t, tg, "INBOX", item(1, 100, `\Seen`, "Work")); !errors.As(err, &rej) || rej.Code != "CANNOT" {
		t.Errorf("append with a keyword: %v, want the RejectedError", err)
	}
	if _, err := appendItem(t, tg, "INBOX", item(2, 100, `\Seen`)); err != nil {
		t.Errorf("append without a keyword: %v", err)
	}
	_, err := tg.(target.BatchAppender).AppendBatch(ctx, "INBOX", []mailbox.Item{item(3, 100), item(4, 100, "$Label1"), item(5, 100)})
	if !errors.Is(err, target.ErrBatchRefused) {
		t.Errorf("batch with a keyword: %v, want ErrBatchRefused", err)
	}
	if n := count(t, srv, "bob", "INBOX"); n != 1 {
		t.Errorf("INBOX holds %d messages, want 1", n)
	}
	// Knobs change between calls.
	srv.Change(func(o *fakemail.Options) { o.Refuse = nil })
	if _, err := appendItem(t, tg, "INBOX", item(1, 100, `\Seen`, "Work")); err != nil {
		t.Errorf("append with a keyword once refusals are off: %v", err)
	}
}

func TestFolderFaults(t *testing.T) {
	srv := fakemail.NewServer()
	srv.Put("bob", "Bad", msg(1, 100), nil, time.Time{})
	srv.Put("bob", "Good", msg(2, 100), nil, time.Time{})
	refused := mailbox.Mark(mailbox.ErrRefused, errors.New("no such thing"))
	srv.FailFolder("bob", "Bad", refused, fakemail.OpStatus, fakemail.OpMessages)
	srv.FailFolder("", "Other", mailbox.Mark(mailbox.ErrProtocol, errors.New("garbled")), fakemail.OpCreate)
	tg, src := srv.Target("bob"), srv.Source("bob")
	if _, err := tg.Status(ctx, "Bad"); !errors.Is(err, mailbox.ErrRefused) {
		t.Errorf("Status(Bad): %v", err)
	}
	if _, _, err := src.Messages(ctx, "Bad"); !errors.Is(err, mailbox.ErrRefused) {
		t.Errorf("source Messages(Bad): %v", err)
	}
	if _, _, err := src.Messages(ctx, "Good"); err != nil {
		t.Errorf("source Messages(Good): %v", err)
	}
	fs, err := src.Folders(ctx)
	if err != nil {
		t.Fatalf("Folders with a folder whose status fails: %v", err)
	}
	for _, f := range fs {
		if (f.Error != "") != (f.Name == "Bad") {
			t.Errorf("Folders: %q listed with Error %q", f.Name, f.Error)
		}
	}
	if err := tg.CreateFolder(ctx, "Other", ""); !errors.Is(err, mailbox.ErrProtocol) {
		t.Errorf("CreateFolder(Other): %v", err)
	}
	// Fetch of Bad was not made to fail.
	f, ok := srv.Folder("bob", "Bad")
	if !ok || f.Messages != 1 {
		t.Fatalf("Bad: %+v %v", f, ok)
	}
	n := 0
	if err := src.Fetch(ctx, "Bad", []mailbox.Message{{Key: "1", UID: 1}}, func(mailbox.Message, mailbox.Body) error { n++; return nil }); err != nil || n != 1 {
		t.Errorf("Fetch(Bad): %d delivered, %v", n, err)
	}
	srv.Change(func(o *fakemail.Options) { o.FolderFaults = nil })
	if _, err := tg.Status(ctx, "Bad"); err != nil {
		t.Errorf("Status(Bad) once the fault is gone: %v", err)
	}
}

func TestCapabilities(t *testing.T) {
	srv := fakemail.NewServer()
	srv.SetOptions(fakemail.Options{NoUIDPlus: true, NoMultiAppend: true, NoCondStore: true, NoKeywords: true, Delimiter: '.'})
	tg := srv.Target("bob")
	d, err := tg.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.UIDPlus || d.CondStore || d.Delimiter != '.' || slices.Contains(d.Capabilities, "MULTIAPPEND") {
		t.Errorf("Describe: %+v", d)
	}
	ap, err := appendItem(t, tg, "INBOX", item(1, 100, `\Seen`, "Work"))
	if err != nil || ap != (target.Appended{}) {
		t.Errorf("append without UIDPLUS: %+v, %v", ap, err)
	}
	if tg.(target.BatchAppender).Batches() {
		t.Errorf("Batches without MULTIAPPEND")
	}
	snap := srv.Snapshot("bob")
	if got := snap["INBOX"][0].Flags; !slices.Equal(got, []string{`\Seen`}) {
		t.Errorf("flags without keywords: %v", got)
	}
	st, _ := tg.Status(ctx, "INBOX")
	if st.HighestModSeq != 0 {
		t.Errorf("HIGHESTMODSEQ %d without CONDSTORE", st.HighestModSeq)
	}
	if err := tg.CreateFolder(ctx, "A.B.C", ""); err != nil {
		t.Fatal(err)
	}
	if _, ok := srv.Folder("bob", "A.B"); !ok {
		t.Errorf("parent A.B not created")
	}
}

func TestRenameAndReset(t *testing.T) {
	srv := fakemail.NewServer()
	srv.Put("bob", "A/B", msg(1, 100), nil, time.Time{})
	srv.Put("bob", "A", msg(2, 100), nil, time.Time{})
	a, _ := srv.Folder("bob", "A")
	ab, _ := srv.Folder("bob", "A/B")
	if err := srv.Rename("bob", "A", "X/Y"); err != nil {
		t.Fatal(err)
	}
	y, _ := srv.Folder("bob", "X/Y")
	yb, ok := srv.Folder("bob", "X/Y/B")
	if !ok || y.UIDValidity != a.UIDValidity || yb.UIDValidity != ab.UIDValidity || y.Messages != 1 {
		t.Errorf("after rename: %+v %+v", y, yb)
	}
	if _, ok := srv.Folder("bob", "X"); !ok {
		t.Errorf("the new parent X is missing")
	}
	srv.Change(func(o *fakemail.Options) { o.RenameNewUIDValidity = true })
	if err := srv.Rename("bob", "X/Y", "Z"); err != nil {
		t.Fatal(err)
	}
	z, _ := srv.Folder("bob", "Z")
	zb, _ := srv.Folder("bob", "Z/B")
	if z.UIDValidity == y.UIDValidity || zb.UIDValidity == yb.UIDValidity || z.UIDValidity == zb.UIDValidity {
		t.Errorf("Courier-like rename kept UIDVALIDITY: %d %d", z.UIDValidity, zb.UIDValidity)
	}
	srv.Put("bob", "Z", msg(3, 100), nil, time.Time{})
	srv.Expunge("bob", "Z", 1)
	before, _ := srv.Folder("bob", "Z")
	if err := srv.ResetUIDValidity("bob", "Z"); err != nil {
		t.Fatal(err)
	}
	after, _ := srv.Folder("bob", "Z")
	snap := srv.Snapshot("bob")["Z"]
	if after.UIDValidity == before.UIDValidity || after.UIDNext != 2 || len(snap) != 1 || snap[0].UID != 1 {
		t.Errorf("after reset: %+v, %+v", after, snap)
	}
}

func TestChanges(t *testing.T) {
	srv := fakemail.NewServer()
	for i := range 5 {
		srv.Put("bob", "INBOX", msg(i, 100), nil, time.Time{})
	}
	src := srv.Source("bob")
	f, _, err := src.Messages(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	srv.SetFlags("bob", "INBOX", 2, []string{`\Seen`})
	srv.Put("bob", "INBOX", msg(9, 100), nil, time.Time{})
	srv.Expunge("bob", "INBOX", 4)
	ct := src.(source.ChangeTracker)
	g, changed, err := ct.Changes(ctx, "INBOX", f.HighestModSeq)
	if err != nil {
		t.Fatal(err)
	}
	var uids []uint32
	for _, m := range changed {
		uids = append(uids, m.UID)
	}
	if !slices.Equal(uids, []uint32{2, 6}) || g.HighestModSeq <= f.HighestModSeq || g.Bytes != -1 {
		t.Errorf("Changes: %v, folder %+v", uids, g)
	}
	_, keys, err := ct.Keys(ctx, "INBOX")
	if err != nil || !slices.Equal(keys, []string{"1", "2", "3", "5", "6"}) {
		t.Errorf("Keys: %v, %v", keys, err)
	}
}

func TestDisconnect(t *testing.T) {
	srv := fakemail.NewServer()
	src, tg := srv.Source("bob"), srv.Target("bob")
	other := srv.Target("carol")
	srv.Disconnect("bob")
	if _, err := src.Folders(ctx); !errors.Is(err, mailbox.ErrTransient) {
		t.Errorf("source after Disconnect: %v", err)
	}
	if _, err := tg.Status(ctx, "INBOX"); !errors.Is(err, mailbox.ErrTransient) {
		t.Errorf("target after Disconnect: %v", err)
	}
	if _, err := other.Status(ctx, "INBOX"); err != nil {
		t.Errorf("another account's connection after Disconnect: %v", err)
	}
	if _, err := srv.Target("bob").Status(ctx, "INBOX"); err != nil {
		t.Errorf("a new connection after Disconnect: %v", err)
	}
	tg.Close()
	if _, err := tg.Status(ctx, "INBOX"); err == nil {
		t.Errorf("Status on a closed connection: no error")
	}
}

// TestStreamBetweenConnections copies one account into another the way the
// engine streams large messages: the target reads the body while the
// source's Fetch delivers it, on other goroutines.
func TestStreamBetweenConnections(t *testing.T) {
	srv := fakemail.NewServer()
	for i := range 20 {
		srv.Put("alice", "INBOX", msg(i, 50_000), []string{`\Seen`}, time.Date(2024, 1, 1, 0, 0, i, 0, time.UTC))
	}
	src, tg := srv.Source("alice"), srv.Target("bob")
	_, msgs, err := src.Messages(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	err = src.Fetch(ctx, "INBOX", msgs, func(m mailbox.Message, b mailbox.Body) error {
		pr, pw := io.Pipe()
		go func() { _, err := io.Copy(pw, b); pw.CloseWithError(err) }()
		_, err := tg.Append(ctx, "INBOX", m.Flags, m.InternalDate, b.Size(), pr)
		pr.Close()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	imaptest.Compare(t, "INBOX", srv.Snapshot("alice")["INBOX"], srv.Snapshot("bob")["INBOX"])
	if c := srv.Counters("alice"); c.Fetches != 1 || c.Fetched != 20 || c.Stored != 0 {
		t.Errorf("source counters %+v", c)
	}
	if c := srv.Counters("bob"); c.Stored != 20 || c.StoredBytes != c.ReceivedBytes {
		t.Errorf("target counters %+v", c)
	}
}

// TestConcurrent appends from many connections at once (run with -race)
// while others read and the knobs change.
func TestConcurrent(t *testing.T) {
	srv := fakemail.NewServer()
	const writers, each = 8, 40
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tg := srv.Target("bob")
			defer tg.Close()
			folder := fmt.Sprintf("F%d", w%3)
			if err := tg.CreateFolder(ctx, folder, ""); err != nil {
				t.Error(err)
				return
			}
			for i := range each {
				if i%4 == 0 {
					if _, err := tg.(target.BatchAppender).AppendBatch(ctx, folder, []mailbox.Item{item(i, 200), item(i+1, 200)}); err != nil {
						t.Error(err)
					}
					continue
				}
				if _, err := appendItem(t, tg, folder, item(i, 200)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := srv.Source("bob")
			defer src.Close()
			for range 30 {
				fs, err := src.Folders(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				for _, f := range fs {
					_, msgs, err := src.Messages(ctx, f.Name)
					if err != nil {
						t.Error(err)
						continue
					}
					src.Fetch(ctx, f.Name, msgs, func(mailbox.Message, mailbox.Body) error { return nil })
				}
				srv.Change(func(o *fakemail.Options) { o.NoCondStore = !o.NoCondStore })
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, msgs := range srv.Snapshot("bob") {
		total += len(msgs)
	}
	if want := writers * (each + each/4); total != want {
		t.Errorf("%d messages stored, want %d", total, want)
	}
}

func TestFaultTimesAndQuota(t *testing.T) {
	srv := fakemail.NewServer()
	busy := mailbox.Mark(mailbox.ErrBusy, errors.New("[UNAVAILABLE] try later"))
	srv.FailFolder("bob", "", busy, fakemail.OpAppend)
	srv.Change(func(o *fakemail.Options) {
		o.FolderFaults[0].Times = 2
		o.QuotaBytes = 2500
	})
	tg := srv.Target("bob")
	for i := range 2 {
		if _, err := appendItem(t, tg, "INBOX", item(i, 1000)); !errors.Is(err, mailbox.ErrBusy) {
			t.Errorf("append %d while busy: %v", i+1, err)
		}
	}
	if _, err := appendItem(t, tg, "INBOX", item(3, 1000)); err != nil {
		t.Errorf("append after the busy spell: %v", err)
	}
	_, err := tg.(target.BatchAppender).AppendBatch(ctx, "INBOX", []mailbox.Item{item(4, 1000), item(5, 1000)})
	var rej *target.RejectedError
	if !errors.Is(err, target.ErrBatchRefused) || errors.As(err, &rej) {
		t.Errorf("batch over quota: %v, want ErrBatchRefused and no RejectedError", err)
	}
	if _, err := appendItem(t, tg, "INBOX", item(4, 1000)); err != nil {
		t.Errorf("append within quota: %v", err)
	}
	if _, err := appendItem(t, tg, "INBOX", item(5, 1000)); !errors.As(err, &rej) || rej.Code != "OVERQUOTA" {
		t.Errorf("append over quota: %v", err)
	}
	d, _ := tg.Describe(ctx)
	if d.QuotaLimit != 2500 || d.QuotaUsed != 2*int64(len(item(3, 1000).Body)) {
		t.Errorf("Describe: quota %d of %d", d.QuotaUsed, d.QuotaLimit)
	}
}

func TestFetchCut(t *testing.T) {
	srv := fakemail.NewServer()
	for i := range 5 {
		srv.Put("alice", "INBOX", msg(i, 1000), nil, time.Time{})
	}
	size := int64(len(msg(0, 1000)))
	srv.SetFetchCut("alice", 2*size+10, 0)
	src := srv.Source("alice")
	_, msgs, _ := src.Messages(ctx, "INBOX")
	got := 0
	err := src.Fetch(ctx, "INBOX", msgs, func(mailbox.Message, mailbox.Body) error { got++; return nil })
	if !errors.Is(err, mailbox.ErrTransient) || got != 2 {
		t.Errorf("Fetch cut after two messages: %d delivered, %v", got, err)
	}
	if _, _, err := src.Messages(ctx, "INBOX"); !errors.Is(err, mailbox.ErrTransient) {
		t.Errorf("Messages on the cut connection: %v", err)
	}
	src2 := srv.Source("alice")
	got = 0
	if err := src2.Fetch(ctx, "INBOX", msgs, func(mailbox.Message, mailbox.Body) error { got++; return nil }); err != nil || got != 5 {
		t.Errorf("Fetch on a new connection: %d delivered, %v", got, err)
	}
	if c := srv.Counters("alice"); c.FetchCuts != 1 || c.Fetched != 7 {
		t.Errorf("counters %+v", c)
	}
}

func TestMailOrFolders(t *testing.T) {
	srv := fakemail.NewServer()
	srv.SetOptions(fakemail.Options{MailOrFolders: true})
	tg := srv.Target("bob")
	if err := tg.CreateFolder(ctx, "A/B", ""); err != nil {
		t.Fatal(err)
	}
	if f, _ := srv.Folder("bob", "A"); !f.NoSelect {
		t.Errorf("the parent A is not a hierarchy node: %+v", f)
	}
	var rej *target.RejectedError
	if _, err := appendItem(t, tg, "A", item(1, 100)); !errors.As(err, &rej) {
		t.Errorf("append to a hierarchy node: %v", err)
	}
	if _, err := tg.(target.BatchAppender).AppendBatch(ctx, "A", []mailbox.Item{item(1, 100)}); !errors.Is(err, target.ErrBatchRefused) {
		t.Errorf("batch to a hierarchy node: %v", err)
	}
	if _, err := tg.Status(ctx, "A"); !errors.Is(err, mailbox.ErrRefused) {
		t.Errorf("Status of a hierarchy node: %v", err)
	}
	if _, err := appendItem(t, tg, "A/B", item(1, 100)); err != nil {
		t.Errorf("append to A/B: %v", err)
	}
	if err := tg.CreateFolder(ctx, "A/B/C", ""); !errors.Is(err, mailbox.ErrRefused) {
		t.Errorf("a child under a folder that holds mail: %v", err)
	}
	if err := tg.CreateFolder(ctx, "INBOX/Sub", ""); err != nil {
		t.Errorf("a child under INBOX: %v", err)
	}
	if _, ok := srv.Folder("bob", "A/B/C"); ok {
		t.Errorf("the refused folder was created")
	}
}

func TestLatency(t *testing.T) {
	srv := fakemail.NewServer()
	srv.Change(func(o *fakemail.Options) { o.Latency = 100 * time.Millisecond })
	start := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tg := srv.Target("bob")
			if _, err := tg.Status(ctx, "INBOX"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// One after the other they would take 400ms.
	if d := time.Since(start); d < 100*time.Millisecond || d > 300*time.Millisecond {
		t.Errorf("four calls on four connections with 100ms latency took %v", d)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	start = time.Now()
	if _, err := srv.Target("bob").Status(done, "INBOX"); !errors.Is(err, context.Canceled) || time.Since(start) > 20*time.Millisecond {
		t.Errorf("a call with an ended context: %v after %v", err, time.Since(start))
	}
}
