package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/mailshift/mailshift/internal/endpoint"
	"github.com/mailshift/mailshift/internal/oauth"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/phase"
	"github.com/mailshift/mailshift/state"
)

// globalOptions are the flags every command has.
type globalOptions struct {
	configFile string
	stateFile  string
	users      []string
	batch      string
	logFormat  string
	quiet      bool
	configSet  bool // --config given explicitly
	shards     shardOptions

	args   []string // the command line, for the run log
	runLog *runLog  // this run's log, once the command opened it
}

func (g *globalOptions) addFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&g.configFile, "config", "mailshift.yaml", "configuration file")
	f.StringVar(&g.stateFile, "state", "mailshift.db", "state file (SQLite)")
	f.StringSliceVar(&g.users, "users", nil, "only these users (source or target names, comma-separated)")
	f.StringVar(&g.batch, "batch", "", "only the users of this batch (the users file's batch column)")
	f.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	f.BoolVarP(&g.quiet, "quiet", "q", false, "no progress output, only errors and the final summary")
}

func (g *globalOptions) selection() phase.Selection {
	return phase.Selection{Users: g.users, Batch: g.batch}
}

// logger builds the slog logger for the chosen format; it writes to w,
// and to the run log once there is one.
func (g *globalOptions) logger(w io.Writer) (*slog.Logger, error) {
	h, err := g.stderrHandler(w, false)
	if err != nil {
		return nil, err
	}
	if g.runLog != nil {
		h = teeHandler{h, g.runLog.handler()}
	}
	return slog.New(h), nil
}

// stderrHandler is the slog handler of stderr in the chosen format; all
// of it (not only --quiet's errors) when everything is wanted.
func (g *globalOptions) stderrHandler(w io.Writer, everything bool) (slog.Handler, error) {
	level := slog.LevelInfo
	if g.quiet && !everything {
		level = slog.LevelError
	}
	o := &slog.HandlerOptions{Level: level}
	switch g.logFormat {
	case "text":
		return slog.NewTextHandler(w, o), nil
	case "json":
		return slog.NewJSONHandler(w, o), nil
	}
	return nil, &phase.ConfigError{Key: "--log-format", Msg: fmt.Sprintf("%q: must be text or json", g.logFormat)}
}

// openRunLog starts this run's log when cmd is a command that leaves one.
func (g *globalOptions) openRunLog(cmd *cobra.Command, cfg phase.Config, dir string) error {
	if !loggedCommands[cmd.Name()] || g.runLog != nil {
		return nil
	}
	// A dry run changes nothing anywhere, the project directory included.
	if f := cmd.Flags().Lookup("dry-run"); f != nil && f.Value.String() == "true" {
		return nil
	}
	logsDir := cfg.LogsDir()
	if !filepath.IsAbs(logsDir) {
		logsDir = filepath.Join(dir, logsDir)
	}
	l, err := openRunLog(logsDir, cmd.Name(), g.args, g.selection(), cfg.Logs.Keep)
	if err != nil {
		return err
	}
	g.runLog = l
	return nil
}

// newRootCmd builds the command tree.
func newRootCmd() *cobra.Command { return buildRootCmd(&globalOptions{}) }

