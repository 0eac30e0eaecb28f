package phase

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/mail"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/state"
)

// classLister is implemented by PST sources that tell each message's
// class (package pst's Set), for pst.filters.exclude_classes.
type classLister interface {
	Classes(ctx context.Context, folder string) (map[string]string, error)
}

// pstCandidate is one mail item of a user's PST files, before the
// decision.
type pstCandidate struct {
	item  state.PSTItem
	date  time.Time
	class string
	inner string // the folder's name inside its file
}

// liveFiles are the paths of the user's files that are still where they
// were found (a file moved away by pst.retire is not).
func liveFiles(files []state.PSTFile) []string {
	var out []string
	for _, f := range files {
		if f.RetireHow == "move" && f.RetireState == state.RetireDone {
			continue
		}
		out = append(out, f.Path)
	}
	return out
}

// openPST opens the PST files assigned to r; with decided, the items
// decided against (duplicates, filtered) are left out of it.
func (p *Project) openPST(ctx context.Context, fs FileScanner, r users.Row, decided bool) (source.Source, []string, error) {
	files, err := p.Store.PSTFilesOf(r.SourceUser)
	if err != nil {
		return nil, nil, err
	}
	paths := liveFiles(files)
	src, err := fs.OpenFiles(ctx, r, paths)
	if err != nil || !decided {
		return src, paths, err
	}
	items, err := p.Store.PSTItems(r.SourceUser)
	if err != nil {
		src.Close()
		return nil, nil, err
	}
	drop := map[string]map[string]bool{}
	for _, it := range items {
		if it.Decision == state.PSTKeep {
			continue
		}
		if drop[it.Folder] == nil {
			drop[it.Folder] = map[string]bool{}
		}
		drop[it.Folder][it.Key] = true
	}
	return &decidedSource{Source: src, drop: drop}, paths, nil
}

// decidePST decides, for every mail item of r's PST files, whether it is
// migrated, left out as a duplicate or left out by a filter, and records
// the decisions. An item that was copied (or is being) stays migrated,
// whatever changed since, so that re-runs stay exactly-once.
func (p *Project) decidePST(ctx context.Context, fs FileScanner, r users.Row) error {
	raw, paths, err := p.openPST(ctx, fs, r, false)
	if err != nil {
		return err
	}
	defer raw.Close()
	cands, err := p.pstCandidates(ctx, raw, paths)
	if err != nil {
		return err
	}
	pairs, err := p.Store.UserPairs(r.SourceUser)
	if err != nil {
		return err
	}
	copied := map[string]bool{}
	for _, pr := range pairs {
		if pr.Status != state.Failed {
			copied[pr.SourceFolder+"\x00"+pr.SourceKey] = true
		}
	}
	var held map[string]bool
	if !p.Config.PST.KeepDuplicates {
		if held, err = p.targetIdentities(ctx, r, sizesAndDates(cands)); err != nil {
			return fmt.Errorf("target %s: read what the mailbox holds, to leave out what it has already: %w", r.TargetUser, err)
		}
	}
	items, err := p.decide(cands, copied, held)
	if err != nil {
		return err
	}
	return p.Store.ReplacePSTItems(r.SourceUser, items)
}

// sizeDate is a message's size and date to the second: the target's
// messages without one that a PST item has cannot hold that item.
type sizeDate struct {
	size int64
	date int64
}

// sizesAndDates are the sizes and dates of the candidates that have a
// Message-ID.
func sizesAndDates(cands []pstCandidate) map[sizeDate]bool {
	out := map[sizeDate]bool{}
	for _, c := range cands {
		var sd sizeDate
		id, ok := strings.CutPrefix(c.item.Identity, "mid:")
		if !ok {
			continue
		}
		parts := strings.Split(id, "|")
		if len(parts) < 3 {
			continue
		}
		if _, err := fmt.Sscan(parts[len(parts)-2], &sd.size); err != nil {
			continue
		}
		if _, err := fmt.Sscan(parts[len(parts)-1], &sd.date); err != nil {
			continue
		}
		out[sd] = true
	}
	return out
}

// decide applies the filters and deduplication to cands, in order: the
// copied items first (kept), then the rest.
func (p *Project) decide(cands []pstCandidate, copied, held map[string]bool) ([]state.PSTItem, error) {
	after, before, err := p.Config.PST.Filters.dates()
	if err != nil {
		return nil, err
	}
	seen := map[string]string{}
	out := make([]state.PSTItem, 0, len(cands))
	for _, c := range cands {
		if copied[c.item.Folder+"\x00"+c.item.Key] {
			c.item.Decision = state.PSTKeep
			seen[c.item.Identity] = c.item.Folder + " " + c.item.Key
			out = append(out, c.item)
		}
	}
	for _, c := range cands {
		it := c.item
		if copied[it.Folder+"\x00"+it.Key] {
			continue
		}
		it.Decision = state.PSTKeep
		if reason := p.filterReason(c, after, before); reason != "" {
			it.Decision, it.Reason = state.PSTFiltered, reason
		} else if p.Config.PST.KeepDuplicates {
			// every copy is migrated
		} else if first, ok := seen[it.Identity]; ok {
			it.Decision, it.Reason, it.DupOf = state.PSTDuplicate, "a copy of "+first, first
		} else if held[it.Identity] {
			it.Decision, it.Reason = state.PSTDuplicate, "the target mailbox holds it already"
		} else {
			seen[it.Identity] = it.Folder + " " + it.Key
		}
		out = append(out, it)
	}
	return out, nil
}

