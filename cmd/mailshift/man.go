package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

type manOptions struct {
	dir string
}

// newManCmd builds the hidden command that writes the manual pages. It
// lives in the binary rather than in a program of its own because the
// command tree is built in package main, which nothing else can import;
// the pages are made from the same tree the binary runs.
func newManCmd() *cobra.Command {
	o := &manOptions{}
	cmd := &cobra.Command{
		Use:    "man",
		Short:  "Write the manual pages (section 1) for every command",
		Hidden: true,
		Args:   cobra.NoArgs,
		Long: `Writes a manual page in section 1 for mailshift and for each of its commands
(mailshift.1, mailshift-collect.1, ...) into --dir, which is created if
needed. The release archives carry them; SOURCE_DATE_EPOCH, when set, gives
their date.`,
		Example: `  mailshift man --dir man/man1
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) mailshift man --dir dist/man`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return writeManPages(cmd.Root(), o.dir)
		},
	}
	cmd.Flags().StringVar(&o.dir, "dir", "man", "directory to write the pages to")
	cmd.MarkFlagDirname("dir")
	return cmd
}

// writeManPages writes one page per available command of root into dir.
func writeManPages(root *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	visit(root, func(c *cobra.Command) { c.DisableAutoGenTag = true })
	header := &doc.GenManHeader{
		Section: "1",
		Source:  "mailshift " + currentBuild().Version,
		Manual:  "mailshift manual",
	}
	if err := doc.GenManTree(root, header, dir); err != nil {
		return fmt.Errorf("man pages in %s: %w", dir, err)
	}
	return nil
}

// visit calls fn for c and every command below it.
func visit(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		visit(sub, fn)
	}
}
