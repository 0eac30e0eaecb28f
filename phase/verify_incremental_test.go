package phase

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/state"
	"github.com/mailshift/mailshift/target"
)

// countingBackends counts the message bodies read from each side.
type countingBackends struct {
	Backends
	src, dst atomic.Int64
}

func (b *countingBackends) OpenSource(ctx context.Context, r users.Row) (source.Source, error) {
	s, err := b.Backends.OpenSource(ctx, r)
	if err != nil {
		return nil, err
	}
	return countingSource{s, &b.src}, nil
}

func (b *countingBackends) OpenTarget(ctx context.Context, r users.Row) (target.Target, error) {
	t, err := b.Backends.OpenTarget(ctx, r)
	if err != nil {
		return nil, err
	}
	return countingTarget{t, &b.dst}, nil
}

type countingSource struct {
	source.Source
	n *atomic.Int64
}

func (s countingSource) Fetch(ctx context.Context, folder string, msgs []mailbox.Message, fn func(mailbox.Message, mailbox.Body) error) error {
	return s.Source.Fetch(ctx, folder, msgs, func(m mailbox.Message, b mailbox.Body) error {
		s.n.Add(1)
		return fn(m, b)
	})
}

// Changes passes CONDSTORE's change listing through (the servers of
// these tests are Dovecots, which offer it).
func (s countingSource) Changes(ctx context.Context, folder string, since uint64) (mailbox.Folder, []mailbox.Message, error) {
	return s.Source.(changeLister).Changes(ctx, folder, since)
}

// Keys passes the key listing through.
func (s countingSource) Keys(ctx context.Context, folder string) (mailbox.Folder, []string, error) {
	return s.Source.(source.ChangeTracker).Keys(ctx, folder)
}

type countingTarget struct {
	target.Target
	n *atomic.Int64
}

func (t countingTarget) Fetch(ctx context.Context, folder string, msgs []mailbox.Message, fn func(mailbox.Message, mailbox.Body) error) error {
	return t.Target.Fetch(ctx, folder, msgs, func(m mailbox.Message, b mailbox.Body) error {
		t.n.Add(1)
		return fn(m, b)
	})
}

// Changes passes CONDSTORE's change listing through.
func (t countingTarget) Changes(ctx context.Context, folder string, since uint64) (mailbox.Folder, []mailbox.Message, error) {
	return t.Target.(changeLister).Changes(ctx, folder, since)
}

// verifyCounting runs a verification with the bodies read on each side
// counted.
func (e *testEnv) verifyCounting(full bool) (VerifyResult, error, int64, int64) {
	e.t.Helper()
	cb := &countingBackends{Backends: e.p.Backends}
	e.p.Backends = cb
	defer func() { e.p.Backends = cb.Backends }()
	res, err := VerifyWith(context.Background(), e.p, VerifyOptions{Full: full})
	return res, err, cb.src.Load(), cb.dst.Load()
}

// bulkCopied seeds the users, collects, approves and copies them.
func (e *testEnv) bulkCopied(mailboxes map[string][]corpus.Message) int64 {
	e.t.Helper()
	var n int64
	for u, msgs := range mailboxes {
		e.seed(u, msgs)
		n += int64(len(msgs))
	}
	e.approved()
	_, err := Bulk(context.Background(), e.p, BulkOptions{SkipTest: true})
	must(e.t, err)
	return n
}

