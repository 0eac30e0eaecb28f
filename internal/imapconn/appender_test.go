package imapconn

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
)

// TestAppenderDovecot stores batches with MULTIAPPEND on a real Dovecot:
// every message arrives byte for byte with its flags and date, the UIDs
// come back in order, a folder name in modified UTF-7 works, and a refused
// batch stores nothing and leaves the Appender usable.
func TestAppenderDovecot(t *testing.T) {
	t.Parallel()
	s := dovecot.Start(t, dovecot.Options{})
	s.AddUser("alice", "pw")
	ctx := context.Background()
	c := imaptest.Login(t, s.Addr, "alice", "pw")
	if err := c.Create("Projekte/Überblick", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	c.Logout().Wait()

	conn := dial(t, Options{Addr: s.Addr, User: "alice", Password: "pw"})
	a, err := conn.Appender(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if !a.HasUIDPlus() {
		t.Fatal("Dovecot offers UIDPLUS")
	}
	msgs := corpus.Generate(3, 30, 3000)
	var items []mailbox.Item
	for i, m := range msgs {
		flags := m.Flags
		if i == 0 {
			flags = append(slices.Clone(flags), "$Label1", `\Recent`, "bad flag")
		}
		items = append(items, mailbox.Item{Flags: flags, Date: m.InternalDate.Truncate(time.Second), Body: corpus.ToCRLF(m.Body)})
	}
	folder := "Projekte/Überblick"
	validity, uids, err := a.Append(ctx, folder, items[:20])
	if err != nil {
		t.Fatal(err)
	}
	v2, uids2, err := a.Append(ctx, folder, items[20:])
	if err != nil {
		t.Fatal(err)
	}
	if validity == 0 || v2 != validity || len(uids) != 20 || len(uids2) != 10 {
		t.Fatalf("UIDVALIDITY %d/%d, UIDs %v %v", validity, v2, uids, uids2)
	}
	all := append(uids, uids2...)
	for i := 1; i < len(all); i++ {
		if all[i] <= all[i-1] {
			t.Fatalf("UIDs not ascending: %v", all)
		}
	}

	// A folder that does not exist: the batch is refused, nothing stored.
	_, _, err = a.Append(ctx, "Nowhere", items[:3])
	var refused *BatchRefusedError
	if !errors.As(err, &refused) || refused.Code != "TRYCREATE" {
		t.Fatalf("append to a missing folder: %v", err)
	}
	if _, _, err := a.Append(ctx, folder, nil); err != nil {
		t.Fatal(err)
	}

	got := imaptest.Snapshot(t, s.Addr, "alice", "pw")["Projekte/Überblick"]
	if len(got) != len(items) {
		t.Fatalf("%d messages stored, want %d", len(got), len(items))
	}
	for i, m := range got {
		if string(m.Body) != string(items[i].Body) || !m.InternalDate.Equal(items[i].Date) || m.UID != all[i] {
			t.Errorf("message %d: uid %d (want %d), date %v (want %v), body equal %v", i, m.UID, all[i], m.InternalDate, items[i].Date, string(m.Body) == string(items[i].Body))
		}
		want := slices.DeleteFunc(slices.Clone(items[i].Flags), func(f string) bool { return f == `\Recent` || f == "bad flag" })
		have := slices.DeleteFunc(slices.Clone(m.Flags), func(f string) bool { return f == `\Recent` })
		slices.Sort(want)
		slices.Sort(have)
		if !slices.Equal(want, have) {
			t.Errorf("message %d: flags %v, want %v", i, have, want)
		}
	}
}

func TestParseAppendUID(t *testing.T) {
	for _, tc := range []struct {
		line     string
		n        int
		validity uint32
		uids     []uint32
		refused  bool
	}{
		{"OK [APPENDUID 7 1:3] Append completed.", 3, 7, []uint32{1, 2, 3}, false},
		{"OK [APPENDUID 7 4,6:7,9] done", 4, 7, []uint32{4, 6, 7, 9}, false},
		{"OK [APPENDUID 7 1:3] wrong count", 2, 7, nil, false},
		{"OK Append completed.", 2, 0, nil, false},
		{"NO [OVERQUOTA] Quota exceeded", 2, 0, nil, true},
		{"NO Mailbox does not exist", 1, 0, nil, true},
	} {
		v, uids, err := parseAppendUID(tc.line, tc.n)
		var r *BatchRefusedError
		if errors.As(err, &r) != tc.refused || v != tc.validity || !slices.Equal(uids, tc.uids) {
			t.Errorf("%q: %d %v %v", tc.line, v, uids, err)
		}
	}
	if _, _, err := parseAppendUID("BAD syntax", 1); err == nil {
		t.Error("BAD accepted")
	}
}
