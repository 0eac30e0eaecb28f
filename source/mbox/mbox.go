// Package mbox reads mbox files (the endpoint mbox:/exports/%u/) without
// changing them.
//
// The path is one of:
//
//   - a directory: every mbox file in it is a folder named after the file
//     without a ".mbox" or ".mbx" extension; Thunderbird's "Name.sbd"
//     directories hold the child folders of "Name", other directories are
//     levels of the hierarchy, and Apple Mail's "Name.mbox" directories
//     (holding a file "mbox") are the folder "Name" and its children. A
//     top-level file named Inbox (any case) is INBOX. Files are told to be
//     mbox files by their content (they start with a "From " line, or are
//     empty: an empty folder); Thunderbird's .msf index files and names
//     starting with "." are passed over quietly, any other file is
//     reported by Skipped("").
//   - a single file: it is INBOX (a mail spool such as /var/mail/alice, or
//     one exported mailbox), whatever its name.
//   - a pattern with * ? or [ (mbox:/exports/%u/*.mbox): every file (or
//     Apple Mail directory) it matches is a folder, as in a directory.
//
// Folder names are the file names in Unicode (a name that is not UTF-8 is
// read as Latin-1) with "/" as the hierarchy delimiter; Role is always
// empty (mailshift's mapping finds Sent, Drafts, ... by name).
//
// Messages are delimited by "From " lines at the start of the file or
// after an empty line (the empty line belongs to the separator), or
// anywhere when the line ends with a date, as mutt checks. A Content-Length
// header (mboxcl, mboxcl2) is honoured when the body it gives ends where
// the next From_ line (or a blank line before it) or the end of the file
// begins; otherwise the file is scanned for From_ lines.
//
// Quoting: mboxo writers (Python's mailbox, formail, Thunderbird, mutt)
// turn a body line "From ..." into ">From ..." and leave ">From ..."
// alone; mboxrd writers add one ">" to every line matching ^>*From . The
// two cannot be told apart, and the reader takes one ">" off every body
// line matching ^>+From (mboxrd). For mboxrd files this restores the
// message exactly; for mboxo files it restores the "From " lines the
// writer quoted, and a line that was ">From " in the original message
// loses its ">" (no reader can tell it from a quoted one). A body given by
// an honoured Content-Length is taken literally, without unquoting: that
// is mboxcl2, which Dovecot writes (it quotes nothing, and serves such
// bodies as they are); the rare mboxcl (quoted, with Content-Length)
// keeps its quoting ">".
//
// The delivered message leaves out the separator and the quoting, and the
// header fields that mail programs add to keep a message's state in an
// mbox: Status, X-Status, X-Keywords, X-UID, X-IMAP, X-IMAPbase,
// Content-Length, X-Mozilla-Status, X-Mozilla-Status2 and X-Mozilla-Keys
// (Dovecot serves mbox messages without them too); everything else is kept
// as it is, with CRLF line endings. The folder-data message that c-client
// and Dovecot keep first in a folder (with an X-IMAP header) is not a
// message.
//
// Flags come from those fields: Status R is \Seen; X-Status A \Answered,
// F \Flagged, T \Draft, D \Deleted; X-Mozilla-Status bits 0x1 \Seen, 0x2
// \Answered, 0x4 \Flagged, 0x8 \Deleted, 0x1000 $Forwarded; keywords from
// X-Keywords and X-Mozilla-Keys. The internal date is the From_ line's
// date (asctime, with or without a time zone; without one, UTC), else the
// Date header's, else the file's modification time.
//
// A message's Key is the first 16 hex digits of the SHA-256 of its
// delivered content (with CRLF counted as LF), followed by "-2", "-3", ...
// for the second, third ... identical message in the file. It does not
// depend on where the message is in the file, on the separator line or on
// the stripped fields: messages appended to the file, flag changes, and a
// rewrite that removes other messages leave a key as it is (unless an
// identical copy before it is removed, which renumbers the copies). UIDs
// count 1, 2, ... in file order and UIDVALIDITY is 1: the Key, not the
// UID, is a message's identity.
//
// Files of any size are read in one streaming pass by Messages (never
// whole into memory; a file unchanged since the last pass is not read
// again), and Fetch reads each message from its offset. When
// the file changed since it was listed (size, modification time or inode),
// Fetch scans it again and finds the messages by key; those no longer
// there are skipped.
//
// Messages that cannot be delivered are passed over and reported by
// Skipped: an empty message, one whose first line is not a header field,
// and a truncated last message (the file ends inside its header, or before
// the end its Content-Length gives).
package mbox

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

