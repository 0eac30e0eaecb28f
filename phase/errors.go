package phase

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mailshift/mailshift/internal/mailbox"
)

// ErrOutOfOrder is wrapped by every error that means a step's prerequisite
// is missing (exit code 3).
var ErrOutOfOrder = errors.New("out of order")

// Errors of the gates; each wraps ErrOutOfOrder.
var (
	ErrNotCollected = fmt.Errorf("%w: not collected", ErrOutOfOrder)
	ErrNotApproved  = fmt.Errorf("%w: not approved", ErrOutOfOrder)
	ErrPlanChanged  = fmt.Errorf("%w: plan changed since approval", ErrOutOfOrder)
	ErrNotTested    = fmt.Errorf("%w: no passed test migration", ErrOutOfOrder)
	ErrBulkNotDone  = fmt.Errorf("%w: bulk copy not finished", ErrOutOfOrder)
	ErrCutOver      = fmt.Errorf("%w: already cut over", ErrOutOfOrder)
)

// ErrPartial means the step finished but some users or messages failed
// (exit code 4); status and report list them.
var ErrPartial = errors.New("some users or messages failed")

// ErrUnreachable means no user of a step got through because the servers
// could not be reached: every user's failure was a refused or dropped
// connection, a busy server, or connection settings the server would not
// take (an unknown host, a certificate that does not verify). Nothing about
// it is one user's own, so the step failed (exit code 1) rather than
// finished in part. It wraps neither ErrPartial nor the failures' kinds.
var ErrUnreachable = errors.New("no user could reach the servers")

// ErrDifferences means verification found differences (exit code 5).
var ErrDifferences = errors.New("verification found differences")

// gateError wraps a gate sentinel with what to do.
func gateError(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}

// UserFailure is one user's failure in a step.
type UserFailure struct {
	User   string `json:"user"`
	Reason string `json:"reason"`

	err error // the failure itself, for its kind
	all bool  // every user of the pass failed
}

// FailureClass names the kind of a failure as the backends classified it
// (see internal/mailbox): "transient", "busy", "refused", "protocol",
// "auth", "config", "interrupted", or "other" for an error no backend
// classified (a refused message counted by the engine, the state file).
func FailureClass(err error) string {
	switch {
	case err == nil:
		return ""
	case isInterrupt(err):
		return "interrupted"
	case errors.Is(err, mailbox.ErrAuth):
		return "auth"
	case errors.Is(err, mailbox.ErrConfig):
		return "config"
	case errors.Is(err, mailbox.ErrBusy):
		return "busy"
	case errors.Is(err, mailbox.ErrTransient):
		return "transient"
	case errors.Is(err, mailbox.ErrRefused), errors.Is(err, mailbox.ErrFolderGone):
		return "refused"
	case errors.Is(err, mailbox.ErrProtocol):
		return "protocol"
	}
	return "other"
}

// unreachable tells whether a step's failures mean that nobody got
// through to the servers: every user of the pass failed, and each failed
// on the connection (refused, dropped, busy, or settings such as an
// unknown host), not on something of its own (credentials, a refused
// message, a folder).
func unreachable(failures []UserFailure) bool {
	if len(failures) == 0 {
		return false
	}
	for _, f := range failures {
		if !f.all || f.err == nil {
			return false
		}
		switch FailureClass(f.err) {
		case "transient", "busy", "config":
		default:
			return false
		}
	}
	return true
}

// partialError lists the users that failed and the users left out because
// their own prerequisites do not hold yet.
type partialError struct {
	step     string
	failures []UserFailure
	waiting  []UserFailure
}

func (e *partialError) Error() string {
	var b strings.Builder
	if len(e.failures) > 0 {
		if len(e.waiting) == 0 && unreachable(e.failures) {
			fmt.Fprintf(&b, "%s: no user got through to the servers (each failed on the connection or its settings); ", e.step)
		} else {
			fmt.Fprintf(&b, "%s: ", e.step)
		}
		fmt.Fprintf(&b, "%d user(s) failed:", len(e.failures))
		writeUsers(&b, e.failures)
	}
	if len(e.waiting) > 0 {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s: %d user(s) left out, each waiting for what it needs first:", e.step, len(e.waiting))
		writeUsers(&b, e.waiting)
	}
	if len(e.failures) > 0 {
		b.WriteString("\nrun `mailshift status` for details; fix and run the step again: it continues where it stopped")
	}
	return b.String()
}

// Unwrap is ErrPartial, or ErrUnreachable when no user got through to the
// servers and none was left out.
func (e *partialError) Unwrap() error {
	if len(e.waiting) == 0 && unreachable(e.failures) {
		return ErrUnreachable
	}
	return ErrPartial
}
