// Package pst reads Outlook PST files ([MS-PST]) without changing them and
// offers each as a mailshift source: the folders below the top of the
// personal folders, their mail as RFC 5322 messages with Outlook's
// categories as keywords, and the items that are not mail (contacts,
// distribution lists, calendar items, tasks, notes, journal entries) for
// conversion to vCard and iCalendar (ExportItems).
//
// ANSI (Outlook 97-2002), Unicode (Outlook 2003 and later) and Unicode
// files with 4 KiB pages and compressed blocks are read, with "permute",
// "cyclic" or no encoding. A password on the file (PidTagPstPassword) is
// not encryption: such files are read as any other and the password is
// reported by Info.
//
// The file is read block by block as needed, never as a whole; attachments
// stream from their blocks. A corrupt file gives an error that names the
// file and what is wrong, never a panic.
package pst

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/source"
)

// Source is one PST file opened read-only. It is not safe for concurrent
// use; open one per goroutine.
type Source struct {
	path    string
	fh      *os.File
	f       *file
	st      *store
	folders []folderInfo
	scans   map[string]*scan
	sizes   map[uint32]int64 // composed sizes by NID
}

var (
	_ source.Source      = (*Source)(nil)
	_ source.Skipper     = (*Source)(nil)
	_ source.ItemCounter = (*Source)(nil)
)

// scan is what listing a folder found.
type scan struct {
	mail  []mailbox.Message
	skips []source.Skip
	mailClasses,
	otherClasses map[string]int
}

// recoverPanics turns a panic while reading a file into an error (a last
// line of defence); fuzzing turns it off to find the panics.
var recoverPanics = true

// Info tells what kind of PST file a Source reads.
type Info struct {
	Format      string // "ANSI", "Unicode" or "Unicode 4K"
	Encoding    string // "none", "permute" or "cyclic"
	StoreName   string // the display name of the message store
	HasPassword bool   // the file has a PST password (which does not encrypt anything)
}

// Open opens the PST file at path and reads its header, message store and
// folder hierarchy.
func Open(path string) (*Source, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pst %s: %w", path, err)
	}
	fi, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("pst %s: %w", path, err)
	}
	s, err := open(path, fh, fi.Size(), true)
	if err != nil {
		fh.Close()
		return nil, err
	}
	s.fh = fh
	return s, nil
}

// open reads a PST from r; checkCRC turns the checksum checks on.
func open(path string, r io.ReaderAt, size int64, checkCRC bool) (s *Source, err error) {
	defer func() {
		if !recoverPanics {
			return
		}
		if p := recover(); p != nil {
			s, err = nil, fmt.Errorf("pst %s: %w: internal error: %v", path, ErrCorrupt, p)
		}
	}()
	f, err := openFile(r, size, checkCRC)
	if err != nil {
		return nil, fmt.Errorf("pst %s: %w", path, err)
	}
	f.indexParents()
	f.names = f.readNames()
	st, err := f.readStore()
	if err != nil {
		return nil, fmt.Errorf("pst %s: %w", path, err)
	}
	folders, err := f.folders(st)
	if err != nil {
		return nil, fmt.Errorf("pst %s: %w", path, err)
	}
	return &Source{path: path, f: f, st: st, folders: folders, scans: map[string]*scan{}, sizes: map[uint32]int64{}}, nil
}

func (s *Source) wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("pst %s: %w", s.path, err)
}

// Info tells the file's format, encoding, store name and whether it has a
// password.
func (s *Source) Info() Info {
	enc := map[byte]string{cryptNone: "none", cryptPermute: "permute", cryptCyclic: "cyclic"}[s.f.crypt]
	return Info{Format: s.f.format.String(), Encoding: enc, StoreName: s.st.name, HasPassword: s.st.hasPassword}
}

// Describe tells that the endpoint is a PST file.
func (s *Source) Describe(ctx context.Context) (mailbox.Description, error) {
	i := s.Info()
	server := fmt.Sprintf("Outlook PST (%s, %s encoding)", i.Format, i.Encoding)
	if i.HasPassword {
		server += ", password set"
	}
	return mailbox.Description{Kind: "pst", Server: server, Delimiter: '/', QuotaUsed: -1, QuotaLimit: -1}, nil
}

// Folders lists the folders below the top of the personal folders, with
// '/' between the levels. Search folders and everything outside the top
// of the personal folders ("Search Root", "SPAM Search Folder 2",
// IPM_VIEWS, "Freebusy Data", ...) are left out. Until Messages has
// listed a folder its Messages counts all its items (mail or not), Bytes
// is -1 and UIDNext is 1, since exact figures need every message composed;
// afterwards they are the mail's count, total size and highest UID + 1.
func (s *Source) Folders(ctx context.Context) ([]mailbox.Folder, error) {
	out := make([]mailbox.Folder, 0, len(s.folders))
	for _, fi := range s.folders {
		f := mailbox.Folder{Name: fi.name, Role: fi.role, Bytes: -1, UIDValidity: s.uidValidity(fi.nid), UIDNext: 1}
		if sc, ok := s.scans[fi.name]; ok {
			f = s.counters(fi, sc)
		} else if ids, err := s.f.contents(fi.nid); err == nil {
			f.Messages = uint32(len(ids))
		}
		out = append(out, f)
	}
	return out, nil
}

