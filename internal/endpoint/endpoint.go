// Package endpoint owns the endpoints of a migration: the URL schemes a
// source or target is written in (imap://, imaps://, maildir:, mbox:,
// eml:, pst:), the checks of their settings, the IMAP dial options (TLS
// mode, default ports, authentication, secrets), and the one list of
// backends that open them (Backends).
//
// Package phase sees none of this: it holds a phase.Backends, which Pair
// implements, and the command layer wires one to the other. Tests drive
// phase with other implementations.
package endpoint

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/mailshift/mailshift/internal/imapconn"
	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/oauth"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/source/imapsource"
	"github.com/mailshift/mailshift/target"
)

// Settings is one side's endpoint as configured (the source: or target:
// section). URL may contain %u, replaced by the users file's user of that
// side.
//
// Its fields are phase.Endpoint's, in the same order and of the same
// types, so that the command layer converts one into the other with a
// type conversion: the compiler keeps the two in step. See phase.Endpoint
// for what each field means.
type Settings struct {
	URL                string
	TLS                string // none | starttls | implicit; default from the URL scheme
	CAFile             string
	InsecureSkipVerify bool
	Auth               string // plain | login | xoauth2 | oauthbearer; default plain, or the URL's ?auth=
	Token              string // OAuth 2.0 access token (a secret: env:, file:, cmd:)
	MasterUser         string
	MasterPassword     string // a secret like Token
	MasterSeparator    string
	PSTFolders         string // file | merge, for a pst: source
	Timeout            string // e.g. "30s"; default 60s
	Provider           string // microsoft365 | exchange | gmail | google_workspace (phase's presets)
	MaxConnections     int    // connections to one mailbox at once; 0: no cap
	MaxMessageSize     string // largest message, e.g. "35MB" (collect's foresight)
	Keywords           string // kept | lost
	OAuth              oauth.Config
	CardDAV            string // target: the users' address books (phase uploads to them)
	CalDAV             string // target: the users' calendars
}

// KeyError is a mistake in an endpoint's settings. Key names the
// configuration key at fault ("source.url", "target.token"). It is a
// settings error of the model (errors.Is(err, mailbox.ErrConfig)), so that
// nobody retries it.
type KeyError struct {
	Key string
	Msg string
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Msg }

// Unwrap makes errors.Is(err, mailbox.ErrConfig) hold.
func (e *KeyError) Unwrap() error { return mailbox.ErrConfig }

// Pair is a project's two endpoints: it opens every user's source and
// target mailbox (it implements phase.Backends).
type Pair struct {
	Source Settings
	Target Settings
	// AllowInsecure permits sending a password unencrypted to a host
	// other than loopback (the allow_insecure key).
	AllowInsecure bool
	// Dir is the project directory: relative paths of local sources are
	// under it.
	Dir string
	// Gmail says how an IMAP source on Gmail presents its labels (the
	// gmail: section).
	Gmail Gmail
}

// Gmail is how an IMAP source on Gmail presents its labels: the policy
// (folders, keywords, off) and the archive folder; see
// imapsource.GmailOptions.
type Gmail = imapsource.GmailOptions

// Validate checks both endpoints' settings and returns the first mistake,
// naming the key (source first).
func (p Pair) Validate() error {
	if err := check("source", p.Source); err != nil {
		return err
	}
	return check("target", p.Target)
}

