package phase

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mailshift/mailshift/internal/throttle"
	"github.com/mailshift/mailshift/internal/users"
)

// gentle is what keeps a project's copying within throttle.*: one limiter
// and one connection gate shared by every worker and lane.
type gentle struct {
	once    sync.Once
	limiter *throttle.Limiter
	gate    *throttle.Gate
	windows throttle.Windows
}

// throttling returns the project's limiter, gate and windows (Validate
// checked the configuration they come from).
func (p *Project) throttling() *gentle {
	p.gentle.once.Do(func() {
		t := p.Config.Throttle
		var bps int64
		if t.Bandwidth != "" {
			r, _ := ParseRate(t.Bandwidth)
			bps = int64(r)
		}
		if bps > 0 || t.MessagesPerSecond > 0 {
			p.gentle.limiter = throttle.New(bps, t.MessagesPerSecond)
		}
		if t.MaxConnections > 0 || p.Config.Source.MaxConnections > 0 || p.Config.Target.MaxConnections > 0 {
			p.gentle.gate = throttle.NewGate(t.MaxConnections)
		}
		p.gentle.windows, _ = t.windows()
	})
	return &p.gentle
}

// limiter returns the shared limiter; nil (unlimited) without throttle
// settings.
func (p *Project) limiter() *throttle.Limiter { return p.throttling().limiter }

// acquireConns takes one connection slot on each of r's servers (with
// throttle.max_connections) and on each of r's mailboxes (with
// source.max_connections and target.max_connections: Exchange caps the
// connections per mailbox), waiting for one when all are in use. The
// returned function gives them back. The backends name the servers
// (ServerNamer); a side that is not a server takes no slot.
func (p *Project) acquireConns(ctx context.Context, r users.Row) (func(), error) {
	g := p.throttling().gate
	if g == nil {
		return func() {}, nil
	}
	var srcServer, dstServer string
	if sn, ok := p.Backends.(ServerNamer); ok {
		srcServer, dstServer = sn.Servers(r)
	}
	var keys []string
	if p.Config.Throttle.MaxConnections > 0 {
		keys = append(keys, "source "+srcServer, "target "+dstServer)
	}
	for _, side := range []struct {
		name, server, user string
		max                int
	}{{"source", srcServer, r.SourceUser, p.Config.Source.MaxConnections}, {"target", dstServer, r.TargetUser, p.Config.Target.MaxConnections}} {
		if side.max > 0 {
			key := fmt.Sprintf("mailbox %s %s %s", side.name, side.server, side.user)
			g.Limit(key, side.max)
			keys = append(keys, key)
		}
	}
	var releases []func()
	release := func() {
		for _, f := range releases {
			f()
		}
	}
	for _, k := range keys {
		if strings.HasSuffix(k, " ") { // a side that is not a server
			continue
		}
		rel, err := g.Acquire(ctx, k)
		if err != nil {
			release()
			return nil, err
		}
		releases = append(releases, rel)
	}
	return release, nil
}

// inWindow tells whether copying may go on now: inside the copy windows,
// or there are none.
func (p *Project) inWindow() bool {
	w := p.throttling().windows
	if w.Always() {
		return true
	}
	open, _ := w.At(p.now())
	return open
}

// waitWindow returns at once inside the copy windows (or when there are
// none); outside them it records until when the user's copy is paused,
// waits for the next window to open and clears the record.
func (p *Project) waitWindow(ctx context.Context, user string) error {
	w := p.throttling().windows
	if w.Always() {
		return nil
	}
	open, next := w.At(p.now())
	if open {
		return nil
	}
	if err := p.Store.SetPaused(user, next); err != nil {
		return err
	}
	p.log().Info("outside the copy windows: paused", "user", user, "until", next.Format(time.RFC3339), "windows", w.String())
	err := w.WaitOpen(ctx, projectClock{p})
	if cerr := p.Store.SetPaused(user, time.Time{}); err == nil {
		err = cerr
	}
	if err == nil {
		p.log().Info("inside the copy windows again: copying", "user", user)
	}
	return err
}

// projectClock is the project's time (Project.Now) with its timers
// (Project.Clock, else the system's): windows open and daily budgets renew
// by the same clock that says whether they are open or spent.
type projectClock struct{ p *Project }

func (c projectClock) Now() time.Time { return c.p.now() }

func (c projectClock) NewTimer(d time.Duration) throttle.Timer {
	if c.p.Clock != nil {
		return c.p.Clock.NewTimer(d)
	}
	return throttle.SystemClock.NewTimer(d)
}