// buildRootCmd builds the command tree around g, which holds the global
// flags and, after a run, its log.
func buildRootCmd(g *globalOptions) *cobra.Command {
	root := &cobra.Command{
		Use:   "mailshift",
		Short: "Migrate mailboxes to a new IMAP server in six checkpointed steps",
		Long: `mailshift moves an organisation's mailboxes from an old IMAP server to a new
one in six checkpointed steps, every one of them resumable and recorded in
one SQLite state file:

  mailshift init                       write a commented mailshift.yaml and users.csv
  mailshift collect                    inventory every source and target account
  mailshift approve --show             render the scope of work
  mailshift approve --yes --by NAME    record the approval of this plan
  mailshift test                       migrate and verify the test users, estimate
  mailshift bulk                       copy everything, resumable, exactly once
  mailshift sync                       copy what changed since
  mailshift cutover --yes              final sync, verification, report

and at any time: status, verify, report. "mailshift demo" runs all six steps
against two built-in IMAP servers. A project too large for one station runs
as shards on a scheduler: "mailshift shards N" splits the approved plan,
--shard I/N runs one shard, "mailshift merge" brings the shards' states back.

Configuration comes from mailshift.yaml, MAILSHIFT_* environment variables
(MAILSHIFT_SOURCE_URL, MAILSHIFT_COPY_WORKERS, ...) and flags, in rising
precedence.` + exitStatusHelp,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			g.configSet = cmd.Flags().Changed("config")
			return nil
		},
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see `%s --help`)", err, cmd.CommandPath())}
	})
	g.addFlags(root)
	root.AddCommand(
		newInitCmd(g),
		newCollectCmd(g),
		newApproveCmd(g),
		newTestCmd(g),
		newBulkCmd(g),
		newSyncCmd(g),
		newCutoverCmd(g),
		newStatusCmd(g),
		newVerifyCmd(g),
		newRepairCmd(g),
		newReportCmd(g),
		newForgetCmd(g),
		newDemoCmd(g),
		newVersionCmd(),
	)
	for _, c := range root.Commands() {
		c.Args = cobra.NoArgs
		if c.Long != "" {
			c.Long += "\n" + exitStatusHelp
		}
	}
	for _, c := range []*cobra.Command{newShardsCmd(g), newMergeCmd(g)} {
		c.Long += "\n" + exitStatusHelp
		root.AddCommand(c)
	}
	root.AddCommand(newManCmd())
	setVersionFlag(root)
	addCompletion(root, g)
	return root
}

// configKeys lists every configuration key with its default, so that
// viper knows them all (for MAILSHIFT_* variables and unknown-key checks).
func configKeys() map[string]any {
	keys := map[string]any{}
	collectKeys(reflect.ValueOf(phase.Defaults()), "", keys)
	return keys
}

// collectKeys walks a configuration struct by its mapstructure tags and
// records every leaf key ("copy.workers") with its default value, so that
// the list of keys cannot drift from phase.Config.
func collectKeys(v reflect.Value, prefix string, keys map[string]any) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("mapstructure")
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		key := prefix + tag
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct {
			collectKeys(fv, key+".", keys)
			continue
		}
		switch f.Type.Kind() {
		case reflect.Slice:
			if fv.IsNil() {
				fv = reflect.MakeSlice(f.Type, 0, 0)
			}
		case reflect.Map:
			if fv.IsNil() {
				fv = reflect.MakeMap(f.Type)
			}
		}
		keys[key] = fv.Interface()
	}
}

