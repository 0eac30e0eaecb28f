package pst

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/pim"
	"github.com/mailshift/mailshift/source"
)

// Set is the PST files of one user read as one source. By default each
// file's folders appear under a folder named after the file ("archive-2019"
// for archive-2019.pst), without special-use roles, so that nothing is
// merged into the user's live folders; with merge, the folders of every
// file are merged by name (a file's "Inbox" into INBOX, "Sent Items" into
// the Sent folder).
//
// Keys are the file's base name and the message's node id
// ("archive-2019.pst:0x200024"), stable as long as the files keep their
// names. UIDs are ordinals of the last listing.
type Set struct {
	files  []*setFile
	merge  bool
	byName map[string][]member // set folder name -> its parts
	names  []string            // set folder names in listing order
	listed map[string]map[string]listedMsg
}

type setFile struct {
	src  *Source
	base string // file name, e.g. "archive-2019.pst"
	top  string // the folder it appears under, without merge
}

// member is one file's folder that is (part of) a set folder.
type member struct {
	file *setFile
	name string // folder name inside the file
	info mailbox.Folder
}

type listedMsg struct {
	file *setFile
	name string
	msg  mailbox.Message
}

var (
	_ source.Source       = (*Set)(nil)
	_ source.Skipper      = (*Set)(nil)
	_ source.ItemCounter  = (*Set)(nil)
	_ source.ItemExporter = (*Set)(nil)
)

// OpenSet opens every file of paths (in the order given); see Set.
func OpenSet(paths []string, merge bool) (*Set, error) {
	if len(paths) == 0 {
		return nil, errors.New("pst: no files")
	}
	s := &Set{merge: merge, listed: map[string]map[string]listedMsg{}}
	tops := map[string]int{}
	for _, p := range paths {
		src, err := Open(p)
		if err != nil {
			s.Close()
			return nil, err
		}
		base := filepath.Base(p)
		top := strings.TrimSuffix(base, filepath.Ext(base))
		top = strings.ReplaceAll(top, "/", "_")
		tops[strings.ToLower(top)]++
		if n := tops[strings.ToLower(top)]; n > 1 {
			top = fmt.Sprintf("%s (%d)", top, n)
		}
		s.files = append(s.files, &setFile{src: src, base: base, top: top})
	}
	return s, nil
}

// Files returns the PST sources of the set, in order.
func (s *Set) Files() []*Source {
	out := make([]*Source, len(s.files))
	for i, f := range s.files {
		out[i] = f.src
	}
	return out
}

// Describe tells that the endpoint is PST files.
func (s *Set) Describe(ctx context.Context) (mailbox.Description, error) {
	var parts []string
	for _, f := range s.files {
		d, err := f.src.Describe(ctx)
		if err != nil {
			return mailbox.Description{}, err
		}
		parts = append(parts, f.base+": "+d.Server)
	}
	return mailbox.Description{Kind: "pst", Server: strings.Join(parts, "; "), Delimiter: '/', QuotaUsed: -1, QuotaLimit: -1}, nil
}

// setName is the set's name of a file's folder.
func (s *Set) setName(f *setFile, name string) string {
	if s.merge {
		return name
	}
	return f.top + "/" + name
}

// Folders lists the folders of every file: under the file's folder, or
// merged by name.
func (s *Set) Folders(ctx context.Context) ([]mailbox.Folder, error) {
	s.byName = map[string][]member{}
	s.names = nil
	out := map[string]*mailbox.Folder{}
	for _, f := range s.files {
		fs, err := f.src.Folders(ctx)
		if err != nil {
			return nil, err
		}
		if !s.merge {
			s.names = append(s.names, f.top)
			out[f.top] = &mailbox.Folder{Name: f.top, NoSelect: true, Bytes: 0, UIDValidity: 1, UIDNext: 1}
		}
		for _, fo := range fs {
			name := s.setName(f, fo.Name)
			s.byName[name] = append(s.byName[name], member{file: f, name: fo.Name, info: fo})
			agg, ok := out[name]
			if !ok {
				agg = &mailbox.Folder{Name: name, NoSelect: true}
				if s.merge {
					agg.Role = fo.Role
				}
				out[name] = agg
				s.names = append(s.names, name)
			}
			if !fo.NoSelect {
				agg.NoSelect = false
			}
			if agg.Role == "" && s.merge {
				agg.Role = fo.Role
			}
			agg.Messages += fo.Messages
			agg.Bytes += max(fo.Bytes, 0)
		}
	}
	list := make([]mailbox.Folder, 0, len(s.names))
	for _, n := range s.names {
		f := *out[n]
		f.UIDValidity = s.uidValidity(n)
		f.UIDNext = f.Messages + 1
		list = append(list, f)
	}
	return list, nil
}

