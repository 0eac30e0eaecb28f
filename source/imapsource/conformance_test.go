package imapsource_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailshift/mailshift/internal/imapconn"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/source/imapsource"
	"github.com/mailshift/mailshift/source/sourcetest"
)

// TestConformance runs the source conformance suite against real Dovecot
// accounts, one fresh account per check, seeded over IMAP.
func TestConformance(t *testing.T) {
	srv := dovecot.Start(t, dovecot.Options{})
	// Every account up front: Dovecot may not see a passwd-file line
	// added within the same second as the last time it read the file.
	const accounts = 32
	for i := 1; i <= accounts; i++ {
		srv.AddUser(fmt.Sprintf("conf%d", i), "secret")
	}
	var users atomic.Int64
	sourcetest.Run(t, sourcetest.Kind{
		Name:      "imap",
		Abilities: sourcetest.Abilities{Flags: sourcetest.AllFlags, Keywords: true, Dates: sourcetest.DateKept},
		New: func(t *testing.T, fx sourcetest.Fixture) sourcetest.Medium {
			n := users.Add(1)
			if n > accounts {
				t.Fatalf("more than %d checks: raise accounts", accounts)
			}
			m := &account{srv: srv, user: fmt.Sprintf("conf%d", n), uids: map[string][]imap.UID{}}
			m.seed(t, fx)
			return m
		},
	})
}

// account is a Dovecot account as a medium.
type account struct {
	srv  *dovecot.Server
	user string
	uids map[string][]imap.UID // folder -> UIDs in the order appended
}

func (a *account) client(t *testing.T) *imapclient.Client {
	t.Helper()
	return imaptest.Login(t, a.srv.Addr, a.user, "secret")
}

func (a *account) seed(t *testing.T, fx sourcetest.Fixture) {
	t.Helper()
	c := a.client(t)
	have := imaptest.Folders(t, c)
	for _, f := range fx.Folders {
		if !slices.Contains(have, f.Name) {
			if err := c.Create(f.Name, nil).Wait(); err != nil {
				t.Fatalf("create %q: %v", f.Name, err)
			}
		}
		for _, m := range f.Messages {
			a.append(t, c, f.Name, m)
		}
	}
	c.Logout().Wait()
}

func (a *account) append(t *testing.T, c *imapclient.Client, folder string, m sourcetest.Message) {
	t.Helper()
	uid := imaptest.Append(t, c, folder, m.Flags, m.InternalDate, m.Body)
	a.uids[folder] = append(a.uids[folder], imap.UID(uid))
}

func (a *account) Open(t *testing.T) source.Source {
	t.Helper()
	s, err := imapsource.Open(context.Background(), imapconn.Options{Addr: a.srv.Addr, TLS: imapconn.TLSNone, User: a.user, Password: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (a *account) Add(t *testing.T, folder string, m sourcetest.Message) {
	t.Helper()
	c := a.client(t)
	a.append(t, c, folder, m)
	c.Logout().Wait()
}

func (a *account) Remove(t *testing.T, folder string, i int) {
	t.Helper()
	c := a.client(t)
	if _, err := c.Select(folder, nil).Wait(); err != nil {
		t.Fatalf("select %q: %v", folder, err)
	}
	set := imap.UIDSetNum(a.uids[folder][i])
	if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatalf("store \\Deleted in %q: %v", folder, err)
	}
	if err := c.UIDExpunge(set).Close(); err != nil {
		t.Fatalf("expunge in %q: %v", folder, err)
	}
	c.Logout().Wait()
}

// Digest sums up every folder's messages: UIDs, bytes, flags (\Seen
// included: fetching must not set it) and dates.
func (a *account) Digest(t *testing.T) string {
	t.Helper()
	snap := imaptest.Snapshot(t, a.srv.Addr, a.user, "secret")
	var names []string
	for n := range snap {
		names = append(names, n)
	}
	slices.Sort(names)
	h := sha256.New()
	for _, n := range names {
		for _, m := range snap[n] {
			fmt.Fprintf(h, "%s %d %x %s %s\n", n, m.UID, sha256.Sum256(m.Body), strings.Join(m.Flags, " "), m.InternalDate)
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