// TestIncrementalVerifyReadsOnlyTheSample: after a clean bulk copy an
// incremental verification reads the content of the sample only (on both
// sides), checks every message's metadata the first time, and passes over
// every folder the second time; a full one reads every copy on the target.
func TestIncrementalVerifyReadsOnlyTheSample(t *testing.T) {
	e := newEnv(t, dovecot.Options{}, dovecot.Options{Separator: "."}, "alice", "bob")
	total := e.bulkCopied(map[string][]corpus.Message{"alice": corpus.Mailbox(1, 40, 2000), "bob": corpus.Mailbox(2, 25, 1500)})
	e.p.Config.Verify.Sample = "3"

	res, err, src, dst := e.verifyCounting(false)
	must(t, err)
	if res.Kind != VerifyIncremental || res.Messages != total || res.Differences != 0 || res.Sample != 6 || src != 6 || dst != 6 || res.Unchanged != 0 || !res.Recorded {
		t.Fatalf("first incremental verify: %d bodies read from the source, %d from the target; %+v", src, dst, res)
	}
	res, err, src, dst = e.verifyCounting(false)
	must(t, err)
	if res.Messages != total || res.Differences != 0 || res.Sample != 6 || src != 6 || dst != 6 || res.Unchanged != res.Folders || res.Folders == 0 {
		t.Fatalf("second incremental verify: %d bodies read from the source, %d from the target; %+v", src, dst, res)
	}
	if res.LastFull != "" || res.NeverFull != 2 {
		t.Errorf("no full verification ran yet, the result says %q (%d never)", res.LastFull, res.NeverFull)
	}

	e.p.Config.Verify.Sample = "0"
	res, err, src, dst = e.verifyCounting(false)
	must(t, err)
	if res.Sample != 0 || src != 0 || dst != 0 || res.Messages != total {
		t.Fatalf("verify.sample 0: %d bodies read from the source, %d from the target; %+v", src, dst, res)
	}
	e.p.Config.Verify.Sample = "100%"
	res, err, src, dst = e.verifyCounting(false)
	must(t, err)
	if res.Sample != total || src != total || dst != total {
		t.Fatalf("verify.sample 100%%: %d bodies read from the source, %d from the target; %+v", src, dst, res)
	}

	res, err, src, dst = e.verifyCounting(true)
	must(t, err)
	if res.Kind != VerifyFull || res.Sample != total || dst != total || src != 0 || res.LastFull == "" || res.NeverFull != 0 {
		t.Fatalf("full verify: %d bodies read from the source, %d from the target; %+v", src, dst, res)
	}

	// Through a reader's opening, verify reads the state and records
	// nothing: the next verification starts from the last one recorded.
	reader, err := state.OpenReader(filepath.Join(e.p.Dir, "mailshift.db"))
	must(t, err)
	defer reader.Close()
	writer := e.p.Store
	e.p.Store = reader
	e.p.Config.Verify.Sample = "0"
	res, err, _, _ = e.verifyCounting(false)
	e.p.Store = writer
	must(t, err)
	last, _, err := writer.LastVerification("alice")
	must(t, err)
	if res.Recorded || res.Unchanged != res.Folders || last.Kind != VerifyFull || !strings.Contains(DescribeVerifyKind(res), "not recorded") {
		t.Errorf("verify through a reader: %+v; last recorded %+v", res, last)
	}

	// Beside a run that holds the state (its writer is open here), verify
	// opened as the command opens it records what it verified, without
	// the writers' lock: the writer sees it at once.
	recorder, err := state.OpenRecorder(filepath.Join(e.p.Dir, "mailshift.db"))
	must(t, err)
	defer recorder.Close()
	e.p.Store = recorder
	res, err, _, _ = e.verifyCounting(false)
	e.p.Store = writer
	must(t, err)
	last, _, err = writer.LastVerification("alice")
	must(t, err)
	if !res.Recorded || last.Kind != VerifyIncremental || strings.Contains(DescribeVerifyKind(res), "not recorded") {
		t.Errorf("verify beside a writer: %+v; last recorded %+v", res, last)
	}
	must(t, writer.PutUser("alice", "alice", "")) // the writer writes on beside the recorder
}

