// Package gmaillike is an IMAP server for tests that behaves the way Gmail
// does towards an IMAP client, so that mailshift's Gmail handling is tested
// without Google: labels shown as folders, every message once more in
// "[Gmail]/All Mail", the X-GM-EXT-1 fetch items, throttling and the
// daily-limit refusal, refused names and a connection limit.
//
// It is an in-memory go-imap v2 server (internal/memserver) with a small
// proxy in front that adds what go-imap's server cannot say (the X-GM-*
// fetch items, special-use attributes, the THROTTLED and OVERQUOTA answers),
// the way internal/testrig/quirkproxy does for other servers' quirks. Each
// message added is stored once per folder it shows in; the server keeps
// which stored copy is which Gmail message.
//
// Every behaviour is Gmail's as documented; the sources:
//
//   - [ext] Google, "IMAP Extensions",
//     https://developers.google.com/gmail/imap/imap-extensions: the
//     X-GM-EXT-1 capability; X-GM-MSGID, "a unique message ID" that is the
//     same in every folder the message shows in (a 64-bit unsigned
//     number); X-GM-LABELS, the message's labels as a list of astrings,
//     system labels spelled with a backslash (\Inbox, \Sent, \Draft,
//     \Important, \Starred), user labels by name; labels act as folders;
//     the special-use attributes on LIST (\All, \Drafts, \Important, \Sent,
//     \Junk, \Flagged, \Trash) and "[Gmail]" as a \Noselect parent.
//   - [faq] imapsync, FAQ.d/FAQ.Gmail.txt
//     (https://imapsync.lamiral.info/FAQ.d/FAQ.Gmail.txt): the folder names
//     "[Gmail]/All Mail" (\All), "[Gmail]/Drafts", "[Gmail]/Sent Mail",
//     "[Gmail]/Spam" (\Junk), "[Gmail]/Starred" (\Flagged),
//     "[Gmail]/Trash"; "a message labelled Work ProjectX Urgent ends up in
//     three folders" plus All Mail; Gmail refuses to create a label named
//     like a category ("Updates"), "saying it's a reserved name"; the IMAP
//     limits of 2500 MB download and 500 MB upload per day and account
//     (citing https://support.google.com/a/answer/1071518).
//   - [limits] Google Workspace Admin Help, "Gmail bandwidth limits",
//     https://support.google.com/a/answer/1071518: the same daily IMAP
//     limits; reaching them "temporarily stops" IMAP for the account.
//   - [throttled] Gmail's answers as logged in client projects: "OK Success
//     [THROTTLED]" on completed commands while Gmail slows an account down
//     (jstedfast/MailKit#1396, mscdex/node-imap#593), and "NO [OVERQUOTA]
//     Account exceeded command or bandwidth limits." to a FETCH once the
//     limits are spent (ljmerza/ha-email-sensor#16, mailcow/mailcow-
//     dockerized#1554).
//   - [conns] Gmail Help, "Too many simultaneous connections"
//     (http://mail.google.com/support/bin/answer.py?answer=97150): Gmail
//     caps the IMAP connections per account, at 10 when the page was
//     written (later third-party pages say 15), and refuses more with
//     "Too many simultaneous connections".
//   - [spam] Gmail Help (https://support.google.com/mail/answer/7401): mail
//     in Spam and Trash is not in All Mail.
//   - [store] Google, "IMAP Extensions" [ext], section X-GM-LABELS
//     (https://developers.google.com/gmail/imap/imap-extensions#x-gm-labels):
//     labels are added with STORE +X-GM-LABELS (label list) and taken
//     away with -X-GM-LABELS, UID STORE alike; since labels are shown as
//     folders, a message appended to a folder has that folder's label.
//   - [dup] imapsync, FAQ.d/FAQ.Gmail.txt, "Can I safely use --useuid or
//     --usecache for Gmail transfers?": "Gmail always accept a global
//     duplicate message as a new message, giving imapsync a new UID for
//     this message, and throw it away because it already has it ... It
//     ends up with no duplicates on Gmail". The new UID is one of the
//     folder appended to, where the message then shows, which on Gmail
//     means it has that folder's label: this server adds the label. How
//     Gmail tells a duplicate is not documented; this server takes the
//     same bytes for the same message.
//
// Not modelled: STORE -X-GM-LABELS, the untagged FETCH Gmail answers a
// STORE X-GM-LABELS with, X-GM-THRID threads (served as the message ID),
// X-GM-RAW search, MULTIAPPEND.
package gmaillike

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/mailshift/mailshift/internal/memserver"
)

