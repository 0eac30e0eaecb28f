package endpoint

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailshift/mailshift/internal/imapconn"
	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/users"
)

func TestBackendsAreListedOnce(t *testing.T) {
	seen := map[string]bool{}
	for _, b := range Backends() {
		if b.Scheme == "" || b.Example == "" || (b.Source == nil && b.Target == nil) {
			t.Errorf("backend %+v: needs a scheme, an example and a way to open it", b)
		}
		if seen[b.Scheme] {
			t.Errorf("scheme %s listed twice", b.Scheme)
		}
		seen[b.Scheme] = true
		got, ok := lookup(b.Example)
		if !ok || got.Scheme != b.Scheme {
			t.Errorf("the example %s of %s is not found as its own scheme", b.Example, b.Scheme)
		}
		key := "source"
		if b.Source == nil {
			key = "target"
		}
		if err := check(key, Settings{URL: b.Example}); err != nil {
			t.Errorf("the example %s of %s does not pass the checks: %v", b.Example, b.Scheme, err)
		}
	}
	for _, s := range []string{"imap", "imaps", "maildir", "mbox", "eml", "pst"} {
		if !seen[s] {
			t.Errorf("no backend for %s:", s)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for url, want := range map[string]string{
		"maildir:/srv/%u/Maildir":   "/srv/%u/Maildir",
		"maildir:///srv/%u/Maildir": "/srv/%u/Maildir",
		"mbox:exports/%u/":          "exports/%u/",
		"pst:/archives/%u/*.pst":    "/archives/%u/*.pst",
	} {
		if !IsLocal(url) {
			t.Errorf("IsLocal(%q) = false", url)
		}
		if got := localPath(url); got != want {
			t.Errorf("localPath(%q) = %q, want %q", url, got, want)
		}
	}
	for _, url := range []string{"imap://host", "imaps://host:993", "ftp://x", "/plain/path", ""} {
		if IsLocal(url) {
			t.Errorf("IsLocal(%q) = true", url)
		}
	}
}

// TestValidateNamesTheKey: every mistake in an endpoint names the key at
// fault, and is a settings error nobody retries.
func TestValidateNamesTheKey(t *testing.T) {
	for _, tc := range []struct {
		key    string
		change func(p *Pair)
		says   string
	}{
		{"source.url", func(p *Pair) { p.Source.URL = "" }, "missing"},
		{"target.url", func(p *Pair) { p.Target.URL = "ftp://x" }, "unsupported scheme; use imap://host:143 or imaps://host:993, or for a source maildir:, mbox:, eml:, pst: or pstscan: with a path"},
		{"target.url", func(p *Pair) { p.Target.URL = "maildir:/x" }, "can only be a source"},
		{"source.url", func(p *Pair) { p.Source.URL = "pst:" }, "names no path; write e.g. pst:/archives/%u/*.pst"},
		{"source.url", func(p *Pair) { p.Source.URL = "imaps://" }, "not a URL of the form"},
		{"source.url", func(p *Pair) { p.Source.URL = "imap://h?tls=maybe" }, "?tls=maybe"},
		{"target.tls", func(p *Pair) { p.Target.TLS = "sometimes" }, "must be none, starttls or implicit"},
		{"source.pst_folders", func(p *Pair) { p.Source.URL, p.Source.PSTFolders = "pst:/a/%u.pst", "flat" }, "must be file"},
		{"target.pst_folders", func(p *Pair) { p.Target.PSTFolders = "merge" }, "only for a pst: source"},
		{"source.auth", func(p *Pair) { p.Source.Auth = "kerberos" }, "must be plain, login"},
		{"source.url", func(p *Pair) { p.Source.URL += "?auth=kerberos" }, "must be plain, login"},
		{"source.token", func(p *Pair) { p.Source.Token = "file:/t" }, "an access token is for auth: xoauth2"},
		{"source.token", func(p *Pair) { p.Source.Auth, p.Source.Token = "xoauth2", "env:" }, ""},
		{"target.master_user", func(p *Pair) { p.Target.MasterPassword = "env:PW" }, "missing"},
		{"target.master_user", func(p *Pair) { p.Target.MasterUser, p.Target.Auth = "admin", "oauthbearer" }, "a master login needs auth: plain"},
		{"target.master_separator", func(p *Pair) { p.Target.MasterUser, p.Target.Auth = "admin", "login" }, "missing"},
		{"target.timeout", func(p *Pair) { p.Target.Timeout = "soon" }, "not a duration"},
	} {
		p := Pair{Source: Settings{URL: "imaps://old.example:993"}, Target: Settings{URL: "imaps://new.example:993"}}
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		tc.change(&p)
		err := p.Validate()
		var ke *KeyError
		if !errors.As(err, &ke) || ke.Key != tc.key || !strings.Contains(ke.Msg, tc.says) {
			t.Errorf("%s (%q): got %v", tc.key, tc.says, err)
			continue
		}
		if !errors.Is(err, mailbox.ErrConfig) || mailbox.Retryable(err) {
			t.Errorf("%s: %v is not a settings error", tc.key, err)
		}
		if !strings.HasPrefix(err.Error(), tc.key+": ") {
			t.Errorf("%s: message %q does not start with the key", tc.key, err)
		}
	}
}

func TestDialOptions(t *testing.T) {
	pw, err := users.ParseSecret("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		a    Account
		addr string
		tls  imapconn.TLSMode
		auth string
	}{
		{"imap defaults to port 143 and STARTTLS", Account{Settings: Settings{URL: "imap://mail.example"}}, "mail.example:143", "starttls", "plain"},
		{"imaps defaults to port 993 and implicit TLS", Account{Settings: Settings{URL: "imaps://mail.example"}}, "mail.example:993", "implicit", "plain"},
		{"tls from the URL", Account{Settings: Settings{URL: "imap://127.0.0.1:1143?tls=none"}}, "127.0.0.1:1143", "none", "plain"},
		{"tls key over the URL", Account{Settings: Settings{URL: "imap://h?tls=none", TLS: "implicit"}}, "h:993", "implicit", "plain"},
		{"IPv6 host", Account{Settings: Settings{URL: "imaps://[::1]"}}, "[::1]:993", "implicit", "plain"},
		{"the row's own host", Account{Settings: Settings{URL: "imaps://ignored:993"}, Host: "other.example"}, "other.example:993", "implicit", "plain"},
		{"auth from the URL", Account{Settings: Settings{URL: "imaps://h?auth=LOGIN"}}, "h:993", "implicit", "login"},
		{"%u in the host", Account{Settings: Settings{URL: "imaps://%u.example"}, User: "tenant"}, "tenant.example:993", "implicit", "plain"},
	} {
		tc.a.Key = "source"
		if tc.a.User == "" {
			tc.a.User = "alice@example.com"
		}
		tc.a.Secret = pw
		o, err := dialOptions(tc.a)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if o.Addr != tc.addr || o.TLS != tc.tls || o.Auth != tc.auth || o.User != tc.a.User {
			t.Errorf("%s: addr %s tls %s auth %s user %s; want %s %s %s", tc.name, o.Addr, o.TLS, o.Auth, o.User, tc.addr, tc.tls, tc.auth)
		}
		if o.Secret == nil {
			t.Errorf("%s: no secret", tc.name)
		} else if v, err := o.Secret(context.Background()); err != nil || v != "s3cret" {
			t.Errorf("%s: secret %q, %v", tc.name, v, err)
		}
	}
}

func TestDialOptionsSecrets(t *testing.T) {
	ctx := context.Background()
	oauth := Account{Key: "target", User: "bob", Settings: Settings{URL: "imaps://h", Auth: "xoauth2"}}
	_, err := dialOptions(oauth)
	var ke *KeyError
	if !errors.As(err, &ke) || ke.Key != "target.token" || !strings.Contains(ke.Msg, "no access token for bob") {
		t.Errorf("OAuth without a token: %v", err)
	}

	t.Setenv("MAILSHIFT_TEST_TOKEN", "tok")
	oauth.Settings.Token = "env:MAILSHIFT_TEST_TOKEN"
	o, err := dialOptions(oauth)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := o.Secret(ctx); err != nil || v != "tok" {
		t.Errorf("token from target.token: %q, %v", v, err)
	}

	master := Account{Key: "source", User: "carol", Settings: Settings{URL: "imaps://h", MasterUser: "admin", MasterPassword: "env:MAILSHIFT_TEST_UNSET"}}
	o, err = dialOptions(master)
	if err != nil {
		t.Fatal(err)
	}
	if o.MasterUser != "admin" {
		t.Errorf("master user %q", o.MasterUser)
	}
	_, err = o.Secret(ctx)
	if err == nil || !strings.Contains(err.Error(), "master user admin (source.master_password)") {
		t.Errorf("an unset master password: %v", err)
	}
	if mailbox.Retryable(err) {
		t.Errorf("an unset master password is retried: %v", err)
	}
}

func TestOpenLocalSource(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, "mail", "dora", sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	p := Pair{Source: Settings{URL: "maildir:mail/%u"}, Target: Settings{URL: "imaps://new.example"}, Dir: dir}
	src, err := p.OpenSource(ctx, users.Row{SourceUser: "dora"})
	if err != nil {
		t.Fatalf("a relative maildir: path under the project directory: %v", err)
	}
	d, err := src.Describe(ctx)
	src.Close()
	if err != nil || d.Kind != "maildir" {
		t.Errorf("Describe: %+v, %v", d, err)
	}

	_, err = p.OpenSource(ctx, users.Row{SourceUser: "eve"})
	if err == nil || !strings.Contains(err.Error(), "source eve") || mailbox.Retryable(err) {
		t.Errorf("a missing Maildir: %v (want it to name the user and not be retried)", err)
	}
	_, err = p.OpenSource(ctx, users.Row{SourceUser: "../dora"})
	if err == nil || !strings.Contains(err.Error(), "cannot name a file") {
		t.Errorf("a user that climbs out of the path: %v", err)
	}
}

func TestServers(t *testing.T) {
	p := Pair{Source: Settings{URL: "maildir:/srv/%u"}, Target: Settings{URL: "imaps://%u.new.example:993"}}
	if s, d := p.Servers(users.Row{SourceUser: "a"}); s != "" || d != ".new.example:993" {
		t.Errorf("Servers = %q, %q", s, d)
	}
	p.Source.URL = "imap://old.example"
	if s, d := p.Servers(users.Row{SourceHost: "row.example:143"}); s != "row.example:143" || d != ".new.example:993" {
		t.Errorf("Servers = %q, %q", s, d)
	}
}
