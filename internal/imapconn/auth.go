package imapconn

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/mailshift/mailshift/internal/mailbox"
)

// login authenticates as Options says. Neither the password nor an access
// token ever appears in an error.
func (c *Conn) login(ctx context.Context, client *imapclient.Client) error {
	o := c.opts
	if o.TLS == TLSNone && !isLoopback(c.host) && !o.AllowInsecure {
		// configure refuses this already; kept so that no path sends a
		// password in clear text to the network without allow_insecure.
		return fmt.Errorf("%w: refusing to send the password for %q unencrypted to %s (allow_insecure: true permits it)", ErrConfig, o.User, c.addr)
	}
	secret := o.Password
	if o.Secret != nil {
		var err error
		if secret, err = o.Secret(ctx); err != nil {
			return fmt.Errorf("login for user %q on %s: %w", o.User, c.addr, err)
		}
	}
	name, authz := c.loginNames()
	run, oauth, err := c.authenticator(client, name, authz, secret)
	if err != nil {
		return err
	}
	if err := run(); err != nil {
		return c.loginFailed(err, oauth, name, authz, secret)
	}
	return nil
}

// loginNames returns the name to log in as and the authorization identity:
// a master user logs in either as "user<separator>master" or as the master
// on behalf of the user.
func (c *Conn) loginNames() (name, authz string) {
	o := c.opts
	name, authz = o.User, o.AuthzID
	if o.MasterUser != "" {
		if o.MasterSeparator != "" {
			name = o.User + o.MasterSeparator + o.MasterUser
		} else {
			name, authz = o.MasterUser, o.User
		}
	}
	return name, authz
}

// authenticator chooses how to log in among what the server offers:
// OAuth (XOAUTH2 or OAUTHBEARER), AUTHENTICATE PLAIN or LOGIN. It returns
// the command to run and, for OAuth, its client; or the configuration
// error when the server offers no way that fits.
func (c *Conn) authenticator(client *imapclient.Client, name, authz, secret string) (func() error, *oauthClient, error) {
	o := c.opts
	caps := client.Caps()
	switch {
	case o.Auth == AuthXOAuth2 || o.Auth == AuthOAuthBearer:
		oauth := newOAuthClient(o.Auth, name, secret, c.host, c.addr)
		if !caps.Has(imap.AuthCap(oauth.mech)) {
			return nil, nil, fmt.Errorf("%w: imap server %s does not offer AUTH=%s (auth: %s); mechanisms offered: %s",
				ErrConfig, c.addr, oauth.mech, o.Auth, offered(caps))
		}
		return func() error { return client.Authenticate(oauth) }, oauth, nil
	case o.Auth == AuthPlain && caps.Has(imap.AuthCap(sasl.Plain)):
		return func() error { return client.Authenticate(sasl.NewPlainClient(authz, name, secret)) }, nil, nil
	case authz != "":
		return nil, nil, fmt.Errorf("%w: imap server %s does not offer AUTH=PLAIN, which logging in as %q on behalf of %q needs", ErrConfig, c.addr, name, authz)
	case caps.Has(imap.CapLoginDisabled):
		return nil, nil, mailbox.Mark(ErrConfig, fmt.Errorf("imap server %s refuses LOGIN (LOGINDISABLED) and offers no AUTH=PLAIN; mechanisms offered: %s",
			c.addr, offered(caps)))
	default:
		return func() error { return client.Login(name, secret).Wait() }, nil, nil
	}
}

