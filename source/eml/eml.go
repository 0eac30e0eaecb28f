// Package eml reads a directory tree of message files, one message per
// file (the endpoint eml:/data/%u/), without changing it.
//
// Folders are directories: the root is INBOX, and a directory is the
// folder named by its path below the root with "/" as the delimiter
// ("Archive/2023"); a top-level directory named Inbox (any case) is INBOX
// too, so that both a root with the inbox's files and an export with one
// directory per folder read naturally. Directory names are taken as UTF-8
// (a name that is not is read as Latin-1). Role is always empty:
// mailshift's mapping finds Sent, Drafts, ... by name. A single file as
// the path is an INBOX that holds it.
//
// Messages are the files ending in ".eml" (any case) and the files without
// an extension (such as MH's numbered files) that start like a mail
// message (a header field). Names starting with "." are passed over
// quietly; every other file is reported by Skipped: files with another
// extension, files that are not mail, empty files, unreadable files.
//
// A message's Key is its path relative to its folder's directory (the file
// name; "Inbox/name.eml" for a file in a top-level Inbox directory). Files
// keep no flags. The internal date is the Date header's, else the file's
// modification time, to the second. Messages are listed oldest first
// (by that date, then key), UIDs count 1, 2, ... in that order and
// UIDVALIDITY is 1: the Key, not the UID, is a message's identity.
// Bodies are delivered with CRLF line endings (bare LF becomes CRLF) and
// the exact size listed. Listing a folder again reads only the files that
// are new or changed (by size and modification time).
package eml

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/source/internal/mailfile"
)

// Source is one tree of message files. It is not safe for concurrent use.
type Source struct {
	root     string
	single   bool // root is one message file
	lists    map[string]*listing
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
	date   time.Time
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
	dirs    []dir
	entries map[string]entry // by key
}

// entry is one listed message file.
type entry struct {
	path   string
	listed mailfile.Listed
}

// Open opens the tree at path (or the single message file path). It fails
// if path does not exist.
func Open(path string) (*Source, error) {
	root := filepath.Clean(path)
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("eml %s: %w", root, err)
	}
	return &Source{root: root, single: !fi.IsDir(), lists: map[string]*listing{}, measures: map[string]map[string]measured{}, skipped: map[string][]source.Skip{}}, nil
}

// Describe tells that this is a tree of message files.
func (s *Source) Describe(ctx context.Context) (mailbox.Description, error) {
	return mailbox.Description{Kind: "eml", Delimiter: '/', QuotaUsed: -1, QuotaLimit: -1}, nil
}

// dir is one directory of a folder; its files' keys start with prefix.
type dir struct {
	path, prefix string
}