// Source is an mbox file or a directory of them. It is not safe for
// concurrent use.
type Source struct {
	path    string
	mode    mode
	indexes map[string]*index     // by folder: what the last scan found
	known   map[string]folderFile // the folders the last walk found
	skipped map[string][]source.Skip
}

var (
	_ source.Source  = (*Source)(nil)
	_ source.Skipper = (*Source)(nil)
)

// mode is what the path names.
type mode int

const (
	modeFile mode = iota
	modeDir
	modeGlob
)

// openFile opens an mbox file; tests replace it to simulate files that
// cannot be read (tests run as root, who may read anything).
var openFile = os.Open

// index is a scanned file.
type index struct {
	file  string
	stamp stamp
	found []scanned
	skips []source.Skip
	byKey map[string]record
}

func newIndex(file string, fi os.FileInfo, found []scanned, skips []source.Skip) *index {
	idx := &index{file: file, stamp: stampOf(fi), found: found, skips: skips, byKey: make(map[string]record, len(found))}
	for _, m := range found {
		idx.byKey[m.msg.Key] = m.rec
	}
	return idx
}

// stamp tells whether a file changed.
type stamp struct {
	size  int64
	mtime time.Time
	ino   uint64
}

func stampOf(fi os.FileInfo) stamp {
	return stamp{size: fi.Size(), mtime: fi.ModTime(), ino: inode(fi)}
}

// Open opens a directory of mbox files, a single mbox file, or the files
// a pattern matches. A single file that is not an mbox file, or a path
// that does not exist, is an error.
func Open(path string) (*Source, error) {
	s := &Source{path: path, indexes: map[string]*index{}, skipped: map[string][]source.Skip{}}
	if strings.ContainsAny(path, "*?[") {
		if _, err := filepath.Match(path, ""); err != nil {
			return nil, fmt.Errorf("mbox %s: bad pattern: %w", path, err)
		}
		s.mode = modeGlob
		return s, nil
	}
	s.path = filepath.Clean(path)
	fi, err := os.Stat(s.path)
	if err != nil {
		return nil, fmt.Errorf("mbox %s: %w", s.path, err)
	}
	if fi.IsDir() {
		s.mode = modeDir
		return s, nil
	}
	s.mode = modeFile
	f, err := openFile(s.path)
	if err != nil {
		return nil, fmt.Errorf("mbox %s: %w", s.path, err)
	}
	defer f.Close()
	if ok, why, err := isMbox(f); err != nil {
		return nil, fmt.Errorf("mbox %s: %w", s.path, err)
	} else if !ok {
		return nil, fmt.Errorf("mbox %s: %s", s.path, why)
	}
	return s, nil
}

// isMbox tells from its start whether f is an mbox file: it starts with
// "From " (after blank lines), or is empty.
func isMbox(f io.Reader) (ok bool, why string, err error) {
	head, err := mailfile.ReadHead(f)
	if err != nil {
		return false, "", err
	}
	trimmed := head // without empty lines before the first From_ line
	for {
		if t, ok := bytes.CutPrefix(trimmed, []byte("\n")); ok {
			trimmed = t
		} else if t, ok := bytes.CutPrefix(trimmed, []byte("\r\n")); ok {
			trimmed = t
		} else {
			break
		}
	}
	if len(head) == 0 || strings.HasPrefix(string(trimmed), "From ") || len(trimmed) == 0 && len(head) < mailfile.SniffSize {
		return true, "", nil
	}
	return false, fmt.Sprintf("not an mbox file: it starts with %q, not a \"From \" line", head[:min(len(head), 24)]), nil
}

