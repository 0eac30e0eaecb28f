package phase

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/state"
)

// heldMessage is a small message read into memory, to be stored together
// with others in one command.
type heldMessage struct {
	m    source.Message
	p    state.Pair // its intent
	body []byte
	hash string
}

// groupWriter stores groups of held messages on a goroutine of its own,
// one group at a time, so that the source serves the next group while the
// target stores this one. At most two groups of a lane are in memory: the
// one being stored and the one being gathered.
//
// Its methods are called from one goroutine (the fetch callback).
type groupWriter struct {
	store   func(heldGroup) error
	started bool
	groups  chan *heldGroup // a nil group asks the writer to say it is idle
	idle    chan struct{}
	failed  chan struct{} // closed when store failed; err says why
	done    chan struct{}
	err     error
}

func newGroupWriter(store func(heldGroup) error) *groupWriter {
	return &groupWriter{store: store}
}

func (w *groupWriter) start() {
	if w.started {
		return
	}
	w.started = true
	w.groups = make(chan *heldGroup)
	w.idle = make(chan struct{})
	w.failed = make(chan struct{})
	w.done = make(chan struct{})
	go func() {
		defer close(w.done)
		for g := range w.groups {
			if g == nil {
				w.idle <- struct{}{}
				continue
			}
			if err := w.store(*g); err != nil {
				w.err = err
				close(w.failed)
				return
			}
		}
	}()
}

// send hands g to the writer, waiting while it stores the group before;
// it returns the error that stopped the writer, if one did (g was not
// taken then).
func (w *groupWriter) send(g heldGroup) error {
	w.start()
	select {
	case w.groups <- &g:
		return nil
	case <-w.failed:
		return w.err
	}
}

// wait returns once every group sent so far is stored.
func (w *groupWriter) wait() error {
	if !w.started {
		return nil
	}
	select {
	case w.groups <- nil:
	case <-w.failed:
		return w.err
	}
	<-w.idle
	return nil
}

// close waits for the groups sent to be stored and stops the writer.
func (w *groupWriter) close() error {
	if !w.started {
		return nil
	}
	close(w.groups)
	<-w.done
	return w.err
}

// heldGroup is a group of small messages whose bodies share one arena.
type heldGroup struct {
	msgs  []heldMessage
	arena []byte
}

// arenaCount arenas of arenaSize bytes hold the small messages of every
// lane of a run: a group fills one arena, and at most this much mail is in
// memory at once however many users and lanes copy.
const (
	arenaCount = 8
	arenaSize  = maxBatchBytes
)

// arenaPool hands out the project's arenas; the bodies of small messages
// are read into them instead of buffers of their own, so that copying
// makes no garbage per message.
type arenaPool struct {
	once sync.Once
	free chan []byte
	made atomic.Int32
}

// get returns an empty arena, waiting while all are in use.
func (a *arenaPool) get(ctx context.Context) ([]byte, error) {
	a.once.Do(func() { a.free = make(chan []byte, arenaCount) })
	select {
	case b := <-a.free:
		return b, nil
	default:
	}
	for n := a.made.Load(); n < arenaCount; n = a.made.Load() {
		if a.made.CompareAndSwap(n, n+1) {
			return make([]byte, 0, arenaSize), nil
		}
	}
	select {
	case b := <-a.free:
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// put gives an arena back.
func (a *arenaPool) put(b []byte) {
	if b != nil {
		a.free <- b[:0]
	}
}
