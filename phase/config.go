package phase

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/mailshift/mailshift/internal/dav"
	"github.com/mailshift/mailshift/internal/mapping"
	"github.com/mailshift/mailshift/internal/oauth"
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
	Verify        VerifyConfig   `mapstructure:"verify"`
	Copy          CopyConfig     `mapstructure:"copy"`
	Errors        ErrorsConfig   `mapstructure:"errors"`
	Throttle      ThrottleConfig `mapstructure:"throttle"`
	Gmail         GmailConfig    `mapstructure:"gmail"`
	Estimate      EstimateConfig `mapstructure:"estimate"`
	Reports       ReportsConfig  `mapstructure:"reports"`
	Project       ProjectConfig  `mapstructure:"project"`
	Logs          LogsConfig     `mapstructure:"logs"`
	PST           PSTConfig      `mapstructure:"pst"`
	Shards        ShardsConfig   `mapstructure:"shards"`

	// presetsApplied records what the providers' presets set (Validate).
	presetsApplied []appliedSetting
	// presetValues are the values presets put in keys of the whole
	// configuration, so that validating again, or the other side's
	// preset, does not take them for the configuration's own.
	presetValues map[string]string
}

// ShardsConfig says how many shards the approved plan is split into when a
// scheduler gives only the index (JOB_COMPLETION_INDEX, NOMAD_ALLOC_INDEX).
type ShardsConfig struct {
	// Count is the number of shards; 0: not sharded unless --shard says so.
	Count int `mapstructure:"count"`
}

// ProjectConfig is what the scope of work says of the project beyond the
// inventory: the parties, who does what, the milestones, the assumptions,
// what is out of scope and how to roll back. Every field is optional; the
// scope of work says what is still to be agreed.
type ProjectConfig struct {
	Name       string `mapstructure:"name"`       // e.g. "Example Corp mail migration"
	Customer   string `mapstructure:"customer"`   // the organisation whose mail moves
	Consultant string `mapstructure:"consultant"` // who runs the migration
	// Contacts are the people of both parties, for the overview.
	Contacts []ProjectContact `mapstructure:"contacts"`
	// Responsibilities say who does what: change MX and DNS, inform the
	// users, run each step, sign off.
	Responsibilities []ProjectTask `mapstructure:"responsibilities"`
	// Milestones are the planned dates, per step.
	Milestones  ProjectMilestones `mapstructure:"milestones"`
	Assumptions []string          `mapstructure:"assumptions"`
	OutOfScope  []string          `mapstructure:"out_of_scope"`
	Rollback    string            `mapstructure:"rollback"`
}

// ProjectMilestones are the planned dates of the steps, as people write
// them ("2027-01-15", "week 3").
type ProjectMilestones struct {
	Collect string `mapstructure:"collect"`
	Approve string `mapstructure:"approve"`
	Test    string `mapstructure:"test"`
	Bulk    string `mapstructure:"bulk"`
	Sync    string `mapstructure:"sync"`
	Cutover string `mapstructure:"cutover"`
}

// of returns the planned date of a step.
func (m ProjectMilestones) of(step string) string {
	switch step {
	case "collect":
		return m.Collect
	case "approve":
		return m.Approve
	case "test":
		return m.Test
	case "bulk":
		return m.Bulk
	case "sync":
		return m.Sync
	case "cutover":
		return m.Cutover
	}
	return ""
}

// ProjectContact is one person of the project.
type ProjectContact struct {
	Name  string `mapstructure:"name"`
	Role  string `mapstructure:"role"`
	Party string `mapstructure:"party"` // customer | consultant | other
	Email string `mapstructure:"email"`
}

// ProjectTask is one responsibility and who holds it.
type ProjectTask struct {
	Task string `mapstructure:"task"`
	Who  string `mapstructure:"who"`
}

