package endpoint

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mailshift/mailshift/internal/imapconn"
	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/oauth"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/source/imapsource"
	"github.com/mailshift/mailshift/target"
	"github.com/mailshift/mailshift/target/imaptarget"
)

func openIMAPSource(ctx context.Context, a Account) (source.Source, error) {
	o, err := dialOptions(a)
	if err != nil {
		return nil, err
	}
	s, err := imapsource.OpenGmail(ctx, o, a.Gmail)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", a.Key, a.User, err)
	}
	return s, nil
}

func openIMAPTarget(ctx context.Context, a Account) (target.Target, error) {
	o, err := dialOptions(a)
	if err != nil {
		return nil, err
	}
	t, err := imaptarget.Open(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", a.Key, a.User, err)
	}
	t.SetGmailLabels(a.Gmail.Labels == imapsource.GmailLabels)
	return t, nil
}

// authMechanisms are the values of Settings.Auth.
var authMechanisms = []string{"plain", "login", "xoauth2", "oauthbearer"}

// auth returns the configured mechanism: the auth key, else the URL's
// ?auth=, else plain.
func (s Settings) auth() string {
	if s.Auth != "" {
		return strings.ToLower(s.Auth)
	}
	if u, err := url.Parse(strings.ReplaceAll(s.URL, "%u", "user")); err == nil && u.Query().Get("auth") != "" {
		return strings.ToLower(u.Query().Get("auth"))
	}
	if s.OAuth.Enabled() {
		return "xoauth2"
	}
	return "plain"
}

func isOAuth(mech string) bool { return mech == "xoauth2" || mech == "oauthbearer" }

// timeout returns the parsed timeout, 0 for the default.
func (s Settings) timeout() (time.Duration, error) {
	if s.Timeout == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(s.Timeout))
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q: not a duration; write e.g. 30s or 2m", s.Timeout)
	}
	return d, nil
}

// dialOptions turns an IMAP endpoint and one user's credentials into dial
// options. The password, access token or master password is not read
// here but at every login (imapconn.Options.Secret), so that a token
// command or file is asked again after a reconnect.
func dialOptions(a Account) (imapconn.Options, error) {
	ep, side, user, secret := a.Settings, a.Key, a.User, a.Secret
	raw := strings.ReplaceAll(ep.URL, "%u", url.PathEscape(user))
	u, err := url.Parse(raw)
	if err != nil {
		return imapconn.Options{}, &KeyError{side + ".url", fmt.Sprintf("%s: %v", ep.URL, err)}
	}
	timeout, err := ep.timeout()
	if err != nil {
		return imapconn.Options{}, &KeyError{side + ".timeout", err.Error()}
	}
	o := imapconn.Options{
		Addr:               u.Host,
		CAFile:             ep.CAFile,
		InsecureSkipVerify: ep.InsecureSkipVerify,
		AllowInsecure:      a.AllowInsecure,
		Auth:               ep.auth(),
		User:               user,
		MasterUser:         ep.MasterUser,
		MasterSeparator:    ep.MasterSeparator,
		Timeout:            timeout,
	}
	if a.Host != "" { // imapsync-style rows name their own hosts
		o.Addr = a.Host
	}
	mode := tlsMode(ep, u)
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
			return o, &KeyError{side + ".master_password", err.Error()}
		}
		what = fmt.Sprintf("password of the master user %s (%s.master_password)", ep.MasterUser, side)
	case ep.MasterUser != "":
		what = fmt.Sprintf("password of the master user %s (the users file's %s password of %s)", ep.MasterUser, side, user)
	case isOAuth(o.Auth) && ep.OAuth.Enabled():
		o.Secret = oauthSecret(ep.OAuth, side, user)
		return o, nil
	case isOAuth(o.Auth) && secret.IsSet():
		what = "access token of " + user
	case isOAuth(o.Auth) && ep.Token != "":
		if secret, err = users.ParseSecret(ep.Token); err != nil {
			return o, &KeyError{side + ".token", err.Error()}
		}
		what = fmt.Sprintf("access token of %s (%s.token)", user, side)
	case isOAuth(o.Auth):
		return o, &KeyError{side + ".token", fmt.Sprintf("no access token for %s: give one in the users file's %s password column or as %s.token (file:PATH or cmd:COMMAND)", user, side, side)}
	}
	if secret.IsSet() {
		o.Secret = func(ctx context.Context) (string, error) {
			v, err := secret.Reveal(ctx)
			if err != nil {
				// An unset variable or a failing command is not cured by
				// trying again in a minute.
				return "", mailbox.Mark(mailbox.ErrConfig, fmt.Errorf("%s: %w", what, err))
			}
			return v, nil
		}
	}
	return o, nil
}