// uidValidity derives a folder's UIDVALIDITY from the store's record key
// and the folder's NID: stable for the file, different between folders.
func (s *Source) uidValidity(nid uint32) uint32 {
	h := fnv.New32a()
	h.Write(s.st.recordKey)
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], nid)
	h.Write(b[:])
	if v := h.Sum32(); v != 0 {
		return v
	}
	return 1
}

func (s *Source) folder(name string) (folderInfo, error) {
	for _, fi := range s.folders {
		if fi.name == name {
			return fi, nil
		}
	}
	return folderInfo{}, fmt.Errorf("pst %s: folder %q: %w", s.path, name, mailbox.ErrFolderGone)
}

func (s *Source) counters(fi folderInfo, sc *scan) mailbox.Folder {
	f := mailbox.Folder{Name: fi.name, Role: fi.role, Messages: uint32(len(sc.mail)), UIDValidity: s.uidValidity(fi.nid), UIDNext: 1}
	for _, m := range sc.mail {
		f.Bytes += m.Size
		if m.UID >= f.UIDNext {
			f.UIDNext = m.UID + 1
		}
	}
	return f
}

// uidOf is a message's UID: the index part of its NID, which grows as
// messages are added to the file.
func uidOf(nid uint32) uint32 { return nid >> 5 }

// keyOf is a message's Key: its NID in hexadecimal, e.g. "0x200024".
func keyOf(nid uint32) string { return fmt.Sprintf("%#x", nid) }

func (s *Source) itemName(fi folderInfo, nid uint32, subject string) string {
	item := fmt.Sprintf("%s: %s: message %s", s.path, fi.name, keyOf(nid))
	if subject != "" {
		item += fmt.Sprintf(" %q", subject)
	}
	return item
}

// scanFolder reads the summaries of a folder's items; with sizes it also
// composes every mail message to learn its exact size.
func (s *Source) scanFolder(ctx context.Context, fi folderInfo, sizes bool) (sc *scan, err error) {
	defer func() {
		if !recoverPanics {
			return
		}
		if p := recover(); p != nil {
			sc, err = nil, fmt.Errorf("pst %s: folder %q: %w: internal error: %v", s.path, fi.name, ErrCorrupt, p)
		}
	}()
	ids, err := s.f.contents(fi.nid)
	if err != nil {
		return nil, s.wrap(fmt.Errorf("folder %q: %w", fi.name, err))
	}
	sc = &scan{mailClasses: map[string]int{}, otherClasses: map[string]int{}}
	seen := map[uint32]bool{}
	for _, nid := range ids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if seen[nid] || nid&0x1F != nidTypeMessage {
			continue
		}
		seen[nid] = true
		sum, err := s.f.summarize(nid)
		if err != nil {
			sc.skips = append(sc.skips, source.Skip{Item: s.itemName(fi, nid, ""), Reason: "unreadable: " + err.Error()})
			continue
		}
		class := sum.class
		if class == "" {
			class = "IPM.Note"
		}
		if !isMail(class) {
			sc.otherClasses[class]++
			if _, ok := pimKind(class); !ok { // the others are ExportItems's
				sc.skips = append(sc.skips, source.Skip{Item: s.itemName(fi, nid, sum.subject), Reason: fmt.Sprintf("%s (%s) skipped", kindOf(class), class)})
			}
			continue
		}
		msg := mailbox.Message{Key: keyOf(nid), UID: uidOf(nid), InternalDate: sum.date, Flags: flagsOf(sum)}
		if msg.InternalDate.IsZero() {
			msg.InternalDate = time.Unix(0, 0).UTC()
		}
		if sizes {
			n, err := s.size(nid)
			if err != nil {
				sc.skips = append(sc.skips, source.Skip{Item: s.itemName(fi, nid, sum.subject), Reason: "unreadable: " + err.Error()})
				continue
			}
			msg.Size = n
		}
		sc.mailClasses[class]++
		sc.mail = append(sc.mail, msg)
	}
	sort.Slice(sc.mail, func(i, j int) bool { return sc.mail[i].UID < sc.mail[j].UID })
	return sc, nil
}

