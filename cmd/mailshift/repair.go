package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mailshift/mailshift/phase"
)

// repairOptions are the flags of `mailshift repair`.
type repairOptions struct {
	dryRun bool
	force  bool
	extra  bool
	json   bool
}

func (o *repairOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "list what repair would do and change nothing")
	cmd.Flags().BoolVar(&o.force, "force", false, "remove messages beyond sync.max_delete of a target folder")
	cmd.Flags().BoolVar(&o.extra, "remove-extra", false, "under sync.deletions: mirror, also remove target messages no copy claims (mail delivered to the target is one of them)")
	cmd.Flags().BoolVar(&o.json, "json", false, "machine-readable output")
}

func newRepairCmd(g *globalOptions) *cobra.Command {
	o := &repairOptions{}
	cmd := &cobra.Command{
		Use:   "repair",
		Short: "Make the target match what verification finds",
		Example: `  # what would be done for one user, changing nothing
  mailshift repair --dry-run --users bob
  # do it, then cut the user over
  mailshift repair --users bob
  mailshift cutover --yes --users bob
  # under sync.deletions: mirror, also remove what only the target holds
  mailshift repair --remove-extra --batch wave1`,
		Long: `Verifies the selected users (all, --users, --batch) as verify does, then
makes each target match its source: copies again what is missing or gone
from the target, or whose size, internal date or content differs (under
sync.deletions: mirror removing the wrong copy); settles copies a crash left
unfinished; tries messages the target refused again; sets flags that differ
to the source's; and with --remove-extra under sync.deletions: mirror
removes target messages that no copy claims (never more than
sync.max_delete percent of a folder without --force). Without it they are
only counted, by verify too: they may be mail delivered to the target. Then it verifies again and reports what it did and what
is left. Each difference is named by its folder, subject, date and size,
with what repair does about it.

Like sync it needs bulk copy done for the user under an approved plan, and
leaves users cut over alone; the others are named with what they need first.
--dry-run lists what it would do and changes nothing, on either server or in
the state. Exit 0 when every repaired user verifies clean, 5 when
differences are left (or, with --dry-run, found), 4 when some users failed.`,
		RunE: g.withProject(func(cmd *cobra.Command, p *phase.Project) error {
			return runRepair(cmd, p, phase.RepairOptions{Selection: g.selection(), DryRun: o.dryRun, Force: o.force, RemoveExtra: o.extra}, o.json)
		}),
	}
	o.addFlags(cmd)
	g.addShardFlags(cmd)
	return cmd
}

func runRepair(cmd *cobra.Command, p *phase.Project, opts phase.RepairOptions, asJSON bool) error {
	res, err := phase.Repair(cmd.Context(), p, opts)
	if asJSON {
		if jerr := writeJSON(cmd.OutOrStdout(), res); jerr != nil {
			return jerr
		}
		return err
	}
	fmt.Fprint(cmd.OutOrStdout(), phase.RenderRepair(res))
	return err
}
