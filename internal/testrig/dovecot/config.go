package dovecot

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
)

// Capabilities is what Dovecot 2.3.19 advertises after login with this
// package's configuration (plus QUOTA, from the imap_quota plugin, when a
// quota or size limit is configured). It is the list written to
// imap_capability when Options.DisableCaps hides some of them: Dovecot 2.3
// can add to its list ("imap_capability = +CAP") but not remove, so hiding
// means writing the whole list without the hidden ones. Such a list also
// replaces the short pre-login list in the greeting, and plugins no longer
// add theirs (QUOTA is written explicitly).
var Capabilities = []string{
	"IMAP4rev1", "SASL-IR", "LOGIN-REFERRALS", "ID", "ENABLE", "IDLE",
	"SORT", "SORT=DISPLAY", "THREAD=REFERENCES", "THREAD=REFS",
	"THREAD=ORDEREDSUBJECT", "MULTIAPPEND", "URL-PARTIAL", "CATENATE",
	"UNSELECT", "CHILDREN", "NAMESPACE", "UIDPLUS", "LIST-EXTENDED",
	"I18NLEVEL=1", "CONDSTORE", "QRESYNC", "ESEARCH", "ESORT", "SEARCHRES",
	"WITHIN", "CONTEXT=SEARCH", "LIST-STATUS", "BINARY", "MOVE",
	"SNIPPET=FUZZY", "PREVIEW=FUZZY", "PREVIEW", "STATUS=SIZE", "SAVEDATE",
	"LITERAL+", "NOTIFY", "SPECIAL-USE",
}

// SpecialUseFolders are the folders a server started without
// Options.NoSpecialUse creates for every user (auto = subscribe), with the
// special-use attribute of the same name (\Sent, \Drafts, ...).
var SpecialUseFolders = []string{"Sent", "Drafts", "Trash", "Junk", "Archive"}

// confData is everything the configuration template needs.
type confData struct {
	Dir, RunDir   string
	Port, TLSPort int
	Greeting      string // login_greeting, unique per run
	CertFile      string
	KeyFile       string
	InternalUser  string // default_internal_user and mail_uid
	InternalGroup string // mail_gid
	LoginUser     string // default_login_user
	MailLocation  string
	Separator     string
	Prefix        string
	SpecialUse    []string
	Capability    string // "" keeps Dovecot's own list
	Master        bool
	Quota         bool
	QuotaRule     string
	MaxMailSize   int64
	FSync         bool
	MaxConns      int
	Performance   bool // Options.HighPerformance
	UsersFile     string
	MastersFile   string
}

// confTemplate is the whole dovecot.conf, one setting per line; nothing
// from /etc/dovecot is included.
var confTemplate = template.Must(template.New("dovecot.conf").Parse(`# Throwaway Dovecot written by mailshift's internal/testrig/dovecot. Do not edit.
base_dir = {{.RunDir}}
state_dir = {{.Dir}}/state
log_path = {{.Dir}}/dovecot.log
protocols = imap
listen = 127.0.0.1
login_greeting = {{.Greeting}}
{{- if .CertFile}}
ssl = yes
ssl_cert = <{{.CertFile}}
ssl_key = <{{.KeyFile}}
ssl_min_protocol = TLSv1.2
{{- else}}
ssl = no
{{- end}}
disable_plaintext_auth = no
auth_mechanisms = plain login
# Failed logins still take about 0.5 s: the auth process checks its
# delayed failures every 500 ms.
auth_failure_delay = 0
auth_verbose = yes
default_internal_user = {{.InternalUser}}
default_internal_group = {{.InternalGroup}}
default_login_user = {{.LoginUser}}
mail_location = {{.MailLocation}}
mail_uid = {{.InternalUser}}
mail_gid = {{.InternalGroup}}
first_valid_uid = 0
first_valid_gid = 0
{{- if not .FSync}}
mail_fsync = never
{{- end}}
{{- if .Capability}}
imap_capability = {{.Capability}}
{{- end}}
{{- if .Quota}}
# Global mail_plugins must come before the protocol block that extends it.
mail_plugins = $mail_plugins quota
{{- end}}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = {{.Port}}
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = {{.TLSPort}}
  }
  chroot =
{{- if .Performance}}
  service_count = 0
  process_min_avail = 2
{{- end}}
}
{{- if .Performance}}
service imap {
  service_count = 1000
  process_min_avail = 4
}
# Reused processes count toward the auth process's clients: room for
# every imap and login process (Dovecot warns at start otherwise).
service auth {
  client_limit = 2048
}
{{- end}}
service anvil {
  chroot =
  # No growing delays after failed logins (tests try wrong passwords).
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
protocol imap {
  mail_max_userip_connections = {{.MaxConns}}
{{- if .Quota}}
  mail_plugins = $mail_plugins imap_quota
{{- end}}
}
{{if .Master}}
auth_master_user_separator = *
passdb {
  driver = passwd-file
  master = yes
  pass = yes
  args = scheme=PLAIN username_format=%u {{.MastersFile}}
}
{{- end}}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {{.UsersFile}}
}
userdb {
  driver = static
  args = uid={{.InternalUser}} gid={{.InternalGroup}} home={{.Dir}}/mail/%u
}

namespace inbox {
  inbox = yes
  separator = {{.Separator}}
  prefix = {{.Prefix}}
{{- range .SpecialUse}}
  mailbox {{.}} {
    special_use = \{{.}}
    auto = subscribe
  }
{{- end}}
}
{{- if .Quota}}

plugin {
  quota = maildir:User quota
{{- if .QuotaRule}}
  quota_rule = {{.QuotaRule}}
{{- end}}
{{- if .MaxMailSize}}
  quota_max_mail_size = {{.MaxMailSize}}
{{- end}}
}
{{- end}}
`))

