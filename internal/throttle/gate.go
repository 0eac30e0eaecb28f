package throttle

import (
	"context"
	"sync"
)

// Gate caps the connections open at once to each server: a counting
// semaphore per key (a server address such as "mail.example.com:993").
// Waiters for a key are served first come, first served.
//
// A nil *Gate lets everything through; the zero Gate is unlimited until
// Limit is called. A Gate is safe for concurrent use.
type Gate struct {
	mu     sync.Mutex
	max    int
	limits map[string]int
	keys   map[string]*gateKey
}

// gateKey is the state of one key: slots in use and who waits, in order.
type gateKey struct {
	inUse   int
	waiters []*gateWaiter
}

type gateWaiter struct {
	ready   chan struct{} // closed when the slot is handed over
	granted bool          // guarded by Gate.mu
}

// NewGate returns a Gate allowing max holders per key (0 or less =
// unlimited); Limit sets another maximum for a single key.
func NewGate(max int) *Gate {
	return &Gate{max: max, limits: map[string]int{}, keys: map[string]*gateKey{}}
}

// Limit sets the maximum for key (0 or less = unlimited), overriding the
// Gate's default. Raising a limit lets waiters through at once; lowering it
// takes effect as holders release.
func (g *Gate) Limit(key string, max int) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.init()
	g.limits[key] = max
	if k := g.keys[key]; k != nil {
		g.handOver(key, k)
	}
}

func (g *Gate) init() {
	if g.keys == nil {
		g.limits, g.keys = map[string]int{}, map[string]*gateKey{}
	}
}

func (g *Gate) limit(key string) int {
	if m, ok := g.limits[key]; ok {
		return m
	}
	return g.max
}

// Acquire waits for a slot of key and returns the function that gives it
// back (safe to call more than once), or ctx.Err() as soon as ctx ends, in
// which case nothing is held.
func (g *Gate) Acquire(ctx context.Context, key string) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if g == nil {
		return func() {}, nil
	}
	g.mu.Lock()
	g.init()
	k := g.keys[key]
	if k == nil {
		k = &gateKey{}
		g.keys[key] = k
	}
	if max := g.limit(key); len(k.waiters) == 0 && (max <= 0 || k.inUse < max) {
		k.inUse++
		g.mu.Unlock()
		return g.releaser(key), nil
	}
	w := &gateWaiter{ready: make(chan struct{})}
	k.waiters = append(k.waiters, w)
	g.mu.Unlock()

	select {
	case <-w.ready:
		return g.releaser(key), nil
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		if w.granted {
			// The slot arrived together with the cancellation: pass it on.
			g.releaseLocked(key)
			return nil, ctx.Err()
		}
		for i, x := range k.waiters {
			if x == w {
				k.waiters = append(k.waiters[:i], k.waiters[i+1:]...)
				break
			}
		}
		g.forget(key, k)
		return nil, ctx.Err()
	}
}

// InUse returns how many slots of key are held.
func (g *Gate) InUse(key string) int {
	if g == nil {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if k := g.keys[key]; k != nil {
		return k.inUse
	}
	return 0
}

func (g *Gate) releaser(key string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.releaseLocked(key)
		})
	}
}

func (g *Gate) releaseLocked(key string) {
	k := g.keys[key]
	k.inUse--
	g.handOver(key, k)
}

// handOver gives free slots to the first waiters, then forgets an idle key.
func (g *Gate) handOver(key string, k *gateKey) {
	for len(k.waiters) > 0 {
		if max := g.limit(key); max > 0 && k.inUse >= max {
			break
		}
		w := k.waiters[0]
		k.waiters = k.waiters[1:]
		k.inUse++
		w.granted = true
		close(w.ready)
	}
	g.forget(key, k)
}

// forget drops the state of a key nobody holds or waits for.
func (g *Gate) forget(key string, k *gateKey) {
	if k.inUse == 0 && len(k.waiters) == 0 {
		delete(g.keys, key)
	}
}
