// Package maildir reads a Maildir tree (the endpoint maildir:/srv/mail/%u/Maildir)
// without changing it: nothing is renamed, moved or written, so flags and
// the new/ and cur/ directories stay as they are.
//
// Two layouts are read, and told apart by what the root holds:
//
//   - Maildir++ (Courier, Dovecot's default): INBOX is the root's cur/ and
//     new/, every other folder a directory ".Parent.Child" beside them.
//     Chosen when the root has directories whose name starts with "." and
//     that hold cur/ or new/, at least as many as directories of the
//     other kind below.
//   - Dovecot's LAYOUT=fs: folders are nested directories
//     ("Archive/2023/cur"); INBOX is the root's cur/ and new/, or a
//     top-level directory named INBOX (any case) when the root has neither.
//     Chosen when the root has more directories that are folders or hold
//     folders this way than Maildir++ folders, or none of either.
//
// A path ending in ":LAYOUT=fs" or ":LAYOUT=maildir++" chooses the layout
// instead. Folder names on disk are modified UTF-7 (as Dovecot and Courier
// write them; a name that is not valid modified UTF-7 is taken as UTF-8)
// and are given in Unicode with "/" as the hierarchy delimiter in both
// layouts (the Maildir++ directory ".Archive.2023" is "Archive/2023"). A Maildir++ name
// component that itself contains "/" (possible only through modified
// UTF-7) cannot be told from two components. Directories that lead to
// folders but hold no cur/ or new/ are listed as NoSelect folders. File
// sources have no special-use roles: Role is always empty, and mailshift's
// folder mapping finds Sent, Drafts, ... by their names.
//
// Messages are the files in new/ and cur/ (tmp/, files whose name starts
// with ".", and Dovecot's index, uidlist and keywords files are not
// messages). A message's Key is its unique name: the file name up to the
// ":" of the ":2," info, so it survives a flag change and the move from
// new/ to cur/ (Dovecot's ",S=" and ",W=" fields are part of it). When the
// same unique name is in new/ and cur/, the file in cur/ is listed and the
// other reported as skipped. Flags come from the info (P $Forwarded,
// R \Answered, S \Seen, T \Deleted, D \Draft, F \Flagged; a to z are the
// keywords numbered 0 to 25 in the folder's dovecot-keywords file);
// \Recent is not carried. The internal date is the file's modification
// time, to the second, as Dovecot serves it.
//
// UIDs: when the folder has a dovecot-uidlist (or Courier's
// courierimapuiddb), its UIDVALIDITY is the folder's and the UIDs it lists
// are the messages'; messages it does not list yet get the following UIDs
// in the order of (modification time, file name). Without one, UIDVALIDITY
// is 1 and UIDs count 1, 2, ... in that order. Messages are listed in UID
// order.
//
// Bodies are delivered with CRLF line endings (a bare LF becomes CRLF,
// CRLF stays, other bytes, NUL included, are delivered as they are;
// Dovecot would serve NUL as 0x80). Size is the exact size delivered:
// counted by reading the file, except for files over 4 KiB whose name has
// Dovecot's ",W=" field and a ",S=" field that matches the file's size,
// where the listing trusts W= (so that listing a large Maildir does not
// read every byte of it); Fetch always delivers the counted size. Listing a
// folder again reads only the files that are new or changed (by name, size
// and modification time). A file that is not a readable mail message
// (not starting with a header field, empty, unreadable, a directory) is
// passed over and reported by Skipped.
package maildir

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/mutf7"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/source/internal/mailfile"
)

// Layout is how a Maildir tree keeps its folders.
type Layout string

// The layouts.
const (
	LayoutMaildirPP Layout = "maildir++" // INBOX at the root, folders in ".A.B" directories
	LayoutFS        Layout = "fs"        // folders in nested directories A/B
)

// Source is one Maildir tree. It is not safe for concurrent use.
type Source struct {
	root     string
	layout   Layout
	lists    map[string]*listing // by folder name: what the last Messages found
	measures map[string]map[string]measured
	skipped  map[string][]source.Skip
}

// measured is what reading a message file found, kept so that listing the
// folder again (collect lists every folder twice, sync again and again)
// reads only files that are new or changed.
type measured struct {
	raw    int64
	mtime  time.Time
	size   int64
	exact  bool
	reason string
}

