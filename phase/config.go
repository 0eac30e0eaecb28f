package phase

import (
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/mailshift/mailshift/internal/mapping"
	"github.com/mailshift/mailshift/internal/throttle"
	"github.com/mailshift/mailshift/internal/users"
)

// Config is a project's configuration as the phases see it: a plain struct,
// loaded and merged (file, environment, flags) by the command layer.
type Config struct {
	Source        Endpoint       `mapstructure:"source"`
	Target        Endpoint       `mapstructure:"target"`
	AllowInsecure bool           `mapstructure:"allow_insecure"`
	Users         UsersConfig    `mapstructure:"users"`
	TestUsers     []string       `mapstructure:"test_users"`
	Folders       FoldersConfig  `mapstructure:"folders"`
	Sync          SyncConfig     `mapstructure:"sync"`
	Copy          CopyConfig     `mapstructure:"copy"`
	Errors        ErrorsConfig   `mapstructure:"errors"`
	Throttle      ThrottleConfig `mapstructure:"throttle"`
	Estimate      EstimateConfig `mapstructure:"estimate"`
	Reports       ReportsConfig  `mapstructure:"reports"`
}

// Endpoint is a source or target server. URL may contain %u, replaced by the
// users file's user of that side.
//
// Token and MasterPassword are secrets written as the users file writes
// passwords: env:VAR, file:PATH, cmd:COMMAND, or (discouraged) the value
// itself. They are read at every login, never stored.
type Endpoint struct {
	URL                string `mapstructure:"url"`
	TLS                string `mapstructure:"tls"` // none | starttls | implicit; default from the URL scheme
	CAFile             string `mapstructure:"ca_file"`
	InsecureSkipVerify bool   `mapstructure:"insecure_skip_verify"`
	Auth               string `mapstructure:"auth"` // plain | login | xoauth2 | oauthbearer; default plain, or the URL's ?auth=
	// Token is the OAuth 2.0 access token for auth xoauth2 and oauthbearer,
	// for the users whose password column on this side is empty.
	Token string `mapstructure:"token"`
	// MasterUser, if set, is an administrator who logs in on behalf of
	// every user (proxy login) with MasterPassword (or, when that is empty,
	// the users file's password column): SASL PLAIN with the user as
	// authorization identity, or, with MasterSeparator, the login name
	// USER + MasterSeparator + MasterUser (Dovecot: "*").
	MasterUser      string `mapstructure:"master_user"`
	MasterPassword  string `mapstructure:"master_password"`
	MasterSeparator string `mapstructure:"master_separator"`
	// PSTFolders says where a pst: source's folders go: "file" (the
	// default) puts each file's folders under a folder named after the
	// file; "merge" merges them into the user's folders by name.
	PSTFolders string `mapstructure:"pst_folders"`
	// Timeout is how long a connection may show no sign of life while
	// mailshift waits for the server, e.g. "30s"; default 60s.
	Timeout string `mapstructure:"timeout"`
}

// Auth mechanisms of Endpoint.Auth.
var authMechanisms = []string{"plain", "login", "xoauth2", "oauthbearer"}

// auth returns the configured mechanism: the auth key, else the URL's
// ?auth=, else plain.
func (e *Endpoint) auth() string {
	if e.Auth != "" {
		return strings.ToLower(e.Auth)
	}
	if u, err := url.Parse(strings.ReplaceAll(e.URL, "%u", "user")); err == nil && u.Query().Get("auth") != "" {
		return strings.ToLower(u.Query().Get("auth"))
	}
	return "plain"
}

func isOAuth(mech string) bool { return mech == "xoauth2" || mech == "oauthbearer" }

// timeout returns the parsed timeout, 0 for the default.
func (e *Endpoint) timeout() (time.Duration, error) {
	if e.Timeout == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(e.Timeout))
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q: not a duration; write e.g. 30s or 2m", e.Timeout)
	}
	return d, nil
}

// PlaintextSecrets lists the keys that hold a secret written in plain
// text rather than as env:, file: or cmd: (for the warning about a
// configuration file others can read).
func (c *Config) PlaintextSecrets() []string {
	var keys []string
	for _, ep := range []struct {
		key string
		e   *Endpoint
	}{{"source", &c.Source}, {"target", &c.Target}} {
		for _, f := range []struct{ key, v string }{{"token", ep.e.Token}, {"master_password", ep.e.MasterPassword}} {
			if s, err := users.ParseSecret(f.v); err == nil && s.IsLiteral() {
				keys = append(keys, ep.key+"."+f.key)
			}
		}
	}
	return keys
}

