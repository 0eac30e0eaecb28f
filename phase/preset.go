package phase

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/oauth"
)

// A provider preset is what a side's `provider:` key implies: settings
// that match how that service is documented to behave. A preset fills in
// only what the configuration leaves empty (zero): every setting can be
// overridden. The scope of work says which preset applies, what it set,
// and what was overridden.
//
// presets is the one table of them, one entry per provider, each value
// with its source. Keys are those of the side ("max_connections" is
// target.max_connections for the target), or of the whole configuration
// when they begin with a section name ("verify.level"); see applySetting
// for the keys a preset may set.
var presets = map[string]Preset{
	"microsoft365": {
		Service: "Microsoft 365 (Exchange Online)",
		Settings: []PresetSetting{
			{Key: "max_connections", Value: "20",
				Source: "Exchange Online limits: 20 concurrent IMAP connections per mailbox (https://learn.microsoft.com/en-us/office365/servicedescriptions/exchange-online-service-description/exchange-online-limits)"},
			{Key: "max_message_size", Value: "35MiB",
				Source: "Exchange Online limits: messages up to 35 MB by default, raised to 150 MB by the administrator (Set-Mailbox -MaxReceiveSize; imapsync FAQ.d/FAQ.Office365.txt)"},
			{Key: "keywords", Value: "lost",
				Source: "Exchange keeps no IMAP keywords: PERMANENTFLAGS lists no \\* (imapsync FAQ.d/FAQ.Office365.txt: keywords such as $MDNSent become categories)"},
			{Key: "verify.level", Value: VerifyIdentity, TargetOnly: true,
				Source: "Exchange serves MIME regenerated from the stored item, and RFC822.SIZE is an estimate (Set-ImapSettings -MessageRetrievalMimeFormat, -EnableExactRFC822Size; https://learn.microsoft.com/en-us/powershell/module/exchange/set-imapsettings)"},
		},
	},
	"exchange": {
		Service: "Microsoft Exchange Server (on premises)",
		Settings: []PresetSetting{
			{Key: "max_connections", Value: "16",
				Source: "Set-ImapSettings -MaxConnectionsPerUser, default 16 (https://learn.microsoft.com/en-us/exchange/set-connection-limits-for-imap4-exchange-2013-help)"},
			{Key: "max_message_size", Value: "10MB",
				Source: "Exchange Server's default organisation message size limit is 10 MB (https://learn.microsoft.com/en-us/Exchange/mail-flow/message-size-limits); imapsync's --exchange2 uses --maxsize 10_000_000 (FAQ.d/FAQ.Exchange.txt)"},
			{Key: "keywords", Value: "lost",
				Source: "Exchange keeps no IMAP keywords: PERMANENTFLAGS lists no \\* (as for Microsoft 365)"},
			{Key: "verify.level", Value: VerifyIdentity, TargetOnly: true,
				Source: "Exchange serves MIME regenerated from the stored item (Set-ImapSettings -MessageRetrievalMimeFormat, -EnableExactRFC822Size; https://learn.microsoft.com/en-us/powershell/module/exchange/set-imapsettings)"},
		},
	},
	"gmail": {
		Service:  "Gmail",
		Settings: gmailSettings("Gmail Help, \"Too many simultaneous connections\": a limit of 10 simultaneous IMAP connections per account (http://mail.google.com/support/bin/answer.py?answer=97150); later third-party pages say 15"),
	},
	"google_workspace": {
		Service:  "Google Workspace (Gmail)",
		Settings: gmailSettings("as for gmail: 10 simultaneous IMAP connections per account (Gmail Help answer 97150)"),
	},
}

// gmailSettings are the settings of the Gmail presets, the connection
// cap's source as given.
func gmailSettings(connections string) []PresetSetting {
	return []PresetSetting{
		{Key: "max_connections", Value: "10", Source: connections},
		{Key: "max_message_size", Value: "35651584",
			Source: "imapsync FAQ.d/FAQ.Gmail.txt: --maxsize 35_651_584 for Gmail targets"},
		{Key: "throttle.daily_per_user", Value: "2500MB", SourceOnly: true,
			Source: "Gmail bandwidth limits: downloading with IMAP 2500 MB per day and user (https://support.google.com/a/answer/1071518; imapsync FAQ.d/FAQ.Gmail.txt); users' own mail clients count too, so a smaller budget leaves them room"},
		{Key: "throttle.daily_per_user", Value: "500MB", TargetOnly: true,
			Source: "Gmail bandwidth limits: uploading with IMAP 500 MB per day and user (https://support.google.com/a/answer/1071518; imapsync FAQ.d/FAQ.Gmail.txt)"},
		{Key: "gmail.labels", Value: "folders", SourceOnly: true,
			Source: "Gmail shows labels as folders and every message in [Gmail]/All Mail (https://developers.google.com/gmail/imap/imap-extensions): each label folder is copied, All Mail only for mail no label holds, each message once per label (see gmail.labels)"},
		{Key: "gmail.labels", Value: "labels", TargetOnly: true,
			Source: "with Gmail on both sides: a Gmail target sets labels with STORE X-GM-LABELS (https://developers.google.com/gmail/imap/imap-extensions#x-gm-labels), so each message is uploaded once and its labels set, where a copy per label folder costs an upload each (imapsync FAQ.d/FAQ.Gmail.txt; 500 MB a day)"},
	}
}

