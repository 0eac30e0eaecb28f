package phase

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// The arenas are shared: the one past arenaCount waits for one to come
// back, and gives up when the context ends.
func TestArenaPoolBounded(t *testing.T) {
	var a arenaPool
	ctx := context.Background()
	var held [][]byte
	for range arenaCount {
		b, err := a.get(ctx)
		must(t, err)
		if cap(b) != arenaSize || len(b) != 0 {
			t.Fatalf("arena of len %d cap %d, want 0 and %d", len(b), cap(b), arenaSize)
		}
		held = append(held, b)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := a.get(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("arena %d: %v, want to wait until the context ends", arenaCount+1, err)
	}
	got := make(chan []byte)
	go func() {
		b, _ := a.get(ctx)
		got <- b
	}()
	select {
	case <-got:
		t.Fatal("an arena was handed out while all were in use")
	case <-time.After(50 * time.Millisecond):
	}
	used := append(held[0], "mail"...)
	a.put(used)
	if b := <-got; len(b) != 0 || cap(b) != arenaSize {
		t.Errorf("arena came back with len %d cap %d, want it emptied", len(b), cap(b))
	}
}

// Two writers store groups at once while the sender goes on, a third
// group waits for one of them; wait returns once all sent are stored; after
// a failure the groups still coming are dropped, send and close say why,
// and every arena is back in the pool.
func TestGroupWriter(t *testing.T) {
	var pool arenaPool
	ctx := context.Background()
	var (
		mu      sync.Mutex
		stored  []int
		storing = make(chan int, 10)
		release = make(chan struct{})
	)
	w := newGroupWriter(2, &pool, func(g heldGroup) error {
		select { // said while someone listens; never blocks the writer
		case storing <- len(g.msgs):
		default:
		}
		<-release
		mu.Lock()
		defer mu.Unlock()
		stored = append(stored, len(g.msgs))
		if len(g.msgs) == 4 {
			return errors.New("target gone")
		}
		return nil
	})
	group := func(n int) heldGroup {
		a, err := pool.get(ctx)
		must(t, err)
		return heldGroup{msgs: make([]heldMessage, n), arena: a}
	}
	must(t, w.send(group(1)))
	must(t, w.send(group(2)))
	<-storing
	<-storing // both at once
	sent := make(chan error)
	go func() { sent <- w.send(group(3)) }()
	select {
	case <-sent:
		t.Fatal("a third group was taken while two were being stored")
	case <-time.After(30 * time.Millisecond):
	}
	release <- struct{}{}
	must(t, <-sent)
	waited := make(chan error)
	go func() { waited <- w.wait() }()
	select {
	case <-waited:
		t.Fatal("wait returned while groups were being stored")
	case <-time.After(30 * time.Millisecond):
	}
	release <- struct{}{}
	<-storing
	release <- struct{}{}
	must(t, <-waited)
	mu.Lock()
	if len(stored) != 3 {
		t.Fatalf("stored %v, want three groups", stored)
	}
	mu.Unlock()

	must(t, w.send(group(4)))
	<-storing
	close(release) // the failure, and whatever comes next passes at once
	deadline := time.Now().Add(5 * time.Second)
	for {
		g := group(5)
		if err := w.send(g); err != nil {
			if err.Error() != "target gone" {
				t.Fatalf("send after the failure: %v", err)
			}
			pool.put(g.arena) // not taken: the sender's to give back
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("send never reported the failure")
		}
	}
	if err := w.wait(); err == nil || err.Error() != "target gone" {
		t.Errorf("wait: %v, want the failure", err)
	}
	if err := w.close(); err == nil || err.Error() != "target gone" {
		t.Errorf("close: %v, want the failure", err)
	}
	if n := len(pool.free); n != int(pool.made.Load()) {
		t.Errorf("%d of %d arenas back in the pool", n, pool.made.Load())
	}
}