var (
	_ source.Source  = (*Source)(nil)
	_ source.Skipper = (*Source)(nil)
)

// openFile opens a message file; tests replace it to simulate files that
// cannot be read (tests run as root, who may read anything).
var openFile = os.Open

// listing is what Messages found in a folder, for Fetch.
type listing struct {
	dir     string
	entries map[string]entry // by key
}

// entry is one message file.
type entry struct {
	sub    string // "new" or "cur"
	name   string // file name when listed
	listed mailfile.Listed
}

// Open opens the Maildir at path, which may end in ":LAYOUT=fs" or
// ":LAYOUT=maildir++" to choose the layout instead of detecting it. It
// fails if path is not a directory or holds neither cur/, new/ nor any
// folder.
func Open(path string) (*Source, error) {
	root, forced := path, Layout("")
	if i := strings.LastIndex(path, ":"); i >= 0 {
		switch opt := strings.ToLower(path[i+1:]); opt {
		case "layout=fs":
			root, forced = path[:i], LayoutFS
		case "layout=maildir++":
			root, forced = path[:i], LayoutMaildirPP
		default:
			if strings.HasPrefix(opt, "layout=") {
				return nil, fmt.Errorf("maildir %s: unknown layout %q: want LAYOUT=fs or LAYOUT=maildir++", path, path[i+1+len("layout="):])
			}
		}
	}
	root = filepath.Clean(root)
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("maildir %s: %w", root, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("maildir %s: not a directory", root)
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("maildir %s: %w", root, err)
	}
	s := &Source{root: root, layout: forced, lists: map[string]*listing{}, measures: map[string]map[string]measured{}, skipped: map[string][]source.Skip{}}
	hasMail, dotFolders, plainFolders, subdir := false, 0, 0, false
	for _, e := range ents {
		n := e.Name()
		if !mailfile.IsDir(root, e) {
			continue
		}
		p := filepath.Join(root, n)
		switch {
		case n == "cur" || n == "new":
			hasMail = true
		case n == "tmp":
		case strings.HasPrefix(n, "."):
			if isMaildir(p) {
				dotFolders++
			}
		default:
			subdir = true
			if isMaildir(p) || holdsMaildir(p) {
				plainFolders++
			}
		}
	}
	if s.layout == "" {
		s.layout = LayoutFS
		if dotFolders > 0 && dotFolders >= plainFolders {
			s.layout = LayoutMaildirPP
		}
	}
	if !hasMail && dotFolders == 0 && !subdir {
		return nil, fmt.Errorf("maildir %s: no cur/ or new/ and no folders: is this the Maildir itself (e.g. ~/Maildir)?", root)
	}
	return s, nil
}

// Layout is the layout the tree was read with.
func (s *Source) Layout() Layout { return s.layout }

// Describe tells that this is a Maildir and which layout it has.
func (s *Source) Describe(ctx context.Context) (mailbox.Description, error) {
	server := "Maildir++"
	if s.layout == LayoutFS {
		server = "Maildir (LAYOUT=fs)"
	}
	return mailbox.Description{Kind: "maildir", Server: server, Delimiter: '/', QuotaUsed: -1, QuotaLimit: -1}, nil
}

// Folders lists every folder with its counters (which means listing every
// folder's messages). What the walk itself passed over is reported by
// Skipped("").
func (s *Source) Folders(ctx context.Context) ([]mailbox.Folder, error) {
	tree, err := s.tree()
	if err != nil {
		return nil, err
	}
	return mailfile.ListFolders(tree, func(d folderDir) bool { return d.noSelect }, func(n string, d folderDir) (mailbox.Folder, error) {
		f, _, err := s.list(ctx, n, d.path)
		return f, err
	})
}

// Messages lists a folder's messages, in UID order. A folder that does not
// exist gives an error wrapping mailbox.ErrFolderGone.
func (s *Source) Messages(ctx context.Context, folder string) (mailbox.Folder, []mailbox.Message, error) {
	d, err := s.resolve(folder)
	if err != nil {
		return mailbox.Folder{}, nil, err
	}
	if d.noSelect {
		return mailbox.Folder{Name: folder, NoSelect: true}, nil, nil
	}
	return s.list(ctx, mailfile.Canonical(folder), d.path)
}