// UsersConfig says where the users file is.
type UsersConfig struct {
	File string `mapstructure:"file"`
}

// FoldersConfig is the folder mapping's configuration.
type FoldersConfig struct {
	Exclude []string          `mapstructure:"exclude"`
	Map     map[string]string `mapstructure:"map"`
	Prefix  string            `mapstructure:"prefix"`
}

// SyncConfig is the incremental step's policy.
type SyncConfig struct {
	Deletions string `mapstructure:"deletions"`  // keep | mirror
	MaxDelete int    `mapstructure:"max_delete"` // percent of a folder per pass
	// Interval is how often `sync --follow` passes over every folder; new
	// mail in INBOX is seen at once where the source offers IDLE.
	Interval string `mapstructure:"interval"`
}

// interval is sync.interval as a duration (Validate checked it).
func (c SyncConfig) interval() time.Duration {
	d, err := time.ParseDuration(c.Interval)
	if err != nil || d <= 0 {
		return 30 * time.Second
	}
	return d
}

// CopyConfig tunes the copy engine.
type CopyConfig struct {
	Workers   int `mapstructure:"workers"`    // users in parallel
	BatchSize int `mapstructure:"batch_size"` // messages fetched with one command and retried together
	// ConnectionsPerUser is how many folders of one user are copied at
	// once, each over its own pair of connections.
	ConnectionsPerUser int    `mapstructure:"connections_per_user"`
	Retries            int    `mapstructure:"retries"`    // attempts after a transient failure, per folder and per login
	RetryWait          string `mapstructure:"retry_wait"` // first wait before a retry; doubles each time
}

// retryWait is copy.retry_wait as a duration (Validate checked it).
func (c CopyConfig) retryWait() time.Duration {
	d, err := time.ParseDuration(c.RetryWait)
	if err != nil || d <= 0 {
		return time.Second
	}
	return d
}

// ErrorsConfig bounds failures.
type ErrorsConfig struct {
	Max int `mapstructure:"max"` // failed messages after which a user is given up for this run
}

// ThrottleConfig keeps the copy gentle on the live servers.
type ThrottleConfig struct {
	Bandwidth         string   `mapstructure:"bandwidth"`           // all workers together, e.g. "20MB/s"; "" unlimited
	MessagesPerSecond float64  `mapstructure:"messages_per_second"` // all workers together; 0 unlimited
	MaxConnections    int      `mapstructure:"max_connections"`     // per server; 0 unlimited
	Windows           []string `mapstructure:"windows"`             // when bulk copy may run, e.g. ["Mon-Fri 19:00-07:00", "Sat-Sun"]
	TimeZone          string   `mapstructure:"time_zone"`           // of the windows (IANA name); default the machine's
}

// windows parses throttle.windows (Validate checked them).
func (c ThrottleConfig) windows() (throttle.Windows, error) {
	loc := time.Local
	if c.TimeZone != "" {
		var err error
		if loc, err = time.LoadLocation(c.TimeZone); err != nil {
			return throttle.Windows{}, &ConfigError{"throttle.time_zone", fmt.Sprintf("%q: not a time zone name such as Europe/Berlin", c.TimeZone)}
		}
	}
	w, err := throttle.ParseWindows(c.Windows, loc)
	if err != nil {
		return throttle.Windows{}, &ConfigError{"throttle.windows", err.Error()}
	}
	return w, nil
}

// EstimateConfig feeds the duration estimate before a test has measured one.
type EstimateConfig struct {
	Bandwidth string `mapstructure:"bandwidth"` // e.g. "10MB/s"
}

// ReportsConfig says where reports go.
type ReportsConfig struct {
	Dir string `mapstructure:"dir"`
}

// Defaults returns the configuration every key falls back to.
func Defaults() Config {
	return Config{
		Users:    UsersConfig{File: "users.csv"},
		Sync:     SyncConfig{Deletions: "keep", MaxDelete: 50, Interval: "30s"},
		Copy:     CopyConfig{Workers: 4, BatchSize: 5000, ConnectionsPerUser: 2, Retries: 6, RetryWait: "1s"},
		Errors:   ErrorsConfig{Max: 1000},
		Estimate: EstimateConfig{Bandwidth: "10MB/s"},
		Reports:  ReportsConfig{Dir: "reports"},
	}
}

// ConfigError is a configuration or usage mistake; Key names the setting.
type ConfigError struct {
	Key string
	Msg string
}

func (e *ConfigError) Error() string {
	if e.Key == "" {
		return e.Msg
	}
	return e.Key + ": " + e.Msg
}

