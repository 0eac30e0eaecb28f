package main

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mailshift/mailshift/phase"
	"github.com/mailshift/mailshift/state"
)

// stateAccessKey is the command annotation saying how a command opens the
// state: "read" for readers (status, report, verify), which run beside a
// writer; writers have none.
const stateAccessKey = "mailshift/state"

// withReader is withProject for a command that only reads the state: it
// opens it with state.OpenReader, without the writers' lock, so that it
// works while bulk, sync --follow or cutover runs, and never writes it.
func (g *globalOptions) withReader(fn func(cmd *cobra.Command, p *phase.Project) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if cmd.Annotations == nil {
			cmd.Annotations = map[string]string{}
		}
		cmd.Annotations[stateAccessKey] = "read"
		return g.withProject(fn)(cmd, args)
	}
}

// openState opens the state file as cmd needs it: for reading beside a
// running writer, or for writing under the writers' lock, recording the
// command line for a second writer to be told.
func (g *globalOptions) openState(cmd *cobra.Command) (*state.Store, error) {
	switch cmd.Annotations[stateAccessKey] {
	case "read":
		return state.OpenReader(g.stateFile)
	case "record":
		return state.OpenRecorder(g.stateFile)
	}
	return state.OpenAs(g.stateFile, commandLine(cmd))
}

// withRecorder is withProject for verify: it reads the state beside any
// running writer, never taking or heeding the writers' lock, and records
// what it verified for the next verification to start from.
func (g *globalOptions) withRecorder(fn func(cmd *cobra.Command, p *phase.Project) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if cmd.Annotations == nil {
			cmd.Annotations = map[string]string{}
		}
		cmd.Annotations[stateAccessKey] = "record"
		return g.withProject(fn)(cmd, args)
	}
}

// commandLine is how a person would have typed cmd: the command path and
// the flags given, with their values. No flag of mailshift takes a secret
// (passwords come from the users file or the environment); a flag that
// some day does must be annotated secretFlag, and its value is left out.
func commandLine(cmd *cobra.Command) string {
	parts := []string{cmd.CommandPath()}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		parts = append(parts, "--"+f.Name)
		if _, secret := f.Annotations[secretFlag]; secret {
			parts = append(parts, "…")
			return
		}
		if f.Value.Type() == "bool" && f.Value.String() == "true" {
			return
		}
		v := f.Value.String()
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			v = strings.Join(sv.GetSlice(), ",")
		}
		if v == "" || strings.ContainsAny(v, " \t\"'`\\$") {
			v = strconv.Quote(v)
		}
		parts = append(parts, v)
	})
	return strings.Join(parts, " ")
}

// secretFlag is the pflag annotation of a flag whose value must never be
// recorded (see commandLine).
const secretFlag = "mailshift/secret"