// Preset is one provider's settings.
type Preset struct {
	Service  string // the service's name, for people
	Settings []PresetSetting
}

// PresetSetting is one setting of a preset and where its value comes
// from.
type PresetSetting struct {
	Key        string // see presets
	Value      string
	Source     string // the documentation that gives the value
	TargetOnly bool   // applies only when the provider is the target
	SourceOnly bool   // applies only when the provider is the source
}

// Providers lists the names `provider:` takes.
func Providers() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// appliedSetting is a preset setting as applied to a side.
type appliedSetting struct {
	side string // source | target
	PresetSetting
	overridden string // the configuration's own value, when it kept it
}

// applyPresets fills the settings each side's provider implies where the
// configuration left them empty, and records what it did for the scope
// of work. Applying twice changes nothing more.
func (c *Config) applyPresets() error {
	c.presetsApplied = nil
	for _, side := range []struct {
		key string
		e   *Endpoint
	}{{"source", &c.Source}, {"target", &c.Target}} {
		if side.e.Provider == "" {
			continue
		}
		pr, ok := presets[side.e.Provider]
		if !ok {
			return &ConfigError{side.key + ".provider", fmt.Sprintf("%q: must be one of %s", side.e.Provider, strings.Join(Providers(), ", "))}
		}
		for _, s := range pr.Settings {
			if (s.TargetOnly && side.key != "target") || (s.SourceOnly && side.key != "source") {
				continue
			}
			if s.Key == "gmail.labels" && side.key == "target" && !gmailProvider(c.Source.Provider) {
				continue // labels are set only from a Gmail source
			}
			own, err := c.applySetting(side.key, side.e, s)
			if err != nil {
				return err
			}
			c.presetsApplied = append(c.presetsApplied, appliedSetting{side: side.key, PresetSetting: s, overridden: own})
		}
	}
	return nil
}

// gmailProvider tells whether a provider preset is Gmail's.
func gmailProvider(p string) bool { return p == "gmail" || p == "google_workspace" }

// applySetting sets one preset setting unless the configuration has its
// own value, which it returns.
func (c *Config) applySetting(side string, e *Endpoint, s PresetSetting) (string, error) {
	if c.presetValues == nil {
		c.presetValues = map[string]string{}
	}
	// A key of the whole configuration may have been set by the other
	// side's preset (or by this one, validating again): that is not the
	// configuration's own value.
	preset := func(key string) string {
		if strings.Contains(s.Key, ".") {
			return c.presetValues[key]
		}
		return ""
	}
	str := func(f *string) string {
		if *f != "" && *f != s.Value && *f != preset(s.Key) {
			return *f
		}
		*f = s.Value
		if strings.Contains(s.Key, ".") {
			c.presetValues[s.Key] = s.Value
		}
		return ""
	}
	switch s.Key {
	case "max_connections":
		n, err := strconv.Atoi(s.Value)
		if err != nil {
			return "", fmt.Errorf("preset %s: %s: %w", e.Provider, s.Key, err)
		}
		if e.MaxConnections != 0 && e.MaxConnections != n {
			return strconv.Itoa(e.MaxConnections), nil
		}
		e.MaxConnections = n
		return "", nil
	case "max_message_size":
		return str(&e.MaxMessageSize), nil
	case "keywords":
		return str(&e.Keywords), nil
	case "verify.level":
		return str(&c.Verify.Level), nil
	case "gmail.labels":
		return str(&c.Gmail.Labels), nil
	case "throttle.daily_per_user":
		// Gmail on both sides: the smaller budget of the two holds.
		cur := c.Throttle.DailyPerUser
		if cur != "" && cur == preset(s.Key) && cur != s.Value {
			a, errA := ParseSize(cur)
			b, errB := ParseSize(s.Value)
			if errA == nil && errB == nil && a < b {
				return "", nil
			}
			c.Throttle.DailyPerUser = ""
		}
		return str(&c.Throttle.DailyPerUser), nil
	}
	return "", fmt.Errorf("preset %s of %s sets %s, which is not a key it may set", e.Provider, side, s.Key)
}