// Skipped lists what the last Messages (or Folders) call on folder passed
// over; Skipped("") what the walk of the tree passed over.
func (s *Source) Skipped(folder string) []source.Skip {
	return slices.Clone(s.skipped[mailfile.Canonical(folder)])
}

// Close releases nothing: no file stays open between calls.
func (s *Source) Close() error { return nil }

// folderDir is where a folder lives.
type folderDir struct {
	path     string
	noSelect bool
}

// resolve finds a folder's directory: first where its name says it is,
// else by walking the tree (names on disk that are not in canonical
// modified UTF-7).
func (s *Source) resolve(folder string) (folderDir, error) {
	folder = mailfile.Canonical(folder)
	if folder == "INBOX" {
		if d, ok := s.inbox(); ok {
			return d, nil
		}
	} else if p, ok := s.path(folder); ok && isMaildir(p) {
		return folderDir{path: p}, nil
	}
	tree, err := s.tree()
	if err != nil {
		return folderDir{}, err
	}
	d, ok := tree[folder]
	if !ok {
		return folderDir{}, fmt.Errorf("maildir %s: folder %q: %w", s.root, folder, mailbox.ErrFolderGone)
	}
	return d, nil
}

// inbox locates INBOX: the root, unless in LAYOUT=fs the root has no cur/
// or new/ and there is an INBOX directory.
func (s *Source) inbox() (folderDir, bool) {
	if s.layout == LayoutFS && !isMaildir(s.root) {
		return folderDir{}, false // the walk looks for an INBOX directory
	}
	return folderDir{path: s.root}, true
}

// path is where a folder's directory is when its name is written in
// canonical modified UTF-7.
func (s *Source) path(folder string) (string, bool) {
	if !mailfile.PlainPath(folder) {
		return "", false
	}
	parts := strings.Split(folder, "/")
	for i, p := range parts {
		if p == "" {
			return "", false
		}
		parts[i] = mutf7.Encode(p)
		if s.layout == LayoutMaildirPP && strings.Contains(parts[i], ".") {
			return "", false
		}
	}
	if s.layout == LayoutMaildirPP {
		return filepath.Join(s.root, "."+strings.Join(parts, ".")), true
	}
	if strings.EqualFold(parts[0], "INBOX") {
		return "", false // INBOX/... are found by the walk
	}
	return filepath.Join(append([]string{s.root}, parts...)...), true
}

// tree walks the tree and returns every folder. What it passes over is
// recorded as Skipped("").
func (s *Source) tree() (map[string]folderDir, error) {
	// INBOX is the root (an empty INBOX if it has no cur/ or new/), unless
	// the LAYOUT=fs walk finds an INBOX directory instead.
	out := map[string]folderDir{"INBOX": {path: s.root}}
	var skips []source.Skip
	var err error
	if s.layout == LayoutMaildirPP {
		err = s.walkPP(out, &skips)
	} else {
		err = s.walkFS(s.root, "", 0, out, &skips)
	}
	if err != nil {
		return nil, err
	}
	// Parents that are not folders themselves are NoSelect folders.
	for n := range out {
		for i := strings.LastIndexByte(n, '/'); i > 0; i = strings.LastIndexByte(n[:i], '/') {
			if _, ok := out[n[:i]]; !ok {
				out[n[:i]] = folderDir{noSelect: true}
			}
		}
	}
	s.skipped[""] = skips
	return out, nil
}