// Folder names of Gmail's system labels [faq].
const (
	AllMail   = "[Gmail]/All Mail"
	Sent      = "[Gmail]/Sent Mail"
	Drafts    = "[Gmail]/Drafts"
	Important = "[Gmail]/Important"
	Starred   = "[Gmail]/Starred"
	Spam      = "[Gmail]/Spam"
	Trash     = "[Gmail]/Trash"
)

// DefaultMaxConnections is Gmail's cap on simultaneous IMAP connections
// per account, as Gmail Help gives it [conns].
const DefaultMaxConnections = 10

// systemFolders maps system labels, as X-GM-LABELS spells them [ext], to
// the folders they show as [faq]. \Inbox is INBOX.
var systemFolders = map[string]string{
	`\Inbox`:     "INBOX",
	`\Sent`:      Sent,
	`\Draft`:     Drafts,
	`\Important`: Important,
	`\Starred`:   Starred,
}

// specialUse are the special-use attributes LIST shows [ext].
var specialUse = map[string]string{
	AllMail: `\All`, Sent: `\Sent`, Drafts: `\Drafts`, Important: `\Important`,
	Starred: `\Flagged`, Spam: `\Junk`, Trash: `\Trash`,
}

// reserved are names Gmail will not create as labels: the categories
// [faq] ("Updates" named there; the other categories alike) and the
// system folders' parent.
var reserved = []string{"Updates", "Social", "Promotions", "Forums", "Primary", "[Gmail]"}

// Message is one Gmail message to add.
type Message struct {
	Body  []byte
	Date  time.Time // internal date; zero: now
	Flags []string  // \Seen, \Flagged, ...
	// Labels are X-GM-LABELS: system labels (\Inbox, \Sent, \Draft,
	// \Important, \Starred) and user labels by name ("Work",
	// "Work/Projects"). A message without labels is archived: it shows
	// in All Mail only.
	Labels []string
}

// Server is a running Gmail-like server.
type Server struct {
	// Addr is where clients connect, "127.0.0.1:PORT".
	Addr string

	mem   *memserver.Server
	proxy *proxy

	mu       sync.Mutex
	accounts map[string]*account
	maxConns int
}

// account is one user's Gmail: its messages and where each stored copy is.
type account struct {
	password  string
	nextID    uint64
	nextUID   map[string]uint32            // per folder: the UID the next copy gets
	folders   map[string]bool              // folders made so far
	ids       map[string]map[uint32]uint64 // folder -> UID -> X-GM-MSGID
	labels    map[uint64][]string          // X-GM-MSGID -> labels
	msgs      map[uint64]Message           // X-GM-MSGID -> the message, to show it in more folders
	conns     int                          // logged-in connections now
	throttled bool                         // completed commands say [THROTTLED]
	overQuota bool                         // FETCH answers NO [OVERQUOTA]
	quota     int64                        // bytes of message data a day; 0 unlimited
	served    int64                        // bytes of message data served
}

// Start runs a server on a free loopback port. Server logs go to logTo.
func Start(logTo io.Writer) (*Server, error) {
	mem, err := memserver.StartLogging("127.0.0.1:0", logTo)
	if err != nil {
		return nil, err
	}
	s := &Server{mem: mem, accounts: map[string]*account{}, maxConns: DefaultMaxConnections}
	p, err := startProxy(s, mem.Addr)
	if err != nil {
		mem.Close()
		return nil, err
	}
	s.proxy, s.Addr = p, p.addr
	return s, nil
}

