package phase

import (
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
	store   func([]heldMessage) error
	started bool
	groups  chan []heldMessage // a nil group asks the writer to say it is idle
	idle    chan struct{}
	failed  chan struct{} // closed when store failed; err says why
	done    chan struct{}
	err     error
}

func newGroupWriter(store func([]heldMessage) error) *groupWriter {
	return &groupWriter{store: store}
}

func (w *groupWriter) start() {
	if w.started {
		return
	}
	w.started = true
	w.groups = make(chan []heldMessage)
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
			if err := w.store(g); err != nil {
				w.err = err
				close(w.failed)
				return
			}
		}
	}()
}

// send hands g to the writer, waiting while it stores the group before;
// it returns the error that stopped the writer, if one did.
func (w *groupWriter) send(g []heldMessage) error {
	w.start()
	select {
	case w.groups <- g:
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
