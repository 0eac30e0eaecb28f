package phase

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/state"
	"github.com/mailshift/mailshift/target"
)

// memBox is a mailbox held in memory, readable as a source and writable
// as a target: enough to drive the steps without any server.
type memBox struct {
	mu      sync.Mutex
	folders map[string]*memFolder
	next    uint32        // UIDVALIDITY of the next folder created
	changes chan struct{} // a message arrived (for Watch)
	woken   int           // Watch calls that reported a change
}

type memFolder struct {
	role        string
	uidValidity uint32
	uidNext     uint32
	msgs        []memMessage // by UID
}

type memMessage struct {
	uid   uint32
	flags []string
	date  time.Time
	body  []byte
}

func newMemBox() *memBox {
	b := &memBox{folders: map[string]*memFolder{}, next: 100, changes: make(chan struct{}, 1)}
	b.create("INBOX", "")
	return b
}

func (b *memBox) create(name, role string) *memFolder {
	if f, ok := b.folders[name]; ok {
		return f
	}
	b.next++
	f := &memFolder{role: role, uidValidity: b.next, uidNext: 1}
	b.folders[name] = f
	return f
}

func (b *memBox) add(folder string, flags []string, date time.Time, body []byte) uint32 {
	f := b.create(folder, "")
	m := memMessage{uid: f.uidNext, flags: slices.Clone(flags), date: date, body: slices.Clone(body)}
	f.uidNext++
	f.msgs = append(f.msgs, m)
	select {
	case b.changes <- struct{}{}:
	default:
	}
	return m.uid
}

func (b *memBox) folder(name string) (*memFolder, error) {
	f, ok := b.folders[name]
	if !ok {
		return nil, fmt.Errorf("memory folder %q: %w", name, mailbox.ErrFolderGone)
	}
	return f, nil
}

func (f *memFolder) counters(name string) mailbox.Folder {
	var bytes int64
	for _, m := range f.msgs {
		bytes += int64(len(m.body))
	}
	return mailbox.Folder{Name: name, Role: f.role, Messages: uint32(len(f.msgs)), Bytes: bytes, UIDValidity: f.uidValidity, UIDNext: f.uidNext}
}

// memConn is one open "connection" to a memBox.
type memConn struct{ b *memBox }

var (
	_ source.Source  = memConn{}
	_ source.Watcher = memConn{}
	_ target.Target  = memConn{}
)

func (c memConn) Describe(context.Context) (mailbox.Description, error) {
	return mailbox.Description{Kind: "memory", Delimiter: '/', UIDPlus: true, QuotaUsed: -1, QuotaLimit: -1}, nil
}