// Close stops the server; the mail is gone.
func (s *Server) Close() error {
	perr := s.proxy.close()
	merr := s.mem.Close()
	if perr != nil {
		return perr
	}
	return merr
}

// SetMaxConnections changes the cap on logged-in connections per account
// (DefaultMaxConnections at start).
func (s *Server) SetMaxConnections(n int) {
	s.mu.Lock()
	s.maxConns = n
	s.mu.Unlock()
}

// AddUser adds an account with INBOX, All Mail and the other system
// folders.
func (s *Server) AddUser(name, password string) error {
	if err := s.mem.AddUser(name, password); err != nil {
		return err
	}
	a := &account{password: password, nextID: 1_500_000_000_000_000_000, nextUID: map[string]uint32{},
		folders: map[string]bool{"INBOX": true}, ids: map[string]map[uint32]uint64{}, labels: map[uint64][]string{}, msgs: map[uint64]Message{}}
	s.mu.Lock()
	s.accounts[name] = a
	s.mu.Unlock()
	for _, f := range []string{AllMail, Sent, Drafts, Important, Starred, Spam, Trash} {
		if err := s.folder(name, a, f); err != nil {
			return err
		}
	}
	return nil
}

// folder makes folder for user once.
func (s *Server) folder(user string, a *account, name string) error {
	s.mu.Lock()
	done := a.folders[name]
	a.folders[name] = true
	s.mu.Unlock()
	if done {
		return nil
	}
	if err := s.mem.CreateFolder(user, name); err != nil {
		return fmt.Errorf("gmaillike: %w", err)
	}
	return nil
}

func (s *Server) account(user string) (*account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[user]
	if a == nil {
		return nil, fmt.Errorf("gmaillike: no user %q", user)
	}
	return a, nil
}

// newID gives the next X-GM-MSGID of account a to a message with labels.
func (s *Server) newID(a *account, labels []string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := a.nextID
	a.nextID++
	a.labels[id] = labels
	return id
}

// Add stores m for user: in All Mail and in the folder of each of its
// labels [ext][faq], and returns its X-GM-MSGID.
func (s *Server) Add(user string, m Message) (uint64, error) {
	a, err := s.account(user)
	if err != nil {
		return 0, err
	}
	id := s.newID(a, append([]string(nil), m.Labels...))
	s.mu.Lock()
	a.msgs[id] = m // what an APPEND of the same message finds held [faq]
	s.mu.Unlock()
	folders := []string{AllMail}
	for _, l := range m.Labels {
		folders = append(folders, LabelFolder(l))
	}
	for _, f := range folders {
		if err := s.store(user, a, f, id, m); err != nil {
			return 0, err
		}
	}
	return id, nil
}

// AddOutside stores m for user in Spam or Trash only: such mail is not in
// All Mail and has no other label [spam].
func (s *Server) AddOutside(user, folder string, m Message) (uint64, error) {
	if folder != Spam && folder != Trash {
		return 0, fmt.Errorf("gmaillike: %q: only %s and %s hold mail outside All Mail", folder, Spam, Trash)
	}
	a, err := s.account(user)
	if err != nil {
		return 0, err
	}
	id := s.newID(a, nil)
	return id, s.store(user, a, folder, id, m)
}

// store appends one copy of message id to folder.
func (s *Server) store(user string, a *account, folder string, id uint64, m Message) error {
	if err := s.folder(user, a, folder); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock() // one append at a time: UIDs follow the order of appends
	if err := s.mem.Append(user, folder, m.Flags, m.Date, m.Body); err != nil {
		return fmt.Errorf("gmaillike: %w", err)
	}
	a.nextUID[folder]++
	if a.ids[folder] == nil {
		a.ids[folder] = map[uint32]uint64{}
	}
	a.ids[folder][a.nextUID[folder]] = id
	return nil
}

