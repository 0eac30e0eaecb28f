package phase

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
)

// recorder is a Progress that keeps what the steps reported.
type recorder struct {
	mu      sync.Mutex
	events  []string // "begin bulk", "start ann", "done ann", "end bulk"
	work    map[string]Work
	start   map[string]Work // as Start announced it
	added   map[string]Work // this run's work
	already map[string]Work // found on the target already
	failed  map[string]error
	outside []string // calls made outside Begin and End
	step    string
}

func newRecorder() *recorder {
	r := &recorder{}
	r.reset()
	return r
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events, r.outside = nil, nil
	r.work, r.start, r.added, r.already, r.failed = map[string]Work{}, map[string]Work{}, map[string]Work{}, map[string]Work{}, map[string]error{}
}

func (r *recorder) in(call, user string) {
	if r.step == "" {
		r.outside = append(r.outside, call+" "+user)
	}
}

func (r *recorder) Begin(step string, work []Work) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.step = step
	r.events = append(r.events, "begin "+step)
	for _, w := range work {
		r.work[w.User] = w
	}
}

func (r *recorder) Start(user string, msgs, bytes int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.in("start", user)
	r.events = append(r.events, "start "+user)
	r.start[user] = Work{User: user, Messages: msgs, Bytes: bytes}
}

func (r *recorder) Add(user string, msgs, bytes int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.in("add", user)
	w := r.added[user]
	w.Messages += msgs
	w.Bytes += bytes
	r.added[user] = w
}

func (r *recorder) AlreadyCopied(user string, msgs, bytes int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.in("already", user)
	w := r.already[user]
	w.Messages += msgs
	w.Bytes += bytes
	r.already[user] = w
}

func (r *recorder) Done(user string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.in("done", user)
	r.events = append(r.events, "done "+user)
	r.failed[user] = err
}

func (r *recorder) End(step string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "end "+step)
	r.step = ""
}

// TestProgressCountsThisRunsWork: a copying step begins and ends around
// its users; each user's pass announces the messages of the folders it
// copies (an excluded folder is none of its work) and reaches exactly
// them, telling this run's copies from what the target held already: a
// bulk copies everything, a second one nothing, a sync the new mail only.
func TestProgressCountsThisRunsWork(t *testing.T) {
	ctx := context.Background()
	names := []string{"ann", "bob"}
	p, be := newFakeProject(t, names...)
	p.Config.Folders.Exclude = []string{"Trash"}
	must(t, p.Config.Validate())
	rec := newRecorder()
	p.Progress = rec
	cr, err := Collect(ctx, p, Selection{})
	must(t, err)
	_, err = Approve(ctx, p, ApproveOptions{Yes: true, By: "Test"})
	must(t, err)
	if len(rec.outside) != 2 || len(rec.events) != 2 { // collect's two users are done outside any step
		t.Errorf("collect reported %v, events %v", rec.outside, rec.events)
	}

	check := func(step string, res RunResult, copied map[string]int64) {
		t.Helper()
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.outside) > 0 {
			t.Errorf("%s: reported outside a step: %v", step, rec.outside)
		}
		if rec.events[0] != "begin "+step || rec.events[len(rec.events)-1] != "end "+step || len(rec.events) != 2+2*len(names) {
			t.Errorf("%s: events %v", step, rec.events)
		}
		var total int64
		for _, n := range names {
			if !slices.Contains(rec.events, "start "+n) || rec.failed[n] != nil {
				t.Errorf("%s: %s not started or failed (%v)", step, n, rec.failed[n])
			}
			s, a, al := rec.start[n], rec.added[n], rec.already[n]
			if a.Messages+al.Messages != s.Messages || a.Bytes+al.Bytes != s.Bytes {
				t.Errorf("%s: %s reached %d messages, %d bytes (copied %d, there already %d); its pass announced %d, %d",
					step, n, a.Messages+al.Messages, a.Bytes+al.Bytes, a.Messages, al.Messages, s.Messages, s.Bytes)
			}
			if a.Messages != copied[n] {
				t.Errorf("%s: %s copied %d messages by its progress, want %d", step, n, a.Messages, copied[n])
			}
			total += a.Bytes
		}
		if total != res.Bytes {
			t.Errorf("%s: progress counted %d bytes of this run's work, the step %d", step, total, res.Bytes)
		}
	}

	rec.reset()
	br, err := Bulk(ctx, p, BulkOptions{SkipTest: true})
	must(t, err)
	perUser := map[string]int64{}
	for _, n := range names {
		perUser[n] = rec.start[n].Messages
		if w := rec.work[n]; w.Messages != perUser[n] || w.Messages == 0 {
			t.Errorf("bulk began with %d messages of %s by the inventory; its pass found %d", w.Messages, n, perUser[n])
		}
	}
	if perUser["ann"]+perUser["bob"] != br.Messages || br.Messages >= int64(cr.Messages) {
		t.Errorf("the passes announced %v messages; bulk copied %d, of %d collected with Trash not excluded", perUser, br.Messages, cr.Messages)
	}
	check("bulk", br, perUser)

	rec.reset()
	br, err = Bulk(ctx, p, BulkOptions{SkipTest: true})
	must(t, err)
	check("bulk", br, map[string]int64{})

	for i, m := range corpus.Generate(77, 3, 1500) {
		be.src.Put("ann", "INBOX", m.Body, nil, time.Now().Add(time.Duration(i)*time.Second))
	}
	rec.reset()
	sr, err := Sync(ctx, p, SyncOptions{})
	must(t, err)
	check("sync", sr, map[string]int64{"ann": 3})
	if t.Failed() {
		t.Log(fmt.Sprint(rec.events))
	}
}

// TestVerifyShowsProgress: verify is a step of its own on the progress
// display: it begins and ends around its users, each user announces its
// source's messages and reaches them folder by folder as they are
// verified, none of them counted as copied or found copied before. A
// cutover's verification is part of the cutover's pass and adds nothing.
func TestVerifyShowsProgress(t *testing.T) {
	ctx := context.Background()
	p, _ := newFakeProject(t, "ann", "bob")
	_, err := Collect(ctx, p, Selection{})
	must(t, err)
	_, err = Approve(ctx, p, ApproveOptions{Yes: true, By: "Test"})
	must(t, err)
	_, err = Bulk(ctx, p, BulkOptions{SkipTest: true, Now: true})
	must(t, err)
	rec := newRecorder()
	p.Progress = rec
	v, err := VerifyWith(ctx, p, VerifyOptions{Full: true})
	must(t, err)
	if rec.events[0] != "begin verify" || rec.events[len(rec.events)-1] != "end verify" || len(rec.outside) != 0 {
		t.Errorf("verify reported %v (outside a step: %v)", rec.events, rec.outside)
	}
	var verified int64
	for _, u := range []string{"ann", "bob"} {
		if rec.added[u].Messages != rec.start[u].Messages || rec.added[u].Messages == 0 || rec.already[u].Messages != 0 || rec.failed[u] != nil {
			t.Errorf("%s: announced %+v, verified %+v, already %+v, err %v", u, rec.start[u], rec.added[u], rec.already[u], rec.failed[u])
		}
		verified += rec.added[u].Messages
	}
	if verified != v.Messages {
		t.Errorf("the display was told %d messages verified, verify says %d", verified, v.Messages)
	}

	rec.reset()
	_, err = Cutover(ctx, p, CutoverOptions{Yes: true})
	must(t, err)
	if slices.Contains(rec.events, "begin verify") || rec.added["ann"].Messages != 0 {
		t.Errorf("cutover's verification reported as a step of its own or as copies: %v %+v", rec.events, rec.added)
	}
}
