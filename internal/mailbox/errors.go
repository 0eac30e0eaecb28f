package mailbox

import (
	"errors"
	"time"
)

// Kinds of failure. Every backend classifies its own errors by wrapping
// them with one of these (see Mark), so that the copy engine decides what
// to retry, what to record against a message or folder, and what stops a
// user, without knowing the protocol behind them. An error no backend
// classified is treated as transient.
var (
	// ErrTransient: the connection dropped, stalled or was refused, the
	// server is restarting. Trying again later may work.
	ErrTransient = errors.New("transient failure")
	// ErrBusy: the server asks for less load (IMAP NO [UNAVAILABLE],
	// [INUSE], a [LIMIT] that is not about a message's size, throttling
	// answers). Slow down, then try again.
	ErrBusy = errors.New("server is busy")
	// ErrAccountLimit: the account has spent what the service lets it do
	// for a while (Gmail's daily IMAP bandwidth limits: "[OVERQUOTA]
	// Account exceeded command or bandwidth limits"). Trying again before
	// the allowance renews gets the same answer: the user waits.
	ErrAccountLimit = errors.New("account limits exceeded")
	// ErrRefused: the server refused this operation on this item (a
	// folder it will not create or open, a flag change it will not take).
	// Trying again gives the same answer; the failure belongs to the item.
	ErrRefused = errors.New("refused by the server")
	// ErrProtocol: an answer that could not be understood. Retrying sends
	// the same question and gets the same answer.
	ErrProtocol = errors.New("unreadable answer from the server")
	// ErrAuth: the server refused the credentials.
	ErrAuth = errors.New("login failed")
	// ErrConfig: the connection settings themselves are wrong (unknown TLS
	// mode, no user, plaintext to a remote host).
	ErrConfig = errors.New("invalid connection settings")
)

// ErrFolderGone is returned (wrapped) when a folder no longer exists.
var ErrFolderGone = errFolderGone{}

type errFolderGone struct{}

func (errFolderGone) Error() string { return "folder does not exist" }

// kindError is an error with its kind; errors.Is finds both.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.err, e.kind} }

// Mark classifies err as kind (one of the Err* kinds above) without
// changing its text. A nil err stays nil.
func Mark(kind, err error) error {
	if err == nil {
		return nil
	}
	return &kindError{kind: kind, err: err}
}

// Retryable tells whether an error a backend returned may go away by
// itself: it is transient, busy, or not classified at all. Refusals,
// unreadable answers, credentials, settings and a folder that is gone are
// not.
func Retryable(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrTransient), errors.Is(err, ErrBusy):
		return true
	case errors.Is(err, ErrAccountLimit), errors.Is(err, ErrRefused), errors.Is(err, ErrProtocol), errors.Is(err, ErrAuth),
		errors.Is(err, ErrConfig), errors.Is(err, ErrFolderGone):
		return false
	}
	return true
}

// retryAfterError is an error with the delay the server asked for before
// the next attempt.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// WithRetryAfter attaches to err the delay the server suggested before the
// next attempt (Exchange's "Suggested Backoff Time: N milliseconds"),
// without changing its text or kind. A nil err stays nil.
func WithRetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, after: d}
}

// RetryAfter returns the delay the server suggested before the next
// attempt, if err carries one (see WithRetryAfter).
func RetryAfter(err error) (time.Duration, bool) {
	var ra *retryAfterError
	if errors.As(err, &ra) {
		return ra.after, true
	}
	return 0, false
}
