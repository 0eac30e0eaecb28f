package phase

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/gmaillike"
	"github.com/mailshift/mailshift/state"
)

// gmailMsg is a message of the Gmail-to-Gmail test, its labels as the
// source has them and as the target must have them.
type gmailMsg struct {
	n              int
	flags, labels  []string
	want           []string // labels on the target
	wantFolderless bool
}

func (m gmailMsg) message() gmaillike.Message {
	body := fmt.Sprintf("From: a@example.com\r\nTo: gia@example.com\r\nSubject: gmail %d\r\nMessage-ID: <g%d@example.com>\r\n\r\nbody %d\r\n", m.n, m.n, m.n)
	return gmaillike.Message{Body: []byte(body), Date: time.Date(2024, 2, m.n, 9, 30, 0, 0, time.UTC), Flags: m.flags, Labels: m.labels}
}

// checkGmailTarget checks that the target holds each of msgs once (one
// X-GM-MSGID), with its bytes, flags, date and labels.
func checkGmailTarget(t *testing.T, g *gmaillike.Server, user string, msgs []gmailMsg) {
	t.Helper()
	got := g.Messages(user)
	if len(got) != len(msgs) {
		t.Errorf("the target holds %d messages, want %d (one per source message)", len(got), len(msgs))
	}
	for _, m := range msgs {
		src := m.message()
		i := slices.IndexFunc(got, func(s gmaillike.Stored) bool { return string(s.Body) == string(src.Body) })
		if i < 0 {
			t.Errorf("message %d is not on the target", m.n)
			continue
		}
		s := got[i]
		labels := slices.Sorted(slices.Values(s.Labels))
		want := slices.Sorted(slices.Values(m.want))
		if !slices.Equal(labels, want) {
			t.Errorf("message %d has labels %q on the target, want %q", m.n, labels, want)
		}
		if !s.Date.Equal(src.Date) {
			t.Errorf("message %d dated %v, want %v", m.n, s.Date, src.Date)
		}
		flags := slices.Sorted(slices.Values(s.Flags))
		if wantF := slices.Sorted(slices.Values(m.flags)); !slices.Equal(flags, wantF) {
			t.Errorf("message %d has flags %q, want %q", m.n, flags, wantF)
		}
	}
}

