package imaptarget

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/imapconn"
	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/memserver"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/quirkproxy"
	"github.com/mailshift/mailshift/target"
)

// openVia opens a Target on bob (password pw) through a proxy with quirks
// q in front of upstream.
func openVia(t *testing.T, upstream string, q quirkproxy.Quirks) (*Target, *quirkproxy.Proxy) {
	t.Helper()
	p, err := quirkproxy.Start(upstream, q)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	tg, err := Open(context.Background(), imapconn.Options{Addr: p.Addr, TLS: imapconn.TLSNone, User: "bob", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg, p
}

// A server that stores no keywords refuses an APPEND carrying one with a
// NO: that message is refused (a RejectedError, not retried), and the
// next message, without keywords, is stored byte for byte. Small messages go as non-synchronizing literals, large ones
// wait for the server's continuation, which never comes.
func TestAppendKeywordRefused(t *testing.T) {
	srv, err := memserver.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := srv.AddUser("bob", "pw"); err != nil {
		t.Fatal(err)
	}
	tg, p := openVia(t, srv.Addr, quirkproxy.Quirks{RefuseKeywords: true})
	ctx := context.Background()
	if err := tg.CreateFolder(ctx, "Box", ""); err != nil {
		t.Fatal(err)
	}
	date := time.Date(2023, 5, 6, 7, 8, 9, 0, time.UTC)
	var want [][]byte
	for _, lines := range []int{2, 400} { // 4 KiB and more: a synchronizing literal
		b := body("keywords", lines)
		_, err := tg.Append(ctx, "Box", []string{`\Seen`, "$Work"}, date, int64(len(b)), bytes.NewReader(b))
		var rej *target.RejectedError
		if !errors.As(err, &rej) || rej.Code != "CANNOT" || !errors.Is(err, mailbox.ErrRefused) || mailbox.Retryable(err) {
			t.Fatalf("%d lines with a keyword: %v", lines, err)
		}
		b = body("plain", lines)
		if _, err := tg.Append(ctx, "Box", []string{`\Seen`}, date, int64(len(b)), bytes.NewReader(b)); err != nil {
			t.Fatalf("%d lines without keywords: %v", lines, err)
		}
		want = append(want, b)
	}
	msgs, bodies := readBack(t, tg, "Box")
	if len(msgs) != len(want) {
		t.Fatalf("%d messages stored, want %d", len(msgs), len(want))
	}
	for i, m := range msgs {
		if !bytes.Equal(bodies[m.UID], want[i]) {
			t.Errorf("message %d: body differs", i)
		}
		if !slices.Equal(m.Flags, []string{`\Seen`}) {
			t.Errorf("message %d: flags %q", i, m.Flags)
		}
	}
	if n := p.Refused(); n != 2 {
		t.Errorf("%d APPENDs refused, want 2", n)
	}
	// go-imap closes the connection after a refusal in place of the
	// continuation (the command's encoder fails); the next call dials again.
	if n := p.Connections(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// A MULTIAPPEND group of which one message carries a keyword the server
// refuses is a refused batch (nothing stored); one by one, as the copy
// engine then goes, that message is refused and the others are stored;
// the next group goes over the same MULTIAPPEND connection.
func TestAppendBatchKeywordRefusedDovecot(t *testing.T) {
	srv := dovecot.Start(t, dovecot.Options{})
	srv.AddUser("bob", "pw")
	tg, p := openVia(t, srv.Addr, quirkproxy.Quirks{RefuseKeywords: true})
	ctx := context.Background()
	if !tg.Batches() {
		t.Fatal("no MULTIAPPEND through the proxy")
	}
	if err := tg.CreateFolder(ctx, "Box", ""); err != nil {
		t.Fatal(err)
	}
	date := time.Date(2023, 5, 6, 7, 8, 9, 0, time.UTC)
	items := []mailbox.Item{
		{Flags: []string{`\Seen`}, Date: date, Body: body("one", 3)},
		{Flags: []string{`\Flagged`, "$Work"}, Date: date, Body: body("two", 3)},
		{Date: date, Body: body("three", 3)},
	}
	_, err := tg.AppendBatch(ctx, "Box", items)
	var br *imapconn.BatchRefusedError
	if !errors.Is(err, target.ErrBatchRefused) || !errors.As(err, &br) || br.Code != "CANNOT" || !errors.Is(err, mailbox.ErrRefused) {
		t.Fatalf("batch with a keyword: %v", err)
	}
	var stored [][]byte
	for i, it := range items {
		_, err := tg.Append(ctx, "Box", it.Flags, it.Date, int64(len(it.Body)), bytes.NewReader(it.Body))
		var rej *target.RejectedError
		switch {
		case i == 1 && !errors.As(err, &rej):
			t.Errorf("message with a keyword: %v", err)
		case i != 1 && err != nil:
			t.Errorf("message %d: %v", i, err)
		case i != 1:
			stored = append(stored, it.Body)
		}
	}
	more := []mailbox.Item{{Date: date, Body: body("four", 3)}, {Flags: []string{`\Answered`}, Date: date, Body: body("five", 3)}}
	apps, err := tg.AppendBatch(ctx, "Box", more)
	if err != nil || len(apps) != 2 || apps[0].UID == 0 {
		t.Fatalf("batch without keywords: %v %v", apps, err)
	}
	stored = append(stored, more[0].Body, more[1].Body)
	msgs, bodies := readBack(t, tg, "Box")
	if len(msgs) != len(stored) {
		t.Fatalf("%d messages stored, want %d", len(msgs), len(stored))
	}
	for i, m := range msgs {
		if !bytes.Equal(bodies[m.UID], stored[i]) {
			t.Errorf("message %d: body differs", i)
		}
	}
	if n := p.Refused(); n != 2 {
		t.Errorf("%d APPENDs refused, want 2", n)
	}
	if n := p.Connections(); n != 2 {
		t.Errorf("%d connections, want 2 (the target's, one for MULTIAPPEND)", n)
	}
}

// Dovecot storing mbox files: a folder is a file, so after CREATE a the
// folder a cannot get children. One CREATE of the full name makes the
// parents hierarchy nodes, and the folder takes mail.
func TestCreateFolderMboxDovecot(t *testing.T) {
	srv := dovecot.Start(t, dovecot.Options{Mbox: true, NoSpecialUse: true})
	srv.AddUser("bob", "pw")
	tg, err := Open(context.Background(), imapconn.Options{Addr: srv.Addr, TLS: imapconn.TLSNone, User: "bob", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	ctx := context.Background()
	for _, name := range []string{"a/b", "x/y/z", "x/y/w"} {
		if err := tg.CreateFolder(ctx, name, ""); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		b := body(name, 2)
		if _, err := tg.Append(ctx, name, nil, time.Now(), int64(len(b)), bytes.NewReader(b)); err != nil {
			t.Fatalf("append to %s: %v", name, err)
		}
	}
	fs, err := tg.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fs {
		s := f.Name
		if f.NoSelect {
			s += " (node)"
		}
		got = append(got, s)
	}
	want := []string{"INBOX", "a (node)", "a/b", "x (node)", "x/y (node)", "x/y/w", "x/y/z"}
	if !slices.Equal(got, want) {
		t.Errorf("folders %q, want %q", got, want)
	}
}
