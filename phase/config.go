package phase

import (
	"fmt"
	"path"
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
	Project       ProjectConfig  `mapstructure:"project"`
	Logs          LogsConfig     `mapstructure:"logs"`
	Shards        ShardsConfig   `mapstructure:"shards"`
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

// Defaults returns the configuration every key falls back to.
func Defaults() Config {
	return Config{
		Users:    UsersConfig{File: "users.csv"},
		Sync:     SyncConfig{Deletions: "keep", MaxDelete: 50, Interval: "30s"},
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

// Validate checks every key and returns the first mistake, naming the key.
// The source and target sections are not checked here: their URL schemes
// and options are internal/endpoint's (endpoint.Pair.Validate).
func (c *Config) Validate() error {
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
	if c.Shards.Count < 0 || c.Shards.Count > 10000 {
		return &ConfigError{"shards.count", fmt.Sprintf("%d: must be between 0 (not sharded) and 10000", c.Shards.Count)}
	}
	if c.Logs.Keep < 0 {
		return &ConfigError{"logs.keep", fmt.Sprintf("%d: must not be negative (0 keeps every run's log)", c.Logs.Keep)}
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
