// Package throttle paces a migration: bandwidth and message-rate limits
// shared by all workers, with back-pressure when a server says it is busy
// (Limiter); connection caps per server (Gate); the time windows in which
// copying is allowed (Windows); and retry delays (Backoff).
//
// It is pure logic: time comes from a Clock (the system clock, or a
// ManualClock in tests), and every wait ends as soon as its context does.
// Which errors are worth a retry or a Slow is for the copy engine to say.
package throttle

import (
	"context"
	"io"
	"math"
	"sync"
	"time"
)

// Defaults of LimiterConfig's back-pressure settings.
const (
	DefaultQuiet       = 30 * time.Second
	DefaultRecoverStep = 5 * time.Second
	DefaultFloor       = 1.0 / 16
	DefaultHold        = time.Second
)

// burstTime is how much of a rate may be spent at once after an idle
// moment: bursts stay small, so the rate holds over short stretches too.
const burstTime = 100 * time.Millisecond

// readChunk is the most Reader reads (and Writer writes) at a time while
// bytes are limited, so that waits are short and even.
const readChunk = 32 << 10

// recoverShare is the part of the base rate that every recovery step adds
// back (additive increase after a multiplicative decrease).
const recoverShare = 1.0 / 8

// LimiterConfig configures a Limiter. The zero value is unlimited, with the
// default back-pressure settings and the system clock.
type LimiterConfig struct {
	// BytesPerSecond caps the bytes of all readers and writers together
	// (0 = unlimited).
	BytesPerSecond int64
	// MessagesPerSecond caps WaitMessage calls of all workers together
	// (0 = unlimited).
	MessagesPerSecond float64
	// Quiet is how long after the last Slow the rate starts to recover
	// (default DefaultQuiet).
	Quiet time.Duration
	// RecoverStep is how often, once recovering, an eighth of the base rate
	// is added back until the configured rate is reached (default
	// DefaultRecoverStep).
	RecoverStep time.Duration
	// Floor is the fraction of the base rate that Slow never goes below
	// (default DefaultFloor, 1/16).
	Floor float64
	// Hold is how long after a Slow further Slow calls are ignored, so that
	// many workers hearing "busy" at the same moment halve the rate once
	// (default DefaultHold).
	Hold time.Duration
	// Clock is the time source (default SystemClock).
	Clock Clock
}

// Limiter paces all workers of a run together: a token bucket for bytes,
// one for messages, each allowing only small bursts (a tenth of a second's
// worth). Waits are served in the order they were asked for.
//
// Back-pressure: Slow halves the current rates when a server says it is
// busy, down to a floor; after a quiet period without Slow, the rates
// recover step by step to the configured ones. A rate configured as
// unlimited is slowed from the throughput measured at the first Slow, and
// becomes unlimited again once it has recovered to that.
//
// A nil *Limiter is unlimited: every method may be called on it. A Limiter
// is safe for concurrent use.
type Limiter struct {
	cfg   LimiterConfig
	clock Clock

	mu    sync.Mutex
	bytes bucket
	msgs  bucket
}

// New returns a Limiter for bytesPerSecond and messagesPerSecond (0 =
// unlimited) with the default back-pressure settings and the system clock.
func New(bytesPerSecond int64, messagesPerSecond float64) *Limiter {
	return NewLimiter(LimiterConfig{BytesPerSecond: bytesPerSecond, MessagesPerSecond: messagesPerSecond})
}

// NewLimiter returns a Limiter configured by c; negative rates count as
// unlimited, unset durations and fractions take their defaults.
func NewLimiter(c LimiterConfig) *Limiter {
	if c.Quiet <= 0 {
		c.Quiet = DefaultQuiet
	}
	if c.RecoverStep <= 0 {
		c.RecoverStep = DefaultRecoverStep
	}
	if c.Floor <= 0 || c.Floor > 1 {
		c.Floor = DefaultFloor
	}
	if c.Hold <= 0 {
		c.Hold = DefaultHold
	}
	c.Clock = orSystem(c.Clock)
	l := &Limiter{cfg: c, clock: c.Clock}
	l.bytes = bucket{configured: max(float64(c.BytesPerSecond), 0), minBurst: 4096}
	l.msgs = bucket{configured: max(c.MessagesPerSecond, 0), minBurst: 1}
	return l
}