// TestIncrementalVerifyFindsChanges: what changed after a clean
// verification is found by the next incremental one (a copy deleted or
// re-flagged on the target, a flag changed on the source and not synced
// yet); a copy whose bytes changed on the target's disk with its size
// kept is found by --full, not by an incremental verification without it
// in the sample.
func TestIncrementalVerifyFindsChanges(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "alice")
	e.bulkCopied(map[string][]corpus.Message{"alice": corpus.Generate(3, 12, 1500)})
	e.p.Config.Verify.Sample = "0"
	res, err := VerifyWith(ctx, e.p, VerifyOptions{Full: true})
	must(t, err)
	pairs, err := e.p.Store.Pairs("alice", "INBOX")
	must(t, err)
	slices.SortFunc(pairs, func(a, b state.Pair) int { return int(a.SourceUID) - int(b.SourceUID) })

	// byChanges: whether the folder is to be checked by its changes
	// only (CONDSTORE), not listed in full.
	expectOne := func(when, kind string, byChanges bool) {
		t.Helper()
		res, err, _, _ := e.verifyCounting(false)
		if !errors.Is(err, ErrDifferences) || res.Differences != 1 || len(res.List) != 1 || res.List[0].Kind != kind || (res.ByChanges == 1) != byChanges {
			t.Fatalf("%s: incremental verify: %v, %+v", when, err, res)
		}
		if d := res.List[0]; d.Subject == "" || d.TargetUID == 0 && kind != DiffMissing {
			t.Errorf("%s: the difference is not named: %+v", when, d)
		}
	}
	expectClean := func(when string, byChanges bool) VerifyResult {
		t.Helper()
		res, err, src, dst := e.verifyCounting(false)
		if err != nil || res.Differences != 0 || (res.ByChanges == 1) != byChanges || src != 0 || dst != 0 {
			t.Fatalf("%s: incremental verify: %v, %d bodies read from the source, %d from the target, %+v", when, err, src, dst, res)
		}
		return res
	}
	expectClean("after a full verification", false)

	// A copy deleted on the target.
	storeUID(t, e.dst, "alice", e.pw["alice"], pairs[2].TargetUID, imap.StoreFlagsAdd, imap.FlagDeleted)
	expungeDeleted(t, e.dst, "alice", e.pw["alice"])
	expectOne("a copy deleted on the target", DiffGone, false)
	_, err = Repair(ctx, e.p, RepairOptions{})
	must(t, err)
	expectClean("after repair", false)

	// Flags changed on the target.
	storeUID(t, e.dst, "alice", e.pw["alice"], pairs[4].TargetUID, imap.StoreFlagsAdd, "Changed")
	expectOne("a flag set on the target", DiffFlags, true)
	_, err = Repair(ctx, e.p, RepairOptions{})
	must(t, err)
	expectClean("after repair", false) // a folder that differed is listed again

	// A flag changed on the source, not synced yet.
	storeUID(t, e.src, "alice", e.pw["alice"], pairs[5].SourceUID, imap.StoreFlagsAdd, imap.FlagAnswered)
	expectOne("a flag set on the source", DiffFlags, true)
	_, err = Sync(ctx, e.p, SyncOptions{})
	must(t, err)
	expectClean("after sync", false)
	expectClean("nothing changed since", false)
	// A flag changed on the source and synced: both sides moved by
	// flags only, and agree.
	storeUID(t, e.src, "alice", e.pw["alice"], pairs[6].SourceUID, imap.StoreFlagsAdd, imap.FlagFlagged)
	_, err = Sync(ctx, e.p, SyncOptions{})
	must(t, err)
	expectClean("a flag set on the source and synced", true)
	expectClean("nothing changed since", false)

	// New mail on the source: missing until synced, then checked by the
	// changes alone; mail delivered to the target only is counted.
	src := imaptest.Login(t, e.src.Addr, "alice", e.pw["alice"])
	imaptest.Append(t, src, "INBOX", []string{"$Label1"}, time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC), corpus.Generate(90, 1, 1200)[0].Body)
	expectOne("new mail on the source, not copied yet", DiffMissing, false)
	imaptest.Append(t, src, "INBOX", []string{`\Seen`}, time.Date(2026, 3, 4, 5, 6, 8, 0, time.UTC), corpus.Generate(91, 1, 1200)[0].Body)
	_, err = Sync(ctx, e.p, SyncOptions{})
	must(t, err)
	expectClean("new mail copied", false) // the folder differed last time: listed
	imaptest.Append(t, src, "INBOX", nil, time.Date(2026, 3, 4, 5, 6, 9, 0, time.UTC), corpus.Generate(92, 1, 1200)[0].Body)
	_, err = Sync(ctx, e.p, SyncOptions{})
	must(t, err)
	if res := expectClean("more new mail copied", true); res.Messages != 15 {
		t.Errorf("verified %d messages, want 15", res.Messages)
	}
	dstc := imaptest.Login(t, e.dst.Addr, "alice", e.pw["alice"])
	imaptest.Append(t, dstc, "INBOX", nil, time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC), []byte("Subject: delivered to the new server\r\n\r\nhello\r\n"))
	if res := expectClean("mail delivered to the target only", true); res.Extra != 1 {
		t.Errorf("%d messages only on the target, want 1", res.Extra)
	}
	if res := expectClean("nothing changed since", false); res.Extra != 1 || res.Unchanged != res.Folders {
		t.Errorf("nothing changed: %+v", res)
	}

	// A copy's bytes changed on the target's disk, its size kept.
	alterOnDisk(t, filepath.Join(e.dst.Dir, "mail", "alice"), pairs[7].Hash)
	expectClean("a copy changed on disk, not in the sample", false)
	res, err = VerifyWith(ctx, e.p, VerifyOptions{Full: true})
	if !errors.Is(err, ErrDifferences) || res.Differences != 1 || res.List[0].Kind != DiffContent || res.List[0].TargetUID != pairs[7].TargetUID {
		t.Fatalf("full verify after a copy changed on disk: %v, %+v", err, res)
	}
	// After the full one found it, the folder is listed again, and a
	// sample of everything reads the changed copy.
	e.p.Config.Verify.Sample = "100%"
	expectOne("the changed copy in the sample", DiffContent, false)
}