// Validate checks every key and returns the first mistake, naming the key.
func (c *Config) Validate() error {
	for _, ep := range []struct {
		key string
		e   *Endpoint
	}{{"source", &c.Source}, {"target", &c.Target}} {
		if err := ep.e.validate(ep.key); err != nil {
			return err
		}
	}
	if c.Users.File == "" {
		return &ConfigError{"users.file", "missing: name the users file (source_user,source_password,target_user,target_password,batch)"}
	}
	for i, p := range c.Folders.Exclude {
		if err := mapping.ValidPattern(p); err != nil {
			return &ConfigError{fmt.Sprintf("folders.exclude[%d]", i), err.Error()}
		}
	}
	switch c.Sync.Deletions {
	case "keep", "mirror":
	default:
		return &ConfigError{"sync.deletions", fmt.Sprintf("%q: must be keep or mirror", c.Sync.Deletions)}
	}
	if c.Sync.MaxDelete < 0 || c.Sync.MaxDelete > 100 {
		return &ConfigError{"sync.max_delete", fmt.Sprintf("%d: must be a percentage between 0 and 100", c.Sync.MaxDelete)}
	}
	if d, err := time.ParseDuration(c.Sync.Interval); err != nil || d <= 0 {
		return &ConfigError{"sync.interval", fmt.Sprintf("%q: not a duration; write e.g. 30s or 2m", c.Sync.Interval)}
	}
	if c.Copy.Workers < 1 || c.Copy.Workers > 256 {
		return &ConfigError{"copy.workers", fmt.Sprintf("%d: must be between 1 and 256", c.Copy.Workers)}
	}
	if c.Copy.BatchSize < 1 || c.Copy.BatchSize > 10000 {
		return &ConfigError{"copy.batch_size", fmt.Sprintf("%d: must be between 1 and 10000", c.Copy.BatchSize)}
	}
	if c.Copy.ConnectionsPerUser < 1 || c.Copy.ConnectionsPerUser > 32 {
		return &ConfigError{"copy.connections_per_user", fmt.Sprintf("%d: must be between 1 and 32", c.Copy.ConnectionsPerUser)}
	}
	if c.Copy.Retries < 0 || c.Copy.Retries > 100 {
		return &ConfigError{"copy.retries", fmt.Sprintf("%d: must be between 0 and 100", c.Copy.Retries)}
	}
	if d, err := time.ParseDuration(c.Copy.RetryWait); err != nil || d <= 0 {
		return &ConfigError{"copy.retry_wait", fmt.Sprintf("%q: not a duration; write e.g. 1s or 500ms", c.Copy.RetryWait)}
	}
	if c.Errors.Max < 1 {
		return &ConfigError{"errors.max", fmt.Sprintf("%d: must be at least 1", c.Errors.Max)}
	}
	if c.Throttle.Bandwidth != "" {
		if _, err := ParseRate(c.Throttle.Bandwidth); err != nil {
			return &ConfigError{"throttle.bandwidth", err.Error()}
		}
	}
	if c.Throttle.MessagesPerSecond < 0 {
		return &ConfigError{"throttle.messages_per_second", fmt.Sprintf("%v: must not be negative (0: unlimited)", c.Throttle.MessagesPerSecond)}
	}
	if c.Throttle.MaxConnections < 0 {
		return &ConfigError{"throttle.max_connections", fmt.Sprintf("%d: must not be negative (0: unlimited)", c.Throttle.MaxConnections)}
	}
	if _, err := c.Throttle.windows(); err != nil {
		return err
	}
	if _, err := ParseRate(c.Estimate.Bandwidth); err != nil {
		return &ConfigError{"estimate.bandwidth", err.Error()}
	}
	return nil
}

// fileExamples are the local source kinds with an example each.
var fileExamples = map[string]string{
	"maildir": "maildir:/srv/mail/%u/Maildir",
	"mbox":    "mbox:/exports/%u/",
	"eml":     "eml:/data/%u/",
	"pst":     "pst:/archives/%u/*.pst",
}

// fileEndpoint splits a local source's URL ("maildir:/srv/%u/Maildir")
// into its kind and path.
func fileEndpoint(s string) (kind, path string, ok bool) {
	kind, path, found := strings.Cut(s, ":")
	if _, known := fileExamples[kind]; !found || !known {
		return "", "", false
	}
	return kind, strings.TrimPrefix(path, "//"), true
}

func isIMAPURL(s string) bool {
	return strings.HasPrefix(s, "imap://") || strings.HasPrefix(s, "imaps://")
}