// WaitMessage takes one message token: it returns when the message may be
// copied, or ctx.Err() as soon as ctx ends.
func (l *Limiter) WaitMessage(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l == nil {
		return nil
	}
	return l.wait(ctx, &l.msgs, 1)
}

// WaitBytes takes n byte tokens: it returns when n more bytes may be
// transferred, or ctx.Err() as soon as ctx ends (the tokens are then given
// back). n may exceed the burst: the bucket goes into debt and later
// callers wait for it.
func (l *Limiter) WaitBytes(ctx context.Context, n int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l == nil || n <= 0 {
		return nil
	}
	return l.wait(ctx, &l.bytes, float64(n))
}

func (l *Limiter) wait(ctx context.Context, b *bucket, n float64) error {
	l.mu.Lock()
	d := b.take(l.clock.Now(), n, &l.cfg)
	l.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := l.clock.NewTimer(d)
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		t.Stop()
		l.mu.Lock()
		b.giveBack(l.clock.Now(), n, &l.cfg)
		l.mu.Unlock()
		return ctx.Err()
	}
}

// Reader returns a reader that delivers r's bytes no faster than the
// byte rate, as they stream (a message is never held back whole). Its
// Read fails with ctx.Err() once ctx ends. On a nil Limiter it returns r.
func (l *Limiter) Reader(ctx context.Context, r io.Reader) io.Reader {
	if l == nil {
		return r
	}
	return &reader{ctx: ctx, l: l, r: r}
}

type reader struct {
	ctx context.Context
	l   *Limiter
	r   io.Reader
}

func (r *reader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	if len(p) > readChunk && r.l.bytesLimited() {
		p = p[:readChunk]
	}
	n, err := r.r.Read(p)
	if n > 0 {
		if werr := r.l.WaitBytes(r.ctx, int64(n)); werr != nil {
			return n, werr
		}
	}
	return n, err
}

// Writer returns a writer that passes bytes on to w no faster than the
// byte rate. Its Write fails with ctx.Err() once ctx ends. On a nil
// Limiter it returns w.
func (l *Limiter) Writer(ctx context.Context, w io.Writer) io.Writer {
	if l == nil {
		return w
	}
	return &writer{ctx: ctx, l: l, w: w}
}

type writer struct {
	ctx context.Context
	l   *Limiter
	w   io.Writer
}

func (w *writer) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		chunk := p[done:]
		if len(chunk) > readChunk && w.l.bytesLimited() {
			chunk = chunk[:readChunk]
		}
		if err := w.l.WaitBytes(w.ctx, int64(len(chunk))); err != nil {
			return done, err
		}
		n, err := w.w.Write(chunk)
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// bytesLimited reports whether bytes are paced at the moment.
func (l *Limiter) bytesLimited() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bytes.rate(l.clock.Now(), &l.cfg) > 0
}

// Slow halves the current rates (bytes and messages) because a server said
// it is busy, never below the floor. Calls within the hold time of the
// previous one count once. A rate configured as unlimited is halved from
// the throughput measured recently; if nothing was measured yet, it stays
// unlimited.
func (l *Limiter) Slow() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	l.bytes.slow(now, &l.cfg)
	l.msgs.slow(now, &l.cfg)
}