func (s *Source) walkPP(out map[string]folderDir, skips *[]source.Skip) error {
	ents, err := os.ReadDir(s.root)
	if err != nil {
		return fmt.Errorf("maildir %s: %w", s.root, err)
	}
	for _, e := range ents {
		n := e.Name()
		if len(n) < 2 || n[0] != '.' || n == ".." || !mailfile.IsDir(s.root, e) {
			continue
		}
		p := filepath.Join(s.root, n)
		if !isMaildir(p) {
			continue // not a folder (no cur/ or new/): an index or a tool's directory
		}
		parts := strings.Split(n[1:], ".")
		if slices.Contains(parts, "") {
			*skips = append(*skips, source.Skip{Item: p, Reason: "folder directory with an empty name component (\"..\" or a trailing \".\"): not read"})
			continue
		}
		for i, part := range parts {
			parts[i] = mailfile.FolderName(part, true)
		}
		name := mailfile.Canonical(strings.Join(parts, "/"))
		if name == "INBOX" {
			*skips = append(*skips, source.Skip{Item: p, Reason: "a folder directory named INBOX beside the root's INBOX: not read"})
			continue
		}
		if prev, ok := out[name]; ok {
			*skips = append(*skips, source.Skip{Item: p, Reason: fmt.Sprintf("folder %q is already read from %s", name, prev.path)})
			continue
		}
		out[name] = folderDir{path: p}
	}
	return nil
}

func (s *Source) walkFS(dir, prefix string, depth int, out map[string]folderDir, skips *[]source.Skip) error {
	ents, err := mailfile.ReadFolderDir("maildir", dir, depth, skips)
	if err != nil {
		return err
	}
	for _, e := range ents {
		n := e.Name()
		if n == "cur" || n == "new" || n == "tmp" || strings.HasPrefix(n, ".") || !mailfile.IsDir(dir, e) {
			continue
		}
		p := filepath.Join(dir, n)
		name := prefix + mailfile.FolderName(n, true)
		if prefix == "" && strings.EqualFold(name, "INBOX") {
			name = "INBOX"
			if isMaildir(s.root) {
				if isMaildir(p) {
					*skips = append(*skips, source.Skip{Item: p, Reason: "a folder directory named INBOX beside the root's own cur/ and new/ (INBOX): its messages are not read"})
				}
			} else {
				out["INBOX"] = folderDir{path: p}
			}
		} else if prev, ok := out[name]; ok {
			*skips = append(*skips, source.Skip{Item: p, Reason: fmt.Sprintf("folder %q is already read from %s", name, prev.path)})
			continue
		} else {
			out[name] = folderDir{path: p, noSelect: !isMaildir(p)}
		}
		if err := s.walkFS(p, name+"/", depth+1, out, skips); err != nil {
			return err
		}
	}
	return nil
}

// holdsMaildir reports whether a directory of dir holds cur/ or new/.
func holdsMaildir(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if mailfile.IsDir(dir, e) && isMaildir(filepath.Join(dir, e.Name())) {
			return true
		}
	}
	return false
}

// isMaildir reports whether dir holds cur/ or new/.
func isMaildir(dir string) bool {
	for _, sub := range []string{"cur", "new"} {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}

// candidate is a message file found in new/ or cur/.
type candidate struct {
	sub, name, base, path string
	info                  fs.FileInfo
}

// list reads a folder's message files.
func (s *Source) list(ctx context.Context, folder, dir string) (mailbox.Folder, []mailbox.Message, error) {
	var skips []source.Skip
	skip := func(path, reason string) { skips = append(skips, source.Skip{Item: path, Reason: reason}) }
	byBase, err := s.candidates(folder, dir, skip)
	if err != nil {
		return mailbox.Folder{}, nil, err
	}
	if err := ctx.Err(); err != nil {
		return mailbox.Folder{}, nil, err
	}
	msgs, err := s.measureAll(ctx, folder, dir, byBase, skip)
	if err != nil {
		return mailbox.Folder{}, nil, err
	}
	f := mailbox.Folder{Name: folder}
	f.UIDValidity, f.UIDNext = assignUIDs(dir, msgs)
	l := &listing{dir: dir, entries: make(map[string]entry, len(msgs))}
	out := make([]mailbox.Message, len(msgs))
	for i, m := range msgs {
		out[i] = m.msg
		l.entries[m.msg.Key] = m.e
		f.Bytes += m.msg.Size
	}
	f.Messages = uint32(len(out))
	s.lists[folder] = l
	s.skipped[folder] = skips
	return f, out, nil
}

// candidates finds the folder's message files in new/ and cur/, by unique
// name; what cannot be one is skipped with the reason.
func (s *Source) candidates(folder, dir string, skip func(path, reason string)) (map[string]candidate, error) {
	byBase := map[string]candidate{}
	for _, sub := range []string{"new", "cur"} { // new/ first: a message moved meanwhile is then seen in cur/
		subdir := filepath.Join(dir, sub)
		ents, err := os.ReadDir(subdir)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("maildir %s: folder %q: %w", s.root, folder, err)
		}
		for _, e := range ents {
			n := e.Name()
			if strings.HasPrefix(n, ".") {
				continue
			}
			p := filepath.Join(subdir, n)
			info, err := os.Stat(p)
			if err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					skip(p, fmt.Sprintf("cannot read: %v", mailfile.UnwrapPath(err)))
				}
				continue
			}
			if info.IsDir() {
				skip(p, "a directory inside "+sub+"/, not a message file")
				continue
			}
			if !info.Mode().IsRegular() {
				skip(p, "not a regular file")
				continue
			}
			base, _, _ := strings.Cut(n, ":")
			if prev, ok := byBase[base]; ok {
				if prev.sub == sub {
					skip(p, fmt.Sprintf("another file in %s/ has the same unique name %q: %s is listed instead", sub, base, prev.name))
					continue
				}
				skip(prev.path, fmt.Sprintf("the same unique name %q is also in cur/ (%s), which is listed instead", base, n))
			}
			byBase[base] = candidate{sub: sub, name: n, base: base, path: p, info: info}
		}
	}
	return byBase, nil
}

