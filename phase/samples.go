package phase

import (
	"time"

	"github.com/mailshift/mailshift/state"
)

// sampleEvery is how often a copying step records how far it got, for the
// throughput charts (one row per sample: 720 an hour).
const sampleEvery = 5 * time.Second

// sample records, from now until the returned function is called, how
// many messages and bytes the step that started at start has copied: at
// the start, every sampleEvery, and at the end. A sample that cannot be
// written is logged and the copy goes on.
func (p *Project) sample(step state.Step, start time.Time) (stop func()) {
	m0, b0 := p.copied.Load(), p.copiedBytes.Load()
	put := func(at time.Time) {
		x := state.Sample{At: at, Messages: p.copied.Load() - m0, Bytes: p.copiedBytes.Load() - b0}
		if err := p.Store.PutSample(step, start, x); err != nil {
			p.log().Warn("throughput sample not recorded", "error", err.Error())
		}
	}
	put(start)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				put(now)
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		put(time.Now())
	}
}