// config renders dovecot.conf for a server in dir listening on port (and on
// tlsPort for implicit TLS, 0 for none) that greets with greeting.
func config(dir, runDir string, port, tlsPort int, greeting string, o Options, ids processIDs) (string, error) {
	d := confData{
		Greeting:      greeting,
		Dir:           dir,
		RunDir:        runDir,
		Port:          port,
		TLSPort:       tlsPort,
		InternalUser:  ids.user,
		InternalGroup: ids.group,
		LoginUser:     ids.loginUser,
		Separator:     o.separator(),
		Prefix:        o.Prefix,
		Master:        o.Master,
		FSync:         o.FSync,
		MaxConns:      1000,
		Performance:   o.HighPerformance,
		UsersFile:     filepath.Join(dir, "users"),
		MastersFile:   filepath.Join(dir, "masters"),
	}
	if o.MaxConnections > 0 {
		d.MaxConns = o.MaxConnections
	}
	if o.TLS {
		d.CertFile = filepath.Join(dir, "cert.pem")
		d.KeyFile = filepath.Join(dir, "key.pem")
	}
	d.MailLocation = "maildir:" + filepath.Join(dir, "mail") + "/%u/Maildir"
	switch d.Separator {
	case "/":
		d.MailLocation += ":LAYOUT=fs"
	case ".":
	default:
		return "", fmt.Errorf("dovecot: separator %q: want \"/\" or \".\"", d.Separator)
	}
	if o.Mbox {
		home := filepath.Join(dir, "mail") + "/%u"
		d.MailLocation = "mbox:" + home + "/mail:INBOX=" + home + "/inbox"
	}
	if o.Prefix != "" && !strings.HasSuffix(o.Prefix, d.Separator) {
		return "", fmt.Errorf("dovecot: prefix %q must end with the separator %q", o.Prefix, d.Separator)
	}
	if !o.NoSpecialUse {
		d.SpecialUse = SpecialUseFolders
	}
	if o.QuotaKB > 0 || o.AppendLimit > 0 {
		d.Quota = true
		if o.QuotaKB > 0 {
			d.QuotaRule = fmt.Sprintf("*:storage=%dK", o.QuotaKB)
		}
		d.MaxMailSize = o.AppendLimit
	}
	switch {
	case len(o.DisableCaps) == 0 && len(o.ExtraCaps) > 0:
		d.Capability = "+" + strings.Join(o.ExtraCaps, " ")
	case len(o.DisableCaps) > 0:
		all := Capabilities
		if d.Quota {
			// imap_capability replaces what plugins add, too.
			all = append(slices.Clip(all), "QUOTA")
		}
		var caps []string
		for _, c := range all {
			if !slices.ContainsFunc(o.DisableCaps, func(h string) bool { return strings.EqualFold(h, c) }) {
				caps = append(caps, c)
			}
		}
		d.Capability = strings.Join(append(caps, o.ExtraCaps...), " ")
	}
	var b strings.Builder
	if err := confTemplate.Execute(&b, d); err != nil {
		return "", err
	}
	return b.String(), nil
}