// Describe tells that this is mbox.
func (s *Source) Describe(ctx context.Context) (mailbox.Description, error) {
	return mailbox.Description{Kind: "mbox", Delimiter: '/', QuotaUsed: -1, QuotaLimit: -1}, nil
}

// folderFile is where a folder is: its file, or none for a NoSelect
// folder.
type folderFile struct {
	path     string
	noSelect bool
}

// folders finds the folders; what it passes over is recorded as
// Skipped("").
func (s *Source) folders() (map[string]folderFile, error) {
	out := map[string]folderFile{}
	var skips []source.Skip
	switch s.mode {
	case modeFile:
		out["INBOX"] = folderFile{path: s.path}
	case modeDir:
		if err := s.walk(s.path, "", false, 0, out, &skips); err != nil {
			return nil, err
		}
	case modeGlob:
		matches, err := filepath.Glob(s.path)
		if err != nil {
			return nil, fmt.Errorf("mbox %s: %w", s.path, err)
		}
		for _, m := range matches {
			fi, err := os.Stat(m)
			if err != nil {
				skips = append(skips, source.Skip{Item: m, Reason: fmt.Sprintf("cannot read: %v", mailfile.UnwrapPath(err))})
				continue
			}
			s.entry(filepath.Dir(m), filepath.Base(m), fi.IsDir(), "", 0, out, &skips)
		}
	}
	for n := range out {
		for i := strings.LastIndexByte(n, '/'); i > 0; i = strings.LastIndexByte(n[:i], '/') {
			if _, ok := out[n[:i]]; !ok {
				out[n[:i]] = folderFile{noSelect: true}
			}
		}
	}
	s.skipped[""] = skips
	s.known = out
	return out, nil
}

// walk reads a directory of mbox files whose folders are named prefix +
// file name. apple says it is an Apple Mail "Name.mbox" directory, whose
// own files are not folders.
func (s *Source) walk(dir, prefix string, apple bool, depth int, out map[string]folderFile, skips *[]source.Skip) error {
	ents, err := mailfile.ReadFolderDir("mbox", dir, depth, skips)
	if err != nil {
		return err
	}
	for _, e := range ents {
		n := e.Name()
		isDir := mailfile.IsDir(dir, e)
		if apple && !isDir && (n == "mbox" || n == "table_of_contents" || n == "Info.plist") {
			continue
		}
		s.entry(dir, n, isDir, prefix, depth, out, skips)
	}
	return nil
}

// entry handles one file or directory of a walk.
func (s *Source) entry(dir, n string, isDir bool, prefix string, depth int, out map[string]folderFile, skips *[]source.Skip) {
	p := filepath.Join(dir, n)
	if strings.HasPrefix(n, ".") {
		return
	}
	if isDir {
		switch {
		case hasSuffixFold(n, ".sbd"):
			s.walk(p, prefix+name(n[:len(n)-4], prefix)+"/", false, depth+1, out, skips)
		case hasSuffixFold(n, ".mbox") && isFile(filepath.Join(p, "mbox")):
			folder := prefix + name(n[:len(n)-5], prefix)
			s.add(folder, filepath.Join(p, "mbox"), out, skips)
			s.walk(p, folder+"/", true, depth+1, out, skips)
		default:
			s.walk(p, prefix+name(n, prefix)+"/", false, depth+1, out, skips)
		}
		return
	}
	if hasSuffixFold(n, ".msf") {
		return // Thunderbird's index of the folder beside it
	}
	f, err := openFile(p)
	if err != nil {
		*skips = append(*skips, source.Skip{Item: p, Reason: fmt.Sprintf("cannot read: %v", mailfile.UnwrapPath(err))})
		return
	}
	ok, why, err := isMbox(f)
	f.Close()
	if err != nil {
		*skips = append(*skips, source.Skip{Item: p, Reason: fmt.Sprintf("cannot read: %v", mailfile.UnwrapPath(err))})
		return
	}
	if !ok {
		*skips = append(*skips, source.Skip{Item: p, Reason: why})
		return
	}
	base := n
	for _, ext := range []string{".mbox", ".mbx"} {
		if hasSuffixFold(base, ext) && len(base) > len(ext) {
			base = base[:len(base)-len(ext)]
		}
	}
	s.add(prefix+name(base, prefix), p, out, skips)
}

