package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailshift/mailshift/phase"
)

type forgetOptions struct {
	yes bool
}

func newForgetCmd(g *globalOptions) *cobra.Command {
	o := &forgetOptions{}
	cmd := &cobra.Command{
		Use:   "forget --users a,b --yes",
		Short: "Delete the state of users removed from the users file",
		Long: `A user removed from the users file leaves the scope of work, status and
the reports at once, but what the state knows about it is kept: put the
row back and the user carries on where it stopped. forget deletes that
state for good: the users' progress, inventory, problems, per-message
pairs, sync cursors, skipped folders and cutover records. It never touches
a server: what was copied stays on the target. Approvals and test runs
that name the users are kept as they were signed.

It refuses a user still in the users file (remove the row first) and a
name the state does not know (the message lists the users the state holds
that are not in the users file). --yes is required.`,
		Example: `  mailshift forget                          # lists the users it could forget
  mailshift forget --users carol,dave --yes`,
		RunE: g.withProject(func(cmd *cobra.Command, p *phase.Project) error {
			res, err := phase.Forget(p, phase.ForgetOptions{Users: g.users, Yes: o.yes})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "forgot %s (%d copied messages no longer tracked; the servers were not touched)\n", strings.Join(res.Users, ", "), res.Copied)
			return nil
		}),
	}
	cmd.Flags().BoolVar(&o.yes, "yes", false, "confirm: delete the named users' state")
	return cmd
}