// loginFailed turns a failed login into the error to return: an AuthError
// when the credentials were refused, a transient error when the server is
// busy or in trouble, ErrConfig-like advice when it wants encryption. The
// secret is redacted from whatever the server said.
func (c *Conn) loginFailed(err error, oauth *oauthClient, name, authz, secret string) error {
	o := c.opts
	login := name
	if authz != "" && o.MasterUser == "" {
		login = "" // AuthzID: User is the login name already
	}
	var ie *imap.Error
	if !errors.As(err, &ie) {
		if oauth != nil && oauth.failure != nil {
			// The server explained and then hung up.
			return &AuthError{User: o.User, Host: c.host, Text: redact(oauth.explain(""), secret)}
		}
		return fmt.Errorf("login for user %q on %s: %s", o.User, c.addr, redact(err.Error(), secret))
	}
	text := ie.Text
	if ie.Code != "" {
		text = "[" + string(ie.Code) + "] " + text
	}
	text = redact(text, secret)
	if ie.Type == imap.StatusResponseTypeNo {
		switch ie.Code {
		case imap.ResponseCodeUnavailable, imap.ResponseCodeServerBug, imap.ResponseCodeInUse, imap.ResponseCodeLimit:
			// The server is in trouble or busy; the credentials may be fine.
			return fmt.Errorf("login for user %q on %s not possible now: %s: %w", o.User, c.addr, text, &imap.Error{Type: ie.Type, Code: ie.Code, Text: text})
		case imap.ResponseCodePrivacyRequired:
			return fmt.Errorf("imap server %s requires encryption before login: use tls: starttls or implicit: %w", c.addr, ie)
		}
		if Throttled(ie.Text) { // "Too many simultaneous connections": https://support.google.com/mail/answer/97150
			return fmt.Errorf("login for user %q on %s not possible now: %s: %w", o.User, c.addr, text, &imap.Error{Type: ie.Type, Code: ie.Code, Text: text})
		}
		if oauth != nil {
			text = oauth.explain(text)
		}
		return &AuthError{User: o.User, Login: login, Host: c.host, Text: text}
	}
	if oauth != nil && oauth.failure != nil {
		return &AuthError{User: o.User, Login: login, Host: c.host, Text: redact(oauth.explain(text), secret)}
	}
	return fmt.Errorf("login for user %q on %s: %s: %w", o.User, c.addr, text, &imap.Error{Type: ie.Type, Code: ie.Code, Text: text})
}

// offered lists the SASL mechanisms in caps, for messages.
func offered(caps imap.CapSet) string {
	m := caps.AuthMechanisms()
	if len(m) == 0 {
		return "none"
	}
	return strings.Join(m, " ")
}

// redact removes secret from s, should a server have echoed it.
func redact(s, secret string) string {
	if len(secret) < 4 {
		return s
	}
	return strings.ReplaceAll(s, secret, "[redacted]")
}

// learn reads what the server tells a logged-in client: capabilities (they
// change after login), namespace, identity. It enables IMAP4rev2 where
// offered: go-imap then sends folder names as UTF-8, which a server only
// accepts once IMAP4rev2 is enabled.
func (c *Conn) learn(client *imapclient.Client) error {
	caps := client.Caps()
	if caps == nil {
		return mailbox.Mark(mailbox.ErrProtocol, fmt.Errorf("imap server %s: no capabilities after login", c.addr))
	}
	c.caps = caps.Copy()

	if _, ok := c.caps[imap.CapIMAP4rev2]; ok {
		if _, err := client.Enable(imap.CapIMAP4rev2).Wait(); err != nil && !isStatus(err) {
			return fmt.Errorf("imap server %s: ENABLE IMAP4rev2: %w", c.addr, err)
		}
	}

	c.delim, c.prefix, c.others = 0, "", nil
	haveNS := false
	if c.caps.Has(imap.CapNamespace) && !c.skip["NAMESPACE"] {
		ns, err := client.Namespace().Wait()
		switch {
		case err == nil:
			haveNS = true
			if len(ns.Personal) > 0 {
				c.prefix, c.delim = ns.Personal[0].Prefix, ns.Personal[0].Delim
			}
			for _, d := range append(append([]imap.NamespaceDescriptor{}, ns.Other...), ns.Shared...) {
				if d.Prefix != "" {
					c.others = append(c.others, d.Prefix)
				}
			}
		case c.unreadable(err):
			return unreadable{"NAMESPACE", "the personal namespace is taken to have no prefix, the delimiter is LIST's", Classify(err)}
		case !isStatus(err):
			return fmt.Errorf("imap server %s: NAMESPACE: %w", c.addr, err)
		}
	}
	if !haveNS || c.delim == 0 && c.prefix == "" {
		// LIST "" "" returns the hierarchy delimiter of the root.
		l, err := client.List("", "", nil).Collect()
		if err != nil && !isStatus(err) {
			return fmt.Errorf("imap server %s: LIST: %w", c.addr, err)
		}
		if len(l) > 0 {
			c.delim = l[0].Delim
		}
	}

	if c.caps.Has(imap.CapID) && !c.skip["ID"] {
		id, err := client.ID(&imap.IDData{Name: "mailshift"}).Wait()
		switch {
		case err == nil:
			c.server = strings.TrimSpace(id.Name + " " + id.Version)
		case c.unreadable(err):
			return unreadable{"ID", "the server software is taken from the greeting", Classify(err)}
		case !isStatus(err):
			return fmt.Errorf("imap server %s: ID: %w", c.addr, err)
		}
	}
	return nil
}

// isStatus reports whether err is a NO or BAD answer (the connection is
// still usable), as opposed to a broken connection.
func isStatus(err error) bool {
	var ie *imap.Error
	return errors.As(err, &ie)
}
