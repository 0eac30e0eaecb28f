package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/phase"
)

// reportFormats are the values of `report --format`, with what each is for.
var reportFormats = []string{
	"md\tMarkdown, for a ticket or a wiki",
	"html\ta page to send or print",
	"csv\tone row per user, for a spreadsheet",
	"json\tstable machine-readable form",
}

// logFormats are the values of --log-format.
var logFormats = []string{
	"text\tkey=value lines",
	"json\tone JSON object per line",
}

// addCompletion adds `mailshift completion bash|zsh|fish|powershell` and
// teaches the completions the values of the flags: the report and log
// formats, and the users and batches of the project's users file.
// Commands take no arguments, so nothing but flags is offered after them.
func addCompletion(root *cobra.Command, g *globalOptions) {
	must := func(err error) {
		if err != nil {
			panic(fmt.Sprintf("shell completion: %v", err)) // a flag was renamed
		}
	}
	must(root.RegisterFlagCompletionFunc("log-format", fixedValues(logFormats)))
	must(root.RegisterFlagCompletionFunc("users", g.completeUsers))
	must(root.RegisterFlagCompletionFunc("batch", g.completeBatches))
	must(root.MarkPersistentFlagFilename("config", "yaml", "yml"))
	must(root.MarkPersistentFlagFilename("state", "db"))
	root.AddCommand(newCompletionCmd())
	visit(root, func(c *cobra.Command) {
		if c != root && c.ValidArgsFunction == nil && len(c.ValidArgs) == 0 {
			c.ValidArgsFunction = cobra.NoFileCompletions
		}
		if c.Name() == "report" && c.Flags().Lookup("format") != nil {
			must(c.RegisterFlagCompletionFunc("format", fixedValues(reportFormats)))
		}
		if c.Flags().Lookup("output") != nil {
			must(c.MarkFlagFilename("output"))
		}
		if c.Flags().Lookup("dir") != nil {
			must(c.MarkFlagDirname("dir"))
		}
	})
}

// completionExample shows how to load the completions in each shell; the
// release archives carry the same scripts in completions/.
const completionExample = `  # bash: in this shell, or for every shell from now on
  source <(mailshift completion bash)
  mailshift completion bash > /etc/bash_completion.d/mailshift

  # zsh, fish, PowerShell
  mailshift completion zsh > "${fpath[1]}/_mailshift"
  mailshift completion fish > ~/.config/fish/completions/mailshift.fish
  mailshift completion powershell | Out-String | Invoke-Expression`

// newCompletionCmd replaces cobra's default completion command, which
// binds its output when it is made rather than when it runs.
func newCompletionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "completion",
		Short: "Write the shell completion script for bash, zsh, fish or PowerShell",
		Long: `Writes the script that makes the shell complete mailshift's commands and
flags, and the values of --format, --log-format, --batch and --users (the
last two from the project's users file, read where --config points). The
release archives carry the scripts in completions/.`,
		Example: completionExample,
		Args:    cobra.NoArgs,
	}
	var noDesc bool
	cmd.PersistentFlags().BoolVar(&noDesc, "no-descriptions", false, "leave out the descriptions of the values offered")
	for _, sh := range []struct {
		name string
		gen  func(root *cobra.Command, w io.Writer) error
	}{
		{"bash", func(root *cobra.Command, w io.Writer) error { return root.GenBashCompletionV2(w, !noDesc) }},
		{"zsh", func(root *cobra.Command, w io.Writer) error {
			if noDesc {
				return root.GenZshCompletionNoDesc(w)
			}
			return root.GenZshCompletion(w)
		}},
		{"fish", func(root *cobra.Command, w io.Writer) error { return root.GenFishCompletion(w, !noDesc) }},
		{"powershell", func(root *cobra.Command, w io.Writer) error {
			if noDesc {
				return root.GenPowerShellCompletion(w)
			}
			return root.GenPowerShellCompletionWithDesc(w)
		}},
	} {
		cmd.AddCommand(&cobra.Command{
			Use:               sh.name,
			Short:             "Write the completion script for " + sh.name,
			Args:              cobra.NoArgs,
			ValidArgsFunction: cobra.NoFileCompletions,
			RunE: func(c *cobra.Command, args []string) error {
				return sh.gen(c.Root(), c.OutOrStdout())
			},
		})
	}
	return cmd
}

// fixedValues completes a flag from a fixed list ("value\tdescription").
func fixedValues(values []string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeUsers offers the source users of the users file for --users,
// which takes a comma-separated list: the part before the last comma is
// kept, and users already named there are not offered again.
func (g *globalOptions) completeUsers(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	done, _ := cutLast(toComplete, ",")
	chosen := map[string]bool{}
	for u := range strings.SplitSeq(done, ",") {
		chosen[u] = true
	}
	prefix := ""
	if done != "" {
		prefix = done + ","
	}
	var out []cobra.Completion
	for _, r := range g.usersForCompletion() {
		if chosen[r.SourceUser] || chosen[r.TargetUser] {
			continue
		}
		desc := "to " + r.TargetUser
		if r.Batch != "" {
			desc += ", batch " + r.Batch
		}
		out = append(out, cobra.CompletionWithDesc(prefix+r.SourceUser, desc))
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

// completeBatches offers the batches of the users file for --batch.
func (g *globalOptions) completeBatches(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	count := map[string]int{}
	for _, r := range g.usersForCompletion() {
		if r.Batch != "" {
			count[r.Batch]++
		}
	}
	batches := make([]string, 0, len(count))
	for b := range count {
		batches = append(batches, b)
	}
	slices.Sort(batches)
	out := make([]cobra.Completion, 0, len(batches))
	for _, b := range batches {
		out = append(out, cobra.CompletionWithDesc(b, fmt.Sprintf("%d users", count[b])))
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// usersForCompletion reads the project's users file for completion: only
// reading, resolving no password, and quietly nothing when the file
// cannot be found or read. The file is found as loadConfig finds it
// (users.file in the configuration file, relative to it, or
// MAILSHIFT_USERS_FILE) without checking the rest of the configuration,
// which may still be half written. The state is not opened: opening it
// takes the lock a running step holds, and a selection is made from the
// users file anyway.
func (g *globalOptions) usersForCompletion() []users.Row {
	path := usersFileOf(g.configFile)
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	rows, _ := users.Parse(path, f)
	slices.SortStableFunc(rows, func(a, b users.Row) int { return cmp.Compare(a.SourceUser, b.SourceUser) })
	return rows
}

// usersFileOf is the path of the users file that the configuration file
// at configFile names.
func usersFileOf(configFile string) string {
	file := phase.Defaults().Users.File
	if b, err := os.ReadFile(configFile); err == nil {
		var doc struct {
			Users struct {
				File string `yaml:"file"`
			} `yaml:"users"`
		}
		if yaml.Unmarshal(b, &doc) == nil && doc.Users.File != "" {
			file = doc.Users.File
		}
	}
	if v := os.Getenv("MAILSHIFT_USERS_FILE"); v != "" {
		file = v
	}
	if filepath.IsAbs(file) {
		return file
	}
	return filepath.Join(filepath.Dir(configFile), file)
}

// cutLast splits s around the last sep; before is "" when there is none.
func cutLast(s, sep string) (before, after string) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):]
	}
	return "", s
}
