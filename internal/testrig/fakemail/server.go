// Package fakemail is an in-memory mail server for fast tests of the copy
// engine: accounts of folders of messages (UID, flags, internal date,
// bytes; per folder UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ) that tests
// read through source.Source and write through target.Target "connections",
// as many at once as they like.
//
// It behaves like target/imaptarget and source/imapsource on Dovecot where
// mailshift relies on it (a missing folder wraps mailbox.ErrFolderGone,
// creating an existing folder is no error, a batch is stored all or
// nothing, Fetch skips vanished messages, sizes are exact; both pass the
// conformance suites source/sourcetest and target/targettest) and lets a
// test change what the server can do and how it fails between any two
// calls:
//
//   - capabilities and quirks: Options (UIDPLUS, MULTIAPPEND, CONDSTORE,
//     special-use, keywords, delimiter, UIDVALIDITY on rename, size limit,
//     quota, folders that hold either mail or folders);
//   - dropped connections: SetCut (in the middle of an append, the message
//     or group stored or not), SetFetchCut (in the middle of a Fetch),
//     Disconnect (every connection of an account);
//   - refusals: Options.Refuse (messages), Options.FolderFaults (any
//     operation on a folder, with any error kind, for a number of calls);
//   - Counters of the work each account received, to assert that work was
//     not repeated.
//
// Tests seed and change mailboxes directly (Put, SetFlags, Expunge,
// Rename, Delete, ResetUIDValidity) and compare them (Snapshot, Compare).
//
// A Server is safe for concurrent use; each connection (Source, Target) is
// too, though mailshift uses each from one goroutine at a time.
package fakemail

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
	"github.com/mailshift/mailshift/target"
)

// Op names an operation on a folder, for FolderFault.
type Op string

// Operations a FolderFault can make fail.
const (
	OpStatus   Op = "status"   // Target.Status; Folders lists the folder with Error set
	OpMessages Op = "messages" // Messages (source and target), Changes, Keys
	OpFetch    Op = "fetch"    // Fetch (source and target)
	OpCreate   Op = "create"   // Target.CreateFolder
	OpAppend   Op = "append"   // Target.Append and AppendBatch
	OpSetFlags Op = "setflags" // Target.SetFlags
	OpExpunge  Op = "expunge"  // Target.Expunge
	OpRename   Op = "rename"   // Target.RenameFolder (either name)
	OpDelete   Op = "delete"   // Target.DeleteFolder
)

// FolderFault makes operations on a folder fail with Err.
type FolderFault struct {
	User   string // "" for every account
	Folder string // the folder's full name, as the server spells it; "" for every folder
	Ops    []Op   // nil for every operation
	Err    error  // e.g. mailbox.Mark(mailbox.ErrRefused, errors.New("...")), or ErrBusy
	// Times, if > 0, is how many calls fail; the calls after them
	// succeed. Counted from when the fault was set (SetOptions, Change
	// or FailFolder; changing the options keeps the counts of faults
	// that stay at the same place in FolderFaults).
	Times int
}

