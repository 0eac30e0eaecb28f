package phase

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/mailshift/mailshift/internal/mapping"
	"github.com/mailshift/mailshift/state"
	"github.com/mailshift/mailshift/target"
)

// foreseeHierarchy finds the source folders that hold messages and have
// subfolders where the target cannot hold such a folder: a server that
// stores each folder as a file (Dovecot with mbox storage) makes a folder
// either hold mail or hold folders. The target is asked only when the plan
// has such a folder, by creating a probe folder and a child under it, and
// deleting both.
func (p *Project) foreseeHierarchy(ctx context.Context, dst target.Target, r string, src, dstAcct *state.Account) []state.Problem {
	delim := dstAcct.Description.Delimiter
	plan, err := p.mapFolders(src.Description, src.Folders, dstAcct.Description, dstAcct.Folders)
	if err != nil || delim == 0 {
		return nil
	}
	type parent struct {
		e        mapping.Entry
		messages uint32
		children []string // source paths, "/" as separator, of the direct subfolders
	}
	var both []parent
	for _, e := range plan {
		f, ok := findFolder(src.Folders, e.Source)
		if e.Excluded || !ok || f.Messages == 0 {
			continue
		}
		pa := parent{e: e, messages: f.Messages}
		for _, c := range plan {
			rest, ok := strings.CutPrefix(c.Target, e.Target+string(delim))
			if !c.Excluded && ok && !strings.ContainsRune(rest, delim) {
				pa.children = append(pa.children, slashPath(c.Source, src.Description.Delimiter))
			}
		}
		if len(pa.children) > 0 {
			both = append(both, pa)
		}
	}
	if len(both) == 0 {
		return nil
	}
	refusal := probeHierarchy(ctx, dst, delim)
	if refusal == "" {
		return nil
	}
	var out []state.Problem
	for _, pa := range both {
		// The subfolders move under a parent of their own: the folder
		// itself may be one the target has already (a special-use one).
		var entries []string
		for _, c := range pa.children {
			parent, name := path.Split(c)
			entries = append(entries, fmt.Sprintf("%q: %q", c, strings.TrimSuffix(parent, "/")+" (subfolders)/"+name))
		}
		out = append(out, state.Problem{User: r, Kind: "hierarchy", Folder: pa.e.Target,
			Detail: fmt.Sprintf("the target cannot hold a folder with both messages and subfolders (%s); %q holds %d messages and has subfolders", refusal, pa.e.Target, pa.messages),
			Action: fmt.Sprintf("move its subfolders under a parent of their own with folders.map {%s}, then approve again; otherwise its subfolders are skipped", strings.Join(entries, ", "))})
	}
	return out
}

// slashPath is a folder name with "/" as the separator, as folders.map
// names source folders.
func slashPath(name string, delim rune) string {
	if delim == 0 || delim == '/' {
		return name
	}
	return strings.ReplaceAll(name, string(delim), "/")
}

// probeHierarchy tells why the target refused a child under a folder that
// can hold mail, or "" when it took one (or could not be probed).
func probeHierarchy(ctx context.Context, dst target.Target, delim rune) string {
	parent := fmt.Sprintf("mailshift-probe-%d", time.Now().UnixNano())
	child := parent + string(delim) + "child"
	if err := dst.CreateFolder(ctx, parent, ""); err != nil {
		return ""
	}
	defer dst.DeleteFolder(ctx, parent)
	if err := dst.CreateFolder(ctx, child, ""); err != nil {
		if retryable(err) {
			return ""
		}
		return err.Error()
	}
	dst.DeleteFolder(ctx, child)
	return ""
}
