package phase

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/users"
)

// TestStepResultUnreachable: a step exits 1 (ErrUnreachable) only when no
// user got through and every failure was the connection's; a user's own
// failure, one user that got through, or a user left out keep it partial
// (exit 4).
func TestStepResultUnreachable(t *testing.T) {
	refused := mailbox.Mark(mailbox.ErrTransient, errors.New("dial tcp 127.0.0.1:1: connect: connection refused"))
	unknownHost := mailbox.Mark(mailbox.ErrConfig, errors.New("lookup mail.invalid: no such host"))
	busy := mailbox.Mark(mailbox.ErrBusy, errors.New("NO [UNAVAILABLE] try later"))
	auth := mailbox.Mark(mailbox.ErrAuth, errors.New("login failed"))
	cases := []struct {
		name    string
		errs    []error // one per user; nil: the user got through
		waiting bool
		want    error
	}{
		{"every user refused", []error{refused, refused}, false, ErrUnreachable},
		{"refused, unknown host, busy", []error{refused, unknownHost, busy}, false, ErrUnreachable},
		{"one user got through", []error{refused, nil}, false, ErrPartial},
		{"wrong passwords", []error{auth, auth}, false, ErrPartial},
		{"a wrong password among refusals", []error{refused, auth}, false, ErrPartial},
		{"messages refused", []error{fmt.Errorf("3 message(s) refused by the target"), refused}, false, ErrPartial},
		{"a user left out", []error{refused}, true, ErrPartial},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &Project{Config: Defaults()}
			var rows []users.Row
			for i := range c.errs {
				rows = append(rows, users.Row{SourceUser: fmt.Sprint("u", i)})
			}
			failures := p.forEachUser(context.Background(), rows, func(_ context.Context, r users.Row) error {
				var i int
				fmt.Sscanf(r.SourceUser, "u%d", &i)
				return c.errs[i]
			})
			var err error
			if c.waiting {
				err = stepOutcome(context.Background(), "bulk", failures, []UserFailure{{User: "w", Reason: "not approved"}})
			} else {
				err = stepResult(context.Background(), "collect", failures)
			}
			if !errors.Is(err, c.want) {
				t.Errorf("got %v, want %v", err, c.want)
			}
			if c.want == ErrUnreachable && errors.Is(err, ErrPartial) {
				t.Errorf("unreachable is also partial: %v", err)
			}
		})
	}
	for err, class := range map[error]string{refused: "transient", unknownHost: "config", busy: "busy", auth: "auth",
		mailbox.Mark(mailbox.ErrRefused, errors.New("x")): "refused", mailbox.Mark(mailbox.ErrProtocol, errors.New("x")): "protocol",
		context.Canceled: "interrupted", errors.New("x"): "other", fmt.Errorf("user a: %w", auth): "auth"} {
		if got := FailureClass(err); got != class {
			t.Errorf("FailureClass(%v) = %q, want %q", err, got, class)
		}
	}
}
