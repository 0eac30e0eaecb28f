package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Stamped at release time by GoReleaser with
// -X main.version=... -X main.commit=... -X main.date=...; empty or "dev"
// in a plain `go build` or `go install`, where the module version and the
// VCS information Go records in the binary take their place.
var (
	version = "dev"
	commit  = ""
	date    = ""
)

// buildInfo says which mailshift this is.
type buildInfo struct {
	Version   string // release version ("1.4.0"), module version ("v1.4.0"), or "dev"
	Commit    string // VCS revision, "" when not known
	Modified  bool   // built from a work tree with uncommitted changes
	Date      string // commit or build time (RFC 3339), "" when not known
	GoVersion string // the Go release that built it
	Platform  string // GOOS/GOARCH
}

// currentBuild describes the running binary.
func currentBuild() buildInfo {
	bi, _ := debug.ReadBuildInfo()
	return resolveBuild(version, commit, date, bi)
}

// resolveBuild prefers what the release stamped (ldflags) and falls back
// to what the Go toolchain recorded: the module version for `go install
// module@version`, vcs.revision, vcs.time and vcs.modified for `go build`
// in a checkout. bi may be nil.
func resolveBuild(stampVersion, stampCommit, stampDate string, bi *debug.BuildInfo) buildInfo {
	b := buildInfo{
		Version:   stampVersion,
		Commit:    stampCommit,
		Date:      stampDate,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	if bi == nil {
		return b
	}
	if bi.GoVersion != "" {
		b.GoVersion = bi.GoVersion
	}
	if b.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		b.Version = bi.Main.Version
	}
	if b.Commit != "" {
		return b
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.time":
			if b.Date == "" {
				b.Date = s.Value
			}
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// String is what `mailshift version` and `mailshift --version` print.
func (b buildInfo) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "mailshift %s\n", b.Version)
	c := b.Commit
	if c == "" {
		c = "unknown"
	}
	if b.Modified {
		c += " (with uncommitted changes)"
	}
	fmt.Fprintf(&s, "  commit: %s\n", c)
	d := b.Date
	if d == "" {
		d = "unknown"
	}
	fmt.Fprintf(&s, "  date:   %s\n", d)
	fmt.Fprintf(&s, "  go:     %s %s\n", b.GoVersion, b.Platform)
	return s.String()
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, build date and Go version",
		Long: `Prints the version of mailshift, the commit it was built from, the commit's
date and the Go release and platform it was built with. A release binary
carries what the release stamped into it; one built with "go build" or
"go install" what the Go toolchain recorded (module version, VCS revision
and time). "mailshift --version" prints the same.`,
		Example: `  mailshift version
  mailshift --version`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return printVersion(cmd.OutOrStdout())
		},
	}
}

func printVersion(w io.Writer) error {
	_, err := io.WriteString(w, currentBuild().String())
	return err
}

// setVersionFlag gives root a --version flag that prints what `version`
// prints.
func setVersionFlag(root *cobra.Command) {
	root.Version = currentBuild().String()
	root.SetVersionTemplate("{{.Version}}")
}
