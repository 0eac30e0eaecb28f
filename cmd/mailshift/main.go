// Command mailshift moves an organisation's mailboxes from old mail systems
// to a new IMAP server in six checkpointed steps: collect, approve, test,
// bulk, sync, cutover.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/mailshift/mailshift/internal/endpoint"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/phase"
	"github.com/mailshift/mailshift/state"
)

// Exit codes, the same for every command.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitOutOfOrder  = 3
	exitPartial     = 4
	exitDifferences = 5
	exitState       = 10
	exitInterrupted = 130
)

// memoryLimit is the soft limit of the Go heap (unless GOMEMLIMIT says
// otherwise): the copy engine holds at most 64 MiB of messages at
// once (phase's arenas), and collecting garbage before the heap doubles
// keeps a migration station's memory flat. It is soft: a larger message
// still fits.
const memoryLimit = 96 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopProfiles := startProfiles()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stopProfiles()
	os.Exit(code)
}

// run executes one command line and returns its exit code. The error a
// command ends with is written once, to stderr (as JSON with --log-format
// json), and into the run log with the run's summary.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globalOptions{args: args}
	root := buildRootCmd(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err != nil && strings.HasPrefix(err.Error(), "unknown command ") {
		err = usageError{err} // cobra's own, untyped
	}
	code := exitCode(err)
	if err != nil && ctx.Err() != nil {
		code = exitInterrupted
		err = fmt.Errorf("interrupted; progress so far is saved, run the same command again to continue")
	}
	if err != nil {
		if g.logFormat == "json" {
			slog.New(slog.NewJSONHandler(stderr, nil)).Error(err.Error(), errorAttrs(code, err)...)
		} else {
			fmt.Fprintln(stderr, "mailshift:", err)
		}
	}
	if l := g.runLog; l != nil {
		l.finish(code, err)
		if g.logFormat == "json" {
			if h, herr := g.stderrHandler(stderr, true); herr == nil {
				slog.New(h).Info("run finished", append(l.summary(code), "log", l.path)...)
			}
		}
	}
	return code
}

// usageError marks an error in the command line itself.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitCode maps an error to the documented exit codes.
func exitCode(err error) int {
	var cfgErr *phase.ConfigError
	var keyErr *endpoint.KeyError
	var usersErr *users.Error
	var uErr usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &cfgErr), errors.As(err, &keyErr), errors.As(err, &usersErr), errors.As(err, &uErr):
		return exitUsage
	case errors.Is(err, state.ErrLocked), errors.Is(err, state.ErrCorrupt), errors.Is(err, state.ErrNewerVersion):
		return exitState
	case errors.Is(err, phase.ErrOutOfOrder):
		return exitOutOfOrder
	case errors.Is(err, phase.ErrDifferences):
		return exitDifferences
	case errors.Is(err, phase.ErrPartial):
		return exitPartial
	case errors.Is(err, phase.ErrUnreachable):
		return exitFailed
	}
	return exitFailed
}

const exitStatusHelp = `
EXIT STATUS
  0    done, nothing failed
  1    failed: no user got through to the servers (every one failed on the
       connection or its settings), or the state or disk failed
  2    usage or configuration error (the message says which key or row)
  3    out of order: no selected user has the step's prerequisites (not
       collected, not approved, plan changed, bulk not done, already cut
       over), or the project has not (no passed test for bulk)
  4    finished, but some users or messages failed (one user's own failure,
       such as a wrong password, or some users got through), or some users
       were left out waiting for a prerequisite (see status / report)
  5    verification found differences
  10   the state file is locked by another run, corrupt, or from a newer version
  130  interrupted; progress so far is saved
`

// errorAttrs are the fields of the JSON record of the error a run ended
// with: its exit code and class, and for a configuration mistake the key
// and where it was made.
func errorAttrs(code int, err error) []any {
	attrs := []any{"exit_code", code, "class", errorClass(code, err)}
	var placed *placedError
	if errors.As(err, &placed) {
		attrs = append(attrs, "where", placed.where)
	}
	var cfgErr *phase.ConfigError
	var keyErr *endpoint.KeyError
	switch {
	case errors.As(err, &keyErr):
		attrs = append(attrs, "key", keyErr.Key)
	case errors.As(err, &cfgErr) && cfgErr.Key != "":
		attrs = append(attrs, "key", cfgErr.Key)
	}
	return attrs
}
