package imapconn

import (
	"context"
	"fmt"
	"time"

	"github.com/emersion/go-imap/v2"
)

// changed notes that the server reported new or expunged messages. It runs
// on go-imap's reading goroutine and must not block.
func (c *Conn) changed() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Idle EXAMINEs folder and waits in IDLE until the server reports new or
// expunged messages (true), until at most max has passed (false), or until
// ctx ends. max is cut to half the connection's inactivity timeout, which
// an idle connection would otherwise run into. Without the IDLE capability
// it waits max without asking the server (false), so callers can use it as
// a poll interval either way.
func (c *Conn) Idle(ctx context.Context, folder string, max time.Duration) (bool, error) {
	if limit := c.opts.Timeout / 2; max > limit {
		max = limit
	}
	end, err := c.begin(ctx)
	if err != nil {
		return false, err
	}
	defer end()
	if err := c.use(ctx, folder, false); err != nil {
		return false, c.ctxErr(ctx, err)
	}
	select { // forget what came before this wait
	case <-c.wake:
	default:
	}
	if !c.caps.Has(imap.CapIdle) {
		t := time.NewTimer(max)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-t.C:
			return false, nil
		}
	}
	cmd, err := c.client.Idle()
	if err != nil {
		return false, c.ctxErr(ctx, fmt.Errorf("idle in folder %q of %q on %s: %w", folder, c.opts.User, c.addr, err))
	}
	t := time.NewTimer(max)
	defer t.Stop()
	woke := false
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-c.wake:
		woke = true
	}
	if ctx.Err() != nil {
		return false, c.ctxErr(ctx, ctx.Err())
	}
	if err := cmd.Close(); err != nil {
		return woke, c.ctxErr(ctx, fmt.Errorf("end idle in folder %q of %q on %s: %w", folder, c.opts.User, c.addr, err))
	}
	if err := cmd.Wait(); err != nil {
		return woke, c.ctxErr(ctx, fmt.Errorf("idle in folder %q of %q on %s: %w", folder, c.opts.User, c.addr, err))
	}
	return woke, nil
}
