package throttle

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// Defaults of Backoff's zero fields.
const (
	DefaultBackoffInitial    = time.Second
	DefaultBackoffMax        = 2 * time.Minute
	DefaultBackoffMultiplier = 2.0
	DefaultBackoffJitter     = 0.5
)

// Backoff gives the delays between retries of one operation: exponential
// (Initial, Initial×Multiplier, ...) up to Max, each shortened by a random
// part (jitter) so that workers that failed together do not retry in step.
// The zero value is usable with the defaults; call Reset after a success.
// A Backoff belongs to one goroutine.
type Backoff struct {
	// Initial is the first delay before jitter (default 1s).
	Initial time.Duration
	// Max caps every delay (default 2m).
	Max time.Duration
	// Multiplier is the growth per attempt (default 2; at least 1).
	Multiplier float64
	// Jitter is the fraction of each delay drawn at random: the delay is
	// between d×(1−Jitter) and d. 0 means the default 0.5; a negative
	// value means none; more than 1 counts as 1.
	Jitter float64
	// Rand returns random numbers in [0, 1) (default math/rand/v2's
	// Float64); tests set it to make delays predictable.
	Rand func() float64

	attempt int
}

// Next returns the delay before the next retry and counts the attempt.
func (b *Backoff) Next() time.Duration {
	initial, maxDelay, mult, jitter := b.Initial, b.Max, b.Multiplier, b.Jitter
	if initial <= 0 {
		initial = DefaultBackoffInitial
	}
	if maxDelay <= 0 {
		maxDelay = DefaultBackoffMax
	}
	if mult == 0 {
		mult = DefaultBackoffMultiplier
	}
	mult = max(mult, 1)
	switch {
	case jitter == 0:
		jitter = DefaultBackoffJitter
	case jitter < 0:
		jitter = 0
	case jitter > 1:
		jitter = 1
	}
	d := float64(initial) * math.Pow(mult, float64(b.attempt))
	d = min(d, float64(maxDelay)) // also guards against overflow: Pow gives +Inf, not a wrap
	b.attempt++
	if jitter > 0 {
		r := rand.Float64
		if b.Rand != nil {
			r = b.Rand
		}
		d *= 1 - jitter*r()
	}
	return time.Duration(d)
}

// Attempt returns how many delays Next has given since the last Reset.
func (b *Backoff) Attempt() int { return b.attempt }

// Reset starts again from Initial (after a success).
func (b *Backoff) Reset() { b.attempt = 0 }

// Wait sleeps for Next() on clock c (nil: the system clock); it returns
// ctx.Err() as soon as ctx ends.
func (b *Backoff) Wait(ctx context.Context, c Clock) error {
	return Sleep(ctx, c, b.Next())
}