// OpenSource logs in to r's source mailbox, or opens r's files for a local
// source. Errors name the user, or the key at fault (*KeyError).
func (p Pair) OpenSource(ctx context.Context, r users.Row) (source.Source, error) {
	set, key := p.SourceOf(r)
	b, a, err := p.account("source", set, r.SourceUser, r.SourcePassword, r.SourceHost)
	if err != nil {
		return nil, err
	}
	if b.Source == nil {
		return nil, &KeyError{key, fmt.Sprintf("%q: a %s: endpoint cannot be a source", set.URL, b.Scheme)}
	}
	s, err := b.Source(ctx, a)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// OpenTarget logs in to r's target mailbox. Errors name the user, or the
// key at fault (*KeyError).
func (p Pair) OpenTarget(ctx context.Context, r users.Row) (target.Target, error) {
	set, key := p.TargetOf(r)
	b, a, err := p.account("target", set, r.TargetUser, r.TargetPassword, r.TargetHost)
	if err != nil {
		return nil, err
	}
	if b.Target == nil {
		return nil, &KeyError{key, fmt.Sprintf("%q: a %s: endpoint can only be a source", set.URL, b.Scheme)}
	}
	t, err := b.Target(ctx, a)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Servers names the servers r's source and target connections go to, ""
// for a side that is not a server (local files), so that
// throttle.max_connections counts connections per server.
func (p Pair) Servers(r users.Row) (src, dst string) {
	s, _ := p.SourceOf(r)
	t, _ := p.TargetOf(r)
	return server(s, r.SourceHost), server(t, r.TargetHost)
}

// SourceOf is r's source endpoint: the source settings, with the row's
// own URL (the users file's source_url) in place of source.url when it
// has one; and the key that names the URL in messages.
func (p Pair) SourceOf(r users.Row) (Settings, string) {
	return rowSettings(p.Source, "source", r.SourceURL, r)
}

// TargetOf is r's target endpoint, as SourceOf is its source.
func (p Pair) TargetOf(r users.Row) (Settings, string) {
	return rowSettings(p.Target, "target", r.TargetURL, r)
}

// rowSettings puts a row's own URL into one side's settings. The TLS mode
// set for the side (source.tls) is kept unless the row's URL says its own
// (?tls=) or is of the other IMAP scheme (imaps:// against imap://).
func rowSettings(s Settings, side, rowURL string, r users.Row) (Settings, string) {
	if rowURL == "" {
		return s, side + ".url"
	}
	key := fmt.Sprintf("%s_url of user %s (users file line %d)", side, r.SourceUser, r.Line)
	if scheme(rowURL) != scheme(s.URL) && (scheme(rowURL) == "imaps" || scheme(s.URL) == "imaps") {
		s.TLS = "" // imaps:// against imap://: the URL's scheme says
	}
	if u, err := url.Parse(strings.ReplaceAll(rowURL, "%u", "user")); err == nil && u.Query().Has("tls") {
		s.TLS = ""
	}
	s.URL = rowURL
	return s, key
}

// scheme is the scheme of an endpoint URL.
func scheme(rawURL string) string {
	sc, _, _ := strings.Cut(rawURL, ":")
	return sc
}

// server is the host an endpoint connects to: the row's own host
// (imapsync-style rows), else the URL's.
func server(s Settings, host string) string {
	if IsLocal(s.URL) {
		return ""
	}
	if host != "" {
		return host
	}
	u, err := url.Parse(strings.ReplaceAll(s.URL, "%u", ""))
	if err != nil {
		return s.URL
	}
	return u.Host
}

// account finds the backend of one side's URL and what it needs to open
// user's mailbox.
func (p Pair) account(key string, s Settings, user string, secret users.Secret, host string) (Backend, Account, error) {
	b, ok := lookup(s.URL)
	if !ok {
		return Backend{}, Account{}, &KeyError{key + ".url", unsupported(s.URL)}
	}
	a := Account{Key: key, Settings: s, User: user, Secret: secret, Host: host, AllowInsecure: p.AllowInsecure}
	a.Gmail = p.Gmail
	if b.Local {
		if strings.Contains(user, "/") || user == ".." || user == "." {
			return b, a, mailbox.Mark(mailbox.ErrConfig, fmt.Errorf("%s user %q cannot name a file: a %s: %s needs users without \"/\"", key, user, b.Scheme, key))
		}
		a.Path = strings.ReplaceAll(localPath(s.URL), "%u", user)
		if !filepath.IsAbs(a.Path) && p.Dir != "" {
			a.Path = filepath.Join(p.Dir, a.Path)
		}
	}
	return b, a, nil
}

// Account is one user's side of an endpoint: what a backend needs to open
// that user's mailbox.
type Account struct {
	Key           string // "source" or "target": the settings' key in messages
	Settings      Settings
	User          string       // the users file's user of this side
	Secret        users.Secret // the users file's password of this side, may be unset
	Host          string       // the row's own server (imapsync lines), "" if none
	AllowInsecure bool
	// Path is, for a local backend, the URL's path with %u replaced by
	// the user, under the project directory when relative.
	Path string
	// Gmail is the label policy of an IMAP source (Pair.Gmail); on an
	// IMAP target, policy labels (imapsource.GmailLabels) has a Gmail
	// target set labels.
	Gmail imapsource.GmailOptions
}

// ValidateUsers checks what can only be checked with the users file's
// rows, before any connection: a password sent without TLS (tls: none,
// or ?tls=none) must go to a loopback host unless allow_insecure is set,
// and rows may name their own hosts (imapsync lines). The mistake names
// the key that chose tls: none and the host.
func (p Pair) ValidateUsers(rows []users.Row) error {
	if err := p.validateRowURLs(rows); err != nil {
		return err
	}
	if p.AllowInsecure {
		return nil
	}
	for _, side := range []struct {
		key string
		s   Settings
		row func(users.Row) string
	}{
		{"source", p.Source, func(r users.Row) string {
			if r.SourceURL != "" {
				return "" // checked with its own URL
			}
			return r.SourceHost
		}},
		{"target", p.Target, func(r users.Row) string {
			if r.TargetURL != "" {
				return ""
			}
			return r.TargetHost
		}},
	} {
		if IsLocal(side.s.URL) {
			continue
		}
		u, err := url.Parse(strings.ReplaceAll(side.s.URL, "%u", "user"))
		if err != nil {
			continue // Validate names a bad URL
		}
		mode, key := side.s.TLS, side.key+".tls"
		if mode == "" {
			mode, key = u.Query().Get("tls"), side.key+".url"
		}
		if mode != "none" {
			continue
		}
		hosts := []string{u.Host}
		for _, r := range rows {
			if h := side.row(r); h != "" {
				hosts = append(hosts, h)
			}
		}
		for _, h := range hosts {
			name := h
			if hn, _, err := net.SplitHostPort(h); err == nil {
				name = hn
			}
			name = strings.Trim(name, "[]")
			if !imapconn.IsLoopback(name) {
				return &KeyError{key, fmt.Sprintf("tls: none sends passwords unencrypted, which is allowed only to a loopback host (localhost, 127.0.0.1, ::1), and %s is not one; use starttls or implicit (imaps://), or set allow_insecure: true if the network between is trusted", h)}
			}
		}
	}
	return nil
}

// validateRowURLs checks the rows' own URLs (source_url, target_url) as
// the configuration's are checked: a known scheme that can serve the side,
// its settings, and no password unencrypted to a host beyond loopback.
// The mistake names the user and the users file's line.
func (p Pair) validateRowURLs(rows []users.Row) error {
	for _, r := range rows {
		for _, side := range []struct {
			name   string
			rowURL string
			of     func(users.Row) (Settings, string)
		}{{"source", r.SourceURL, p.SourceOf}, {"target", r.TargetURL, p.TargetOf}} {
			if side.rowURL == "" {
				continue
			}
			s, key := side.of(r)
			if err := check(side.name, s); err != nil {
				msg := err.Error()
				if ke, ok := err.(*KeyError); ok {
					msg = ke.Msg
				}
				return &KeyError{key, msg}
			}
			if side.name == "target" && IsLocal(s.URL) {
				return &KeyError{key, fmt.Sprintf("%q: a %s: endpoint can only be a source", s.URL, scheme(s.URL))}
			}
			if p.AllowInsecure || IsLocal(s.URL) {
				continue
			}
			if err := (Pair{Source: s, Target: s}).ValidateUsers(nil); err != nil {
				msg := err.Error()
				if ke, ok := err.(*KeyError); ok {
					msg = ke.Msg
				}
				return &KeyError{key, msg}
			}
		}
	}
	return nil
}
