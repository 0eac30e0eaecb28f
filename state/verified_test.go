package state

import (
	"testing"
	"time"
)

// TestVerifiedRoundTrip: what a verification records of a folder and its
// messages reads back as written, is replaced as a whole, and is
// forgotten per folder and with the user; the last full verification
// outlives incremental ones.
func TestVerifiedRoundTrip(t *testing.T) {
	s := memStore(t)
	at := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	putPairs(t, s,
		Pair{User: "ann", SourceFolder: "INBOX", SourceUIDValidity: 7, SourceKey: "1", SourceUID: 1, Size: 10, TargetUID: 100, Status: Copied},
		Pair{User: "ann", SourceFolder: "INBOX", SourceUIDValidity: 7, SourceKey: "2", SourceUID: 2, Size: 20, TargetUID: 101, Status: Copied},
		Pair{User: "ann", SourceFolder: "INBOX", SourceUIDValidity: 7, SourceKey: "3", SourceUID: 3, Size: 30, Status: Intent},
		Pair{User: "ann", SourceFolder: "Sent", SourceUIDValidity: 9, SourceKey: "1", SourceUID: 1, Size: 5, TargetUID: 4, Status: Copied},
		Pair{User: "bob", SourceFolder: "INBOX", SourceUIDValidity: 7, SourceKey: "1", SourceUID: 1, Size: 10, TargetUID: 1, Status: Copied})
	tallies, err := s.PairTallies("ann")
	must(err)
	mustEqual(t, "tallies", tallies, map[string]map[uint32]PairTally{
		"INBOX": {7: {Copied: 2, Other: 1, Sum: 100 + 10 + 101 + 20}}, "Sent": {9: {Copied: 1, Sum: 4 + 5}}})

	f := VerifiedFolder{User: "ann", SourceFolder: "INBOX", SourceUIDValidity: 7, SourceUIDNext: 4, SourceMessages: 3,
		SourceModSeq: 1 << 40, TargetFolder: "INBOX", TargetUIDValidity: 8, TargetUIDNext: 102, TargetMessages: 3, TargetModSeq: 12,
		Tally: tallies["INBOX"][7], Extra: 1, VerifiedAt: at}
	m1 := VerifiedMessage{SourceKey: "1", TargetFolder: "INBOX", TargetUIDValidity: 8, TargetUID: 100, Size: 10, Hash: "h1",
		Flags: []string{`\Seen`}, InternalDate: at.Add(-time.Hour), VerifiedAt: at, ContentAt: at}
	m2 := VerifiedMessage{SourceKey: "2", TargetFolder: "INBOX", TargetUIDValidity: 8, TargetUID: 101, Size: 20, Hash: "h2",
		VerifiedAt: at}
	must(s.PutVerifiedFolder(f, []VerifiedMessage{m1, m2}))
	fs, err := s.VerifiedFolders("ann")
	must(err)
	mustEqual(t, "folders", fs, map[string]VerifiedFolder{"INBOX": f})
	ms, err := s.VerifiedMessages("ann", "INBOX", 7)
	must(err)
	mustEqual(t, "messages", ms, map[string]VerifiedMessage{"1": m1, "2": m2})

	// Replaced as a whole; nil messages keep those recorded.
	must(s.PutVerifiedFolder(f, []VerifiedMessage{m2}))
	f.TargetModSeq = 13
	must(s.PutVerifiedFolder(f, nil))
	ms, err = s.VerifiedMessages("ann", "INBOX", 7)
	must(err)
	mustEqual(t, "messages replaced", ms, map[string]VerifiedMessage{"2": m2})
	fs, err = s.VerifiedFolders("ann")
	must(err)
	mustEqual(t, "folder's row replaced", fs["INBOX"].TargetModSeq, uint64(13))

	must(s.DropVerifiedFolder("ann", "INBOX"))
	must(s.DropVerifiedFolder("ann", "Never"))
	fs, err = s.VerifiedFolders("ann")
	must(err)
	ms, err = s.VerifiedMessages("ann", "INBOX", 7)
	must(err)
	if len(fs) != 0 || len(ms) != 0 {
		t.Errorf("after DropVerifiedFolder: %+v, %+v", fs, ms)
	}

	if _, ok, err := s.LastVerification("ann"); err != nil || ok {
		t.Errorf("a user never verified: %v, %v", ok, err)
	}
	must(s.PutVerification(Verification{User: "ann", Kind: "full", At: at, Sample: 3}))
	must(s.PutVerification(Verification{User: "ann", Kind: "incremental", At: at.Add(time.Hour), Sample: 1, Differences: 2}))
	v, ok, err := s.LastVerification("ann")
	must(err)
	mustEqual(t, "last verification", v, Verification{User: "ann", Kind: "incremental", At: at.Add(time.Hour), FullAt: at, Sample: 1, Differences: 2})
	if !ok || s.PutVerification(Verification{User: "ann", Kind: "partial", At: at}) == nil {
		t.Error("a verification of no known kind was recorded")
	}

	must(s.PutVerifiedFolder(f, []VerifiedMessage{m1}))
	must(s.PutUser("ann", "ann", "w1"))
	must(s.ForgetUser("ann"))
	fs, err = s.VerifiedFolders("ann")
	must(err)
	ms, err = s.VerifiedMessages("ann", "INBOX", 7)
	must(err)
	if _, ok, _ := s.LastVerification("ann"); ok || len(fs) != 0 || len(ms) != 0 {
		t.Errorf("ForgetUser left what was verified of the user")
	}
}

// TestSamplePairs: a count picks that many of the user's copies, a chance
// per million about that share, neither none; only copies are picked.
func TestSamplePairs(t *testing.T) {
	s := memStore(t)
	var ps []Pair
	for i := range 1000 {
		st := Copied
		if i%10 == 0 {
			st = Failed
		}
		ps = append(ps, Pair{User: "ann", SourceFolder: "INBOX", SourceUIDValidity: 1, SourceKey: string(rune('a'+i%26)) + string(rune('0'+i/26%10)) + string(rune('A'+i/260)),
			SourceUID: uint32(i + 1), Size: 1, TargetUID: uint32(i + 1), Status: st})
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.PutPairs(ps))
	got, err := s.SamplePairs("ann", 25, 0)
	must(err)
	seen := map[string]bool{}
	for _, p := range got {
		if p.Status != Copied || seen[p.SourceKey] {
			t.Errorf("sampled %+v", p)
		}
		seen[p.SourceKey] = true
	}
	if len(got) != 25 {
		t.Errorf("a count of 25 picked %d", len(got))
	}
	got, err = s.SamplePairs("ann", 0, 100000) // 10%
	must(err)
	if len(got) < 40 || len(got) > 150 {
		t.Errorf("10%% of 900 copies picked %d", len(got))
	}
	got, err = s.SamplePairs("ann", 0, 1000000)
	must(err)
	if len(got) != 900 {
		t.Errorf("100%% of 900 copies picked %d", len(got))
	}
	got, err = s.SamplePairs("ann", 0, 0)
	must(err)
	if len(got) != 0 {
		t.Errorf("no sample picked %d", len(got))
	}
}