func flagsOf(s summary) []string {
	var fl []string
	if s.flags&mfRead != 0 {
		fl = append(fl, `\Seen`)
	}
	if s.flags&mfUnsent != 0 {
		fl = append(fl, `\Draft`)
	}
	if s.flagged {
		fl = append(fl, `\Flagged`)
	}
	if s.answered {
		fl = append(fl, `\Answered`)
	}
	if s.forward {
		fl = append(fl, `$Forwarded`)
	}
	return append(fl, s.keywords...)
}

// read reads the message nid with everything in it.
func (s *Source) read(nid uint32) (m *message, err error) {
	defer func() {
		if !recoverPanics {
			return
		}
		if p := recover(); p != nil {
			m, err = nil, fmt.Errorf("message %s: %w: internal error: %v", keyOf(nid), ErrCorrupt, p)
		}
	}()
	n, err := s.f.openNode(nid)
	if err != nil {
		return nil, err
	}
	m, err = s.f.readMessage(n, 0, s.f.newBudget())
	if err != nil {
		return nil, fmt.Errorf("message %s: %w", keyOf(nid), err)
	}
	return m, nil
}

// size composes the message nid once to learn its exact size.
func (s *Source) size(nid uint32) (int64, error) {
	if n, ok := s.sizes[nid]; ok {
		return n, nil
	}
	m, err := s.read(nid)
	if err != nil {
		return 0, err
	}
	n, err := measure(m)
	if err != nil {
		return 0, fmt.Errorf("message %s: %w", keyOf(nid), err)
	}
	s.sizes[nid] = n
	return n, nil
}

// Messages lists the mail of folder, oldest first (by UID), with exact
// sizes: every message is composed once to measure it, which reads all
// of its bodies and attachments. Key is the message's NID in hexadecimal
// ("0x200024"); UID is the NID's index part (NID >> 5). Items that are
// not mail, and messages that cannot be read, are left out and reported
// by Skipped.
func (s *Source) Messages(ctx context.Context, folder string) (mailbox.Folder, []mailbox.Message, error) {
	fi, err := s.folder(folder)
	if err != nil {
		return mailbox.Folder{}, nil, err
	}
	sc, err := s.scanFolder(ctx, fi, true)
	if err != nil {
		return mailbox.Folder{}, nil, err
	}
	s.scans[folder] = sc
	return s.counters(fi, sc), sc.mail, nil
}

// Skipped lists what the last Messages call on folder passed over: items
// that are neither mail nor exported by ExportItems, with reasons such as
// "configuration item (IPM.Configuration.Foo) skipped", and messages that
// could not be read.
func (s *Source) Skipped(folder string) []source.Skip {
	if sc, ok := s.scans[folder]; ok {
		return sc.skips
	}
	return nil
}

// Items counts the items of folder by message class, mail and other,
// e.g. mail {"IPM.Note": 120}, other {"IPM.Appointment": 14}. It reads
// only each item's properties, not its bodies or attachments; unreadable
// items are counted in other under "unreadable".
func (s *Source) Items(ctx context.Context, folder string) (mail, other map[string]int, err error) {
	fi, err := s.folder(folder)
	if err != nil {
		return nil, nil, err
	}
	sc, err := s.scanFolder(ctx, fi, false)
	if err != nil {
		return nil, nil, err
	}
	for _, sk := range sc.skips {
		if strings.HasPrefix(sk.Reason, "unreadable") {
			sc.otherClasses["unreadable"]++
		}
	}
	return sc.mailClasses, sc.otherClasses, nil
}

// Fetch composes the messages msgs of folder and streams each to fn. A
// message that is no longer in the folder is skipped.
func (s *Source) Fetch(ctx context.Context, folder string, msgs []mailbox.Message, fn func(mailbox.Message, mailbox.Body) error) error {
	fi, err := s.folder(folder)
	if err != nil {
		return err
	}
	ids, err := s.f.contents(fi.nid)
	if err != nil {
		return s.wrap(fmt.Errorf("folder %q: %w", folder, err))
	}
	present := make(map[uint32]bool, len(ids))
	for _, id := range ids {
		present[id] = true
	}
	for _, m := range msgs {
		if err := ctx.Err(); err != nil {
			return err
		}
		nid, err := strconv.ParseUint(strings.TrimPrefix(m.Key, "0x"), 16, 32)
		if err != nil || !present[uint32(nid)] {
			continue
		}
		size, err := s.size(uint32(nid))
		if err != nil {
			return s.wrap(fmt.Errorf("folder %q: %w", folder, err))
		}
		msg, err := s.read(uint32(nid))
		if err != nil {
			return s.wrap(fmt.Errorf("folder %q: %w", folder, err))
		}
		b := streamBody(msg, size)
		err = fn(m, b)
		cerr := b.Close()
		if err != nil {
			return err
		}
		if cerr != nil {
			return s.wrap(cerr)
		}
	}
	return nil
}

// Close closes the file.
func (s *Source) Close() error {
	if s.fh == nil {
		return nil
	}
	err := s.fh.Close()
	s.fh = nil
	return err
}
