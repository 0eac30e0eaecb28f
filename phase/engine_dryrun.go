package phase

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/mailshift/mailshift/internal/mapping"
)

// FolderPlan is what a pass would do to one folder, as a dry run finds
// it: nothing is changed on either server or in the state.
type FolderPlan struct {
	Folder      string `json:"folder"` // source folder
	Target      string `json:"target"` // target folder
	Copy        int64  `json:"copy"`   // messages to copy
	CopyBytes   int64  `json:"copy_bytes"`
	FlagUpdates int64  `json:"flag_updates"`
	Expunge     int64  `json:"expunge"`        // copies to remove from the target (sync.deletions mirror)
	Settle      int64  `json:"settle"`         // interrupted copies to look for on the target first
	Create      bool   `json:"create"`         // the target folder would be created
	RenamedFrom string `json:"renamed_from"`   // the source folder was renamed from this one; its target folder follows
	Delete      bool   `json:"delete"`         // deleted on the source: the target folder would be deleted (mirror)
	Forget      bool   `json:"forget"`         // deleted on the source: its copy stays, the state forgets it (keep)
	Note        string `json:"note,omitempty"` // what a dry run cannot foresee, or why the folder would be skipped
}

// planned collects a dry run's plans of one user's folders.
type planned struct {
	mu      sync.Mutex
	folders map[string]*FolderPlan
}

// folder returns the plan of a source folder, made on first use.
func (d *planned) folder(source, target string) *FolderPlan {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.folders == nil {
		d.folders = map[string]*FolderPlan{}
	}
	f, ok := d.folders[source]
	if !ok {
		f = &FolderPlan{Folder: source, Target: target}
		d.folders[source] = f
	}
	return f
}

// list returns the plans that would change something, by folder.
func (d *planned) list() []FolderPlan {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []FolderPlan
	for _, f := range d.folders {
		if *f != (FolderPlan{Folder: f.Folder, Target: f.Target}) {
			out = append(out, *f)
		}
	}
	slices.SortFunc(out, func(a, b FolderPlan) int { return cmp.Compare(a.Folder, b.Folder) })
	return out
}

// dry tells whether the session only plans (a dry run).
func (s *session) dry() bool { return s.planned != nil }

// planFor returns the dry run's plan of a folder of the mapping.
func (s *session) planFor(e mapping.Entry) *FolderPlan { return s.planned.folder(e.Source, e.Target) }

// RenderPlan renders what a dry run found, one line per folder with
// something to do, and the totals.
func RenderPlan(plans []UserFolderPlan) string {
	var b strings.Builder
	b.WriteString("Dry run: nothing was changed on either server or in the state.\n")
	if len(plans) == 0 {
		b.WriteString("Nothing to do: every folder is in step.\n")
		return b.String()
	}
	fmt.Fprintf(&b, "%-20s %-28s %-28s %18s %6s %8s  %s\n", "USER", "SOURCE FOLDER", "TARGET FOLDER", "TO COPY (SIZE)", "FLAGS", "EXPUNGE", "ALSO")
	var t FolderPlan
	var creates, renames, deletes, forgets int
	for _, p := range plans {
		var also []string
		if p.Create {
			also = append(also, "create the target folder")
			creates++
		}
		if p.RenamedFrom != "" {
			also = append(also, fmt.Sprintf("renamed from %q: rename the target folder", p.RenamedFrom))
			renames++
		}
		if p.Delete {
			also = append(also, "deleted on the source: delete the target folder")
			deletes++
		}
		if p.Forget {
			also = append(also, "deleted on the source: the copy stays (sync.deletions keep)")
			forgets++
		}
		if p.Settle > 0 {
			also = append(also, fmt.Sprintf("%d interrupted copies to look for first", p.Settle))
		}
		if p.Note != "" {
			also = append(also, p.Note)
		}
		fmt.Fprintf(&b, "%-20s %-28s %-28s %18s %6d %8d  %s\n", p.User, p.Folder, p.Target,
			fmt.Sprintf("%d (%s)", p.Copy, FormatBytes(p.CopyBytes)), p.FlagUpdates, p.Expunge, strings.Join(also, "; "))
		t.Copy += p.Copy
		t.CopyBytes += p.CopyBytes
		t.FlagUpdates += p.FlagUpdates
		t.Expunge += p.Expunge
	}
	fmt.Fprintf(&b, "Total: %d messages (%s) to copy, %d flag updates, %d expunges, %d folders to create, %d to rename, %d to delete, %d to forget.\n",
		t.Copy, FormatBytes(t.CopyBytes), t.FlagUpdates, t.Expunge, creates, renames, deletes, forgets)
	return b.String()
}
