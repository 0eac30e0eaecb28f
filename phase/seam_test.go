package phase

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/fakemail"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/state"
	"github.com/mailshift/mailshift/target"
)

// fakeBackends opens the users' mailboxes on two in-memory servers: all
// the steps need to reach a source and a target. With watch set, sources
// also tell when a message arrives (source.Watcher).
type fakeBackends struct {
	src, dst *fakemail.Server
	watch    chan struct{}
}

func (b fakeBackends) OpenSource(_ context.Context, r users.Row) (source.Source, error) {
	s := b.src.Source(r.SourceUser)
	if b.watch != nil {
		return watching{s, b.watch}, nil
	}
	return s, nil
}

func (b fakeBackends) OpenTarget(_ context.Context, r users.Row) (target.Target, error) {
	return b.dst.Target(r.TargetUser), nil
}

// watching adds source.Watcher to a source: Watch reports a change when
// the test sends one on changes.
type watching struct {
	source.Source
	changes chan struct{}
}

var _ source.Watcher = watching{}

func (w watching) Watch(ctx context.Context, _ string, max time.Duration) (bool, error) {
	if max <= 0 {
		return false, nil
	}
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false, ctx.Err()
	case <-t.C:
		return false, nil
	case <-w.changes:
		return true, nil
	}
}

// newFakeProject is a project whose users' mailboxes are on in-memory
// servers: each source holds 60 generated messages, each target nothing.
func newFakeProject(t *testing.T, names ...string) (*Project, fakeBackends) {
	t.Helper()
	be := fakeBackends{src: fakemail.NewServer(), dst: fakemail.NewServer()}
	var rows []users.Row
	for i, n := range names {
		be.src.AddUser(n)
		be.dst.AddUser(n)
		must(t, be.src.CreateFolder(n, "Sent", mailbox.RoleSent))
		must(t, be.dst.CreateFolder(n, "Sent", mailbox.RoleSent))
		for _, m := range corpus.Mailbox(int64(40+i), 60, 2000) {
			be.src.Put(n, m.Folder, m.Body, m.Flags, m.InternalDate)
		}
		rows = append(rows, users.Row{Line: i + 2, SourceUser: n, TargetUser: n, Batch: "wave1"})
	}
	dir := t.TempDir()
	store, err := state.Open(filepath.Join(dir, "mailshift.db"))
	must(t, err)
	t.Cleanup(func() { store.Close() })
	cfg := Defaults()
	cfg.Source.URL, cfg.Target.URL = "fake:old", "fake:new"
	cfg.Copy.BatchSize = 16
	must(t, cfg.Validate())
	return &Project{Config: cfg, Users: rows, Store: store, Dir: dir, Backends: be}, be
}

// approvedAndCopied runs collect, approve and bulk.
func approvedAndCopied(t *testing.T, p *Project) (CollectResult, RunResult) {
	t.Helper()
	ctx := context.Background()
	cr, err := Collect(ctx, p, Selection{})
	must(t, err)
	_, err = Approve(ctx, p, ApproveOptions{Yes: true, By: "Test"})
	must(t, err)
	br, err := Bulk(ctx, p, BulkOptions{SkipTest: true})
	must(t, err)
	return cr, br
}

// TestStepsThroughBackends drives collect, approve, bulk, sync and verify
// through Backends that are not IMAP (in-memory servers): phase needs no
// server, and the target ends up with the source's bytes, flags and dates
// in the same folders, new mail and flag changes included.
func TestStepsThroughBackends(t *testing.T) {
	ctx := context.Background()
	names := []string{"ann", "bob"}
	p, be := newFakeProject(t, names...)
	cr, br := approvedAndCopied(t, p)
	if cr.Messages != 120 || cr.Problems != 0 {
		t.Errorf("collect: %d messages, %d problems; want 120, 0", cr.Messages, cr.Problems)
	}
	if br.Messages != 120 {
		t.Errorf("bulk copied %d messages, want 120", br.Messages)
	}
	for _, n := range names {
		fakemail.Compare(t, be.src, n, be.dst, n)
	}

	// New mail and a flag change on the source; sync carries both over.
	m := corpus.Generate(99, 1, 1500)[0]
	be.src.Put("ann", "INBOX", m.Body, nil, m.InternalDate)
	first := be.src.Snapshot("ann")["INBOX"][0]
	must(t, be.src.SetFlags("ann", "INBOX", first.UID, append(first.Flags, "SeamTest")))
	sr, err := Sync(ctx, p, SyncOptions{})
	must(t, err)
	if sr.Messages != 1 || sr.FlagUpdates != 1 {
		t.Errorf("sync: %d messages, %d flag updates; want 1, 1", sr.Messages, sr.FlagUpdates)
	}
	fakemail.Compare(t, be.src, "ann", be.dst, "ann")

	vr, err := Verify(ctx, p, Selection{})
	must(t, err)
	if vr.Messages != 121 || vr.Differences != 0 {
		t.Errorf("verify: %d messages, %d differences; want 121, 0", vr.Messages, vr.Differences)
	}
}

// TestFollowThroughWatcher: sync --follow copies a new message as soon as
// the source's Watcher reports it, long before the interval's next pass,
// with no IMAP anywhere; the context ending stops it.
func TestFollowThroughWatcher(t *testing.T) {
	p, be := newFakeProject(t, "ann")
	approvedAndCopied(t, p)
	p.Config.Sync.Interval = "1h"
	be.watch = make(chan struct{})
	p.Backends = be

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Sync(ctx, p, SyncOptions{Follow: true})
		done <- err
	}()
	inbox := func(s *fakemail.Server) int { return len(s.Snapshot("ann")["INBOX"]) }
	want := inbox(be.src) + 1
	m := corpus.Generate(77, 1, 900)[0]
	be.src.Put("ann", "INBOX", m.Body, nil, m.InternalDate)
	select { // taken only by a Watch waiting on the source
	case be.watch <- struct{}{}:
	case <-time.After(5 * time.Second):
		t.Fatal("nobody watches the source")
	}
	deadline := time.Now().Add(5 * time.Second)
	for inbox(be.dst) != want {
		if time.Now().After(deadline) {
			t.Fatalf("target INBOX holds %d messages after 5 s, want %d", inbox(be.dst), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !isInterrupt(err) {
			t.Errorf("follow ended with %v, want the interruption", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not stop within 10 s")
	}
	fakemail.Compare(t, be.src, "ann", be.dst, "ann")
}
