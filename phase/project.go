// Package phase owns the migration lifecycle: the six steps (collect,
// approve, test, bulk, sync, cutover), the gates that keep them in order,
// verification, reports, and the copy engine they all drive.
//
// Phases see plain structs: a Config, the users file's rows, an open state
// store. They report progress through the Progress interface and never
// print; the command layer owns the terminal.
package phase

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mailshift/mailshift/internal/imapconn"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/source/eml"
	"github.com/mailshift/mailshift/source/imapsource"
	"github.com/mailshift/mailshift/source/maildir"
	"github.com/mailshift/mailshift/source/mbox"
	"github.com/mailshift/mailshift/source/pst"
	"github.com/mailshift/mailshift/state"
	"github.com/mailshift/mailshift/target"
	"github.com/mailshift/mailshift/target/imaptarget"
)

// Project is everything a step needs: configuration, the users, the state.
type Project struct {
	Config   Config
	Users    []users.Row
	Store    *state.Store
	Dir      string // project directory; relative report paths are under it
	Progress Progress
	Log      *slog.Logger
	Now      func() time.Time

	gentle gentle       // throttling shared by the project's workers
	arenas arenaPool    // memory for small messages on their way, shared likewise
	lanes  atomic.Int32 // lanes copying now, in the whole run
	// settleQuiet overrides settleQuiet (tests); zero means the default.
	settleQuiet time.Duration
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
	return out, nil
}

// syncUsers records the users file's rows in the state.
func (p *Project) syncUsers() error {
	for _, r := range p.Users {
		if err := p.Store.PutUser(r.SourceUser, r.TargetUser, r.Batch); err != nil {
			return err
		}
	}
	return nil
}

// endpointOptions turns an endpoint and one user's credentials into dial
// options. side ("source" or "target") names the endpoint's keys in
// messages. The password, access token or master password is not read
// here but at every login (imapconn.Options.Secret), so that a token
// command or file is asked again after a reconnect.
func (p *Project) endpointOptions(ep Endpoint, side, user string, secret users.Secret, host string) (imapconn.Options, error) {
	raw := strings.ReplaceAll(ep.URL, "%u", url.PathEscape(user))
	u, err := url.Parse(raw)
	if err != nil {
		return imapconn.Options{}, &ConfigError{side + ".url", fmt.Sprintf("%s: %v", ep.URL, err)}
	}
	timeout, err := ep.timeout()
	if err != nil {
		return imapconn.Options{}, &ConfigError{side + ".timeout", err.Error()}
	}
	o := imapconn.Options{
		Addr:               u.Host,
		CAFile:             ep.CAFile,
		InsecureSkipVerify: ep.InsecureSkipVerify,
		AllowInsecure:      p.Config.AllowInsecure,
		Auth:               ep.auth(),
		User:               user,
		MasterUser:         ep.MasterUser,
		MasterSeparator:    ep.MasterSeparator,
		Timeout:            timeout,
	}
	if host != "" { // imapsync-style rows name their own hosts
		o.Addr = host
	}
	mode := ep.TLS
	if mode == "" {
		mode = u.Query().Get("tls")
	}
	if mode == "" {
		if u.Scheme == "imaps" {
			mode = "implicit"
		} else {
			mode = "starttls"
		}
	}
	o.TLS = imapconn.TLSMode(mode)
	if _, _, err := net.SplitHostPort(o.Addr); err != nil {
		port := "143"
		if mode == "implicit" {
			port = "993"
		}
		o.Addr = net.JoinHostPort(strings.Trim(o.Addr, "[]"), port)
	}

	// Which secret logs in, and how a person would name it.
	what := "password of " + user
	switch {
	case ep.MasterUser != "" && ep.MasterPassword != "":
		if secret, err = users.ParseSecret(ep.MasterPassword); err != nil {
			return o, &ConfigError{side + ".master_password", err.Error()}
		}
		what = fmt.Sprintf("password of the master user %s (%s.master_password)", ep.MasterUser, side)
	case ep.MasterUser != "":
		what = fmt.Sprintf("password of the master user %s (the users file's %s password of %s)", ep.MasterUser, side, user)
	case isOAuth(o.Auth) && secret.IsSet():
		what = "access token of " + user
	case isOAuth(o.Auth) && ep.Token != "":
		if secret, err = users.ParseSecret(ep.Token); err != nil {
			return o, &ConfigError{side + ".token", err.Error()}
		}
		what = fmt.Sprintf("access token of %s (%s.token)", user, side)
	case isOAuth(o.Auth):
		return o, &ConfigError{side + ".token", fmt.Sprintf("no access token for %s: give one in the users file's %s password column or as %s.token (file:PATH or cmd:COMMAND)", user, side, side)}
	}
	if secret.IsSet() {
		o.Secret = func(ctx context.Context) (string, error) {
			v, err := secret.Reveal(ctx)
			if err != nil {
				// An unset variable or a failing command is not cured by
				// trying again in a minute.
				return "", permanent(fmt.Errorf("%s: %w", what, err))
			}
			return v, nil
		}
	}
	return o, nil
}

// openSource logs in to a user's source mailbox, or opens the user's
// files for a local source: the one place that knows every kind of source.
func (p *Project) openSource(ctx context.Context, r users.Row) (source.Source, error) {
	if kind, path, ok := fileEndpoint(p.Config.Source.URL); ok {
		return p.openFileSource(kind, path, r.SourceUser)
	}
	o, err := p.endpointOptions(p.Config.Source, "source", r.SourceUser, r.SourcePassword, r.SourceHost)
	if err != nil {
		return nil, err
	}
	s, err := imapsource.Open(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", r.SourceUser, err)
	}
	return s, nil
}

// openTarget logs in to a user's target mailbox.
func (p *Project) openTarget(ctx context.Context, r users.Row) (target.Target, error) {
	o, err := p.endpointOptions(p.Config.Target, "target", r.TargetUser, r.TargetPassword, r.TargetHost)
	if err != nil {
		return nil, err
	}
	t, err := imaptarget.Open(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", r.TargetUser, err)
	}
	return t, nil
}

// writeReport writes a rendered report under the reports directory, 0600.
func (p *Project) writeReport(name, text string) (string, error) {
	dir := p.path(p.Config.reportsDir())
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("reports directory: %w", err)
	}
	path := filepath.Join(dir, name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		return "", fmt.Errorf("write report: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("write report: %w", err)
	}
	return path, nil
}

// openFileSource opens a local source: the path with %u replaced by the
// user, relative to the project directory.
func (p *Project) openFileSource(kind, path, user string) (source.Source, error) {
	if strings.Contains(user, "/") || user == ".." || user == "." {
		return nil, permanent(fmt.Errorf("source user %q cannot name a file: a %s: source needs users without \"/\"", user, kind))
	}
	path = p.path(strings.ReplaceAll(path, "%u", user))
	var (
		src source.Source
		err error
	)
	switch kind {
	case "maildir":
		src, err = maildir.Open(path)
	case "mbox":
		src, err = mbox.Open(path)
	case "eml":
		src, err = eml.Open(path)
	case "pst":
		var files []string
		if files, err = pst.Glob(path); err == nil {
			src, err = pst.OpenSet(files, p.Config.Source.PSTFolders == "merge")
		}
	}
	if err != nil {
		// Files do not come back by waiting.
		return nil, permanent(fmt.Errorf("source %s: %w", user, err))
	}
	return src, nil
}
