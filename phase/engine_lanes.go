package phase

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/source"
)

// Messages up to maxBatchedMessage bytes are held in memory (the
// project's arenas) and stored in groups of up to maxBatchBytes with one
// command each where the target can, the next group read from the source
// while the target stores one; larger ones stream straight from the source
// to the target, one at a time.
const (
	maxBatchedMessage = 4 << 20
	maxBatchBytes     = 8 << 20
	// minGroupBytes is the smallest group limit above none: after a
	// dropped connection the limit halves down to it, then to single
	// messages, and doubles back after each group stored.
	minGroupBytes = 64 << 10
	// groupWriters is how many groups of a lane are stored at once, each
	// over a connection of its own, while no more than fewLanes lanes copy
	// in the whole run: a big folder copied alone (the usual critical path)
	// is stored twice as fast so, while many lanes side by side gain
	// nothing from it and lose a little to the server's contention.
	groupWriters = 2
	fewLanes     = 2
	// oneLaneBytes is the most a user's pass copies over the session's
	// own connections alone: below it, another lane's login pair costs
	// more than the lane saves (a small mailbox is copied in a few
	// groups), and on a project of many small mailboxes those logins
	// were most of the bulk copy's time.
	oneLaneBytes = 4 << 20
)

// laneTarget is what a lane keeps while it copies into one target folder.
type laneTarget struct {
	mark    uidMark
	windows bool // copy only inside throttle.windows
	// group is the byte limit of a MULTIAPPEND group: maxBatchBytes, less
	// after a dropped connection (so that a group fits in what a bad link
	// carries), 0 for one message at a time.
	group atomic.Int64
}

func newLaneTarget(windows bool) *laneTarget {
	lt := &laneTarget{windows: windows}
	lt.group.Store(maxBatchBytes)
	return lt
}

// shrink halves the group limit after a connection dropped mid-batch, and
// tells whether it could.
func (lt *laneTarget) shrink() bool {
	old := lt.group.Load()
	g := old / 2
	if g < minGroupBytes {
		g = 0
	}
	lt.group.Store(g)
	return g != old
}

// grow doubles the group limit after a group was stored.
func (lt *laneTarget) grow() {
	for {
		g := lt.group.Load()
		n := min(max(2*g, minGroupBytes), maxBatchBytes)
		if g == n || lt.group.CompareAndSwap(g, n) {
			return
		}
	}
}

// uidMark is what a lane knows of its target folder without asking: its
// UIDVALIDITY and a UIDNEXT no higher than the real one (one past the
// highest UID the lane's appends were given). A batch's intents record it
// as where to look for their copies after a crash, so a lower value only
// means looking further; the zero mark means ask the server (STATUS).
// Without it, each batch asked, and on a big folder the server re-read the
// whole folder to answer.
type uidMark struct{ validity, next uint32 }

// lanes copies a user's folders over up to copy.connections_per_user
// lanes: the session's own connections and more opened for the purpose (a
// lane that cannot connect is done without). A folder that fails is
// skipped and the lane goes on with the next; a failure that concerns the
// whole user stops every lane.
type lanes struct {
	s      *session
	opts   copyOptions
	queue  chan []*folderJob
	cancel context.CancelCauseFunc

	mu    sync.Mutex
	total copyStats
	err   error // the first failure that stops the user
}

// copyJobs copies the jobs' messages in batches.
func (s *session) copyJobs(ctx context.Context, jobs []*folderJob, opts copyOptions) (copyStats, error) {
	if s.dry() {
		for _, fj := range jobs {
			pl := s.planFor(fj.e)
			pl.Copy += int64(len(fj.todo))
			for _, m := range fj.todo {
				pl.CopyBytes += m.Size
			}
		}
		return copyStats{}, nil
	}
	groups := laneGroups(jobs)
	if len(groups) == 0 {
		return copyStats{}, nil
	}
	l := &lanes{s: s, opts: opts, queue: make(chan []*folderJob, len(groups))}
	for _, g := range groups {
		l.queue <- g
	}
	close(l.queue)
	n := min(s.p.Config.Copy.ConnectionsPerUser, len(groups))
	if todoBytes(jobs) < oneLaneBytes {
		n = 1
	}
	if !s.dstDesc.UIDPlus {
		n = 1 // copies are found by content: one writer at a time
	}
	ctx, l.cancel = context.WithCancelCause(ctx)
	defer l.cancel(nil)

	// Lanes still waiting for a connection slot when the session's own
	// lane is done are not needed any more.
	openCtx, stopOpening := context.WithCancel(ctx)
	defer stopOpening()
	var wg sync.WaitGroup
	for range n - 1 {
		wg.Go(func() {
			c, err := s.p.openConns(openCtx, s.row)
			if err != nil {
				if openCtx.Err() == nil {
					s.p.log().Warn("copying over fewer connections", "user", s.row.SourceUser, "error", err.Error())
				}
				return
			}
			defer c.close()
			l.work(ctx, c)
		})
	}
	l.work(ctx, s.conns)
	stopOpening()
	wg.Wait()
	if l.err == nil && ctx.Err() != nil {
		l.err = context.Cause(ctx)
	}
	return l.total, l.err
}