// Options are what the server can do, and the faults that do not depend on
// the traffic. The zero value is a full-featured server (UIDPLUS,
// MULTIAPPEND, CONDSTORE, special-use creation, keywords, "/" delimiter,
// RENAME keeps UIDVALIDITY) that refuses nothing.
type Options struct {
	NoUIDPlus     bool // APPEND does not say the new UID: Appended.UID is 0
	NoMultiAppend bool // BatchAppender.Batches is false; AppendBatch is refused
	NoCondStore   bool // no HIGHESTMODSEQ or MODSEQ (reported as 0)
	NoSpecialUse  bool // CreateFolder ignores roles; Folders report none
	NoKeywords    bool // keywords are silently dropped on APPEND and STORE
	// Redial makes a broken connection connect again at its next call,
	// as the IMAP backend does (internal/imapconn dials again when a call
	// finds its connection gone): only the call that broke it fails.
	Redial bool

	// Delimiter is the hierarchy separator, '/' if 0. Set it before
	// seeding: names already stored are not converted.
	Delimiter rune

	// RenameNewUIDValidity gives renamed folders (and their subfolders)
	// a new UIDVALIDITY, as Courier does.
	RenameNewUIDValidity bool

	// AppendLimit refuses messages over so many bytes ([TOOBIG]) and is
	// reported by Describe; 0 for no limit.
	AppendLimit int64

	// Refuse, if set, is asked about every message appended; a non-nil
	// answer refuses it. A batch holding a refused message is refused
	// whole (target.ErrBatchRefused) and nothing of it is stored.
	Refuse func(folder string, flags []string, body []byte) *target.RejectedError

	// FolderFaults make operations on named folders fail.
	FolderFaults []FolderFault

	// MailOrFolders makes a folder hold either mail or folders, as
	// Dovecot with mbox storage does: parents made on the way are
	// hierarchy nodes (NoSelect) that take no mail (Status, Messages and
	// Fetch fail with mailbox.ErrRefused, appends are refused), and a
	// folder that can hold mail takes no child (CreateFolder fails with
	// mailbox.ErrRefused). INBOX may have children.
	MailOrFolders bool

	// Latency, if > 0, is how long every call on a connection waits
	// before it is served (a distant server; once per call, not per
	// message a Fetch delivers), without holding up the other
	// connections; an ended context cuts the wait short.
	Latency time.Duration

	// QuotaBytes, if > 0, is each account's storage quota: an append
	// that would take an account over it is refused ([OVERQUOTA]), and
	// Describe reports the quota.
	QuotaBytes int64
}

// Cut drops a target connection in the middle of an append: once After
// more bytes of message bodies have been appended to the account (counted
// from when the cut was set, across all its connections), the Append or
// AppendBatch that crosses the mark fails with an error marked
// mailbox.ErrTransient. With AnswerLost the message (or the whole batch)
// was stored before the answer was lost; otherwise none of it was. The
// connection stays broken afterwards: every later call on it fails with a
// transient error until the test opens a new one.
type Cut struct {
	After      int64
	AnswerLost bool
	// Times is how many appends are cut, each After bytes after the
	// previous cut; 0 means once.
	Times int
}

// SetFetchCut drops a connection of user's in the middle of a Fetch: once
// more than after bytes of bodies have been delivered to the account's
// connections (counted from now), the message that crosses the mark is
// not delivered, Fetch fails with an error marked mailbox.ErrTransient,
// and that connection stays broken until the test opens a new one. times
// is how many fetches are cut, each after bytes after the previous cut
// (0: once).
func (s *Server) SetFetchCut(user string, after int64, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.account(user).fetchCut = &cutState{Cut: Cut{After: after, Times: times}, left: after}
}

// ClearFetchCut disarms SetFetchCut.
func (s *Server) ClearFetchCut(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.account(user).fetchCut = nil
}

// Counters tell how much work an account received. Calls that failed
// count too.
type Counters struct {
	Connections   int64 // Source and Target opened
	Appends       int64 // Append calls
	Batches       int64 // AppendBatch calls (with at least one item)
	Stored        int64 // messages stored by Append and AppendBatch
	StoredBytes   int64 // their bytes
	ReceivedBytes int64 // bytes of message bodies received by appends, stored or not
	Cuts          int64 // appends cut by a Cut
	FetchCuts     int64 // fetches cut by SetFetchCut
	Fetches       int64 // Fetch calls (source and target)
	Fetched       int64 // messages delivered by Fetch
	FetchedBytes  int64 // their bytes
	Listings      int64 // Messages, Changes and Keys calls
	FlagChanges   int64 // SetFlags calls
	Expunged      int64 // messages removed by Target.Expunge
}

// Server is an in-memory mail server.
type Server struct {
	mu       sync.Mutex
	opts     Options
	failed   []int // calls failed by each of opts.FolderFaults
	accounts map[string]*account
	clock    time.Time
}

// account is one user's mailbox.
type account struct {
	folders  map[string]*folder // by full name; INBOX is "INBOX"
	counts   Counters
	cut      *cutState // of appends
	fetchCut *cutState // of fetches
	conns    map[*conn]struct{}
}

type cutState struct {
	Cut
	left  int64 // bytes until the next cut
	fired int
}

