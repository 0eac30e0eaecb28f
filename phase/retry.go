package phase

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/throttle"
	"github.com/mailshift/mailshift/state"
	"github.com/mailshift/mailshift/target"
)

// permanentError marks an error that trying again cannot cure: a guard
// that stopped a pass, too many refused messages, a mapping mistake.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// permanent marks err as not worth retrying.
func permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// retryable tells whether err may go away by itself: a dropped or stalled
// connection, a refused connect, a restarting server, a server that says it
// is busy (the backends classify their errors, see mailbox.Retryable).
// Credentials, configuration, refusals, unreadable answers, the state file,
// interruptions and the engine's own guards are not.
func retryable(err error) bool {
	var pe permanentError
	switch {
	case err == nil, isInterrupt(err), errors.As(err, &pe):
		return false
	case errors.Is(err, state.ErrLocked), errors.Is(err, state.ErrCorrupt), errors.Is(err, state.ErrNewerVersion):
		return false
	}
	var (
		rej *target.RejectedError
		ce  *ConfigError
		dns *net.DNSError
	)
	switch {
	case errors.As(err, &rej), errors.As(err, &ce):
		return false
	case errors.As(err, &dns) && dns.IsNotFound:
		return false // a misspelt host name, not a passing failure
	}
	return mailbox.Retryable(err)
}

// busy tells whether err is the server asking for less load (as opposed to
// a broken connection).
func busy(err error) bool { return errors.Is(err, mailbox.ErrBusy) }

// retrier spaces out the attempts of one piece of work: copy.retries more
// attempts after the first, waiting copy.retry_wait, then twice as long each
// time (with jitter, at most maxRetryWait).
type retrier struct {
	p        *Project
	what     string // e.g. "user alice folder INBOX", for the log
	attempts int
}

const maxRetryWait = time.Minute

// again reports whether the work that failed with err should be tried
// again, after waiting; it returns false (at once) for errors that are not
// retryable, when the attempts are used up, or when ctx ends.
func (r *retrier) again(ctx context.Context, err error) bool {
	if !retryable(err) || r.attempts >= r.p.Config.Copy.Retries {
		return false
	}
	r.attempts++
	if d, ok := mailbox.RetryAfter(err); ok {
		return r.waitAsked(ctx, d, err)
	}
	wait := r.p.Config.Copy.retryWait() << (r.attempts - 1)
	if wait > maxRetryWait || wait <= 0 {
		wait = maxRetryWait
	}
	wait = wait/2 + time.Duration(rand.Int64N(int64(wait/2)+1))
	if busy(err) {
		r.p.limiter().Slow()
	}
	r.p.log().Warn("retrying after a transient failure", "work", r.what, "attempt", r.attempts, "of", r.p.Config.Copy.Retries, "wait", wait.Round(time.Millisecond).String(), "error", err.Error())
	return sleepCtx(ctx, wait)
}

// waitAsked waits exactly the delay the server suggested (Exchange:
// "Request is throttled. Suggested Backoff Time: N milliseconds", imapsync
// FAQ.d/FAQ.Office365.txt) on the project's clock, without jitter or cap,
// and slows the shared rate down: trying earlier only earns another
// refusal.
func (r *retrier) waitAsked(ctx context.Context, d time.Duration, err error) bool {
	r.p.limiter().Slow()
	r.p.log().Warn("the server asked to wait before trying again", "work", r.what, "attempt", r.attempts, "of", r.p.Config.Copy.Retries, "wait", d.String(), "error", err.Error())
	return throttle.Sleep(ctx, r.p.Clock, d) == nil
}

// giveUp wraps the last error of work that was retried in vain.
func (r *retrier) giveUp(err error) error {
	if r.attempts == 0 || !retryable(err) {
		return err
	}
	return fmt.Errorf("%w (gave up after %d retries)", err, r.attempts)
}