// add records a folder unless another file has its name.
func (s *Source) add(folder, path string, out map[string]folderFile, skips *[]source.Skip) {
	if prev, ok := out[folder]; ok && !prev.noSelect {
		*skips = append(*skips, source.Skip{Item: path, Reason: fmt.Sprintf("folder %q is already read from %s", folder, prev.path)})
		return
	}
	out[folder] = folderFile{path: path}
}

// name turns a file name into a folder name component; at the top level
// Inbox in any case is INBOX.
func name(disk, prefix string) string {
	n := mailfile.FolderName(disk, false)
	if prefix == "" && strings.EqualFold(n, "INBOX") {
		return "INBOX"
	}
	return n
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// Folders lists every folder with its counters, which means scanning
// every file. What the walk passed over is reported by Skipped("").
func (s *Source) Folders(ctx context.Context) ([]mailbox.Folder, error) {
	all, err := s.folders()
	if err != nil {
		return nil, err
	}
	return mailfile.ListFolders(all, func(ff folderFile) bool { return ff.noSelect }, func(n string, ff folderFile) (mailbox.Folder, error) {
		f, _, err := s.list(ctx, n, ff.path)
		return f, err
	})
}

// lookup finds a folder's file.
func (s *Source) lookup(folder string) (string, string, bool, error) {
	folder = mailfile.Canonical(folder)
	if ff, ok := s.known[folder]; ok && !ff.noSelect && isFile(ff.path) {
		return folder, ff.path, false, nil // as the last walk found it
	}
	all, err := s.folders()
	if err != nil {
		return "", "", false, err
	}
	ff, ok := all[folder]
	if !ok {
		return "", "", false, fmt.Errorf("mbox %s: folder %q: %w", s.path, folder, mailbox.ErrFolderGone)
	}
	return folder, ff.path, ff.noSelect, nil
}

// Messages scans a folder's file and lists its messages in file order.
func (s *Source) Messages(ctx context.Context, folder string) (mailbox.Folder, []mailbox.Message, error) {
	if err := ctx.Err(); err != nil {
		return mailbox.Folder{}, nil, err
	}
	folder, path, noSelect, err := s.lookup(folder)
	if err != nil {
		return mailbox.Folder{}, nil, err
	}
	if noSelect {
		return mailbox.Folder{Name: folder, NoSelect: true}, nil, nil
	}
	return s.list(ctx, folder, path)
}

// list scans path, the file of folder.
func (s *Source) list(ctx context.Context, folder, path string) (mailbox.Folder, []mailbox.Message, error) {
	found, idx, skips, err := s.scan(ctx, folder, path)
	if err != nil {
		return mailbox.Folder{}, nil, err
	}
	f := mailbox.Folder{Name: folder, UIDValidity: 1, UIDNext: uint32(len(found)) + 1}
	msgs := make([]mailbox.Message, len(found))
	for i, m := range found {
		msgs[i] = m.msg
		f.Bytes += m.msg.Size
	}
	f.Messages = uint32(len(msgs))
	s.indexes[folder] = idx
	s.skipped[folder] = skips
	return f, msgs, nil
}

// scan reads a folder's file.
func (s *Source) scan(ctx context.Context, folder, path string) ([]scanned, *index, []source.Skip, error) {
	f, err := openFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, nil, fmt.Errorf("mbox %s: folder %q: %w", path, folder, mailbox.ErrFolderGone)
		}
		return nil, nil, nil, fmt.Errorf("mbox %s: folder %q: %w", path, folder, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("mbox %s: %w", path, err)
	}
	if idx := s.indexes[folder]; idx != nil && idx.file == path && idx.stamp == stampOf(fi) {
		return idx.found, idx, idx.skips, nil // unchanged since the last scan
	}
	found, skips, err := scanFile(f, path, fi, ctx.Err)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, nil, ctx.Err()
		}
		return nil, nil, nil, fmt.Errorf("mbox %s: folder %q: %w", path, folder, err)
	}
	idx := newIndex(path, fi, found, skips)
	return found, idx, skips, nil
}

