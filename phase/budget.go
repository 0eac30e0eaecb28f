package phase

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/throttle"
	"github.com/mailshift/mailshift/state"
)

// budgetPeriod is how long a period of throttle.daily_per_user lasts: a
// day, as Gmail's limits count (https://support.google.com/a/answer/1071518).
const budgetPeriod = 24 * time.Hour

// dailyBudget is throttle.daily_per_user in bytes, 0 when unlimited
// (Validate checked it).
func (p *Project) dailyBudget() int64 {
	if p.Config.Throttle.DailyPerUser == "" {
		return 0
	}
	n, _ := ParseSize(p.Config.Throttle.DailyPerUser)
	return n
}

// budgetTake waits while user's daily budget is spent (what is left does
// not hold the next message), then reserves room for as many of msgs as
// fit and returns how many (a message larger than a whole day's budget
// goes alone, at the start of a day); the lanes of one user share the budget through the
// reservations. settle counts the bytes copied of them and frees the
// reservation. Without a budget it takes all of msgs.
func (p *Project) budgetTake(ctx context.Context, user string, msgs []mailbox.Message) (int, func(copied int64) error, error) {
	limit := p.dailyBudget()
	if limit == 0 {
		return len(msgs), func(int64) error { return nil }, nil
	}
	for {
		p.budgetMu.Lock()
		b, err := p.Store.Budget(user)
		if err != nil {
			p.budgetMu.Unlock()
			return 0, nil, err
		}
		now := p.now()
		until := b.Start.Add(budgetPeriod)
		if b.Start.IsZero() || !now.Before(until) {
			b = state.Budget{}
		}
		used := b.Bytes + p.reserved[user]
		if n, size := fitBudget(msgs, limit-used); n > 0 || used == 0 {
			if n == 0 { // one message larger than a whole day's budget
				n, size = 1, max(msgs[0].Size, 0)
			}
			if p.reserved == nil {
				p.reserved = map[string]int64{}
			}
			p.reserved[user] += size
			p.budgetMu.Unlock()
			return n, func(copied int64) error { return p.spend(user, size, copied) }, nil
		}
		p.budgetMu.Unlock()
		if b.Start.IsZero() { // only reservations: wait for them a little
			until = now.Add(time.Second)
		} else {
			p.log().Info("daily budget spent: paused", "user", user, "copied", b.Bytes, "budget", limit, "until", until.Format(time.RFC3339))
		}
		if err := p.pauseUntil(ctx, user, until, state.PauseBudget); err != nil {
			return 0, nil, err
		}
	}
}

// spend frees a reservation of user's budget and counts the bytes copied.
func (p *Project) spend(user string, reserved, copied int64) error {
	p.budgetMu.Lock()
	defer p.budgetMu.Unlock()
	p.reserved[user] -= reserved
	if copied <= 0 {
		return nil
	}
	_, err := p.Store.Spend(user, copied, p.now(), budgetPeriod)
	return err
}

// waitLimits pauses user after the server said the account's limits are
// exceeded (mailbox.ErrAccountLimit; Gmail's "[OVERQUOTA] Account
// exceeded command or bandwidth limits"): until its daily budget renews
// when throttle.daily_per_user counts a period, else for a day, the
// period of Gmail's limits (https://support.google.com/a/answer/1071518).
// The budget is marked spent, so that later runs wait as well.
func (p *Project) waitLimits(ctx context.Context, user string, cause error) error {
	now := p.now()
	until := now.Add(budgetPeriod)
	if limit := p.dailyBudget(); limit > 0 {
		p.budgetMu.Lock()
		b, err := p.Store.Budget(user)
		if err == nil {
			if b.Start.IsZero() || !now.Before(b.Start.Add(budgetPeriod)) {
				b = state.Budget{Start: now}
			}
			until = b.Start.Add(budgetPeriod)
			_, err = p.Store.Spend(user, max(0, limit-b.Bytes), now, budgetPeriod)
		}
		p.budgetMu.Unlock()
		if err != nil {
			return err
		}
	}
	p.log().Warn("the server says the account's limits are exceeded: paused", "user", user, "until", until.Format(time.RFC3339), "error", cause.Error())
	return p.pauseUntil(ctx, user, until, state.PauseLimits)
}

// pauseInPlace is the longest pause a user's pass waits out itself; a
// longer one (a day's budget spent, the server's limits exceeded) ends the
// pass with a pausedError: its worker goes on with the other users, and
// the user's pass runs again when the pause is over (forEachUser).
const pauseInPlace = time.Minute

// pausedError ends a user's pass that must wait until a time: it is
// neither a failure of the user nor the end of the step.
type pausedError struct {
	user   string
	until  time.Time
	reason string // state.PauseBudget, state.PauseLimits
}

func (e *pausedError) Error() string {
	return fmt.Sprintf("user %s paused until %s (%s)", e.user, e.until.Format(time.RFC3339), e.reason)
}

// asPaused returns the pause that ended a pass, if err is one.
func asPaused(err error) (*pausedError, bool) {
	var pe *pausedError
	return pe, errors.As(err, &pe)
}

// pauseUntil records that user is paused until then and why. A short
// pause is waited out on the project's clock and the record cleared; a
// longer one ends the user's pass (see pauseInPlace) and the record stays
// until the pass runs again.
func (p *Project) pauseUntil(ctx context.Context, user string, until time.Time, reason string) error {
	if err := p.Store.SetPausedFor(user, until, reason); err != nil {
		return err
	}
	if until.Sub(p.now()) > pauseInPlace {
		return stopUser(&pausedError{user: user, until: until, reason: reason})
	}
	err := throttle.Sleep(ctx, projectClock{p}, until.Sub(p.now()))
	if cerr := p.Store.SetPausedFor(user, time.Time{}, ""); err == nil {
		err = cerr
	}
	if err == nil {
		p.log().Info("pause over: copying", "user", user)
	}
	return err
}

// fitBudget returns how many of msgs fit in left bytes, and their size.
func fitBudget(msgs []mailbox.Message, left int64) (int, int64) {
	var n int
	var size int64
	for _, m := range msgs {
		if size+max(m.Size, 0) > left {
			break
		}
		size += max(m.Size, 0)
		n++
	}
	return n, size
}