// folders finds every folder's directories; what the walk passes over is
// recorded as Skipped("").
func (s *Source) folders() (map[string][]dir, error) {
	out := map[string][]dir{"INBOX": {{path: s.root}}}
	if s.single {
		return out, nil
	}
	var skips []source.Skip
	var walk func(p, prefix string, depth int) error
	walk = func(p, prefix string, depth int) error {
		ents, err := mailfile.ReadFolderDir("eml", p, depth, &skips)
		if err != nil {
			return err
		}
		for _, e := range ents {
			n := e.Name()
			if strings.HasPrefix(n, ".") || !mailfile.IsDir(p, e) {
				continue
			}
			sub := filepath.Join(p, n)
			if depth >= mailfile.MaxDepth {
				skips = append(skips, source.Skip{Item: sub, Reason: fmt.Sprintf("folders nested deeper than %d levels: not read", mailfile.MaxDepth)})
				continue
			}
			name := prefix + mailfile.FolderName(n, false)
			if prefix == "" && strings.EqualFold(name, "INBOX") {
				name = "INBOX"
				out[name] = append(out[name], dir{path: sub, prefix: n + "/"})
			} else {
				out[name] = append(out[name], dir{path: sub})
			}
			if err := walk(sub, name+"/", depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(s.root, "", 0); err != nil {
		return nil, err
	}
	s.skipped[""] = skips
	return out, nil
}

// Folders lists every folder with its counters (which means reading every
// file).
func (s *Source) Folders(ctx context.Context) ([]mailbox.Folder, error) {
	all, err := s.folders()
	if err != nil {
		return nil, err
	}
	return mailfile.ListFolders(all, nil, func(n string, d []dir) (mailbox.Folder, error) {
		f, _, err := s.list(ctx, n, d)
		return f, err
	})
}

// lookup finds a folder's directories: where its name says, else by a walk.
func (s *Source) lookup(folder string) ([]dir, error) {
	folder = mailfile.Canonical(folder)
	if folder != "INBOX" && !s.single {
		p := filepath.Join(s.root, filepath.FromSlash(folder))
		top, _, _ := strings.Cut(folder, "/")
		if fi, err := os.Stat(p); err == nil && fi.IsDir() && !strings.EqualFold(top, "INBOX") && mailfile.PlainPath(folder) {
			return []dir{{path: p}}, nil
		}
	}
	all, err := s.folders()
	if err != nil {
		return nil, err
	}
	dirs, ok := all[folder]
	if !ok {
		return nil, fmt.Errorf("eml %s: folder %q: %w", s.root, folder, mailbox.ErrFolderGone)
	}
	return dirs, nil
}

// Messages lists a folder's message files, oldest first.
func (s *Source) Messages(ctx context.Context, folder string) (mailbox.Folder, []mailbox.Message, error) {
	if err := ctx.Err(); err != nil {
		return mailbox.Folder{}, nil, err
	}
	dirs, err := s.lookup(folder)
	if err != nil {
		return mailbox.Folder{}, nil, err
	}
	return s.list(ctx, mailfile.Canonical(folder), dirs)
}

// Skipped lists what the last Messages (or Folders) call on folder passed
// over; Skipped("") what the walk of the tree passed over.
func (s *Source) Skipped(folder string) []source.Skip {
	return slices.Clone(s.skipped[mailfile.Canonical(folder)])
}

// headMax is how much of a file is kept to find its Date header.
const headMax = 256 << 10

// emlFile is a message file found in a folder's directories.
type emlFile struct {
	key, path string
	info      fs.FileInfo
}

// found is a message file measured: the message and how to find it again.
type found struct {
	msg mailbox.Message
	e   entry
}

// list reads the message files of a folder's directories: it finds them
// (files), measures them (measureFiles), numbers them by date and keeps
// the listing for Fetch (keep). Files passed over are noted in Skipped.
func (s *Source) list(ctx context.Context, folder string, dirs []dir) (mailbox.Folder, []mailbox.Message, error) {
	var skips []source.Skip
	skip := func(p, reason string) { skips = append(skips, source.Skip{Item: p, Reason: reason}) }
	files, err := s.files(folder, dirs, skip)
	if err != nil {
		return mailbox.Folder{}, nil, err
	}
	msgs, seen, err := s.measureFiles(ctx, folder, files, skip)
	if err != nil {
		return mailbox.Folder{}, nil, err
	}
	slices.SortFunc(msgs, func(a, b found) int {
		if c := a.msg.InternalDate.Compare(b.msg.InternalDate); c != 0 {
			return c
		}
		return strings.Compare(a.msg.Key, b.msg.Key)
	})
	f, out := s.keep(folder, dirs, msgs)
	s.skipped[folder] = skips
	s.measures[folder] = seen
	return f, out, nil
}

// files lists the message files of a folder's directories (the one file
// itself when the source is a single file), passing over hidden files,
// subdirectories (folders of their own), what is not a regular file and
// files with an extension other than .eml.
func (s *Source) files(folder string, dirs []dir, skip func(p, reason string)) ([]emlFile, error) {
	var files []emlFile
	for _, d := range dirs {
		if s.single {
			fi, err := os.Stat(d.path)
			if err != nil {
				return nil, fmt.Errorf("eml %s: %w", d.path, mailbox.ErrFolderGone)
			}
			files = append(files, emlFile{key: filepath.Base(d.path), path: d.path, info: fi})
			continue
		}
		ents, err := os.ReadDir(d.path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("eml %s: folder %q: %w", s.root, folder, mailbox.ErrFolderGone)
			}
			return nil, fmt.Errorf("eml %s: folder %q: %w", s.root, folder, err)
		}
		for _, e := range ents {
			if f, ok := dirFile(d, e.Name(), skip); ok {
				files = append(files, f)
			}
		}
	}
	return files, nil
}

// dirFile tells whether the entry name of directory d is a message file,
// noting with skip why not when it is not a hidden file or a directory.
func dirFile(d dir, n string, skip func(p, reason string)) (emlFile, bool) {
	p := filepath.Join(d.path, n)
	if strings.HasPrefix(n, ".") {
		return emlFile{}, false
	}
	fi, err := os.Stat(p)
	if err != nil {
		skip(p, fmt.Sprintf("cannot read: %v", mailfile.UnwrapPath(err)))
		return emlFile{}, false
	}
	if fi.IsDir() {
		return emlFile{}, false // a folder of its own
	}
	if !fi.Mode().IsRegular() {
		skip(p, "not a regular file")
		return emlFile{}, false
	}
	if ext := filepath.Ext(n); ext != "" && !strings.EqualFold(ext, ".eml") {
		skip(p, fmt.Sprintf("not an .eml file (extension %q)", ext))
		return emlFile{}, false
	}
	return emlFile{key: d.prefix + n, path: p, info: fi}, true
}

// measureFiles measures each file (size with CRLF line endings, date),
// reusing the last listing's measure of a file whose size and time have
// not changed. seen is what to reuse next time: files that could not be
// read are left out, to be tried again.
func (s *Source) measureFiles(ctx context.Context, folder string, files []emlFile, skip func(p, reason string)) (msgs []found, seen map[string]measured, err error) {
	prev := s.measures[folder]
	seen = map[string]measured{}
	for i, f := range files {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
		}
		me, ok := prev[f.path]
		if !ok || me.raw != f.info.Size() || !me.mtime.Equal(f.info.ModTime()) {
			me = measured{raw: f.info.Size(), mtime: f.info.ModTime()}
			me.size, me.date, me.reason = measure(f.path, f.info)
		}
		if !strings.HasPrefix(me.reason, "cannot read") {
			seen[f.path] = me // what cannot be read now is tried again next time
		}
		size, date, reason := me.size, me.date, me.reason
		if reason != "" {
			skip(f.path, reason)
			continue
		}
		msgs = append(msgs, found{
			msg: mailbox.Message{Key: f.key, Size: size, InternalDate: date},
			e:   entry{path: f.path, listed: mailfile.Listed{Raw: f.info.Size(), MTime: f.info.ModTime(), Size: size}},
		})
	}
	return msgs, seen, nil
}

// keep numbers the sorted messages from UID 1, keeps the listing of the
// folder for Fetch and returns the folder with its counters.
func (s *Source) keep(folder string, dirs []dir, msgs []found) (mailbox.Folder, []mailbox.Message) {
	f := mailbox.Folder{Name: folder, UIDValidity: 1, UIDNext: uint32(len(msgs)) + 1, Messages: uint32(len(msgs))}
	out := make([]mailbox.Message, len(msgs))
	l := &listing{dirs: dirs, entries: make(map[string]entry, len(msgs))}
	for i := range msgs {
		msgs[i].msg.UID = uint32(i + 1)
		out[i] = msgs[i].msg
		l.entries[msgs[i].msg.Key] = msgs[i].e
		f.Bytes += msgs[i].msg.Size
	}
	s.lists[folder] = l
	return f, out
}

// measure reads a file: its size with CRLF line endings and its internal
// date, or why it is passed over.
func measure(path string, info fs.FileInfo) (size int64, date time.Time, reason string) {
	f, err := openFile(path)
	if err != nil {
		return 0, time.Time{}, fmt.Sprintf("cannot read: %v", mailfile.UnwrapPath(err))
	}
	defer f.Close()
	head := make([]byte, min(info.Size(), headMax))
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF {
		return 0, time.Time{}, fmt.Sprintf("cannot read: %v", mailfile.UnwrapPath(err))
	}
	head = head[:n]
	if ok, why := mailfile.LooksLikeMail(head); !ok {
		return 0, time.Time{}, why
	}
	size, _, err = mailfile.CRLFSize(io.MultiReader(bytes.NewReader(head), f))
	if err != nil {
		return 0, time.Time{}, fmt.Sprintf("cannot read: %v", mailfile.UnwrapPath(err))
	}
	date, ok := mailfile.HeaderDate(head)
	if !ok {
		date = info.ModTime()
	}
	return size, time.Unix(date.Unix(), 0), ""
}

// Fetch delivers the bodies of msgs (from Messages on folder). A message
// whose file is gone is skipped; one that can no longer be read is skipped
// and reported by Skipped(folder).
func (s *Source) Fetch(ctx context.Context, folder string, msgs []mailbox.Message, fn func(mailbox.Message, mailbox.Body) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	folder = mailfile.Canonical(folder)
	l := s.lists[folder]
	if l == nil {
		dirs, err := s.lookup(folder)
		if err != nil {
			return err
		}
		l = &listing{dirs: dirs, entries: map[string]entry{}}
		for _, d := range dirs {
			for _, m := range msgs {
				if rel, ok := strings.CutPrefix(m.Key, d.prefix); ok && !strings.ContainsAny(rel, `/\`) {
					p := d.path
					if !s.single {
						p = filepath.Join(d.path, rel)
					}
					l.entries[m.Key] = entry{path: p, listed: mailfile.Listed{Size: -1}}
				}
			}
		}
	}
	if _, err := os.Stat(l.dirs[0].path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("eml %s: folder %q: %w", s.root, folder, mailbox.ErrFolderGone)
	}
	done := make(map[string]bool, len(msgs))
	for _, m := range msgs {
		if err := ctx.Err(); err != nil {
			return err
		}
		e, ok := l.entries[m.Key]
		if !ok || done[m.Key] {
			continue // not listed, or asked for twice
		}
		done[m.Key] = true
		f, err := openFile(e.path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // gone
		}
		if err != nil {
			s.skipped[folder] = append(s.skipped[folder], source.Skip{Item: e.path, Reason: fmt.Sprintf("cannot read: %v", mailfile.UnwrapPath(err))})
			continue
		}
		body, err := mailfile.NewBody(ctx, f, e.listed)
		if err != nil {
			f.Close()
			s.skipped[folder] = append(s.skipped[folder], source.Skip{Item: e.path, Reason: fmt.Sprintf("cannot read: %v", mailfile.UnwrapPath(err))})
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

// Close releases nothing: no file stays open between calls.
func (s *Source) Close() error { return nil }