// uidValidity of a set folder: the member's own when there is one file
// behind it, else a hash of the name.
func (s *Set) uidValidity(name string) uint32 {
	if ms := s.byName[name]; len(ms) == 1 {
		return ms[0].info.UIDValidity
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	return h.Sum32() | 1
}

// members returns the parts of a set folder, listing the folders first if
// needed.
func (s *Set) members(ctx context.Context, folder string) ([]member, error) {
	if s.byName == nil {
		if _, err := s.Folders(ctx); err != nil {
			return nil, err
		}
	}
	ms, ok := s.byName[folder]
	if !ok {
		return nil, fmt.Errorf("pst: folder %q: %w", folder, mailbox.ErrFolderGone)
	}
	return ms, nil
}

// Messages lists the messages of a set folder from every file that has it.
func (s *Set) Messages(ctx context.Context, folder string) (mailbox.Folder, []mailbox.Message, error) {
	ms, err := s.members(ctx, folder)
	if err != nil {
		return mailbox.Folder{}, nil, err
	}
	out := mailbox.Folder{Name: folder, UIDValidity: s.uidValidity(folder)}
	listed := map[string]listedMsg{}
	var msgs []mailbox.Message
	for _, m := range ms {
		f, list, err := m.file.src.Messages(ctx, m.name)
		if err != nil {
			return mailbox.Folder{}, nil, err
		}
		if out.Role == "" && s.merge {
			out.Role = f.Role
		}
		out.Bytes += max(f.Bytes, 0)
		for _, msg := range list {
			orig := msg
			msg.Key = m.file.base + ":" + msg.Key
			msg.UID = uint32(len(msgs) + 1)
			listed[msg.Key] = listedMsg{file: m.file, name: m.name, msg: orig}
			msgs = append(msgs, msg)
		}
	}
	s.listed[folder] = listed
	out.Messages = uint32(len(msgs))
	out.UIDNext = out.Messages + 1
	return out, msgs, nil
}

// Skipped lists what the files passed over in the folder.
func (s *Set) Skipped(folder string) []source.Skip {
	var out []source.Skip
	for _, m := range s.byName[folder] {
		for _, sk := range m.file.src.Skipped(m.name) {
			sk.Item = m.file.base + ": " + sk.Item
			out = append(out, sk)
		}
	}
	return out
}

// Items counts the folder's items by message class, mail and other.
func (s *Set) Items(ctx context.Context, folder string) (mail, other map[string]int, err error) {
	ms, err := s.members(ctx, folder)
	if err != nil {
		return nil, nil, err
	}
	mail, other = map[string]int{}, map[string]int{}
	for _, m := range ms {
		a, b, err := m.file.src.Items(ctx, m.name)
		if err != nil {
			return nil, nil, err
		}
		for k, v := range a {
			mail[k] += v
		}
		for k, v := range b {
			other[k] += v
		}
	}
	return mail, other, nil
}

// Fetch streams the bodies of msgs, file by file.
func (s *Set) Fetch(ctx context.Context, folder string, msgs []mailbox.Message, fn func(mailbox.Message, mailbox.Body) error) error {
	listed := s.listed[folder]
	if listed == nil {
		if _, _, err := s.Messages(ctx, folder); err != nil {
			return err
		}
		listed = s.listed[folder]
	}
	type part struct {
		file *setFile
		name string
	}
	groups := map[part][]mailbox.Message{}
	back := map[part]map[string]mailbox.Message{}
	var order []part
	for _, m := range msgs {
		l, ok := listed[m.Key]
		if !ok {
			continue // not in the folder (any more)
		}
		p := part{l.file, l.name}
		if _, ok := groups[p]; !ok {
			order = append(order, p)
			back[p] = map[string]mailbox.Message{}
		}
		groups[p] = append(groups[p], l.msg)
		back[p][l.msg.Key] = m
	}
	for _, p := range order {
		err := p.file.src.Fetch(ctx, p.name, groups[p], func(orig mailbox.Message, b mailbox.Body) error {
			return fn(back[p][orig.Key], b)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Close closes every file.
func (s *Set) Close() error {
	var errs []error
	for _, f := range s.files {
		errs = append(errs, f.src.Close())
	}
	return errors.Join(errs...)
}

// Glob expands a PST path pattern (e.g. /archives/alice/*.pst) to the
// files it names, sorted; a pattern without matches is an error that names
// it.
func Glob(pattern string) ([]string, error) {
	paths, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("pst: %q: %w", pattern, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("pst: no file matches %q", pattern)
	}
	slices.Sort(paths)
	return paths, nil
}

// ExportItems reads the items that are not mail of every file; keys are
// the file's base name and the item's NID ("archive-2019.pst:0x200024"),
// folders are named as Folders names them.
func (s *Set) ExportItems(ctx context.Context, fn func(pim.Item, error) error) error {
	for _, f := range s.files {
		err := f.src.ExportItems(ctx, func(it pim.Item, err error) error {
			it.Key = f.base + ":" + it.Key
			it.Folder = s.setName(f, it.Folder)
			return fn(it, err)
		})
		if err != nil {
			return err
		}
	}
	return nil
}