// Skipped lists what the last Messages (or Folders) call on folder passed
// over; Skipped("") what the walk of the directory passed over.
func (s *Source) Skipped(folder string) []source.Skip {
	return slices.Clone(s.skipped[mailfile.Canonical(folder)])
}

// Fetch delivers the bodies of msgs (from Messages on folder), reading each
// from its offset. If the file changed since it was listed it is scanned
// again and messages are found by key; those gone are skipped.
func (s *Source) Fetch(ctx context.Context, folder string, msgs []mailbox.Message, fn func(mailbox.Message, mailbox.Body) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	folder = mailfile.Canonical(folder)
	idx := s.indexes[folder]
	if idx == nil {
		_, path, noSelect, err := s.lookup(folder)
		if err != nil {
			return err
		}
		if noSelect {
			return nil
		}
		if _, idx, _, err = s.scan(ctx, folder, path); err != nil {
			return err
		}
	}
	f, err := openFile(idx.file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("mbox %s: folder %q: %w", idx.file, folder, mailbox.ErrFolderGone)
		}
		return fmt.Errorf("mbox %s: folder %q: %w", idx.file, folder, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("mbox %s: %w", idx.file, err)
	}
	if stampOf(fi) != idx.stamp {
		found, skips, err := scanFile(f, idx.file, fi, ctx.Err)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("mbox %s: folder %q: %w", idx.file, folder, err)
		}
		idx = newIndex(idx.file, fi, found, skips)
		s.indexes[folder] = idx
	}
	done := make(map[string]bool, len(msgs))
	for _, m := range msgs {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, ok := idx.byKey[m.Key]
		if !ok || done[m.Key] {
			continue // gone, or asked for twice
		}
		done[m.Key] = true
		r := newMessageReader(io.NewSectionReader(f, rec.start, rec.end-rec.start), rec)
		if err := fn(m, mailfile.NewStream(ctx, r, rec.size)); err != nil {
			return err
		}
	}
	return nil
}

// Close releases nothing: no file stays open between calls.
func (s *Source) Close() error { return nil }

// messageReader delivers one message from its bytes in the file.
type messageReader struct {
	lr   *lineReader
	f    filter
	size int64
	n    int64
	buf  []byte // converted piece
	out  []byte // what of buf is not yet read
	err  error
}

func newMessageReader(r io.Reader, rec record) *messageReader {
	return &messageReader{lr: newLineReader(r, rec.start), f: newFilter(rec.literal), size: rec.size}
}

// Read implements io.Reader; it fails with mailfile.ErrChanged if the
// message does not have the size listed.
func (r *messageReader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		piece, _, lineStart, err := r.lr.next()
		if err == io.EOF {
			if r.n != r.size {
				r.err = fmt.Errorf("%w: %d bytes instead of %d", mailfile.ErrChanged, r.n, r.size)
			} else {
				r.err = io.EOF
			}
			continue
		}
		if err != nil {
			r.err = err
			continue
		}
		out, crlf := r.f.feed(piece, lineStart)
		if crlf {
			r.buf = append(append(append(r.buf[:0], out[:len(out)-1]...), '\r'), '\n')
		} else {
			r.buf = append(r.buf[:0], out...)
		}
		r.out = r.buf
		r.n += int64(len(r.out))
		if r.n > r.size {
			r.err = fmt.Errorf("%w: more than the %d bytes listed", mailfile.ErrChanged, r.size)
			r.out = r.out[:0]
		}
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}
