package imapsource

import (
	"context"
	"time"

	"github.com/mailshift/mailshift/source"
)

var _ source.Watcher = (*Source)(nil)

// Watch waits in IDLE on folder until the server reports a change, at
// most max (and at most half the connection's timeout), and reports
// whether something changed. With max 0 it only EXAMINEs folder, so that
// the next call reports what changes after this one. A server without
// IDLE makes it wait max and report false.
func (s *Source) Watch(ctx context.Context, folder string, max time.Duration) (bool, error) {
	if max <= 0 {
		return false, s.conn.Use(ctx, folder, false)
	}
	return s.conn.Idle(ctx, folder, max)
}
