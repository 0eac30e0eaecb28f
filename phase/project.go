// Package phase owns the migration lifecycle: the six steps (collect,
// approve, test, bulk, sync, cutover), the gates that keep them in order,
// verification, reports, and the copy engine they all drive.
//
// Phases see plain structs: a Config, the users file's rows, an open state
// store, and Backends, an interface that opens mailboxes: phase imports no
// backend and knows no URL scheme. They report progress through the Progress interface and never
// print; the command layer owns the terminal.
package phase

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/throttle"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/state"
	"github.com/mailshift/mailshift/target"
)

// Project is everything a step needs: configuration, the users, the state,
// and the backends that open their mailboxes.
type Project struct {
	Config   Config
	Users    []users.Row
	Store    *state.Store
	Backends Backends
	Dir      string // project directory; relative report paths are under it
	Progress Progress
	Log      *slog.Logger
	Now      func() time.Time
	// Clock times the waits a server asks for (Exchange's "Suggested
	// Backoff Time"); nil: the system clock. Tests give a manual clock.
	Clock throttle.Clock
	// Shard, when set, is the shard this run is (see StartShard): the
	// steps see only its users, and Store is its own state file.
	Shard *state.ShardInfo

	gentle gentle       // throttling shared by the project's workers
	arenas arenaPool    // memory for small messages on their way, shared likewise
	lanes  atomic.Int32 // lanes copying now, in the whole run
	// budgetMu orders the reads and writes of the daily budgets;
	// reserved is, per user, the bytes its lanes are copying now.
	budgetMu sync.Mutex
	reserved map[string]int64
	// copied and copiedBytes count what this process's copying steps
	// stored, for the throughput samples.
	copied, copiedBytes atomic.Int64
	// settleQuiet overrides settleQuiet (tests); zero means the default.
	settleQuiet time.Duration
	// snap answers the reads of status and report while they run
	// (withSnapshot); nil otherwise.
	snap *snapshot
	// keepsKeywords is, per target server (rowServers), whether it keeps
	// keywords, once asked (describeTarget).
	keywordsMu    sync.Mutex
	keepsKeywords map[string]bool
}

// Backends opens the users' mailboxes: the one way a step reaches a
// source or a target. Package phase knows no URL scheme, server or file
// format; the command layer gives it internal/endpoint's implementation,
// and tests may give it anything else.
type Backends interface {
	// OpenSource opens r's source mailbox (logs in, or opens r's files).
	// Errors name the user or the configuration key at fault.
	OpenSource(ctx context.Context, r users.Row) (source.Source, error)
	// OpenTarget logs in to r's target mailbox. Errors name the user or
	// the configuration key at fault.
	OpenTarget(ctx context.Context, r users.Row) (target.Target, error)
}

// ServerNamer is implemented by Backends whose endpoints are servers. It
// names the server each side of r connects to ("" for a side that is not
// one, such as local files), so that throttle.max_connections counts
// connections per server. Without it, connections are not counted.
type ServerNamer interface {
	Servers(r users.Row) (source, target string)
}

// Selection narrows a step to some users: by name, by batch, or both.
type Selection struct {
	Users []string // source users (or target users)
	Batch string
}

func (p *Project) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Project) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (p *Project) progress() Progress {
	if p.Progress != nil {
		return p.Progress
	}
	return NoProgress{}
}

// path resolves a project-relative path.
func (p *Project) path(rel string) string {
	if filepath.IsAbs(rel) || p.Dir == "" {
		return rel
	}
	return filepath.Join(p.Dir, rel)
}

// selectUsers returns the users file's rows the selection names, in file
// order. Naming a user that is not in the file is a usage error.
func (p *Project) selectUsers(sel Selection) ([]users.Row, error) {
	want := map[string]bool{}
	for _, u := range sel.Users {
		if u = strings.TrimSpace(u); u != "" {
			want[u] = false
		}
	}
	var out []users.Row
	batches := map[string]bool{}
	for _, r := range p.Users {
		batches[r.Batch] = true
		named := len(sel.Users) == 0
		for _, n := range []string{r.SourceUser, r.TargetUser} {
			if _, ok := want[n]; ok {
				want[n] = true
				named = true
			}
		}
		if named && (sel.Batch == "" || r.Batch == sel.Batch) {
			out = append(out, r)
		}
	}
	var unknown []string
	for n, found := range want {
		if !found {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, &ConfigError{"--users", fmt.Sprintf("%s not in the users file %s", strings.Join(unknown, ", "), p.Config.Users.File)}
	}
	if sel.Batch != "" && !batches[sel.Batch] {
		return nil, &ConfigError{"--batch", fmt.Sprintf("no user of the users file %s is in batch %q", p.Config.Users.File, sel.Batch)}
	}
	if p.Shard != nil {
		return p.inShard(out, sel)
	}
	return out, nil
}

// syncUsers records the users file's rows in the state.
func (p *Project) syncUsers() error {
	var mine map[string]bool
	if p.Shard != nil {
		mine = make(map[string]bool, len(p.Shard.Users))
		for _, u := range p.Shard.Users {
			mine[u] = true
		}
	}
	for _, r := range p.Users {
		if mine != nil && !mine[r.SourceUser] {
			continue // another shard's
		}
		if err := p.Store.PutUser(r.SourceUser, r.TargetUser, r.Batch); err != nil {
			return err
		}
	}
	return nil
}

// stateUser is r's record in the state as a step would see it after
// syncUsers, without writing: the users file's target user and batch
// over what the state holds, a fresh record if it holds none. Readers
// (status, report, verify) use it; they must not write the state.
func (p *Project) stateUser(r users.Row) (state.User, error) {
	u, err := p.userRecord(r.SourceUser)
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return state.User{}, err
	}
	u.SourceUser, u.TargetUser, u.Batch = r.SourceUser, r.TargetUser, r.Batch
	return u, nil
}

// openSource opens a user's source mailbox through the project's backends.
func (p *Project) openSource(ctx context.Context, r users.Row) (source.Source, error) {
	if p.Backends == nil {
		return nil, errNoBackends
	}
	if fs, ok := p.scanner(); ok {
		src, _, err := p.openPST(ctx, fs, r, true)
		return src, err
	}
	return p.Backends.OpenSource(ctx, r)
}

// openTarget opens a user's target mailbox through the project's backends.
func (p *Project) openTarget(ctx context.Context, r users.Row) (target.Target, error) {
	if p.Backends == nil {
		return nil, errNoBackends
	}
	return p.Backends.OpenTarget(ctx, r)
}

// errNoBackends is a project built without Backends: a mistake of the
// program, not worth retrying.
var errNoBackends = mailbox.Mark(mailbox.ErrConfig, errors.New("the project has no backends to open mailboxes with (Project.Backends is nil)"))

// writeReport writes a rendered report under the reports directory, 0600.
// A shard's run names its reports after the shard (cutover-shard-3-of-8.md)
// so that shards sharing a reports directory keep each their own.
func (p *Project) writeReport(name, text string) (string, error) {
	dir := p.path(p.Config.reportsDir())
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("reports directory: %w", err)
	}
	if p.Shard != nil {
		ext := filepath.Ext(name)
		name = fmt.Sprintf("%s-shard-%d-of-%d%s", strings.TrimSuffix(name, ext), p.Shard.Index, p.Shard.Count, ext)
	}
	path := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, name+".*.tmp") // 0600
	if err != nil {
		return "", fmt.Errorf("write report: %w", err)
	}
	_, err = tmp.WriteString(text)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("write report: %w", err)
	}
	return path, nil
}