// Rates returns the rates in force now, in bytes and messages per second
// (0 = unlimited): the configured ones, or lower ones after Slow.
func (l *Limiter) Rates() (bytesPerSecond, messagesPerSecond float64) {
	if l == nil {
		return 0, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	return l.bytes.rate(now, &l.cfg), l.msgs.rate(now, &l.cfg)
}

// bucket is one token bucket with its back-pressure state. The owning
// Limiter's mutex guards it.
type bucket struct {
	configured float64 // tokens per second; 0 = unlimited
	minBurst   float64

	tokens float64 // may go negative: waits already promised
	last   time.Time
	fresh  bool // tokens must be refilled to a full burst before use

	// Back-pressure. slowed > 0 while the rate is below the configured one.
	base     float64 // rate to recover to
	slowed   float64 // rate set by the last Slow
	lastSlow time.Time

	// Throughput measured in windows of a second (for unlimited buckets).
	winStart time.Time
	winCount float64
	observed float64
}

func (b *bucket) burst(rate float64) float64 {
	return max(rate*burstTime.Seconds(), b.minBurst)
}

// rate is the rate in force at now (0 = unlimited).
func (b *bucket) rate(now time.Time, c *LimiterConfig) float64 {
	if b.slowed == 0 {
		return b.configured
	}
	since := now.Sub(b.lastSlow)
	if since < c.Quiet {
		return b.slowed
	}
	steps := 1 + int64((since-c.Quiet)/c.RecoverStep)
	r := b.slowed + float64(steps)*b.base*recoverShare
	if r >= b.base {
		b.slowed = 0
		return b.configured
	}
	return r
}

// observe counts n tokens towards the measured throughput.
func (b *bucket) observe(now time.Time, n float64) {
	if b.winStart.IsZero() {
		b.winStart = now
	}
	if el := now.Sub(b.winStart); el >= time.Second {
		b.observed = b.winCount / el.Seconds()
		b.winStart, b.winCount = now, 0
	}
	b.winCount += n
}

// measured is the recent throughput: the last whole window's, or the
// current window's if that is higher (or the only one).
func (b *bucket) measured(now time.Time) float64 {
	m := b.observed
	if el := now.Sub(b.winStart); el >= burstTime {
		m = max(m, b.winCount/el.Seconds())
	}
	return m
}

// take spends n tokens at now and returns how long the caller must wait
// before using them.
func (b *bucket) take(now time.Time, n float64, c *LimiterConfig) time.Duration {
	b.observe(now, n)
	r := b.rate(now, c)
	if r == 0 {
		b.fresh = true
		return 0
	}
	b.refill(now, r)
	b.tokens -= n
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(math.Ceil(-b.tokens / r * float64(time.Second)))
}

// refill adds the tokens earned since the last call at rate r.
func (b *bucket) refill(now time.Time, r float64) {
	if b.fresh || b.last.IsZero() {
		b.tokens, b.last, b.fresh = b.burst(r), now, false
		return
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(b.tokens+el.Seconds()*r, b.burst(r))
		b.last = now
	}
}

// giveBack returns n tokens of a wait that was cancelled.
func (b *bucket) giveBack(now time.Time, n float64, c *LimiterConfig) {
	b.winCount = max(b.winCount-n, 0)
	r := b.rate(now, c)
	if r == 0 {
		return
	}
	b.refill(now, r)
	b.tokens = min(b.tokens+n, b.burst(r))
}

// slow halves the rate in force, down to the floor.
func (b *bucket) slow(now time.Time, c *LimiterConfig) {
	if !b.lastSlow.IsZero() && now.Sub(b.lastSlow) < c.Hold {
		return
	}
	cur := b.rate(now, c)
	if b.slowed == 0 {
		b.base = b.configured
		if cur == 0 {
			m := b.measured(now)
			if m <= 0 {
				return
			}
			b.base, cur = m, m
		}
	}
	// The tokens earned so far were earned at the old rate: count them
	// before the rate changes.
	b.refill(now, cur)
	b.slowed = max(cur/2, b.base*c.Floor)
	b.lastSlow = now
}
