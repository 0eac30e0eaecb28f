package mailfile

import (
	"slices"

	"github.com/mailshift/mailshift/source"
)

// ListFolders lists the folders of a file tree in listing order (INBOX
// first): a folder noSelect says is only a hierarchy node is listed as
// such, the others as list counts them.
func ListFolders[T any](all map[string]T, noSelect func(T) bool, list func(name string, f T) (source.Folder, error)) ([]source.Folder, error) {
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	slices.SortFunc(names, FolderOrder)
	out := make([]source.Folder, 0, len(names))
	for _, n := range names {
		if noSelect != nil && noSelect(all[n]) {
			out = append(out, source.Folder{Name: n, NoSelect: true})
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