// TestIncrementalVerifyWithoutCondStore: where a side offers no CONDSTORE
// a flag change does not show in the counters, so every folder is listed
// again, and a flag changed on the target is found.
func TestIncrementalVerifyWithoutCondStore(t *testing.T) {
	off := dovecot.Options{DisableCaps: []string{"CONDSTORE", "QRESYNC"}}
	e := newEnv(t, dovecot.Options{}, off, "alice")
	e.bulkCopied(map[string][]corpus.Message{"alice": corpus.Generate(4, 8, 1000)})
	e.p.Config.Verify.Sample = "0"
	res, err, _, dst := e.verifyCounting(false)
	must(t, err)
	res, err, _, dst = e.verifyCounting(false)
	if err != nil || res.Unchanged != 0 || dst != 0 || res.Messages != 8 {
		t.Fatalf("second verify without CONDSTORE on the target: %v, %d bodies read, %+v", err, dst, res)
	}
	pairs, err := e.p.Store.Pairs("alice", "INBOX")
	must(t, err)
	storeUID(t, e.dst, "alice", e.pw["alice"], pairs[0].TargetUID, imap.StoreFlagsAdd, imap.FlagFlagged)
	res, err, _, _ = e.verifyCounting(false)
	if !errors.Is(err, ErrDifferences) || res.Differences != 1 || res.List[0].Kind != DiffFlags {
		t.Fatalf("verify after a flag set on the target: %v, %+v", err, res)
	}
}

// storeUID changes the flags of one INBOX message of user on server s.
func storeUID(t *testing.T, s *dovecot.Server, user, pw string, uid uint32, op imap.StoreFlagsOp, flags ...imap.Flag) {
	t.Helper()
	c := imaptest.Login(t, s.Addr, user, pw)
	defer func() { c.Logout().Wait() }()
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("select INBOX of %s on %s: %v", user, s.Addr, err)
	}
	if err := c.Store(imap.UIDSetNum(imap.UID(uid)), &imap.StoreFlags{Op: op, Silent: true, Flags: flags}, nil).Close(); err != nil {
		t.Fatalf("store flags of uid %d of %s on %s: %v", uid, user, s.Addr, err)
	}
}

// expungeDeleted expunges the INBOX messages of user flagged \Deleted.
func expungeDeleted(t *testing.T, s *dovecot.Server, user, pw string) {
	t.Helper()
	c := imaptest.Login(t, s.Addr, user, pw)
	defer func() { c.Logout().Wait() }()
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
}

// alterOnDisk changes one byte of the body of the Maildir file under dir
// whose content has the given hash, keeping its size, as a broken disk or
// a tool working on the server's files would.
func alterOnDisk(t *testing.T, dir, hash string) {
	t.Helper()
	done := false
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || done || !strings.Contains(path, string(filepath.Separator)+"cur"+string(filepath.Separator)) &&
			!strings.Contains(path, string(filepath.Separator)+"new"+string(filepath.Separator)) {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		// Dovecot stores lines ending in LF alone (mail_save_crlf = no)
		// and serves them with CRLF.
		crlf := bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
		sum := sha256.Sum256(crlf)
		if hex.EncodeToString(sum[:]) != hash {
			return nil
		}
		i := bytes.Index(b, []byte("\n\n")) + 2
		if i < 2 || i >= len(b) || b[i] == '\n' || b[i] == '\r' {
			t.Fatalf("%s: no body to change", path)
		}
		b[i] ^= 0x01
		done = true
		return os.WriteFile(path, b, 0o600)
	})
	must(t, err)
	if !done {
		t.Fatalf("no file under %s holds the copy with hash %s", dir, hash)
	}
}