// LabelFolder is the folder a label shows as [faq]: INBOX for \Inbox,
// "[Gmail]/Sent Mail" for \Sent, a user label's own name.
func LabelFolder(label string) string {
	if f, ok := systemFolders[label]; ok {
		return f
	}
	return label
}

// SetThrottled makes every completed command of user's connections end
// with [THROTTLED] ("OK Success [THROTTLED]") and each answer come late by
// delay, as Gmail does while it slows an account down [throttled][faq].
func (s *Server) SetThrottled(user string, on bool, delay time.Duration) {
	s.withAccount(user, func(a *account) {
		a.throttled = on
		s.proxy.setDelay(user, delay, on)
	})
}

// SetOverQuota makes every FETCH of user answer "NO [OVERQUOTA] Account
// exceeded command or bandwidth limits." [throttled], until set off.
func (s *Server) SetOverQuota(user string, on bool) {
	s.withAccount(user, func(a *account) {
		a.overQuota = on
	})
}

// SetDailyQuota lets user download n bytes of message data (body
// literals), after which FETCH is refused with [OVERQUOTA] as when Gmail's
// daily IMAP download limit is spent [limits]. 0: unlimited. The count is
// not reset by the server; ResetQuota starts a new day.
func (s *Server) SetDailyQuota(user string, n int64) {
	s.withAccount(user, func(a *account) {
		a.quota = n
	})
}

// ResetQuota starts a new day for user: nothing downloaded yet.
func (s *Server) ResetQuota(user string) {
	s.withAccount(user, func(a *account) {
		a.served = 0
	})
}

// Served is how many bytes of message data user has downloaded.
func (s *Server) Served(user string) (n int64) {
	s.withAccount(user, func(a *account) { n = a.served })
	return n
}

// Connections is how many connections of user are logged in now.
func (s *Server) Connections(user string) (n int) {
	s.withAccount(user, func(a *account) { n = a.conns })
	return n
}

// login counts a new logged-in connection of user; false when the account
// has all the connections it may have [conns].
func (s *Server) login(user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[user]
	if a == nil {
		return true // the server refuses the login itself
	}
	if a.conns >= s.maxConns {
		return false
	}
	a.conns++
	return true
}

// logout gives back one of user's logged-in connections.
func (s *Server) logout(user string) {
	s.withAccount(user, func(a *account) {
		if a.conns > 0 {
			a.conns--
		}
	})
}

// withAccount calls f with user's account, under the server's lock; not
// at all when there is no such user.
func (s *Server) withAccount(user string, f func(a *account)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.accounts[user]; a != nil {
		f(a)
	}
}

// fetchRefused tells whether user's FETCH is answered with [OVERQUOTA].
func (s *Server) fetchRefused(user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[user]
	return a != nil && (a.overQuota || (a.quota > 0 && a.served >= a.quota))
}

func (s *Server) throttled(user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[user]
	return a != nil && a.throttled
}

// countServed adds n bytes of message data served to user.
func (s *Server) countServed(user string, n int64) {
	s.withAccount(user, func(a *account) {
		a.served += n
	})
}

// gmInfo returns the X-GM-MSGID and labels of the copy with uid in folder.
func (s *Server) gmInfo(user, folder string, uid uint32) (uint64, []string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[user]
	if a == nil {
		return 0, nil, false
	}
	id, ok := a.ids[folder][uid]
	if !ok {
		return 0, nil, false
	}
	return id, a.labels[id], true
}

// reservedName tells whether Gmail refuses to create a label of this name
// [faq].
func reservedName(name string) bool {
	for _, r := range reserved {
		if strings.EqualFold(name, r) || strings.HasPrefix(strings.ToLower(name), "[gmail]/") {
			return true
		}
	}
	return false
}