// filterReason says which filter leaves c out, "" if none.
func (p *Project) filterReason(c pstCandidate, after, before time.Time) string {
	f := p.Config.PST.Filters
	if !after.IsZero() && c.date.Before(after) {
		return "dated " + c.date.UTC().Format(time.DateOnly) + ", before pst.filters.after " + f.After
	}
	if !before.IsZero() && !c.date.Before(before) {
		return "dated " + c.date.UTC().Format(time.DateOnly) + ", not before pst.filters.before " + f.Before
	}
	inner := strings.ToLower(c.inner)
	for _, pat := range f.ExcludeFolders {
		pat = strings.ToLower(pat)
		for name := inner; name != "." && name != ""; name = path.Dir(name) {
			if ok, _ := path.Match(pat, name); ok {
				return "folder " + c.inner + " is excluded by pst.filters.exclude_folders " + pat
			}
			if !strings.Contains(name, "/") {
				break
			}
		}
	}
	for _, pat := range f.ExcludeClasses {
		if ok, _ := path.Match(strings.ToLower(pat), strings.ToLower(c.class)); ok {
			return "class " + c.class + " is excluded by pst.filters.exclude_classes " + pat
		}
	}
	return ""
}

// pstCandidates lists every mail item of raw with its content identity,
// date, class and file, folder by folder in listing order.
func (p *Project) pstCandidates(ctx context.Context, raw source.Source, paths []string) ([]pstCandidate, error) {
	folders, err := raw.Folders(ctx)
	if err != nil {
		return nil, err
	}
	tops := fileTops(paths)
	var out []pstCandidate
	for _, f := range folders {
		if f.NoSelect {
			continue
		}
		_, msgs, err := raw.Messages(ctx, f.Name)
		if folderFailure(err) {
			continue // a damaged folder: collect reports it, and no step copies from it
		}
		if err != nil {
			return nil, fmt.Errorf("folder %q: %w", f.Name, err)
		}
		classes := map[string]string{}
		if cl, ok := raw.(classLister); ok {
			if classes, err = cl.Classes(ctx, f.Name); err != nil {
				return nil, fmt.Errorf("folder %q: %w", f.Name, err)
			}
		}
		ids := map[string]string{}
		err = raw.Fetch(ctx, f.Name, msgs, func(m mailbox.Message, b mailbox.Body) error {
			id, err := identityOf(b, m.InternalDate)
			ids[m.Key] = id
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("folder %q: %w", f.Name, err)
		}
		file, inner := p.fileOf(f.Name, tops)
		for _, m := range msgs {
			fp := file
			if base, _, ok := strings.Cut(m.Key, ":"); ok && fp == "" {
				fp = baseToPath(base, paths)
			}
			out = append(out, pstCandidate{
				item:  state.PSTItem{Folder: f.Name, Key: m.Key, Path: fp, Identity: ids[m.Key]},
				date:  m.InternalDate,
				class: classes[m.Key],
				inner: inner,
			})
		}
	}
	return out, nil
}

// identityOf is a message's content identity: its Message-ID with its size
// and date where it has one, else the SHA-256 of its bytes.
func identityOf(b io.Reader, date time.Time) (string, error) {
	h := sha256.New()
	var n countWriter
	br := bufio.NewReader(io.TeeReader(b, io.MultiWriter(h, &n)))
	var id string
	if msg, err := mail.ReadMessage(br); err == nil {
		id = strings.TrimSpace(msg.Header.Get("Message-Id"))
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return "", err
	}
	if id != "" {
		return fmt.Sprintf("mid:%s|%d|%d", id, int64(n), date.Unix()), nil
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// countWriter counts what is written to it.
type countWriter int64

func (c *countWriter) Write(b []byte) (int, error) {
	*c += countWriter(len(b))
	return len(b), nil
}

// fileTops maps the folder each file's folders appear under (package pst's
// Set without merge: the file's name without extension, " (2)" for a
// second file of the same name) to the file's path.
func fileTops(paths []string) map[string]string {
	out := map[string]string{}
	seen := map[string]int{}
	for _, p := range paths {
		base := filepath.Base(p)
		top := strings.ReplaceAll(strings.TrimSuffix(base, filepath.Ext(base)), "/", "_")
		seen[strings.ToLower(top)]++
		if n := seen[strings.ToLower(top)]; n > 1 {
			top = fmt.Sprintf("%s (%d)", top, n)
		}
		out[top] = p
	}
	return out
}

// fileOf finds the file and the inner folder name of a set folder; the
// file is "" when the folders are merged.
func (p *Project) fileOf(folder string, tops map[string]string) (file, inner string) {
	if p.Config.Source.PSTFolders == "merge" {
		return "", folder
	}
	top, rest, _ := strings.Cut(folder, "/")
	return tops[top], rest
}

// baseToPath finds the file of a key's base name (merged folders).
func baseToPath(base string, paths []string) string {
	for _, p := range paths {
		if filepath.Base(p) == base {
			return p
		}
	}
	return base
}