// loadConfig reads the configuration file and the environment into a
// validated Config.
func (g *globalOptions) loadConfig() (phase.Config, string, error) {
	v := viper.New()
	for k, val := range configKeys() {
		v.SetDefault(k, val)
	}
	v.SetEnvPrefix("MAILSHIFT")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	v.SetConfigFile(g.configFile)
	v.SetConfigType("yaml")
	dir := filepath.Dir(g.configFile)
	if err := v.ReadInConfig(); err != nil {
		var pathErr *fs.PathError
		switch {
		case errors.As(err, &pathErr) && errors.Is(err, fs.ErrNotExist):
			if g.configSet || os.Getenv("MAILSHIFT_SOURCE_URL") == "" {
				return phase.Config{}, "", &phase.ConfigError{Key: "--config", Msg: fmt.Sprintf("%s not found; run `mailshift init` to write one, or pass --config PATH", g.configFile)}
			}
			dir = "."
		default:
			return phase.Config{}, "", &phase.ConfigError{Key: g.configFile, Msg: fmt.Sprintf("cannot read the configuration: %v", err)}
		}
	}
	cs := newConfigSource(v.ConfigFileUsed())
	known := configKeys()
	var unknown []string
	for _, k := range v.AllKeys() {
		if _, ok := known[k]; !ok && !strings.HasPrefix(k, "folders.map.") {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.SortFunc(unknown, func(a, b string) int { return cs.line(a) - cs.line(b) })
		return phase.Config{}, "", cs.unknownKey(unknown[0], known)
	}
	cfg := phase.Defaults()
	err := v.Unmarshal(&cfg, func(dc *mapstructure.DecoderConfig) {
		dc.ErrorUnused = true
		dc.WeaklyTypedInput = false
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToSliceHookFunc(","),
			stringToNumberHook,
			numberToSampleHook,
		)
	})
	if err != nil {
		return cfg, "", cs.decodeError(err)
	}
	if m, err := folderMap(v.ConfigFileUsed()); err != nil {
		return cfg, "", err
	} else if m != nil {
		cfg.Folders.Map = m
	}
	if err := backends(cfg, dir).Validate(); err != nil {
		return cfg, "", cs.placeErr(err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, "", cs.placeErr(err)
	}
	return cfg, dir, nil
}

// internal/endpoint opens the mailboxes phase asks for, and names the
// servers throttle.max_connections counts.
var (
	_ phase.Backends    = endpoint.Pair{}
	_ phase.ServerNamer = endpoint.Pair{}
)

// backends wires the project's endpoints to phase: internal/endpoint
// opens every user's mailboxes, relative paths under the project
// directory dir.
func backends(cfg phase.Config, dir string) endpoint.Pair {
	return endpoint.Pair{
		Source:        endpoint.Settings(cfg.Source),
		Target:        endpoint.Settings(cfg.Target),
		AllowInsecure: cfg.AllowInsecure,
		Dir:           dir,
		Gmail:         endpoint.Gmail{Labels: cfg.Gmail.Labels, ArchiveFolder: cfg.Gmail.ArchiveFolder},
	}
}

// configFileUsed is the configuration file read, "" if there was none.
func (g *globalOptions) configFileUsed() string {
	if _, err := os.Stat(g.configFile); err != nil {
		return ""
	}
	return g.configFile
}

// plaintextSecretsIn lists the keys of the configuration file itself (not
// the environment) that hold a secret in plain text.
func plaintextSecretsIn(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var doc struct {
		Source, Target struct {
			Token          string       `yaml:"token"`
			MasterPassword string       `yaml:"master_password"`
			OAuth          oauth.Config `yaml:"oauth"`
		}
	}
	if yaml.Unmarshal(b, &doc) != nil {
		return nil
	}
	cfg := phase.Config{
		Source: phase.Endpoint{Token: doc.Source.Token, MasterPassword: doc.Source.MasterPassword, OAuth: doc.Source.OAuth},
		Target: phase.Endpoint{Token: doc.Target.Token, MasterPassword: doc.Target.MasterPassword, OAuth: doc.Target.OAuth},
	}
	return cfg.PlaintextSecrets()
}

// folderMap reads folders.map from the file again: viper folds keys to
// lower case, and folder names are case-sensitive.
func folderMap(path string) (map[string]string, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil // no file: nothing to re-read
	}
	var doc struct {
		Folders struct {
			Map map[string]string `yaml:"map"`
		} `yaml:"folders"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, &phase.ConfigError{Key: "folders.map", Msg: fmt.Sprintf("%s: %v", path, err)}
	}
	return doc.Folders.Map, nil
}

// stringToNumberHook lets MAILSHIFT_* variables (always strings) set
// numbers and booleans, while a config file's wrong types still fail.
func stringToNumberHook(from, to reflect.Type, data any) (any, error) {
	s, ok := data.(string)
	if !ok || from.Kind() != reflect.String {
		return data, nil
	}
	switch to.Kind() {
	case reflect.Int, reflect.Int64:
		var n int64
		if _, err := fmt.Sscan(s, &n); err != nil {
			return nil, fmt.Errorf("%q is not a whole number", s)
		}
		return n, nil
	case reflect.Float64:
		var f float64
		if _, err := fmt.Sscan(s, &f); err != nil {
			return nil, fmt.Errorf("%q is not a number", s)
		}
		return f, nil
	case reflect.Bool:
		switch strings.ToLower(s) {
		case "true", "1", "yes":
			return true, nil
		case "false", "0", "no", "":
			return false, nil
		}
		return nil, fmt.Errorf("%q is not true or false", s)
	}
	return data, nil
}

// openProject loads config, users and state for a step.
func (g *globalOptions) openProject(cmd *cobra.Command) (*phase.Project, func(), error) {
	cfg, dir, err := g.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	if _, err := g.stderrHandler(io.Discard, false); err != nil {
		return nil, nil, err
	}
	usersFile := cfg.Users.File
	if !filepath.IsAbs(usersFile) {
		usersFile = filepath.Join(dir, usersFile)
	}
	rows, warnings, err := users.Load(usersFile, cfg.ExtraColumns()...)
	if errors.Is(err, fs.ErrNotExist) {
		err = newConfigSource(g.configFileUsed()).place("users.file", &phase.ConfigError{Key: "users.file",
			Msg: fmt.Sprintf("%s not found; write one (source_user,source_password,target_user,target_password,batch), run `mailshift init`, or name it with users.file", usersFile)})
	}
	if err != nil {
		return nil, nil, err
	}
	if err := backends(cfg, dir).ValidateUsers(rows); err != nil {
		return nil, nil, newConfigSource(g.configFileUsed()).placeErr(err)
	}
	if len(rows) == 0 {
		return nil, nil, &phase.ConfigError{Key: "users.file", Msg: fmt.Sprintf("%s lists no users", usersFile)}
	}
	// The configuration and the users file are sound: the run starts, and
	// leaves its log from here on (a locked state file included).
	if err := g.openRunLog(cmd, cfg, dir); err != nil {
		return nil, nil, err
	}
	// The progress renderer owns the terminal: log lines and the
	// command's output go through it.
	prog := newProgress(cmd.ErrOrStderr(), g.quiet, g.logFormat == "json")
	log, err := g.logger(prog.Stderr())
	if err != nil {
		return nil, nil, err
	}
	prog.setLog(log)
	cmd.SetOut(prog.Stdout(cmd.OutOrStdout()))
	for _, w := range warnings {
		log.Warn(w)
	}
	if f := g.configFileUsed(); f != "" {
		if w := users.ExposedSecretsWarning(f, plaintextSecretsIn(f)); w != "" {
			log.Warn(w)
		}
	}
	sh, err := g.shardOf(cmd, cfg)
	if err != nil {
		return nil, nil, err
	}
	var store *state.Store
	if sh != nil {
		store, err = g.openShardState(cmd, sh)
	} else {
		store, err = g.openState(cmd)
	}
	if err != nil {
		return nil, nil, err
	}
	var progress phase.Progress = prog
	if g.runLog != nil {
		progress = loggedProgress{Progress: prog, l: g.runLog}
	}
	p := &phase.Project{Config: cfg, Users: rows, Store: store, Dir: dir, Backends: backends(cfg, dir), Progress: progress, Log: log}
	if err := g.startShard(p, sh); err != nil {
		prog.Close()
		store.Close()
		return nil, nil, err
	}
	return p, func() { prog.Close(); store.Close() }, nil
}

// withProject wraps a command's body: the project is opened before it and
// closed after it.
func (g *globalOptions) withProject(fn func(cmd *cobra.Command, p *phase.Project) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		p, done, err := g.openProject(cmd)
		if err != nil {
			return err
		}
		defer done()
		return errShardEmpty(cmd, fn(cmd, p))
	}
}