// oauthSecret gives the access token the side's built-in flow acquires
// for user (internal/oauth): a refused request is a login failure (not
// retried), one that could not reach the token endpoint is transient.
func oauthSecret(c oauth.Config, side, user string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		tok, err := c.Token(ctx, user)
		switch {
		case errors.Is(err, oauth.ErrRefused):
			return "", mailbox.Mark(mailbox.ErrAuth, fmt.Errorf("%s.oauth: %w; check the tenant, client_id and secret or certificate, and that the application may access the mailbox", side, err))
		case err != nil:
			return "", mailbox.Mark(mailbox.ErrTransient, fmt.Errorf("%s.oauth: %w", side, err))
		}
		return tok, nil
	}
}

// tlsMode is the TLS mode: the tls key, else the URL's ?tls=, else what
// the scheme implies.
func tlsMode(ep Settings, u *url.URL) string {
	switch {
	case ep.TLS != "":
		return ep.TLS
	case u.Query().Get("tls") != "":
		return u.Query().Get("tls")
	case u.Scheme == "imaps":
		return "implicit"
	}
	return "starttls"
}

// checkIMAP validates an imap:// or imaps:// endpoint's settings.
func checkIMAP(key string, e Settings) error {
	u, err := url.Parse(strings.ReplaceAll(e.URL, "%u", "user"))
	if err != nil || u.Host == "" || !strings.HasPrefix(e.URL, u.Scheme+"://") {
		return &KeyError{key + ".url", fmt.Sprintf("%q: not a URL of the form imaps://host:port", e.URL)}
	}
	switch e.TLS {
	case "", "none", "starttls", "implicit":
	default:
		return &KeyError{key + ".tls", fmt.Sprintf("%q: must be none, starttls or implicit", e.TLS)}
	}
	if q := u.Query().Get("tls"); q != "" && e.TLS == "" {
		switch q {
		case "none", "starttls", "implicit":
		default:
			return &KeyError{key + ".url", fmt.Sprintf("?tls=%s: must be none, starttls or implicit", q)}
		}
	}
	authKey := key + ".auth"
	if e.Auth == "" && u.Query().Get("auth") != "" {
		authKey = key + ".url"
	}
	mech := e.auth()
	if !slices.Contains(authMechanisms, mech) {
		return &KeyError{authKey, fmt.Sprintf("%q: must be plain, login, xoauth2 or oauthbearer", mech)}
	}
	for _, f := range []struct{ name, v string }{{"token", e.Token}, {"master_password", e.MasterPassword}} {
		if _, err := users.ParseSecret(f.v); err != nil {
			return &KeyError{key + "." + f.name, err.Error()}
		}
	}
	if e.OAuth.Enabled() && !isOAuth(mech) {
		return &KeyError{authKey, fmt.Sprintf("%s.oauth fetches access tokens, for auth: xoauth2 or oauthbearer, and auth is %s", key, mech)}
	}
	if e.OAuth.Enabled() && e.Token != "" {
		return &KeyError{key + ".token", fmt.Sprintf("give an access token or %s.oauth, not both", key)}
	}
	if err := e.OAuth.Validate(key + ".oauth"); err != nil {
		var fe *oauth.FieldError
		if errors.As(err, &fe) {
			return &KeyError{fe.Key, fe.Msg}
		}
		return &KeyError{key + ".oauth", err.Error()}
	}
	if e.Token != "" && !isOAuth(mech) {
		return &KeyError{key + ".token", fmt.Sprintf("an access token is for auth: xoauth2 or oauthbearer, and auth is %s", mech)}
	}
	switch {
	case e.MasterUser == "" && (e.MasterPassword != "" || e.MasterSeparator != ""):
		return &KeyError{key + ".master_user", "missing: master_password and master_separator are for a master (administrator) login; name the administrator"}
	case e.MasterUser != "" && isOAuth(mech):
		return &KeyError{key + ".master_user", fmt.Sprintf("a master login needs auth: plain (or login with master_separator), not %s", mech)}
	case e.MasterUser != "" && mech == "login" && e.MasterSeparator == "":
		return &KeyError{key + ".master_separator", "missing: with auth: login a master login is USER<separator>MASTER (Dovecot: \"*\"); or use auth: plain for SASL PLAIN with an authorization identity"}
	}
	if _, err := e.timeout(); err != nil {
		return &KeyError{key + ".timeout", err.Error()}
	}
	return nil
}
