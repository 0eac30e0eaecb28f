package phase

import (
	"context"
	"errors"
	"time"

	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/source"
)

// follow keeps the users' targets in step until ctx ends: a pass over
// every user each sync.interval, and a pass over one user at once when a
// watcher sees that user's source INBOX change (IDLE). Each pass is logged
// with every user's lag: the age of the oldest change that may not be on
// the target yet, that is the time since the start of the user's last
// pass that succeeded. It returns the totals of all passes when ctx ends.
func (p *Project) follow(ctx context.Context, rows []users.Row, opts SyncOptions) (RunResult, error) {
	var total RunResult
	total.Users = len(rows)
	byUser := make(map[string]users.Row, len(rows))
	for _, r := range rows {
		byUser[r.SourceUser] = r
	}
	wake := make(chan string, len(rows))
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	for _, r := range rows {
		go p.watchInbox(wctx, r, wake)
	}
	syncedFrom := map[string]time.Time{} // start of the last pass that succeeded
	failures := map[string]UserFailure{}
	pass := func(due []users.Row) {
		start := p.now()
		res := p.syncPass(ctx, due, opts)
		total.sum(res)
		failed := map[string]bool{}
		for _, f := range res.Failed {
			failed[f.User] = true
			failures[f.User] = f
		}
		for _, r := range due {
			if !failed[r.SourceUser] && ctx.Err() == nil {
				syncedFrom[r.SourceUser] = start
				delete(failures, r.SourceUser)
			}
		}
		now := p.now()
		for _, r := range rows {
			lag := "unknown (no pass has succeeded yet)"
			if t, ok := syncedFrom[r.SourceUser]; ok {
				lag = now.Sub(t).Round(time.Second).String()
			}
			attrs := []any{"user", r.SourceUser, "lag", lag}
			if f, ok := failures[r.SourceUser]; ok {
				attrs = append(attrs, "error", f.Reason)
			}
			p.log().Info("following", attrs...)
		}
		p.log().Info("follow pass", "users", len(due), "copied", res.Messages, "flag_updates", res.FlagUpdates,
			"expunged", res.Expunged, "seconds", res.Seconds)
	}

	pass(rows)
	tick := time.NewTicker(p.Config.Sync.interval())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			for _, f := range failures {
				total.Failed = append(total.Failed, f)
			}
			return total, ctx.Err()
		case <-tick.C:
			pass(rows)
		case u := <-wake:
			due := []users.Row{byUser[u]}
			// Changes of other users that arrived meanwhile come along.
		more:
			for {
				select {
				case v := <-wake:
					if v != u {
						due = append(due, byUser[v])
					}
				default:
					break more
				}
			}
			pass(due)
		}
	}
}

// watchInbox waits on r's source INBOX (source.Watcher: IMAP IDLE) and
// sends r's name on wake whenever it changes, until ctx ends. Sources that
// cannot watch are left to the interval's passes; a watcher whose connection fails tries again
// after a while.
func (p *Project) watchInbox(ctx context.Context, r users.Row, wake chan<- string) {
	for ctx.Err() == nil {
		src, err := p.openSource(ctx, r)
		if err != nil {
			if !retryable(err) || !sleepCtx(ctx, p.Config.Sync.interval()) {
				return
			}
			continue
		}
		w, ok := src.(source.Watcher)
		if !ok {
			src.Close()
			return
		}
		// Mail that came after the last pass read INBOX and before this
		// watch began would wait for the next interval: once INBOX is
		// open, a pass is asked for. What comes later, the watch reports.
		if _, err := w.Watch(ctx, "INBOX", 0); err == nil {
			select {
			case wake <- r.SourceUser:
			default: // a pass for this user is due already
			}
		}
		for ctx.Err() == nil {
			changed, err := w.Watch(ctx, "INBOX", 10*time.Minute)
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
					p.log().Debug("watching INBOX failed; trying again", "user", r.SourceUser, "error", err.Error())
				}
				break
			}
			if changed {
				select {
				case wake <- r.SourceUser:
				default: // a pass for this user is due already
				}
			}
		}
		src.Close()
		if !sleepCtx(ctx, time.Second) {
			return
		}
	}
}

// sleepCtx waits d, or less when ctx ends; it reports whether ctx is still
// alive.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