// Endpoint is a source or target: a server or, for a source, local files.
// URL may contain %u, replaced by the users file's user of that side. Its
// schemes and what each field means to them are internal/endpoint's, whose
// Settings has the same fields in the same order (the command layer
// converts one into the other; keep them in step).
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
	// Provider names the service this side is (microsoft365, exchange,
	// gmail, google_workspace): its preset fills in the settings below and
	// verify.level where they are left empty (see preset.go).
	Provider string `mapstructure:"provider"`
	// MaxConnections caps the connections to one mailbox of this side at
	// once (Exchange Online: 20); 0: no cap beyond the preset's.
	MaxConnections int `mapstructure:"max_connections"`
	// MaxMessageSize is the largest message this side takes, e.g. "35MB"
	// (a target's limit: collect reports every larger message); "" means
	// what the server announces (APPENDLIMIT) or the preset's.
	MaxMessageSize string `mapstructure:"max_message_size"`
	// Keywords says whether this side keeps IMAP keywords: "kept" (the
	// default) or "lost" (Exchange: PERMANENTFLAGS without \*). Keywords a
	// target loses are reported by collect and the scope of work and left
	// out of verification; messages are never changed to carry them.
	Keywords string `mapstructure:"keywords"`
	// OAuth, with a provider, makes mailshift fetch the access tokens of
	// auth xoauth2 or oauthbearer itself (see internal/oauth).
	OAuth oauth.Config `mapstructure:"oauth"`
	// CardDAV and CalDAV are, for the target, the URLs of each user's
	// address book and calendar (%u: the target user), where the
	// contacts and the calendar items, tasks and notes of a PST source
	// are uploaded with the target user's password; empty: only files.
	CardDAV string `mapstructure:"carddav"`
	CalDAV  string `mapstructure:"caldav"`
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
		for _, f := range []struct{ key, v string }{{"token", ep.e.Token}, {"master_password", ep.e.MasterPassword},
			{"oauth.client_secret", ep.e.OAuth.ClientSecret}, {"oauth.service_account", ep.e.OAuth.ServiceAccount}} {
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

// VerifyConfig is how verification compares copies with their originals
// and how much content it reads.
type VerifyConfig struct {
	// Level is "bytes" (size and SHA-256 of the exact bytes) or
	// "identity" (what survives a target that re-renders messages:
	// Message-ID, date, addresses, subject, attachments, normalised text;
	// see internal/identity). "" means the target preset's level, else
	// bytes.
	Level string `mapstructure:"level"`
	// Sample is how many copied messages an incremental verification
	// reads on both sides and compares by content, per user: a count
	// ("20": that many messages of each user, chosen at random) or a
	// percentage ("1%": each message with that chance); "0" reads none.
	// Counts, sizes, flags and dates are checked whatever it says;
	// `verify --full` reads every message.
	Sample SampleSetting `mapstructure:"sample"`
}

// SampleSetting is verify.sample as written: a count ("20") or a
// percentage ("1%").
type SampleSetting string

// defaultVerifySample is verify.sample when the configuration does not
// set it.
const defaultVerifySample = "1%"

// sampleSize is verify.sample read: a count per user, or a chance per
// message in millionths.
type sampleSize struct {
	count      int
	perMillion int
}

// sample reads verify.sample.
func (c VerifyConfig) sample() (sampleSize, error) {
	s := strings.TrimSpace(string(c.Sample))
	if s == "" {
		s = defaultVerifySample
	}
	bad := &ConfigError{"verify.sample", fmt.Sprintf("%q: write a number of messages per user (e.g. 20) or a percentage of them (e.g. 1%% or 0.5%%); 0 reads no content", c.Sample)}
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || f < 0 || f > 100 || f != f {
			return sampleSize{}, bad
		}
		return sampleSize{perMillion: int(f*10000 + 0.5)}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return sampleSize{}, bad
	}
	return sampleSize{count: n}, nil
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
	// DailyPerUser is how many bytes each user may copy per 24 hours
	// (read from the source and written to the target), e.g. "2GB"; ""
	// unlimited. Gmail allows 2500 MB of IMAP download and 500 MB of
	// upload per day and account (https://support.google.com/a/answer/1071518).
	DailyPerUser string `mapstructure:"daily_per_user"`
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

// identityLevel tells whether copies are compared by identity.
func (c *Config) identityLevel() bool { return c.Verify.Level == VerifyIdentity }

// The verification levels.
const (
	VerifyBytes    = "bytes"
	VerifyIdentity = "identity"
)

// EstimateConfig feeds the duration estimate before a test has measured one.
type EstimateConfig struct {
	Bandwidth string `mapstructure:"bandwidth"` // e.g. "10MB/s"
}

// ReportsConfig says where reports go.
type ReportsConfig struct {
	Dir string `mapstructure:"dir"`
}

// LogsConfig says where every run's JSON Lines log goes and how many are
// kept.
type LogsConfig struct {
	// Dir is the directory of the run logs; "" means "logs" under
	// reports.dir.
	Dir string `mapstructure:"dir"`
	// Keep is how many run logs are kept, the newest; older ones are
	// deleted when a run starts. 0 keeps them all.
	Keep int `mapstructure:"keep"`
}

// LogsDir is the directory of the run logs, relative to the project
// directory unless absolute.
func (c *Config) LogsDir() string {
	if c.Logs.Dir != "" {
		return path.Clean(c.Logs.Dir)
	}
	return path.Join(c.reportsDir(), "logs")
}

// GmailConfig says how a Gmail source's labels are copied (Gmail shows
// each label as a folder and every message once more in All Mail).
type GmailConfig struct {
	// Labels: folders (one copy per label folder), keywords (one copy per
	// message, labels as keywords), off (every folder as Gmail shows it);
	// "" means folders on a server that offers X-GM-EXT-1.
	Labels string `mapstructure:"labels"`
	// ArchiveFolder receives the mail that only All Mail holds (no
	// label); default "Archive".
	ArchiveFolder string `mapstructure:"archive_folder"`
}

// Defaults returns the configuration every key falls back to.
func Defaults() Config {
	return Config{
		Users:    UsersConfig{File: "users.csv"},
		Sync:     SyncConfig{Deletions: "keep", MaxDelete: 50, Interval: "30s"},
		Verify:   VerifyConfig{Sample: defaultVerifySample},
		Copy:     CopyConfig{Workers: 4, BatchSize: 5000, ConnectionsPerUser: 2, Retries: 6, RetryWait: "1s"},
		Errors:   ErrorsConfig{Max: 1000},
		Estimate: EstimateConfig{Bandwidth: "10MB/s"},
		Reports:  ReportsConfig{Dir: "reports"},
		Logs:     LogsConfig{Keep: 20},
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

// Validate fills in the provider presets (applyPresets), then checks
// every key and returns the first mistake, naming the key.
// The source and target sections are not checked here: their URL schemes
// and options are internal/endpoint's (endpoint.Pair.Validate).
func (c *Config) Validate() error {
	if err := c.applyPresets(); err != nil {
		return err
	}
	for _, check := range []func() error{
		c.validateSides, c.validateScope, c.validateCopy, c.validateThrottle,
		c.validateGmail, c.validateBudget, c.PST.validate, c.validateDAV, c.validateRun,
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// validateScope checks the users file, the folders left out, the sync keys
// and the verification sample.
func (c *Config) validateScope() error {
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
	if _, err := c.Verify.sample(); err != nil {
		return err
	}
	return nil
}

// validateCopy checks the copy keys and errors.max.
func (c *Config) validateCopy() error {
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
	return nil
}

// validateThrottle checks the throttle's bandwidth, message rate and
// connection cap.
func (c *Config) validateThrottle() error {
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
	return nil
}

// validateGmail checks the gmail keys: the label policy and the archive
// folder.
func (c *Config) validateGmail() error {
	switch c.Gmail.Labels {
	case "", "folders", "keywords", "labels", "off":
	default:
		return &ConfigError{"gmail.labels", fmt.Sprintf("%q: must be folders, keywords, labels or off", c.Gmail.Labels)}
	}
	if a := c.Gmail.ArchiveFolder; a != "" && (strings.TrimSpace(a) != a || strings.HasPrefix(a, "/") || strings.HasSuffix(a, "/") || strings.EqualFold(a, "INBOX")) {
		return &ConfigError{"gmail.archive_folder", fmt.Sprintf("%q: name a folder such as Archive or \"Gmail archive\" (no leading or trailing space or \"/\", not INBOX)", a)}
	}
	return nil
}

// validateBudget checks the daily budget per user, the throttle's time
// windows and the bandwidth estimates assume.
func (c *Config) validateBudget() error {
	if c.Throttle.DailyPerUser != "" {
		if _, err := ParseSize(c.Throttle.DailyPerUser); err != nil {
			return &ConfigError{"throttle.daily_per_user", err.Error()}
		}
	}
	if _, err := c.Throttle.windows(); err != nil {
		return err
	}
	if _, err := ParseRate(c.Estimate.Bandwidth); err != nil {
		return &ConfigError{"estimate.bandwidth", err.Error()}
	}
	return nil
}

// validateDAV checks the CardDAV and CalDAV URLs: target ones valid and
// encrypted unless allow_insecure, no source ones.
func (c *Config) validateDAV() error {
	for _, d := range []struct{ key, url string }{{"target.carddav", c.Target.CardDAV}, {"target.caldav", c.Target.CalDAV}} {
		if err := validDAV(d.url); err != nil {
			return &ConfigError{d.key, err.Error()}
		}
		if dav.Plaintext(d.url) && !c.AllowInsecure {
			return &ConfigError{d.key, fmt.Sprintf("%q would send the users' passwords unencrypted: use https://, or set allow_insecure: true", d.url)}
		}
	}
	for _, d := range []struct{ key, url string }{{"source.carddav", c.Source.CardDAV}, {"source.caldav", c.Source.CalDAV}} {
		if d.url != "" {
			return &ConfigError{d.key, "a target key: items are uploaded to target.carddav and target.caldav"}
		}
	}
	return nil
}

// validateRun checks shards.count and logs.keep.
func (c *Config) validateRun() error {
	if c.Shards.Count < 0 || c.Shards.Count > 10000 {
		return &ConfigError{"shards.count", fmt.Sprintf("%d: must be between 0 (not sharded) and 10000", c.Shards.Count)}
	}
	if c.Logs.Keep < 0 {
		return &ConfigError{"logs.keep", fmt.Sprintf("%d: must not be negative (0 keeps every run's log)", c.Logs.Keep)}
	}
	return nil
}

// validDAV checks a target.carddav or target.caldav URL: empty, or
// http(s) with a host and without credentials (the users file has them).
func validDAV(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(strings.ReplaceAll(s, "%u", "user"))
	switch {
	case err != nil:
		return fmt.Errorf("%q: not a URL", s)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return fmt.Errorf("%q: must be an http:// or https:// URL, e.g. https://dav.example.com/%%u/calendar/", s)
	case u.User != nil:
		return errors.New("a user or password in the URL: leave them out, the users file's target user and password are used")
	case !strings.Contains(s, "%u"):
		return fmt.Errorf("%q: has no %%u, so every user's items would go to one collection", s)
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

// ParseSize parses an amount of bytes such as "2GB", "500MB" or "1GiB"
// (powers of 1000; KiB/MiB/GiB for powers of 1024).
func ParseSize(s string) (int64, error) {
	if strings.HasSuffix(strings.TrimSpace(s), "/s") {
		return 0, fmt.Errorf("%q: an amount of bytes, not a rate; write e.g. 2GB", s)
	}
	v, err := ParseRate(s)
	if err != nil || v < 1 {
		return 0, fmt.Errorf("%q: not an amount of bytes; write e.g. 2GB or 500MB", s)
	}
	return int64(v), nil
}

// reportsDir is where rendered reports go.
func (c *Config) reportsDir() string {
	if c.Reports.Dir == "" {
		return "reports"
	}
	return path.Clean(c.Reports.Dir)
}

func formatDuration(d time.Duration) string { return FormatDuration(d) }

// FormatDuration renders a duration for people: "3h12m", "45s".
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(time.Second).String()
	default:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
}
