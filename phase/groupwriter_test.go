package phase

import (
	"context"
	"errors"
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

// The writer stores groups in order while the sender goes on; wait returns
// once all sent are stored; after a failure, send and close say why.
func TestGroupWriter(t *testing.T) {
	var stored []int
	release := make(chan struct{})
	w := newGroupWriter(func(g heldGroup) error {
		<-release
		stored = append(stored, len(g.msgs))
		if len(g.msgs) == 3 {
			return errors.New("target gone")
		}
		return nil
	})
	must(t, w.send(heldGroup{msgs: make([]heldMessage, 1)})) // taken at once
	sent := make(chan error)
	go func() { sent <- w.send(heldGroup{msgs: make([]heldMessage, 2)}) }()
	select {
	case <-sent:
		t.Fatal("a second group was taken while the first was being stored")
	case <-time.After(30 * time.Millisecond):
	}
	release <- struct{}{}
	must(t, <-sent)
	waited := make(chan error)
	go func() { waited <- w.wait() }()
	release <- struct{}{}
	must(t, <-waited)
	if len(stored) != 2 || stored[0] != 1 || stored[1] != 2 {
		t.Fatalf("stored %v, want [1 2]", stored)
	}
	go func() { release <- struct{}{} }()
	must(t, w.send(heldGroup{msgs: make([]heldMessage, 3)}))
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := w.send(heldGroup{msgs: make([]heldMessage, 4)})
		if err != nil {
			if err.Error() != "target gone" {
				t.Fatalf("send after the failure: %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("send never reported the failure")
		}
	}
	if err := w.close(); err == nil || err.Error() != "target gone" {
		t.Errorf("close: %v, want the failure", err)
	}
}