func (e *Endpoint) validate(key string) error {
	if e.URL == "" {
		return &ConfigError{key + ".url", "missing: e.g. imaps://mail.example.com:993"}
	}
	switch e.PSTFolders {
	case "", "file", "merge":
	default:
		return &ConfigError{key + ".pst_folders", fmt.Sprintf("%q: must be file (each PST file under a folder named after it) or merge", e.PSTFolders)}
	}
	if kind, path, ok := fileEndpoint(e.URL); ok {
		if key != "source" {
			return &ConfigError{key + ".url", fmt.Sprintf("%q: a %s: endpoint can only be a source; the target is an IMAP server (imaps://host:993)", e.URL, kind)}
		}
		if path == "" {
			return &ConfigError{key + ".url", fmt.Sprintf("%q: names no path; write e.g. %s", e.URL, fileExamples[kind])}
		}
		return nil
	}
	if e.PSTFolders != "" {
		return &ConfigError{key + ".pst_folders", "only for a pst: source"}
	}
	if !isIMAPURL(e.URL) {
		return &ConfigError{key + ".url", fmt.Sprintf("%q: unsupported scheme; use imap://host:143 or imaps://host:993, or for a source maildir:, mbox:, eml: or pst: with a path", e.URL)}
	}
	u, err := url.Parse(strings.ReplaceAll(e.URL, "%u", "user"))
	if err != nil || u.Host == "" {
		return &ConfigError{key + ".url", fmt.Sprintf("%q: not a URL of the form imaps://host:port", e.URL)}
	}
	switch e.TLS {
	case "", "none", "starttls", "implicit":
	default:
		return &ConfigError{key + ".tls", fmt.Sprintf("%q: must be none, starttls or implicit", e.TLS)}
	}
	if q := u.Query().Get("tls"); q != "" && e.TLS == "" {
		switch q {
		case "none", "starttls", "implicit":
		default:
			return &ConfigError{key + ".url", fmt.Sprintf("?tls=%s: must be none, starttls or implicit", q)}
		}
	}
	authKey := key + ".auth"
	if e.Auth == "" && u.Query().Get("auth") != "" {
		authKey = key + ".url"
	}
	mech := e.auth()
	if !slices.Contains(authMechanisms, mech) {
		return &ConfigError{authKey, fmt.Sprintf("%q: must be plain, login, xoauth2 or oauthbearer", mech)}
	}
	for _, f := range []struct{ name, v string }{{"token", e.Token}, {"master_password", e.MasterPassword}} {
		if _, err := users.ParseSecret(f.v); err != nil {
			return &ConfigError{key + "." + f.name, err.Error()}
		}
	}
	if e.Token != "" && !isOAuth(mech) {
		return &ConfigError{key + ".token", fmt.Sprintf("an access token is for auth: xoauth2 or oauthbearer, and auth is %s", mech)}
	}
	switch {
	case e.MasterUser == "" && (e.MasterPassword != "" || e.MasterSeparator != ""):
		return &ConfigError{key + ".master_user", "missing: master_password and master_separator are for a master (administrator) login; name the administrator"}
	case e.MasterUser != "" && isOAuth(mech):
		return &ConfigError{key + ".master_user", fmt.Sprintf("a master login needs auth: plain (or login with master_separator), not %s", mech)}
	case e.MasterUser != "" && mech == "login" && e.MasterSeparator == "":
		return &ConfigError{key + ".master_separator", "missing: with auth: login a master login is USER<separator>MASTER (Dovecot: \"*\"); or use auth: plain for SASL PLAIN with an authorization identity"}
	}
	if _, err := e.timeout(); err != nil {
		return &ConfigError{key + ".timeout", err.Error()}
	}
	return nil
}

// ParseRate parses a byte rate such as "20MB/s", "512KB/s" or "1GB/s"
// (powers of 1000; KiB/MiB/GiB for powers of 1024) into bytes per second.
func ParseRate(s string) (float64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(t, "/s")
	units := []struct {
		suffix string
		mult   float64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"kB", 1e3}, {"B", 1}}
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			var v float64
			if _, err := fmt.Sscanf(strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), "%g", &v); err != nil || v <= 0 {
				break
			}
			return v * u.mult, nil
		}
	}
	return 0, fmt.Errorf("%q: not a rate; write e.g. 20MB/s", s)
}

// reportsDir is where rendered reports go.
func (c *Config) reportsDir() string {
	if c.Reports.Dir == "" {
		return "reports"
	}
	return path.Clean(c.Reports.Dir)
}

// formatDuration renders a duration for people: "3h12m", "45s".
func formatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(time.Second).String()
	default:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
}
