package phase

import (
	"context"
	"fmt"
	"strings"
	"time"

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
	held := map[string]uint32{} // target folder -> messages of its source
	var targets []string
	for _, e := range plan {
		if e.Excluded {
			continue
		}
		targets = append(targets, e.Target)
		if f, ok := findFolder(src.Folders, e.Source); ok && f.Messages > 0 {
			held[e.Target] = f.Messages
		}
	}
	var both []string // target folders that will hold mail and folders
	for _, t := range targets {
		if held[t] == 0 {
			continue
		}
		for _, c := range targets {
			if strings.HasPrefix(c, t+string(delim)) {
				both = append(both, t)
				break
			}
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
	for _, t := range both {
		out = append(out, state.Problem{User: r, Kind: "hierarchy", Folder: t,
			Detail: fmt.Sprintf("the target cannot hold a folder with both messages and subfolders (%s); %q holds %d messages and has subfolders", refusal, t, held[t]),
			Action: fmt.Sprintf("send its messages to a folder of their own with folders.map (e.g. %q: %q), then approve again; otherwise the folder or its subfolders are skipped", t, t+" (mail)")})
	}
	return out
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
