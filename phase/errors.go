package phase

import (
	"errors"
	"fmt"
	"strings"
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
		fmt.Fprintf(&b, "%s: %d user(s) failed:", e.step, len(e.failures))
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

func (e *partialError) Unwrap() error { return ErrPartial }
