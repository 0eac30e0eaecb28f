package exchangelike

import (
	"bytes"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/mailshift/mailshift/internal/memserver"
)

// session is imapmemserver's session with Exchange's behaviour on top
// (the facts of the package comment).
type session struct {
	srv     *Server
	conn    *imapserver.Conn
	mem     imapserver.Session
	user    string // logged in as; "" before
	closing bool   // throttled: the connection closes at the next command
}

var _ imapserver.SessionIMAP4rev2 = (*session)(nil)

func (s *session) rev2() imapserver.SessionIMAP4rev2 { return s.mem.(imapserver.SessionIMAP4rev2) }

// gate answers a command that is throttled, and closes the connection
// after a throttled answer (fact 4).
func (s *session) gate() error {
	if s.closing {
		s.srv.mu.Lock()
		s.srv.stats.Closed++
		s.srv.mu.Unlock()
		_ = s.conn.Bye("Connection closed")
		return &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Connection closed"}
	}
	if s.user == "" {
		return nil
	}
	if d, ok := s.srv.throttled(s.user); ok {
		s.closing = true
		return &imap.Error{Type: imap.StatusResponseTypeNo, Text: ThrottledText(d)}
	}
	return nil
}

func (s *session) Close() error {
	if s.user != "" {
		s.srv.logout(s.user)
	}
	return s.mem.Close()
}

func (s *session) Login(username, password string) error {
	if err := s.mem.Login(username, password); err != nil {
		return err
	}
	if err := s.srv.login(username); err != nil {
		return err
	}
	s.user = username
	return nil
}

func (s *session) Select(mailbox string, options *imap.SelectOptions) (*imap.SelectData, error) {
	if err := s.gate(); err != nil {
		return nil, err
	}
	d, err := s.mem.Select(mailbox, options)
	if err != nil {
		return nil, err
	}
	// Fact 3: PERMANENTFLAGS without \* and without keywords.
	d.PermanentFlags = systemFlags(d.PermanentFlags)
	d.Flags = systemFlags(d.Flags)
	return d, nil
}

func (s *session) Create(name string, options *imap.CreateOptions) error {
	if err := s.gate(); err != nil {
		return err
	}
	return memserver.CreateWithSuperiors(s.mem.Create, name, options)
}

func (s *session) Delete(mailbox string) error {
	if err := s.gate(); err != nil {
		return err
	}
	return s.mem.Delete(mailbox)
}

func (s *session) Rename(mailbox, newName string, options *imap.RenameOptions) error {
	if err := s.gate(); err != nil {
		return err
	}
	return s.mem.Rename(mailbox, newName, options)
}

func (s *session) Subscribe(mailbox string) error   { return s.mem.Subscribe(mailbox) }
func (s *session) Unsubscribe(mailbox string) error { return s.mem.Unsubscribe(mailbox) }

func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if err := s.gate(); err != nil {
		return err
	}
	return s.mem.List(w, ref, patterns, options)
}

func (s *session) Status(mailbox string, options *imap.StatusOptions) (*imap.StatusData, error) {
	if err := s.gate(); err != nil {
		return nil, err
	}
	return s.mem.Status(mailbox, options)
}

// Append refuses a message over the size limit (fact 6), stores the
// message re-rendered (fact 1) and drops keywords (fact 3).
func (s *session) Append(mailbox string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	if err := s.gate(); err != nil {
		return nil, err
	}
	if limit := s.srv.opts.MaxMessageSize; limit > 0 && r.Size() > limit {
		s.srv.mu.Lock()
		s.srv.stats.RefusedSize++
		s.srv.mu.Unlock()
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Maximum size of appendable message has been exceeded"}
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err
	}
	b := Render(buf.Bytes())
	o := *options
	o.Flags = systemFlags(options.Flags)
	return s.mem.Append(mailbox, memserver.Literal(b), &o)
}

func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	return s.mem.Poll(w, allowExpunge)
}

func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	return s.mem.Idle(w, stop)
}

func (s *session) Unselect() error { return s.mem.Unselect() }

func (s *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	if err := s.gate(); err != nil {
		return err
	}
	return s.mem.Expunge(w, uids)
}

func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	if err := s.gate(); err != nil {
		return nil, err
	}
	return s.mem.Search(kind, criteria, options)
}

func (s *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	if err := s.gate(); err != nil {
		return err
	}
	return s.mem.Fetch(w, numSet, options)
}

// Store drops keywords (fact 3).
func (s *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) error {
	if err := s.gate(); err != nil {
		return err
	}
	f := *flags
	f.Flags = systemFlags(flags.Flags)
	if len(f.Flags) == 0 && f.Op != imap.StoreFlagsSet {
		return nil
	}
	return s.mem.Store(w, numSet, &f, options)
}

func (s *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	if err := s.gate(); err != nil {
		return nil, err
	}
	return s.mem.Copy(numSet, dest)
}

func (s *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	if err := s.gate(); err != nil {
		return err
	}
	return s.rev2().Move(w, numSet, dest)
}

func (s *session) Namespace() (*imap.NamespaceData, error) {
	return s.rev2().Namespace()
}