// validateSides checks the per-side keys the presets deal in, and
// verify.level.
func (c *Config) validateSides() error {
	for _, side := range []struct {
		key string
		e   *Endpoint
	}{{"source", &c.Source}, {"target", &c.Target}} {
		if side.e.MaxConnections < 0 {
			return &ConfigError{side.key + ".max_connections", fmt.Sprintf("%d: must not be negative (0: no cap)", side.e.MaxConnections)}
		}
		if side.e.MaxMessageSize != "" {
			if _, err := parseSize(side.e.MaxMessageSize); err != nil {
				return &ConfigError{side.key + ".max_message_size", err.Error()}
			}
		}
		switch side.e.Keywords {
		case "", "kept", "lost":
		default:
			return &ConfigError{side.key + ".keywords", fmt.Sprintf("%q: must be kept or lost", side.e.Keywords)}
		}
		if err := side.e.OAuth.Validate(side.key + ".oauth"); err != nil {
			var fe *oauth.FieldError
			if errors.As(err, &fe) {
				return &ConfigError{fe.Key, fe.Msg}
			}
			return &ConfigError{side.key + ".oauth", err.Error()}
		}
	}
	switch c.Verify.Level {
	case "", VerifyBytes, VerifyIdentity:
	default:
		return &ConfigError{"verify.level", fmt.Sprintf("%q: must be bytes or identity", c.Verify.Level)}
	}
	return nil
}

// parseSize parses a message size such as "35MB", "35MiB" or "36700160".
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if n, err := strconv.ParseInt(t, 10, 64); err == nil && n > 0 {
		return n, nil
	}
	r, err := ParseRate(t + "/s")
	if err != nil || r < 1 {
		return 0, fmt.Errorf("%q: not a size; write e.g. 35MB, 35MiB or a number of bytes", s)
	}
	return int64(r), nil
}

// maxMessageSize is the largest message the target takes by
// target.max_message_size (0: not configured).
func (c *Config) maxMessageSize() int64 {
	n, _ := parseSize(c.Target.MaxMessageSize)
	return n
}

// keywordsLost tells whether the target keeps no keywords: so configured
// (target.keywords: lost, the Exchange presets), or, unless configured
// kept, as the target says (PERMANENTFLAGS without \*, seen by collect).
func (c *Config) keywordsLost(d mailbox.Description) bool {
	return c.Target.Keywords == "lost" || c.Target.Keywords == "" && d.NoKeywords
}

// writeProviders writes the scope of work's part on the services: which
// preset applies to each side and what it implies, the verification
// level and why, and what becomes of keywords.
func (p *Project) writeProviders(w func(string, ...any), dst mailbox.Description) {
	c := &p.Config
	if c.Source.Provider == "" && c.Target.Provider == "" && c.Verify.Level == "" && !c.keywordsLost(dst) {
		return
	}
	w("## Services\n\n")
	for _, side := range []struct{ key, provider string }{{"source", c.Source.Provider}, {"target", c.Target.Provider}} {
		if side.provider == "" {
			continue
		}
		w("The %s is **%s** (`%s.provider: %s`). Its preset sets:\n\n", side.key, presets[side.provider].Service, side.key, side.provider)
		w("| setting | value | source |\n|---|---|---|\n")
		for _, a := range c.presetsApplied {
			if a.side != side.key {
				continue
			}
			key := a.Key
			if !strings.Contains(key, ".") {
				key = side.key + "." + key
			}
			val := "`" + a.Value + "`"
			if a.overridden != "" {
				val = fmt.Sprintf("`%s` (the configuration's; the preset says `%s`)", a.overridden, a.Value)
			}
			w("| `%s` | %s | %s |\n", key, val, mdCell(a.Source))
		}
		w("\n")
	}
	if c.identityLevel() {
		w("Verification compares each copy's **identity**, not its bytes: the target re-renders messages, so bytes and sizes differ from what was sent. Compared are the Message-ID, date, From, To, subject, attachment names and decoded sizes, and a hash of the decoded text with white space normalised; interrupted copies are settled by the same identity.\n\n")
	} else {
		w("Verification compares each copy's size and SHA-256 with the original's (`verify.level: bytes`).\n\n")
	}
	if c.keywordsLost(dst) {
		w("**Keywords are lost** on the target (`target.keywords: lost`, or PERMANENTFLAGS without `\\*`): it keeps no IMAP keywords (`$Label1`, `Work`, ...), only the system flags. Messages are never changed to carry them; `collect` lists them as a problem and verification leaves them out.\n\n")
	}
	if c.Target.MaxConnections > 0 {
		w("At most %d connections to one target mailbox at once (`target.max_connections`).\n\n", c.Target.MaxConnections)
	}
}
