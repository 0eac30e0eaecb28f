package mailfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/source"
)

// ListFolders lists the folders of a file tree in listing order (INBOX
// first): a folder noSelect says is only a hierarchy node is listed as
// such, the others as list counts them.
func ListFolders[T any](all map[string]T, noSelect func(T) bool, list func(name string, f T) (mailbox.Folder, error)) ([]mailbox.Folder, error) {
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	slices.SortFunc(names, FolderOrder)
	out := make([]mailbox.Folder, 0, len(names))
	for _, n := range names {
		if noSelect != nil && noSelect(all[n]) {
			out = append(out, mailbox.Folder{Name: n, NoSelect: true})
			continue
		}
		f, err := list(n, all[n])
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// MaxDepth bounds a walk over nested folder directories (a symbolic link
// loop ends there).
const MaxDepth = 40

// UnwrapPath drops the path from an *fs.PathError: the Skip names it.
func UnwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ReadFolderDir reads the entries of a folder directory met at depth in a
// walk over a kind ("maildir", "mbox", ...) of tree. The root that cannot
// be read is an error; a directory below it that cannot be read, or that
// lies deeper than MaxDepth, is recorded in skips and yields no entries.
func ReadFolderDir(kind, dir string, depth int, skips *[]source.Skip) ([]os.DirEntry, error) {
	if depth > MaxDepth {
		*skips = append(*skips, source.Skip{Item: dir, Reason: fmt.Sprintf("folders nested deeper than %d levels: not read", MaxDepth)})
		return nil, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		if depth == 0 {
			return nil, fmt.Errorf("%s %s: %w", kind, dir, err)
		}
		*skips = append(*skips, source.Skip{Item: dir, Reason: fmt.Sprintf("cannot read directory: %v", UnwrapPath(err))})
		return nil, nil
	}
	return ents, nil
}

// IsDir reports whether e (in dir) is a directory, following a symbolic
// link.
func IsDir(dir string, e fs.DirEntry) bool {
	if e.IsDir() {
		return true
	}
	if e.Type()&fs.ModeSymlink == 0 {
		return false
	}
	fi, err := os.Stat(filepath.Join(dir, e.Name()))
	return err == nil && fi.IsDir()
}

// Canonical spells INBOX in capitals, whatever the case asked for.
func Canonical(folder string) string {
	if strings.EqualFold(folder, "INBOX") {
		return "INBOX"
	}
	return folder
}