func (c memConn) Folders(context.Context) ([]mailbox.Folder, error) {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	var out []mailbox.Folder
	for name, f := range c.b.folders {
		out = append(out, f.counters(name))
	}
	slices.SortFunc(out, func(a, b mailbox.Folder) int { return cmpString(a.Name, b.Name) })
	return out, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (c memConn) Messages(_ context.Context, folder string) (mailbox.Folder, []mailbox.Message, error) {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	f, err := c.b.folder(folder)
	if err != nil {
		return mailbox.Folder{}, nil, err
	}
	var out []mailbox.Message
	for _, m := range f.msgs {
		out = append(out, mailbox.Message{Key: strconv.Itoa(int(m.uid)), UID: m.uid, Size: int64(len(m.body)), Flags: slices.Clone(m.flags), InternalDate: m.date})
	}
	return f.counters(folder), out, nil
}

func (c memConn) Fetch(_ context.Context, folder string, msgs []mailbox.Message, fn func(mailbox.Message, mailbox.Body) error) error {
	c.b.mu.Lock()
	f, err := c.b.folder(folder)
	var bodies [][]byte
	var found []mailbox.Message
	if err == nil {
		for _, want := range msgs {
			for _, m := range f.msgs {
				if m.uid == want.UID {
					bodies = append(bodies, m.body)
					found = append(found, want)
				}
			}
		}
	}
	c.b.mu.Unlock()
	if err != nil {
		return err
	}
	for i, m := range found {
		if err := fn(m, bytes.NewReader(bodies[i])); err != nil {
			return err
		}
	}
	return nil
}

func (c memConn) Status(_ context.Context, folder string) (mailbox.Folder, error) {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	f, err := c.b.folder(folder)
	if err != nil {
		return mailbox.Folder{}, err
	}
	return f.counters(folder), nil
}

func (c memConn) CreateFolder(_ context.Context, name, role string) error {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	c.b.create(name, role)
	return nil
}

func (c memConn) Append(_ context.Context, folder string, flags []string, date time.Time, size int64, body io.Reader) (target.Appended, error) {
	data, err := io.ReadAll(body)
	if err != nil {
		return target.Appended{}, err
	}
	if int64(len(data)) != size {
		return target.Appended{}, fmt.Errorf("append: %d bytes, announced %d", len(data), size)
	}
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	f, err := c.b.folder(folder)
	if err != nil {
		return target.Appended{}, err
	}
	return target.Appended{UIDValidity: f.uidValidity, UID: c.b.add(folder, flags, date, data)}, nil
}

func (c memConn) SetFlags(_ context.Context, folder string, uid uint32, flags []string) error {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	f, err := c.b.folder(folder)
	if err != nil {
		return err
	}
	for i := range f.msgs {
		if f.msgs[i].uid == uid {
			f.msgs[i].flags = slices.Clone(flags)
		}
	}
	return nil
}

func (c memConn) Expunge(_ context.Context, folder string, uids []uint32) error {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	f, err := c.b.folder(folder)
	if err != nil {
		return err
	}
	f.msgs = slices.DeleteFunc(f.msgs, func(m memMessage) bool { return slices.Contains(uids, m.uid) })
	return nil
}

func (c memConn) DeleteFolder(_ context.Context, name string) error {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	delete(c.b.folders, name)
	return nil
}

func (c memConn) RenameFolder(_ context.Context, from, to string) error {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	f, err := c.b.folder(from)
	if err != nil {
		return err
	}
	delete(c.b.folders, from)
	c.b.folders[to] = f
	return nil
}

func (c memConn) Close() error { return nil }

// Watch waits for a message to arrive in any folder.
func (c memConn) Watch(ctx context.Context, _ string, max time.Duration) (bool, error) {
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
	case <-c.b.changes:
		c.b.mu.Lock()
		c.b.woken++
		c.b.mu.Unlock()
		return true, nil
	}
}

// memBackends opens in-memory mailboxes by user: it is all the steps
// need to reach a source and a target.
type memBackends struct {
	sources, targets map[string]*memBox
}

func (m memBackends) OpenSource(_ context.Context, r users.Row) (source.Source, error) {
	b, ok := m.sources[r.SourceUser]
	if !ok {
		return nil, mailbox.Mark(mailbox.ErrAuth, fmt.Errorf("source %s: no such mailbox", r.SourceUser))
	}
	return memConn{b}, nil
}

func (m memBackends) OpenTarget(_ context.Context, r users.Row) (target.Target, error) {
	b, ok := m.targets[r.TargetUser]
	if !ok {
		return nil, mailbox.Mark(mailbox.ErrAuth, fmt.Errorf("target %s: no such mailbox", r.TargetUser))
	}
	return memConn{b}, nil
}

// snapshot is a memBox's content: per folder, its messages' bodies,
// flags and dates in UID order.
func (b *memBox) snapshot() map[string][]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string][]string{}
	for name, f := range b.folders {
		var msgs []string
		for _, m := range f.msgs {
			flags := slices.Clone(m.flags)
			slices.Sort(flags)
			msgs = append(msgs, fmt.Sprintf("%v %s %x", flags, m.date.UTC().Format(time.RFC3339), m.body))
		}
		slices.Sort(msgs) // the target's order within a folder is the engine's
		out[name] = msgs
	}
	return out
}