// TestCutoverVerifiesIncrementally: with nothing changed since a full
// verification, cutover's verification lists no folder again and reads
// the sample only; its report says it was incremental and when the last
// full verification ran. --full-verify reads every copy.
func TestCutoverVerifiesIncrementally(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "alice", "bob")
	e.bulkCopied(map[string][]corpus.Message{"alice": corpus.Mailbox(5, 30, 1500), "bob": corpus.Mailbox(6, 20, 1500)})
	_, err := VerifyWith(ctx, e.p, VerifyOptions{Full: true})
	must(t, err)
	e.p.Config.Verify.Sample = "2"
	cb := &countingBackends{Backends: e.p.Backends}
	e.p.Backends = cb
	cu, err := Cutover(ctx, e.p, CutoverOptions{Selection: Selection{Users: []string{"alice"}}, Yes: true})
	must(t, err)
	v := cu.Verify
	if len(cu.Users) != 1 || !cu.Users[0].Verified || v.Kind != VerifyIncremental || v.Unchanged != v.Folders || v.Sample != 2 ||
		cb.dst.Load() != 2 || cb.src.Load() != 2 || v.LastFull == "" {
		t.Fatalf("cutover after a full verification, nothing changed: %d bodies read from the source, %d from the target; %+v, %+v", cb.src.Load(), cb.dst.Load(), cu.Users, v)
	}
	report, err := os.ReadFile(cu.Report)
	must(t, err)
	for _, want := range []string{"Verification: **incremental**", "sample of 2 messages", "Last full verification: " + v.LastFull} {
		if !strings.Contains(string(report), want) {
			t.Errorf("cutover report lacks %q:\n%s", want, report)
		}
	}
	last, ok, err := e.p.Store.LastVerification("alice")
	must(t, err)
	if !ok || last.Kind != VerifyIncremental || last.FullAt.IsZero() || last.Sample != 2 {
		t.Errorf("alice's last verification recorded as %+v", last)
	}

	cb.src.Store(0)
	cb.dst.Store(0)
	cu, err = Cutover(ctx, e.p, CutoverOptions{Selection: Selection{Users: []string{"bob"}}, Yes: true, FullVerify: true})
	must(t, err)
	const bob = 20 // every message of bob's
	if cu.Verify.Kind != VerifyFull || cu.Verify.Messages != bob || cu.Verify.Sample != bob || cb.dst.Load() != bob || len(cu.Users) != 1 || !cu.Users[0].Verified {
		t.Fatalf("cutover --full-verify: %d bodies read from the target; %+v", cb.dst.Load(), cu.Verify)
	}
	report, err = os.ReadFile(cu.Report)
	must(t, err)
	if !strings.Contains(string(report), "Verification: **full**") {
		t.Errorf("cutover report:\n%s", report)
	}
}

// TestVerifySampleSetting: verify.sample takes a count per user or a
// percentage, and anything else is named by its key.
func TestVerifySampleSetting(t *testing.T) {
	for in, want := range map[string]sampleSize{
		"": {perMillion: 10000}, "1%": {perMillion: 10000}, "0.5 %": {perMillion: 5000}, "100%": {perMillion: 1000000},
		"0": {}, "20": {count: 20}, " 7 ": {count: 7},
	} {
		got, err := VerifyConfig{Sample: SampleSetting(in)}.sample()
		if err != nil || got != want {
			t.Errorf("verify.sample %q: %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"-1", "101%", "ten", "5%%", "1e3x", "NaN%"} {
		c := Defaults()
		c.Source.URL, c.Target.URL = "imaps://a:993", "imaps://b:993"
		c.Verify.Sample = SampleSetting(in)
		err := c.Validate()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != "verify.sample" || !strings.Contains(ce.Msg, "percentage") {
			t.Errorf("verify.sample %q: %v", in, err)
		}
	}
}