// found is a message file listed, with where it is.
type found struct {
	msg mailbox.Message
	e   entry
}

// measureAll measures the candidates in (modification time, name) order,
// reusing what the last listing measured of files unchanged since; the
// messages have no UIDs yet.
func (s *Source) measureAll(ctx context.Context, folder, dir string, byBase map[string]candidate, skip func(path, reason string)) ([]found, error) {
	keywords := readKeywords(dir)
	prev, seen := s.measures[folder], map[string]measured{}
	var msgs []found
	for i, c := range sortedCandidates(byBase) {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		me, ok := prev[c.path]
		if !ok || me.raw != c.info.Size() || !me.mtime.Equal(c.info.ModTime()) {
			me = measured{raw: c.info.Size(), mtime: c.info.ModTime()}
			me.size, me.exact, me.reason = measure(c)
		}
		if !strings.HasPrefix(me.reason, "cannot read") {
			seen[c.path] = me // what cannot be read now is tried again next time
		}
		if me.reason != "" {
			skip(c.path, me.reason)
			continue
		}
		l := mailfile.Listed{Raw: c.info.Size(), MTime: c.info.ModTime(), Size: -1}
		if me.exact {
			l.Size = me.size
		}
		msgs = append(msgs, found{
			msg: mailbox.Message{
				Key:          c.base,
				Size:         me.size,
				Flags:        parseFlags(c.name, keywords),
				InternalDate: time.Unix(c.info.ModTime().Unix(), 0),
			},
			e: entry{sub: c.sub, name: c.name, listed: l},
		})
	}
	s.measures[folder] = seen
	return msgs, nil
}

// assignUIDs gives the messages the UIDs the folder's UID list holds for
// them, and new ones above it to the others (in the order given), and
// sorts them by UID; it returns the folder's UIDVALIDITY and UIDNEXT.
func assignUIDs(dir string, msgs []found) (uidValidity, uidNext uint32) {
	uidValidity, next, uids := readUIDList(dir)
	used := map[uint32]bool{}
	var unlisted []int
	for i := range msgs {
		uid := uids[msgs[i].msg.Key]
		if uid == 0 || used[uid] {
			unlisted = append(unlisted, i)
			continue
		}
		used[uid] = true
		msgs[i].msg.UID = uid
		next = max(next, uid+1)
	}
	for _, i := range unlisted { // already in (mtime, name) order
		next = max(next, 1)
		msgs[i].msg.UID = next
		next++
	}
	slices.SortFunc(msgs, func(a, b found) int { return cmp.Compare(a.msg.UID, b.msg.UID) })
	return uidValidity, max(next, 1)
}

// sortedCandidates orders message files by (modification time, name).
func sortedCandidates(byBase map[string]candidate) []candidate {
	out := make([]candidate, 0, len(byBase))
	for _, c := range byBase {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b candidate) int {
		if c := a.info.ModTime().Compare(b.info.ModTime()); c != 0 {
			return c
		}
		return strings.Compare(a.base, b.base)
	})
	return out
}

