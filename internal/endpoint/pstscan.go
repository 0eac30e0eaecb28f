package endpoint

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/source/pstscan"
	"github.com/mailshift/mailshift/state"
)

// openScanned is the pstscan: backend's Source: its files are found by
// collect and assigned to users, so a user's source is opened with
// Pair.OpenFiles; opening one by URL alone is a mistake of the program.
func openScanned(_ context.Context, a Account) (source.Source, error) {
	return nil, mailbox.Mark(mailbox.ErrConfig, fmt.Errorf("%s %s: a pstscan: source is opened with the files collect assigned to the user", a.Key, a.User))
}

// ScansFiles tells whether the source is PST files found by a scan
// (pstscan:PATH[,PATH...]).
func (p Pair) ScansFiles() bool {
	b, ok := lookup(p.Source.URL)
	return ok && b.Scheme == "pstscan"
}

// roots are a pstscan: URL's directory trees, absolute (a relative one is
// under the project directory), so that files are recorded by absolute
// paths that path rules and the owners file can name.
func (p Pair) roots() []string {
	roots := pstscan.Roots(localPath(p.Source.URL))
	for i, r := range roots {
		if !filepath.IsAbs(r) && p.Dir != "" {
			r = filepath.Join(p.Dir, r)
		}
		if abs, err := filepath.Abs(r); err == nil {
			r = abs
		}
		roots[i] = r
	}
	return roots
}

// ScanFiles finds the PST files under the pstscan: source's roots and
// inspects each. Directories and files it could not look into are
// returned as files with an Error.
func (p Pair) ScanFiles(ctx context.Context) ([]state.PSTFile, error) {
	if !p.ScansFiles() {
		return nil, &KeyError{"source.url", fmt.Sprintf("%q: not a pstscan: source", p.Source.URL)}
	}
	found, problems, err := pstscan.Scan(ctx, p.roots())
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		return nil, mailbox.Mark(mailbox.ErrConfig, fmt.Errorf("source.url: %w; name directories that exist", err))
	}
	out := make([]state.PSTFile, len(found))
	for i, f := range found {
		out[i] = state.PSTFile{Path: f.Path, Record: f.Record, Error: f.Error}
	}
	for _, pr := range problems {
		out = append(out, state.PSTFile{Path: pr.Path, Error: pr.Reason})
	}
	return out, nil
}

// OpenFiles opens the PST files at paths as r's source: each file's
// folders under a folder named after it, or merged (source.pst_folders).
func (p Pair) OpenFiles(_ context.Context, r users.Row, paths []string) (source.Source, error) {
	s, err := pstscan.Open(paths, p.Source.PSTFolders == "merge")
	if err != nil {
		return nil, mailbox.Mark(mailbox.ErrConfig, fmt.Errorf("source %s: %w", r.SourceUser, err))
	}
	return s, nil
}