// TestGmailToGmailLabels: with gmail.labels: labels, from a Gmail source
// to a Gmail target, collect, approve, bulk, sync and verify store every
// message once on the target (one X-GM-MSGID per source message), with
// its labels set, its bytes, flags and date; a second bulk copies
// nothing.
func TestGmailToGmailLabels(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "gia")
	src, err := gmaillike.Start(io.Discard)
	must(t, err)
	t.Cleanup(func() { src.Close() })
	dst, err := gmaillike.Start(io.Discard)
	must(t, err)
	t.Cleanup(func() { dst.Close() })
	must(t, src.AddUser("gia", e.pw["gia"]))
	must(t, dst.AddUser("gia", e.pw["gia"]))
	msgs := []gmailMsg{
		{n: 1, flags: []string{`\Seen`}, labels: []string{`\Inbox`, "Work", "Muy Importante", `\Important`}, want: []string{`\Inbox`, "Work", "Muy Importante", `\Important`}},
		{n: 2, flags: []string{`\Seen`, `\Answered`}, labels: []string{"Work"}, want: []string{"Archive", "Work"}},
		{n: 3, flags: []string{`\Seen`}, labels: []string{`\Sent`, "Work"}, want: []string{`\Sent`, "Work"}},
		{n: 4, labels: nil, want: []string{"Archive"}},
		{n: 5, flags: []string{`\Flagged`}, labels: []string{`\Inbox`, `\Starred`}, want: []string{`\Inbox`}},
	}
	ids := map[int]uint64{}
	for _, m := range msgs {
		id, err := src.Add("gia", m.message())
		must(t, err)
		ids[m.n] = id
	}
	e.p.Config.Source.URL = "imap://" + src.Addr + "?tls=none"
	e.p.Config.Target.URL = "imap://" + dst.Addr + "?tls=none"
	e.p.Config.Gmail.Labels = "labels"
	must(t, e.p.Config.Validate())
	e.approved()
	ps, err := e.p.Store.Problems()
	must(t, err)
	if !slices.ContainsFunc(ps, func(p state.Problem) bool {
		return p.Kind == "gmail-target" && strings.Contains(p.Detail, "appended once")
	}) {
		t.Errorf("collect does not say how labels reach the Gmail target: %+v", ps)
	}

	res, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	if res.Messages != int64(len(msgs)) || len(res.Failed) != 0 {
		t.Errorf("bulk appended %d messages (failed %+v), want %d", res.Messages, res.Failed, len(msgs))
	}
	checkGmailTarget(t, dst, "gia", msgs)
	again, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	if again.Messages != 0 || again.FlagUpdates != 0 {
		t.Errorf("second bulk appended %d and updated %d", again.Messages, again.FlagUpdates)
	}

	// New mail with two labels arrives, and message 4 is labelled; sync
	// copies the new one once and sets the new label.
	must(t, src.Label("gia", ids[4], "Travel"))
	msgs[3].want = append(msgs[3].want, "Travel")
	m6 := gmailMsg{n: 6, labels: []string{`\Inbox`, "Travel", "Work"}, want: []string{`\Inbox`, "Travel", "Work"}}
	_, err = src.Add("gia", m6.message())
	must(t, err)
	msgs = append(msgs, m6)
	sr, err := Sync(ctx, e.p, SyncOptions{})
	must(t, err)
	if sr.Messages != 1 || sr.FlagUpdates != 1 {
		t.Errorf("sync appended %d and updated %d, want 1 and 1", sr.Messages, sr.FlagUpdates)
	}
	checkGmailTarget(t, dst, "gia", msgs)

	vr, err := Verify(ctx, e.p, Selection{})
	must(t, err)
	if vr.Differences != 0 || vr.Extra != 0 || vr.Messages != int64(len(msgs)) {
		t.Errorf("verify: %d messages, %d differences, %d extra: %+v", vr.Messages, vr.Differences, vr.Extra, vr.List)
	}
	last, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	if last.Messages != 0 {
		t.Errorf("bulk after sync appended %d", last.Messages)
	}
}

// TestDovecotToGmailDuplicate: from a source that is not Gmail, each
// source folder's copy of a message is appended on its own; Gmail keeps
// one message with both folders' labels, and a re-run appends nothing.
func TestDovecotToGmailDuplicate(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "hal")
	dst, err := gmaillike.Start(io.Discard)
	must(t, err)
	t.Cleanup(func() { dst.Close() })
	must(t, dst.AddUser("hal", e.pw["hal"]))
	m := gmailMsg{n: 7, flags: []string{`\Seen`}}.message()
	e.seed("hal", []corpus.Message{
		{Folder: "INBOX", Body: m.Body, Flags: m.Flags, InternalDate: m.Date},
		{Folder: "Work", Body: m.Body, Flags: m.Flags, InternalDate: m.Date},
	})
	e.p.Config.Target.URL = "imap://" + dst.Addr + "?tls=none"
	must(t, e.p.Config.Validate())
	e.approved()
	res, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	if res.Messages != 2 {
		t.Errorf("bulk appended %d, want 2 (one per source folder)", res.Messages)
	}
	checkGmailTarget(t, dst, "hal", []gmailMsg{{n: 7, flags: []string{`\Seen`}, want: []string{`\Inbox`, "Work"}}})
	again, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	if again.Messages != 0 {
		t.Errorf("second bulk appended %d", again.Messages)
	}
	vr, err := Verify(ctx, e.p, Selection{})
	must(t, err)
	if vr.Differences != 0 {
		t.Errorf("verify: %d differences: %+v", vr.Differences, vr.List)
	}
}
