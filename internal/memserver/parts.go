package memserver

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// The parts below are shared by the servers built on imapmemserver: this
// package's and the test rigs' (internal/testrig/exchangelike).

// Serving is an imapserver.Server serving one listener until Shutdown.
type Serving struct {
	srv    *imapserver.Server
	ln     net.Listener
	served chan struct{} // closed when Serve has returned
}

// Serve serves srv on ln in a goroutine of its own until Shutdown.
func Serve(srv *imapserver.Server, ln net.Listener) *Serving {
	v := &Serving{srv: srv, ln: ln, served: make(chan struct{})}
	go func() {
		defer close(v.served)
		v.srv.Serve(ln)
	}()
	return v
}

// Shutdown stops listening and closes every connection. It closes the
// listener itself and lets Serve return before imapserver's Close: Serve
// may not have registered the listener yet, and its WaitGroup.Add would
// race with Close's Wait. A listener or server already closed is no
// error.
func (v *Serving) Shutdown() error {
	lnErr := v.ln.Close()
	<-v.served
	srvErr := v.srv.Close() // closes the connections
	if lnErr != nil && !errors.Is(lnErr, net.ErrClosed) {
		return lnErr
	}
	if srvErr != nil && !errors.Is(srvErr, net.ErrClosed) {
		return srvErr
	}
	return nil
}

// NewUser makes an imapmemserver user with an empty INBOX.
func NewUser(name, password string) (*imapmemserver.User, error) {
	u := imapmemserver.NewUser(name, password)
	if err := u.Create("INBOX", nil); err != nil {
		return nil, fmt.Errorf("memserver: user %q: INBOX: %w", name, err)
	}
	return u, nil
}

// IsAlreadyExists tells whether err is an IMAP error with the
// ALREADYEXISTS code (a CREATE of a folder that exists).
func IsAlreadyExists(err error) bool {
	var ie *imap.Error
	return errors.As(err, &ie) && ie.Code == imap.ResponseCodeAlreadyExists
}

// literal is a message body as imap.LiteralReader.
type literal struct {
	*bytes.Reader
	size int64
}

func (l literal) Size() int64 { return l.size }

// Literal returns b as the imap.LiteralReader an APPEND takes.
func Literal(b []byte) imap.LiteralReader {
	return literal{bytes.NewReader(b), int64(len(b))}
}

// CreateWithSuperiors creates the missing superiors of a "/"-separated
// folder name and then the folder itself with create, as RFC 3501 (6.3.3)
// asks and real servers do (imapmemserver creates the one name only).
// INBOX and empty names are skipped; a superior that exists is no error.
func CreateWithSuperiors(create func(name string, o *imap.CreateOptions) error, name string, o *imap.CreateOptions) error {
	parts := strings.Split(strings.TrimRight(name, "/"), "/")
	for i := 1; i < len(parts); i++ {
		p := strings.Join(parts[:i], "/")
		if p == "" || strings.EqualFold(p, "INBOX") {
			continue
		}
		if err := create(p, nil); err != nil && !IsAlreadyExists(err) {
			return err
		}
	}
	return create(name, o)
}