// measure checks that a file is a readable mail message and returns its
// size with CRLF line endings: counted (exact true) for a file of at most
// SniffSize bytes, which is read anyway; for a larger one Dovecot's W=
// field when the S= field matches the file (exact false: not verified,
// the file is not read further), else counted. A non-empty reason says
// why the file is passed over.
func measure(c candidate) (size int64, exact bool, reason string) {
	f, err := openFile(c.path)
	if err != nil {
		return 0, false, fmt.Sprintf("cannot read: %v", mailfile.UnwrapPath(err))
	}
	defer f.Close()
	head, err := mailfile.ReadHead(f)
	if err != nil {
		return 0, false, fmt.Sprintf("cannot read: %v", mailfile.UnwrapPath(err))
	}
	if ok, why := mailfile.LooksLikeMail(head); !ok {
		return 0, false, why
	}
	if int64(len(head)) < mailfile.SniffSize {
		return int64(len(head)) + int64(mailfile.BareLFs(head, false)), true, ""
	}
	if s, w, ok := sizeFields(c.base); ok && s == c.info.Size() {
		return w, false, ""
	}
	size, _, err = mailfile.CRLFSize(io.MultiReader(bytes.NewReader(head), f))
	if err != nil {
		return 0, false, fmt.Sprintf("cannot read: %v", mailfile.UnwrapPath(err))
	}
	return size, true, ""
}

// sizeFields returns Dovecot's S= (file size) and W= (size with CRLF line
// endings) fields of a unique name.
func sizeFields(base string) (s, w int64, ok bool) {
	var haveS, haveW bool
	for _, field := range strings.Split(base, ",")[1:] {
		k, v, _ := strings.Cut(field, "=")
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			continue
		}
		switch k {
		case "S":
			s, haveS = n, true
		case "W":
			w, haveW = n, true
		}
	}
	return s, w, haveS && haveW
}

