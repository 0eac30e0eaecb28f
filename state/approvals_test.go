package state

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestApprovalsCoverUsers(t *testing.T) {
	s := memStore(t)
	if as, err := s.Approvals(); err != nil || len(as) != 0 {
		t.Fatalf("Approvals on empty state: %v, %v", as, err)
	}
	if _, err := s.Approval(1); !errors.Is(err, ErrNotFound) {
		t.Errorf("Approval(1) on empty state: %v", err)
	}
	wave1, err := s.SaveApproval(Approval{Hash: "h1", By: "Jane", At: t0, Text: "scope 1", Users: []string{"bob", "alice", "bob"}})
	if err != nil {
		t.Fatal(err)
	}
	wave2, err := s.SaveApproval(Approval{Hash: "h2", By: "Zoë", At: farAhead, Text: "scope 2", Users: []string{"carol"}})
	if err != nil {
		t.Fatal(err)
	}
	none, err := s.SaveApproval(Approval{Hash: "h3", By: "Nobody", Text: "no one"})
	if err != nil {
		t.Fatal(err)
	}

	got, err := s.Approval(wave1.ID)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "wave1", got, Approval{ID: wave1.ID, Hash: "h1", By: "Jane", At: t0, Text: "scope 1", Users: []string{"alice", "bob"}})
	latest, err := s.LatestApproval()
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "latest", latest, Approval{ID: none.ID, Hash: "h3", By: "Nobody", Text: "no one"})

	as, err := s.Approvals()
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "approvals", as, []Approval{
		{ID: wave1.ID, Hash: "h1", By: "Jane", At: t0, Users: []string{"alice", "bob"}},
		{ID: wave2.ID, Hash: "h2", By: "Zoë", At: farAhead, Users: []string{"carol"}},
		{ID: none.ID, Hash: "h3", By: "Nobody"},
	})
}

// TestApprovalsFromBeforeUserLists: approvals recorded before approvals
// named their users cover every user the state knew when it was upgraded.
func TestApprovalsFromBeforeUserLists(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mailshift.db")
	db, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	q := []string{"CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at INTEGER)"}
	for _, m := range ms {
		if strings.HasPrefix(m.name, "0006_") {
			break
		}
		q = append(q, m.sql, fmt.Sprintf("INSERT INTO migrations (name, applied_at) VALUES ('%s', 1)", m.name))
	}
	q = append(q,
		"INSERT INTO users (source_user, target_user, batch) VALUES ('alice', 'alice@new', 'w1'), ('bob', 'bob@new', 'w2')",
		fmt.Sprintf("INSERT INTO approvals (hash, approved_by, at, text) VALUES ('old', 'Jane', %d, 'scope')", t0.UnixNano()))
	for _, s := range q {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	db.Close()

	s := openFile(t, path)
	a, err := s.LatestApproval()
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "old approval", a, Approval{ID: 1, Hash: "old", By: "Jane", At: t0, Text: "scope", Users: []string{"alice", "bob"}})
	n, err := s.SaveApproval(Approval{Hash: "new", By: "Jane", At: t0, Users: []string{"alice"}})
	if err != nil {
		t.Fatal(err)
	}
	as, err := s.Approvals()
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "approvals", as, []Approval{
		{ID: 1, Hash: "old", By: "Jane", At: t0, Users: []string{"alice", "bob"}},
		{ID: n.ID, Hash: "new", By: "Jane", At: t0, Users: []string{"alice"}},
	})
}
