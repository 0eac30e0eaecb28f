package fakemail_test

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mailshift/mailshift/internal/testrig/fakemail"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/source/sourcetest"
	"github.com/mailshift/mailshift/target"
	"github.com/mailshift/mailshift/target/targettest"
)

// TestSourceConformance runs the source conformance suite against the
// fake's Source, with both delimiters.
func TestSourceConformance(t *testing.T) {
	for _, delim := range []rune{'/', '.'} {
		t.Run(fmt.Sprintf("delimiter %c", delim), func(t *testing.T) {
			sourcetest.Run(t, sourcetest.Kind{
				Name:      "imap",
				Abilities: sourcetest.Abilities{Flags: sourcetest.AllFlags, Keywords: true, Dates: sourcetest.DateKept},
				New: func(t *testing.T, fx sourcetest.Fixture) sourcetest.Medium {
					srv := fakemail.NewServer()
					srv.SetOptions(fakemail.Options{Delimiter: delim})
					m := &medium{srv: srv, delim: delim, uids: map[string][]uint32{}}
					for _, f := range fx.Folders {
						if err := srv.CreateFolder("alice", m.name(f.Name), ""); err != nil {
							t.Fatal(err)
						}
						for _, msg := range f.Messages {
							m.Add(t, f.Name, msg)
						}
					}
					return m
				},
			})
		})
	}
}

// medium is an account of a fake server.
type medium struct {
	srv   *fakemail.Server
	delim rune
	uids  map[string][]uint32 // fixture folder -> UIDs in the order added
}

func (m *medium) name(folder string) string {
	return strings.ReplaceAll(folder, "/", string(m.delim))
}

func (m *medium) Open(t *testing.T) source.Source {
	src := m.srv.Source("alice")
	t.Cleanup(func() { src.Close() })
	return src
}

func (m *medium) Add(t *testing.T, folder string, msg sourcetest.Message) {
	uid := m.srv.Put("alice", m.name(folder), msg.Body, msg.Flags, msg.InternalDate)
	m.uids[folder] = append(m.uids[folder], uid)
}

func (m *medium) Remove(t *testing.T, folder string, i int) {
	if err := m.srv.Expunge("alice", m.name(folder), m.uids[folder][i]); err != nil {
		t.Fatal(err)
	}
}

func (m *medium) Digest(t *testing.T) string {
	snap := m.srv.Snapshot("alice")
	var names []string
	for n := range snap {
		names = append(names, n)
	}
	slices.Sort(names)
	h := sha256.New()
	for _, n := range names {
		f, _ := m.srv.Folder("alice", n)
		fmt.Fprintf(h, "%s %d %d %d\n", n, f.UIDValidity, f.UIDNext, f.HighestModSeq)
		for _, msg := range snap[n] {
			fmt.Fprintf(h, "%d %x %s %s\n", msg.UID, sha256.Sum256(msg.Body), strings.Join(msg.Flags, " "), msg.InternalDate)
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// TestTargetConformance runs the target conformance suite against the
// fake's Target: a full-featured server, the same losing the answer to a
// cut append, and a meagre one (no UIDPLUS, MULTIAPPEND, CONDSTORE,
// special-use or keywords; "." as delimiter; a new UIDVALIDITY on rename).
func TestTargetConformance(t *testing.T) {
	const limit = 2 << 20
	full := targettest.Abilities{Keywords: true, UIDPlus: true, Batches: true, Roles: true, RenameKeepsUIDValidity: true, RefuseOver: limit}
	meagre := targettest.Abilities{RefuseOver: limit}
	refuseBig := func(folder string, flags []string, body []byte) *target.RejectedError {
		if len(body) > limit {
			return &target.RejectedError{Reason: "too big for this test"}
		}
		return nil
	}
	for _, v := range []struct {
		name       string
		opts       fakemail.Options
		abilities  targettest.Abilities
		answerLost bool
	}{
		{"full", fakemail.Options{AppendLimit: limit}, full, false},
		{"full answer lost", fakemail.Options{Refuse: refuseBig}, full, true},
		{"meagre", fakemail.Options{
			NoUIDPlus: true, NoMultiAppend: true, NoCondStore: true, NoSpecialUse: true, NoKeywords: true,
			Delimiter: '.', RenameNewUIDValidity: true, Refuse: refuseBig,
		}, meagre, true},
	} {
		t.Run(v.name, func(t *testing.T) {
			targettest.Run(t, targettest.Kind{
				Name:      "imap",
				Abilities: v.abilities,
				New: func(t *testing.T) targettest.Account {
					srv := fakemail.NewServer()
					srv.SetOptions(v.opts)
					return &account{srv: srv, user: "bob", answerLost: v.answerLost}
				},
			})
		})
	}
}

// account is an account of a fake server as a target.
type account struct {
	srv        *fakemail.Server
	user       string
	answerLost bool
}

func (a *account) Open(t *testing.T) target.Target {
	tg := a.srv.Target(a.user)
	t.Cleanup(func() { tg.Close() })
	return tg
}

func (a *account) CutAfter(t *testing.T, n int64) {
	a.srv.SetCut(a.user, fakemail.Cut{After: n, AnswerLost: a.answerLost})
}