// parseFlags reads the flags of a file name's ":2," info.
func parseFlags(name string, keywords map[byte]string) []string {
	_, info, ok := strings.Cut(name, ":")
	if !ok || !strings.HasPrefix(info, "2,") {
		return nil
	}
	var out []string
	for _, c := range []byte(info[2:]) {
		var f string
		switch {
		case c == 'P':
			f = "$Forwarded"
		case c == 'R':
			f = `\Answered`
		case c == 'S':
			f = `\Seen`
		case c == 'T':
			f = `\Deleted`
		case c == 'D':
			f = `\Draft`
		case c == 'F':
			f = `\Flagged`
		case c >= 'a' && c <= 'z':
			f = keywords[c]
		}
		if f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

// readKeywords reads a folder's dovecot-keywords: lines "0 Work" giving
// the keyword of letter 'a', and so on.
func readKeywords(dir string) map[byte]string {
	b, err := os.ReadFile(filepath.Join(dir, "dovecot-keywords"))
	if err != nil {
		return nil
	}
	out := map[byte]string{}
	for _, line := range strings.Split(string(b), "\n") {
		num, kw, ok := strings.Cut(strings.TrimSpace(line), " ")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 0 || n > 25 || kw == "" {
			continue
		}
		out[byte('a'+n)] = strings.TrimSpace(kw)
	}
	return out
}

// readUIDList reads a folder's dovecot-uidlist (versions 1 and 3) or, if
// there is none, Courier's courierimapuiddb (the same as version 1): the
// UIDVALIDITY, the next UID and the UID of each unique name. Without a
// usable file the UIDVALIDITY is 1 and the next UID 1.
func readUIDList(dir string) (uidValidity, next uint32, uids map[string]uint32) {
	defer func() {
		for _, u := range uids {
			next = max(next, u+1) // never a UID the list gave, even to a file gone since
		}
	}()
	uids = map[string]uint32{}
	var f *os.File
	var err error
	for _, name := range []string{"dovecot-uidlist", "courierimapuiddb"} {
		if f, err = os.Open(filepath.Join(dir, name)); err == nil {
			break
		}
	}
	if err != nil {
		return 1, 1, uids
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !sc.Scan() {
		return 1, 1, uids
	}
	head := strings.Fields(sc.Text())
	v3 := len(head) > 0 && head[0] == "3"
	switch {
	case v3:
		for _, h := range head[1:] {
			if len(h) < 2 {
				continue
			}
			n, err := strconv.ParseUint(h[1:], 10, 32)
			if err != nil {
				continue
			}
			switch h[0] {
			case 'V':
				uidValidity = uint32(n)
			case 'N':
				next = uint32(n)
			}
		}
	case len(head) >= 3 && head[0] == "1":
		if n, err := strconv.ParseUint(head[1], 10, 32); err == nil {
			uidValidity = uint32(n)
		}
		if n, err := strconv.ParseUint(head[2], 10, 32); err == nil {
			next = uint32(n)
		}
	default:
		return 1, 1, uids
	}
	if uidValidity == 0 {
		return 1, 1, map[string]uint32{}
	}
	for sc.Scan() {
		line := sc.Text()
		num, rest, ok := strings.Cut(line, " ")
		uid, err := strconv.ParseUint(num, 10, 32)
		if !ok || err != nil || uid == 0 {
			continue
		}
		name := ""
		if i := strings.Index(rest, ":"); v3 && i >= 0 {
			name = rest[i+1:]
		} else if fields := strings.Fields(rest); len(fields) > 0 {
			name = fields[len(fields)-1]
		}
		name, _, _ = strings.Cut(strings.TrimSpace(name), ":")
		if name != "" {
			if _, dup := uids[name]; !dup {
				uids[name] = uint32(uid)
			}
		}
	}
	return uidValidity, next, uids
}

// Fetch delivers the bodies of msgs (from Messages on folder) to fn. A file
// renamed since (a flag change, the move to cur/) is found by its unique
// name; a message whose file is gone is skipped, and one that can no longer
// be read is skipped and reported by Skipped(folder).
func (s *Source) Fetch(ctx context.Context, folder string, msgs []mailbox.Message, fn func(mailbox.Message, mailbox.Body) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	folder = mailfile.Canonical(folder)
	l := s.lists[folder]
	if l == nil {
		d, err := s.resolve(folder)
		if err != nil {
			return err
		}
		l = &listing{dir: d.path, entries: map[string]entry{}}
	} else if !isMaildir(l.dir) && l.dir != s.root {
		return fmt.Errorf("maildir %s: folder %q: %w", s.root, folder, mailbox.ErrFolderGone)
	}
	var renamed map[string]entry // unique name -> file now, read when first needed
	done := make(map[string]bool, len(msgs))
	for _, m := range msgs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if done[m.Key] {
			continue // asked for twice
		}
		done[m.Key] = true
		e, ok := l.entries[m.Key]
		var f *os.File
		var err error
		if ok {
			f, err = openFile(filepath.Join(l.dir, e.sub, e.name))
		}
		if !ok || errors.Is(err, fs.ErrNotExist) {
			if renamed == nil {
				renamed = scanNames(l.dir)
			}
			if e, ok = renamed[m.Key]; !ok {
				continue // gone
			}
			f, err = openFile(filepath.Join(l.dir, e.sub, e.name))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
		}
		path := filepath.Join(l.dir, e.sub, e.name)
		if err != nil {
			s.skipped[folder] = append(s.skipped[folder], source.Skip{Item: path, Reason: fmt.Sprintf("cannot read: %v", mailfile.UnwrapPath(err))})
			continue
		}
		body, err := mailfile.NewBody(ctx, f, e.listed)
		if err != nil {
			f.Close()
			s.skipped[folder] = append(s.skipped[folder], source.Skip{Item: path, Reason: fmt.Sprintf("cannot read: %v", mailfile.UnwrapPath(err))})
			continue
		}
		err = fn(m, body)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// scanNames lists the message files of a folder by unique name (cur/ over
// new/), without reading them.
func scanNames(dir string) map[string]entry {
	out := map[string]entry{}
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			continue
		}
		for _, e := range ents {
			n := e.Name()
			if strings.HasPrefix(n, ".") || e.IsDir() {
				continue
			}
			base, _, _ := strings.Cut(n, ":")
			out[base] = entry{sub: sub, name: n, listed: mailfile.Listed{Size: -1}}
		}
	}
	return out
}