// todoBytes is the size of the messages the jobs have to copy.
func todoBytes(jobs []*folderJob) int64 {
	var n int64
	for _, fj := range jobs {
		for _, m := range fj.todo {
			n += max(m.Size, 0)
		}
	}
	return n
}

// laneGroups groups the jobs with something to copy by target folder,
// biggest first. One lane per folder at a time: two connections appending
// to the same folder make Dovecot re-read the folder's index before every
// append (each sees the other's changes), which grows with the folder and
// made a 100,000-message copy several times slower than one writer.
// Source folders mapped to the same target folder (folders.map) go to the
// same lane, one after the other: settling a failed batch by content needs
// every other copy into that folder recorded.
func laneGroups(jobs []*folderJob) [][]*folderJob {
	byTarget := map[string][]*folderJob{}
	for _, fj := range jobs {
		if len(fj.todo) > 0 {
			byTarget[fj.e.Target] = append(byTarget[fj.e.Target], fj)
		}
	}
	groups := make([][]*folderJob, 0, len(byTarget))
	for _, g := range byTarget {
		groups = append(groups, g)
	}
	count := func(g []*folderJob) (n int) {
		for _, fj := range g {
			n += len(fj.todo)
		}
		return n
	}
	// Biggest first, so that a big folder does not start last.
	slices.SortStableFunc(groups, func(a, b []*folderJob) int {
		if d := count(b) - count(a); d != 0 {
			return d
		}
		return strings.Compare(a[0].e.Target, b[0].e.Target)
	})
	return groups
}

// work copies folder groups from the queue over the lane c until the queue
// is empty or the user is stopped.
func (l *lanes) work(ctx context.Context, c conns) {
	s := l.s
	s.p.lanes.Add(1)
	defer s.p.lanes.Add(-1)
	for g := range l.queue {
		lt := newLaneTarget(l.opts.windows)
		for _, fj := range g {
			if ctx.Err() != nil {
				return
			}
			l.copyFolder(ctx, c, fj, lt)
		}
	}
}

// copyFolder copies one folder's messages in batches of copy.batch_size.
func (l *lanes) copyFolder(ctx context.Context, c conns, fj *folderJob, lt *laneTarget) {
	s := l.s
	size := s.p.Config.Copy.BatchSize
	for i, n := 0, 0; i < len(fj.todo) && ctx.Err() == nil; i += n {
		if l.opts.windows {
			if err := s.p.waitWindow(ctx, s.row.SourceUser); err != nil {
				return // the context ended
			}
		}
		var settle func(int64) error
		var err error
		n, settle, err = s.p.budgetTake(ctx, s.row.SourceUser, fj.todo[i:min(i+size, len(fj.todo))])
		if err != nil {
			if !isInterrupt(err) {
				l.fail(fj, err)
			}
			return
		}
		st, err := s.copyChunk(ctx, c, fj, fj.todo[i:i+n], lt)
		if serr := settle(st.Bytes); err == nil {
			err = serr
		}
		l.mu.Lock()
		l.total.add(st)
		l.mu.Unlock()
		if err != nil {
			l.fail(fj, err)
			return
		}
	}
}

// fail records err against fj's folder, and stops the user's lanes when
// it is the user's failure rather than the folder's.
func (l *lanes) fail(fj *folderJob, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ferr := l.s.skipFolder(&l.total, fj.e.Source, err); ferr != nil && l.err == nil {
		l.err = ferr
		l.cancel(ferr)
	}
	fj.failed = true
}

// openConns opens a pair of connections for r, within
// throttle.max_connections.
func (p *Project) openConns(ctx context.Context, r users.Row) (conns, error) {
	return p.openConnsWith(ctx, r, quickPass{})
}

// openConnsWith is openConns reusing q's source connection and slots when
// it holds one: only the target is opened then.
func (p *Project) openConnsWith(ctx context.Context, r users.Row, q quickPass) (conns, error) {
	if q.src != nil {
		dst, err := p.openTarget(ctx, r)
		if err != nil {
			q.close()
			return conns{}, err
		}
		return conns{src: q.src, dst: dst, release: q.release}, nil
	}
	release, err := p.acquireConns(ctx, r)
	if err != nil {
		return conns{}, err
	}
	// Both sides log in at once: a login costs a few round trips and, on
	// many servers, a process started for the session.
	var (
		src    source.Source
		srcErr error
		wg     sync.WaitGroup
	)
	wg.Go(func() { src, srcErr = p.openSource(ctx, r) })
	dst, dstErr := p.openTarget(ctx, r)
	wg.Wait()
	if srcErr != nil || dstErr != nil {
		if src != nil {
			src.Close()
		}
		if dst != nil {
			dst.Close()
		}
		release()
		if srcErr != nil {
			return conns{}, srcErr
		}
		return conns{}, dstErr
	}
	return conns{src: src, dst: dst, release: release}, nil
}