// take counts n bytes against *c and tells whether the connection drops
// within them; a spent cut sets *c to nil.
func take(c **cutState, n int64) (hit, answerLost bool) {
	cs := *c
	if cs == nil {
		return false, false
	}
	if n <= cs.left {
		cs.left -= n
		return false, false
	}
	cs.fired++
	cs.left = cs.After
	if cs.fired >= max(cs.Times, 1) {
		*c = nil
	}
	return true, cs.AnswerLost
}

// folder is one folder of an account.
type folder struct {
	name        string
	noSelect    bool // a hierarchy node (Options.MailOrFolders)
	role        string
	uidValidity uint32
	uidNext     uint32
	modSeq      uint64
	msgs        []*message // ascending UID
}

// message is one stored message. body is never modified once stored.
type message struct {
	uid    uint32
	flags  []string // normalised, sorted
	date   time.Time
	body   []byte
	modSeq uint64
}

// NewServer returns an empty server with the zero Options.
func NewServer() *Server {
	return &Server{accounts: map[string]*account{}}
}

// validities hands out UIDVALIDITY values, unique within the process, so
// that a server made anew (a rebuilt target) never repeats one of an
// earlier server's.
var validities atomic.Uint32

func init() { validities.Store(uint32(time.Now().Unix() % 1_000_000_000)) }

// Options returns the server's current options.
func (s *Server) Options() Options {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts
}

// SetOptions replaces the server's options; calls from then on see them.
func (s *Server) SetOptions(o Options) {
	s.Change(func(old *Options) { *old = o })
}

// Change lets f edit the server's options in place.
func (s *Server) Change(f func(o *Options)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.opts)
	failed := make([]int, len(s.opts.FolderFaults))
	copy(failed, s.failed)
	s.failed = failed
}

// FailFolder adds a FolderFault: ops (every operation if none) on folder of
// user ("" for every account) fail with err.
func (s *Server) FailFolder(user, folder string, err error, ops ...Op) {
	s.Change(func(o *Options) {
		o.FolderFaults = append(slices.Clone(o.FolderFaults), FolderFault{User: user, Folder: folder, Ops: ops, Err: err})
	})
}

// SetCut arms c on user's account, replacing any cut armed before; the
// zero Cut disarms it.
func (s *Server) SetCut(user string, c Cut) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.account(user)
	if c == (Cut{}) {
		a.cut = nil
		return
	}
	a.cut = &cutState{Cut: c, left: c.After}
}

// Disconnect breaks every open connection of user, as a server restart
// would: their calls fail with transient errors from now on.
func (s *Server) Disconnect(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.account(user)
	for c := range a.conns {
		c.broken = mailbox.Mark(mailbox.ErrTransient, fmt.Errorf("fakemail: connection of %q was closed by the server", user))
	}
}

// Counters returns what user's account received so far.
func (s *Server) Counters(user string) Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.account(user).counts
}

// ResetCounters sets user's counters to zero.
func (s *Server) ResetCounters(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.account(user).counts = Counters{}
}

// AddUser creates user's account (with an empty INBOX) if it does not
// exist. Opening a connection or Put does so too.
func (s *Server) AddUser(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.account(user)
}