// newMemProject is a project whose users' mailboxes are in memory: each
// source holds 60 generated messages, each target is empty.
func newMemProject(t *testing.T, names ...string) (*Project, memBackends) {
	t.Helper()
	be := memBackends{sources: map[string]*memBox{}, targets: map[string]*memBox{}}
	var rows []users.Row
	for i, n := range names {
		src, dst := newMemBox(), newMemBox()
		src.create("Sent", mailbox.RoleSent)
		dst.create("Sent", mailbox.RoleSent)
		for _, m := range corpus.Mailbox(int64(40+i), 60, 2000) {
			src.add(m.Folder, m.Flags, m.InternalDate, m.Body)
		}
		be.sources[n], be.targets[n] = src, dst
		rows = append(rows, users.Row{Line: i + 2, SourceUser: n, TargetUser: n, Batch: "wave1"})
	}
	dir := t.TempDir()
	store, err := state.Open(filepath.Join(dir, "mailshift.db"))
	must(t, err)
	t.Cleanup(func() { store.Close() })
	cfg := Defaults()
	cfg.Source.URL, cfg.Target.URL = "memory:old", "memory:new"
	cfg.Copy.BatchSize = 16
	must(t, cfg.Validate())
	p := &Project{Config: cfg, Users: rows, Store: store, Dir: dir, Backends: be}

	return p, be
}

// TestStepsThroughBackends drives collect, approve, bulk, sync and verify
// through Backends that are not IMAP (mailboxes in memory): phase needs no
// server, and the target ends up with the source's bytes, flags and dates
// in the same folders, new mail and flag changes included.
func TestStepsThroughBackends(t *testing.T) {
	ctx := context.Background()
	names := []string{"ann", "bob"}
	p, be := newMemProject(t, names...)
	cr, err := Collect(ctx, p, Selection{})
	must(t, err)
	if cr.Messages != 120 || cr.Problems != 0 {
		t.Errorf("collect: %d messages, %d problems; want 120, 0", cr.Messages, cr.Problems)
	}
	_, err = Approve(ctx, p, ApproveOptions{Yes: true, By: "Test"})
	must(t, err)
	br, err := Bulk(ctx, p, BulkOptions{SkipTest: true})
	must(t, err)
	if br.Messages != 120 {
		t.Errorf("bulk copied %d messages, want 120", br.Messages)
	}
	same := func(when string) {
		t.Helper()
		for _, n := range names {
			want, got := be.sources[n].snapshot(), be.targets[n].snapshot()
			for folder, msgs := range want {
				if !slices.Equal(got[folder], msgs) {
					t.Errorf("%s: %s folder %q: target holds %d messages unlike the source's %d", when, n, folder, len(got[folder]), len(msgs))
				}
			}
		}
	}
	same("after bulk")

	// New mail and a flag change on the source; sync carries both over.
	ann := be.sources["ann"]
	ann.mu.Lock()
	m := corpus.Generate(99, 1, 1500)[0]
	ann.add("INBOX", nil, m.InternalDate, m.Body)
	inbox := ann.folders["INBOX"]
	inbox.msgs[0].flags = append(inbox.msgs[0].flags, `\Flagged`)
	ann.mu.Unlock()
	sr, err := Sync(ctx, p, SyncOptions{})
	must(t, err)
	if sr.Messages != 1 || sr.FlagUpdates != 1 {
		t.Errorf("sync: %d messages, %d flag updates; want 1, 1", sr.Messages, sr.FlagUpdates)
	}
	same("after sync")

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
	p, be := newMemProject(t, "ann")
	ctx := context.Background()
	_, err := Collect(ctx, p, Selection{})
	must(t, err)
	_, err = Approve(ctx, p, ApproveOptions{Yes: true, By: "Test"})
	must(t, err)
	_, err = Bulk(ctx, p, BulkOptions{SkipTest: true})
	must(t, err)
	p.Config.Sync.Interval = "1h"
	src, dst := be.sources["ann"], be.targets["ann"]
	select { // what the seeding signalled is old news
	case <-src.changes:
	default:
	}

	fctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := Sync(fctx, p, SyncOptions{Follow: true})
		done <- err
	}()
	count := func(b *memBox) int {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.folders["INBOX"].msgs)
	}
	want := count(src) + 1
	m := corpus.Generate(77, 1, 900)[0]
	src.mu.Lock()
	src.add("INBOX", nil, m.InternalDate, m.Body)
	src.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for count(dst) != want {
		if time.Now().After(deadline) {
			t.Fatalf("target INBOX holds %d messages after 5 s, want %d", count(dst), want)
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
	src.mu.Lock()
	woken := src.woken
	src.mu.Unlock()
	if woken == 0 {
		t.Error("the source's Watcher never reported the change")
	}
}
