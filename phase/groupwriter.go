package phase

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/state"
)

// heldMessage is a small message read into memory, to be stored together
// with others in one command.
type heldMessage struct {
	m    mailbox.Message
	p    state.Pair // its intent
	body []byte
	hash string
}

// groupWriter stores groups of held messages on goroutines of its own,
// so that the source serves the next group while the target stores the
// ones before: up to n at once, each over its own connection (on Dovecot
// two connections storing groups into one folder take half the time of
// one). At most n+1 groups of a lane are in memory: those being stored
// and the one being gathered. A group's arena goes back to the pool once
// it is stored, or dropped after a failure.
//
// Its methods are called from one goroutine (the fetch callback); store
// is called from n at once.
type groupWriter struct {
	store    func(heldGroup) error
	pool     *arenaPool
	n        int
	started  bool
	groups   chan heldGroup
	inFlight sync.WaitGroup // groups sent and not yet stored or dropped
	workers  sync.WaitGroup
	failOnce sync.Once
	failed   chan struct{} // closed when store failed; err says why
	err      error
}

func newGroupWriter(n int, pool *arenaPool, store func(heldGroup) error) *groupWriter {
	return &groupWriter{store: store, pool: pool, n: max(n, 1)}
}

func (w *groupWriter) start() {
	if w.started {
		return
	}
	w.started = true
	w.groups = make(chan heldGroup)
	w.failed = make(chan struct{})
	for range w.n {
		w.workers.Go(func() {
			for g := range w.groups {
				select {
				case <-w.failed: // dropped: the batch is over
				default:
					if err := w.store(g); err != nil {
						w.failOnce.Do(func() {
							w.err = err
							close(w.failed)
						})
					}
				}
				w.pool.put(g.arena)
				w.inFlight.Done()
			}
		})
	}
}

// send hands g to a writer, waiting while all are busy; it returns the
// error that stopped the writers, if one did (g was not taken then).
func (w *groupWriter) send(g heldGroup) error {
	w.start()
	w.inFlight.Add(1)
	select {
	case w.groups <- g:
		return nil
	case <-w.failed:
		w.inFlight.Done()
		return w.err
	}
}

// wait returns once every group sent so far is stored (or dropped after a
// failure, which it returns).
func (w *groupWriter) wait() error {
	if !w.started {
		return nil
	}
	w.inFlight.Wait()
	return w.failure()
}

// close waits for the groups sent to be stored and stops the writers.
func (w *groupWriter) close() error {
	if !w.started {
		return nil
	}
	close(w.groups)
	w.workers.Wait()
	return w.failure()
}

// failure is the error that stopped the writers, nil while none did.
func (w *groupWriter) failure() error {
	select {
	case <-w.failed:
		return w.err
	default:
		return nil
	}
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

func (a *arenaPool) init() { a.once.Do(func() { a.free = make(chan []byte, arenaCount) }) }

// get returns an empty arena, waiting while all are in use.
func (a *arenaPool) get(ctx context.Context) ([]byte, error) {
	a.init()
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

// put gives an arena back; nil is no arena.
func (a *arenaPool) put(b []byte) {
	if b != nil {
		a.init()
		a.free <- b[:0]
	}
}