// Users lists the accounts, sorted.
func (s *Server) Users() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for u := range s.accounts {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

// account returns user's account, creating it. s.mu is held.
func (s *Server) account(user string) *account {
	a, ok := s.accounts[user]
	if !ok {
		a = &account{folders: map[string]*folder{}, conns: map[*conn]struct{}{}}
		s.accounts[user] = a
		s.newFolder(a, "INBOX", "")
	}
	return a
}

func (s *Server) delim() rune {
	if s.opts.Delimiter == 0 {
		return '/'
	}
	return s.opts.Delimiter
}

// canon spells INBOX (in any case, also as the first component) "INBOX".
func (s *Server) canon(name string) string {
	d := string(s.delim())
	first, rest, nested := strings.Cut(name, d)
	if strings.EqualFold(first, "INBOX") {
		if nested {
			return "INBOX" + d + rest
		}
		return "INBOX"
	}
	return name
}

// nextValidity hands out a UIDVALIDITY no folder had before.
func (s *Server) nextValidity() uint32 { return validities.Add(1) }

// newFolder creates name in a (not its parents). s.mu is held.
func (s *Server) newFolder(a *account, name, role string) *folder {
	f := &folder{name: name, role: role, uidValidity: s.nextValidity(), uidNext: 1, modSeq: 1}
	a.folders[name] = f
	return f
}

// validName checks a folder name: not empty, no empty component.
func (s *Server) validName(name string) error {
	if name == "" {
		return mailbox.Mark(mailbox.ErrRefused, fmt.Errorf("fakemail: empty folder name"))
	}
	for _, p := range strings.Split(name, string(s.delim())) {
		if p == "" {
			return mailbox.Mark(mailbox.ErrRefused, fmt.Errorf("fakemail: folder name %q has an empty component", name))
		}
	}
	return nil
}

// create creates name and its missing parents; an existing folder is left
// as it is. s.mu is held.
func (s *Server) create(a *account, name, role string) error {
	name = s.canon(name)
	if err := s.validName(name); err != nil {
		return err
	}
	if s.opts.NoSpecialUse {
		role = ""
	}
	parts := strings.Split(name, string(s.delim()))
	if s.opts.MailOrFolders {
		// Refuse before creating anything: a parent that holds mail
		// cannot take a child.
		for i := range parts[:len(parts)-1] {
			p := strings.Join(parts[:i+1], string(s.delim()))
			if f, ok := a.folders[p]; ok && !f.noSelect && p != "INBOX" {
				return mailbox.Mark(mailbox.ErrRefused, fmt.Errorf("fakemail: create folder %q: %q holds mail and cannot hold folders", name, p))
			}
		}
	}
	for i := range parts {
		p := strings.Join(parts[:i+1], string(s.delim()))
		if _, ok := a.folders[p]; ok {
			continue
		}
		r := ""
		if i == len(parts)-1 {
			r = role
		}
		f := s.newFolder(a, p, r)
		f.noSelect = s.opts.MailOrFolders && i < len(parts)-1
	}
	return nil
}

// normFlags drops \Recent, duplicates (system flags case-insensitively)
// and, without keywords, keywords; system flags get their usual spelling.
func normFlags(flags []string, keywords bool) []string {
	out := []string{}
	for _, f := range flags {
		if f == "" {
			continue
		}
		if strings.HasPrefix(f, `\`) {
			switch strings.ToLower(f) {
			case `\seen`:
				f = `\Seen`
			case `\answered`:
				f = `\Answered`
			case `\flagged`:
				f = `\Flagged`
			case `\draft`:
				f = `\Draft`
			case `\deleted`:
				f = `\Deleted`
			default:
				continue // \Recent and unknown system flags
			}
		} else if !keywords {
			continue
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

// store adds a message to f. s.mu is held.
func (s *Server) store(f *folder, flags []string, date time.Time, body []byte) *message {
	if date.IsZero() {
		date = s.now()
	}
	f.modSeq++
	m := &message{uid: f.uidNext, flags: normFlags(flags, !s.opts.NoKeywords), date: date.Truncate(time.Second), body: body, modSeq: f.modSeq}
	f.uidNext++
	f.msgs = append(f.msgs, m)
	return m
}

// now is the internal date of a message appended without one.
func (s *Server) now() time.Time {
	return time.Now().Truncate(time.Second)
}

// find returns the index of uid in f.msgs, or -1.
func (f *folder) find(uid uint32) int {
	i, ok := slices.BinarySearchFunc(f.msgs, uid, func(m *message, u uint32) int {
		switch {
		case m.uid < u:
			return -1
		case m.uid > u:
			return 1
		}
		return 0
	})
	if !ok {
		return -1
	}
	return i
}

// counters returns f's counters as mailbox.Folder (Bytes summed).
func (s *Server) counters(f *folder) mailbox.Folder {
	var n int64
	for _, m := range f.msgs {
		n += int64(len(m.body))
	}
	out := mailbox.Folder{
		Name:        f.name,
		Role:        f.role,
		NoSelect:    f.noSelect,
		Messages:    uint32(len(f.msgs)),
		Bytes:       n,
		UIDValidity: f.uidValidity,
		UIDNext:     f.uidNext,
	}
	if !s.opts.NoCondStore {
		out.HighestModSeq = f.modSeq
	}
	if s.opts.NoSpecialUse {
		out.Role = ""
	}
	return out
}

// used is the bytes an account's messages take.
func (a *account) used() int64 {
	var n int64
	for _, f := range a.folders {
		for _, m := range f.msgs {
			n += int64(len(m.body))
		}
	}
	return n
}

// meta returns m as mailbox.Message.
func (s *Server) meta(m *message) mailbox.Message {
	out := mailbox.Message{
		Key:          fmt.Sprint(m.uid),
		UID:          m.uid,
		Size:         int64(len(m.body)),
		Flags:        slices.Clone(m.flags),
		InternalDate: m.date,
	}
	if !s.opts.NoCondStore {
		out.ModSeq = m.modSeq
	}
	return out
}

// fault returns the error a FolderFault sets for op on folder, or nil.
func (s *Server) fault(user string, op Op, folder string) error {
	folder = s.canon(folder)
	for i, ff := range s.opts.FolderFaults {
		if ff.User != "" && ff.User != user || ff.Folder != "" && s.canon(ff.Folder) != folder {
			continue
		}
		if len(ff.Ops) > 0 && !slices.Contains(ff.Ops, op) || ff.Times > 0 && s.failed[i] >= ff.Times {
			continue
		}
		s.failed[i]++
		return fmt.Errorf("fakemail: %s folder %q of %q: %w", op, folder, user, ff.Err)
	}
	return nil
}

// gone is the error for a folder that does not exist.
func gone(op, user, folder string) error {
	return fmt.Errorf("fakemail: %s folder %q of %q: %w", op, folder, user, mailbox.ErrFolderGone)
}

// Put stores a message in user's folder (created with its parents if
// missing), without faults or counters, and returns its UID. A zero date
// is now.
func (s *Server) Put(user, folder string, body []byte, flags []string, date time.Time) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.account(user)
	folder = s.canon(folder)
	if err := s.create(a, folder, ""); err != nil {
		panic(err)
	}
	return s.store(a.folders[folder], flags, date, slices.Clone(body)).uid
}

// CreateFolder creates user's folder and its missing parents, with role
// (without Options.NoSpecialUse), as a mail client would.
func (s *Server) CreateFolder(user, folder, role string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.create(s.account(user), folder, role)
}

// SetFlags replaces the flags of a message of user, as a mail client
// would; a UID the folder does not hold is an error.
func (s *Server) SetFlags(user, folder string, uid uint32, flags []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.account(user).folders[s.canon(folder)]
	if !ok {
		return gone("set flags in", user, folder)
	}
	i := f.find(uid)
	if i < 0 {
		return fmt.Errorf("fakemail: folder %q of %q has no UID %d", folder, user, uid)
	}
	s.setFlags(f, i, flags)
	return nil
}

func (s *Server) setFlags(f *folder, i int, flags []string) {
	f.modSeq++
	m := *f.msgs[i]
	m.flags, m.modSeq = normFlags(flags, !s.opts.NoKeywords), f.modSeq
	f.msgs[i] = &m
}

// Expunge removes messages of user by UID, as a mail client would.
func (s *Server) Expunge(user, folder string, uids ...uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.account(user).folders[s.canon(folder)]
	if !ok {
		return gone("expunge from", user, folder)
	}
	s.expunge(f, uids)
	return nil
}

// expunge removes uids from f and returns how many it removed.
func (s *Server) expunge(f *folder, uids []uint32) int {
	n := len(f.msgs)
	f.msgs = slices.DeleteFunc(slices.Clone(f.msgs), func(m *message) bool { return slices.Contains(uids, m.uid) })
	if len(f.msgs) != n {
		f.modSeq++
	}
	return n - len(f.msgs)
}

// Rename renames user's folder (with its subfolders), as a mail client
// would; Options.RenameNewUIDValidity applies.
func (s *Server) Rename(user, from, to string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rename(user, s.account(user), from, to)
}

func (s *Server) rename(user string, a *account, from, to string) error {
	from, to = s.canon(from), s.canon(to)
	if err := s.validName(to); err != nil {
		return err
	}
	if from == "INBOX" {
		return mailbox.Mark(mailbox.ErrRefused, fmt.Errorf("fakemail: renaming INBOX of %q is not supported", user))
	}
	if _, ok := a.folders[from]; !ok {
		return gone("rename", user, from)
	}
	if _, ok := a.folders[to]; ok {
		return mailbox.Mark(mailbox.ErrRefused, fmt.Errorf("fakemail: rename folder %q of %q: %q exists [ALREADYEXISTS]", from, user, to))
	}
	d := string(s.delim())
	if strings.HasPrefix(to+d, from+d) {
		return mailbox.Mark(mailbox.ErrRefused, fmt.Errorf("fakemail: rename folder %q of %q into itself (%q)", from, user, to))
	}
	var moved []*folder
	for name, f := range a.folders {
		if name == from || strings.HasPrefix(name, from+d) {
			delete(a.folders, name)
			f.name = to + strings.TrimPrefix(name, from)
			moved = append(moved, f)
		}
	}
	if i := strings.LastIndex(to, d); i > 0 {
		if err := s.create(a, to[:i], ""); err != nil {
			return err
		}
	}
	for _, f := range moved {
		if s.opts.RenameNewUIDValidity {
			f.uidValidity = s.nextValidity()
		}
		a.folders[f.name] = f
	}
	return nil
}

// Delete deletes user's folder (not its subfolders), as a mail client
// would. A missing folder is not an error.
func (s *Server) Delete(user, folder string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delete(user, s.account(user), folder)
}

func (s *Server) delete(user string, a *account, name string) error {
	name = s.canon(name)
	if name == "INBOX" {
		return mailbox.Mark(mailbox.ErrRefused, fmt.Errorf("fakemail: INBOX of %q cannot be deleted", user))
	}
	delete(a.folders, name)
	return nil
}

// ResetUIDValidity gives user's folder a new UIDVALIDITY and numbers its
// messages again from 1, as a server that rebuilt its index would.
func (s *Server) ResetUIDValidity(user, folder string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.account(user).folders[s.canon(folder)]
	if !ok {
		return gone("reset", user, folder)
	}
	f.uidValidity = s.nextValidity()
	f.modSeq++
	msgs := make([]*message, len(f.msgs))
	for i, m := range f.msgs {
		c := *m
		c.uid, c.modSeq = uint32(i+1), f.modSeq
		msgs[i] = &c
	}
	f.msgs, f.uidNext = msgs, uint32(len(msgs)+1)
	return nil
}

// Folder returns the counters of user's folder, and whether it exists.
func (s *Server) Folder(user, folder string) (mailbox.Folder, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.account(user).folders[s.canon(folder)]
	if !ok {
		return mailbox.Folder{}, false
	}
	return s.counters(f), true
}

// Snapshot returns every folder of user (empty ones too) with its messages
// in UID order: bytes, flags (sorted), internal date and UID, in the shape
// imaptest.Compare takes.
func (s *Server) Snapshot(user string) map[string][]imaptest.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]imaptest.Message{}
	for name, f := range s.account(user).folders {
		msgs := []imaptest.Message{}
		for _, m := range f.msgs {
			msgs = append(msgs, imaptest.Message{Folder: name, Body: slices.Clone(m.body), Flags: slices.Clone(m.flags), InternalDate: m.date, UID: m.uid})
		}
		out[name] = msgs
	}
	return out
}

// Compare checks that dst's account dstUser holds what src's account
// srcUser holds, folder by folder under the same names: the same
// messages (bytes, flags, internal dates; duplicates counted) in every
// folder of the source, whatever their UIDs. Folders only the target has
// are left alone. src and dst may be the same server.
func Compare(t testing.TB, src *Server, srcUser string, dst *Server, dstUser string) {
	t.Helper()
	want, got := src.Snapshot(srcUser), dst.Snapshot(dstUser)
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		g, ok := got[n]
		if !ok {
			t.Errorf("folder %q of %q has no counterpart in %q", n, srcUser, dstUser)
			continue
		}
		imaptest.Compare(t, n, want[n], g)
	}
}
