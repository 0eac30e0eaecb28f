package imaptarget_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/mailshift/mailshift/internal/imapconn"
	"github.com/mailshift/mailshift/internal/memserver"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/faultproxy"
	"github.com/mailshift/mailshift/target"
	"github.com/mailshift/mailshift/target/imaptarget"
	"github.com/mailshift/mailshift/target/targettest"
)

// refuseOver is the largest message the Dovecots of the conformance test
// take.
const refuseOver = 2 << 20

// TestConformance runs the target conformance suite against real Dovecot
// accounts, one fresh account per check, each reached through a fault
// proxy that cuts its connections on demand: a Dovecot as configured by
// default, and one that looks like Courier ("." separator, "INBOX."
// prefix) and hides UIDPLUS, MULTIAPPEND and CONDSTORE.
func TestConformance(t *testing.T) {
	for _, v := range []struct {
		name      string
		opts      dovecot.Options
		abilities targettest.Abilities
	}{
		{"dovecot", dovecot.Options{AppendLimit: refuseOver}, targettest.Abilities{
			Keywords: true, UIDPlus: true, Batches: true,
			// Dovecot 2.3 offers no CREATE-SPECIAL-USE: it takes CREATE
			// with USE and ignores the attribute.
			Roles:                  false,
			RenameKeepsUIDValidity: true, RefuseOver: refuseOver,
		}},
		{"courier-like", dovecot.Options{
			AppendLimit: refuseOver, Separator: ".", Prefix: "INBOX.", NoSpecialUse: true,
			DisableCaps: []string{"UIDPLUS", "MULTIAPPEND", "CONDSTORE", "QRESYNC"},
		}, targettest.Abilities{
			Keywords: true, UIDPlus: false, Batches: false, Roles: false,
			RenameKeepsUIDValidity: true, RefuseOver: refuseOver,
		}},
	} {
		t.Run(v.name, func(t *testing.T) {
			srv := dovecot.Start(t, v.opts)
			// Every account up front: Dovecot may not see a passwd-file
			// line added within the same second as the last time it read
			// the file.
			const accounts = 24
			for i := 1; i <= accounts; i++ {
				srv.AddUser(fmt.Sprintf("tconf%d", i), "secret")
			}
			users := 0
			targettest.Run(t, targettest.Kind{
				Name:      "imap",
				Abilities: v.abilities,
				New: func(t *testing.T) targettest.Account {
					users++
					if users > accounts {
						t.Fatalf("more than %d checks: raise accounts", accounts)
					}
					return &account{user: fmt.Sprintf("tconf%d", users), proxy: faultproxy.Start(t, srv.Addr)}
				},
			})
		})
	}
}

// account is a Dovecot account reached through a fault proxy.
type account struct {
	user  string
	proxy *faultproxy.Proxy
}

func (a *account) Open(t *testing.T) target.Target {
	t.Helper()
	tg, err := imaptarget.Open(context.Background(), imapconn.Options{Addr: a.proxy.Addr, TLS: imapconn.TLSNone, User: a.user, Password: "secret"})
	if err != nil {
		t.Fatalf("open %s: %v", a.user, err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg
}

// CutAfter cuts every connection through the proxy once n more bytes have
// passed it (both ways: an append's traffic is nearly all towards the
// server).
func (a *account) CutAfter(t *testing.T, n int64) {
	up, down := a.proxy.Bytes()
	a.proxy.At(up+down+n, a.proxy.CutAll)
}

// TestConformanceMemserver runs the target conformance suite against the
// in-process IMAP server of the demo and the engine tests.
func TestConformanceMemserver(t *testing.T) {
	srv, err := memserver.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	users := 0
	targettest.Run(t, targettest.Kind{
		Name: "imap",
		Abilities: targettest.Abilities{
			Keywords: true, UIDPlus: true, Batches: false, Roles: false,
			RenameKeepsUIDValidity: true,
		},
		// Gaps of go-imap's imapmemserver under internal/memserver.
		Skip: map[string]string{
			"Append":       "memserver lowercases keywords it does not know ($Label1 comes back as $label1, Work as work)",
			"SetFlags":     "memserver lowercases keywords it does not know (Private comes back as private)",
			"RenameFolder": "memserver renames a folder without its subfolders (Old/Sub stays, Renamed/New/Sub is missing)",
			"WrongSize":    "memserver stores the part of a literal received before imaptarget broke the connection over a body of the wrong length (partial messages are left behind)",
			"CutAppend":    "memserver stores the part of a message received before the connection dropped (419840 of 1228850 bytes)",
		},
		New: func(t *testing.T) targettest.Account {
			users++
			user := fmt.Sprintf("mem%d", users)
			if err := srv.AddUser(user, "secret"); err != nil {
				t.Fatal(err)
			}
			return &account{user: user, proxy: faultproxy.Start(t, srv.Addr)}
		},
	})
}
