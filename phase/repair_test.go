package phase

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/testrig/fakemail"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
	"github.com/mailshift/mailshift/state"
)

// damage is what a test did to a synced user's mailboxes: one message
// of each kind of difference, by the subject that names it.
type damage struct {
	gone, targetFlag, extra, sourceFlag string // subjects
}

// damaged migrates ann (bulk and sync) and then breaks the target in the
// four ways a cutover night meets: a copy deleted on the target, a flag
// changed on the target, a message only on the target, and a flag
// changed on the source after the sync.
func damaged(t *testing.T, deletions string) (*Project, fakeBackends, damage) {
	t.Helper()
	ctx := context.Background()
	p, be := newFakeProject(t, "ann")
	p.Config.Sync.Deletions = deletions
	approvedAndCopied(t, p)
	_, err := Sync(ctx, p, SyncOptions{})
	must(t, err)

	// Messages of INBOX with a subject to name them by, on both sides.
	var named []imaptest.Message
	for _, m := range be.dst.Snapshot("ann")["INBOX"] {
		if s := readHeader(m.Body).subject; s != "" && !slices.Contains(m.Flags, `\Flagged`) && !strings.ContainsRune(s, '\uFFFD') {
			named = append(named, m)
		}
	}
	if len(named) < 3 {
		t.Fatalf("only %d named messages in INBOX", len(named))
	}
	var d damage
	d.gone = readHeader(named[0].Body).subject
	must(t, be.dst.Expunge("ann", "INBOX", named[0].UID))
	d.targetFlag = readHeader(named[1].Body).subject
	must(t, be.dst.SetFlags("ann", "INBOX", named[1].UID, append(slices.Clone(named[1].Flags), `\Flagged`)))
	d.extra = "Delivered to the new server"
	be.dst.Put("ann", "INBOX", []byte("From: x@example.com\r\nSubject: "+d.extra+"\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n\r\nhello\r\n"), nil, time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	d.sourceFlag = readHeader(named[2].Body).subject
	for _, m := range be.src.Snapshot("ann")["INBOX"] {
		if string(m.Body) == string(named[2].Body) {
			must(t, be.src.SetFlags("ann", "INBOX", m.UID, append(slices.Clone(m.Flags), `\Flagged`)))
		}
	}
	return p, be, d
}

// stateDigest is the hash of the state file and its write-ahead log.
func stateDigest(t *testing.T, p *Project) string {
	t.Helper()
	h := sha256.New()
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(filepath.Join(p.Dir, "mailshift.db") + suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		h.Write(b)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// mailDigest is the hash of everything a server holds for ann.
func mailDigest(t *testing.T, s *fakemail.Server) string {
	t.Helper()
	b, err := json.Marshal(s.Snapshot("ann"))
	must(t, err)
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// TestRepairMakesTargetMatch: after bulk and sync, a copy deleted on the
// target, a target flag changed, a message only on the target and a
// source flag changed are four differences, each named by its subject and
// with what repair does; repair --dry-run lists them and changes nothing
// on either server or in the state; repair makes the target hold the
// source's bytes, flags and dates (and nothing else), verify comes out
// clean and cutover passes.
func TestRepairMakesTargetMatch(t *testing.T) {
	ctx := context.Background()
	p, be, d := damaged(t, "mirror")

	vr, err := Verify(ctx, p, Selection{})
	// The message only on the target is counted, not a difference: it
	// may be mail delivered there (repair --remove-extra removes it).
	if !errors.Is(err, ErrDifferences) || vr.Differences != 3 || vr.Extra != 1 {
		t.Fatalf("verify: %v, %d differences, %d extra: %v", err, vr.Differences, vr.Extra, vr.List)
	}
	want := map[string][2]string{ // subject: kind, repair
		d.gone:       {DiffGone, "repair copies it again"},
		d.targetFlag: {DiffFlags, "repair sets the flags"},
		d.sourceFlag: {DiffFlags, "repair sets the flags"},
	}
	for _, diff := range vr.List {
		w, ok := want[diff.Subject]
		if !ok || diff.Kind != w[0] || diff.Repair != w[1] || diff.Folder != "INBOX" || diff.Size == 0 || diff.Date == "" {
			t.Errorf("difference %+v; want one of %v", diff, want)
		}
		if !strings.HasPrefix(diff.String(), fmt.Sprintf("%q", diff.Subject)) {
			t.Errorf("difference not named subject first: %s", diff)
		}
		delete(want, diff.Subject)
	}
	if len(want) > 0 {
		t.Errorf("not named: %v", want)
	}
	b, err := json.Marshal(vr)
	must(t, err)
	if !strings.Contains(string(b), `"target_folder":"INBOX"`) || !strings.Contains(string(b), `"repair":"repair sets the flags"`) {
		t.Errorf("verify JSON: %s", b)
	}

	// A dry run lists the same and changes nothing.
	src, dst, st := mailDigest(t, be.src), mailDigest(t, be.dst), stateDigest(t, p)
	dr, err := Repair(ctx, p, RepairOptions{DryRun: true, RemoveExtra: true})
	if !errors.Is(err, ErrDifferences) || dr.Found.Differences != 4 || len(dr.Found.List) != 4 || dr.Copied+dr.FlagsSet+dr.Removed != 0 {
		t.Errorf("dry run: %v, %+v", err, dr)
	}
	if md := renderDifferences(dr.Found); !strings.Contains(md, d.extra) || !strings.Contains(md, "2026-12-01T10:00:00Z") || !strings.Contains(md, "repair removes it (sync.deletions mirror)") {
		t.Errorf("rendered differences do not name the extra message:\n%s", md)
	}
	if out := RenderRepair(dr); !strings.Contains(out, d.gone) || !strings.Contains(out, "nothing changed") {
		t.Errorf("dry run says:\n%s", out)
	}
	if mailDigest(t, be.src) != src || mailDigest(t, be.dst) != dst || stateDigest(t, p) != st {
		t.Error("repair --dry-run changed a server or the state")
	}

	rr, err := Repair(ctx, p, RepairOptions{RemoveExtra: true})
	must(t, err)
	if rr.Found.Differences != 4 || rr.Left.Differences != 0 || rr.Copied != 1 || rr.FlagsSet != 2 || rr.Removed != 1 || rr.Forgotten != 1 {
		t.Errorf("repair: %+v", rr)
	}
	fakemail.Compare(t, be.src, "ann", be.dst, "ann")
	if got, want := len(be.dst.Snapshot("ann")["INBOX"]), len(be.src.Snapshot("ann")["INBOX"]); got != want {
		t.Errorf("target INBOX holds %d messages, the source %d", got, want)
	}
	vr, err = Verify(ctx, p, Selection{})
	if err != nil || vr.Differences != 0 || vr.Extra != 0 {
		t.Errorf("verify after repair: %v, %+v", err, vr)
	}
	cr, err := Cutover(ctx, p, CutoverOptions{Yes: true})
	if err != nil || len(cr.Users) != 1 || !cr.Users[0].Verified {
		t.Errorf("cutover after repair: %v, %+v", err, cr.Users)
	}
}

// TestRepairKeepsTargetMail: under sync.deletions keep a message only on
// the target is no difference and repair leaves it; the other three are
// repaired.
func TestRepairKeepsTargetMail(t *testing.T) {
	ctx := context.Background()
	p, be, d := damaged(t, "keep")
	vr, err := Verify(ctx, p, Selection{})
	if !errors.Is(err, ErrDifferences) || vr.Differences != 3 || vr.Extra != 1 {
		t.Fatalf("verify: %v, %d differences, %d extra: %v", err, vr.Differences, vr.Extra, vr.List)
	}
	rr, err := Repair(ctx, p, RepairOptions{})
	if err != nil || rr.Left.Differences != 0 || rr.Removed != 0 || rr.Left.Extra != 1 {
		t.Errorf("repair: %v, %+v", err, rr)
	}
	found := false
	for _, m := range be.dst.Snapshot("ann")["INBOX"] {
		if readHeader(m.Body).subject == d.extra {
			found = true
			must(t, be.dst.Expunge("ann", "INBOX", m.UID)) // for the comparison below
		}
	}
	if !found {
		t.Error("repair removed a message delivered to the target under sync.deletions keep")
	}
	fakemail.Compare(t, be.src, "ann", be.dst, "ann")
}

// TestRepairContentAndRefusals: a copy whose content differs is copied
// again and the wrong one removed (mirror); a message the target refused
// is tried again; a copy started and never settled is settled, not
// copied twice.
func TestRepairContentAndRefusals(t *testing.T) {
	ctx := context.Background()
	p, be := newFakeProject(t, "ann")
	p.Config.Sync.Deletions = "mirror"
	approvedAndCopied(t, p)

	// Make one recorded copy's hash wrong (as if the target had changed
	// its bytes), one pair refused and one an intent left by a crash.
	pairs, err := p.Store.Pairs("ann", "INBOX")
	must(t, err)
	slices.SortFunc(pairs, func(a, b state.Pair) int { return int(a.SourceUID) - int(b.SourceUID) })
	bad, refused, intent := pairs[0], pairs[1], pairs[2]
	bad.Hash = strings.Repeat("0", 64)
	must(t, p.Store.PutPairs([]state.Pair{bad}))
	// The refused message is not on the target.
	must(t, be.dst.Expunge("ann", "INBOX", refused.TargetUID))
	refused.Status, refused.Error, refused.TargetUID = state.Failed, "target refused the message: [TOOBIG] too big", 0
	intent.Status, intent.TargetUID = state.Intent, 0
	must(t, p.Store.PutPairs([]state.Pair{refused, intent}))

	vr, err := Verify(ctx, p, Selection{})
	// The unsettled copy did arrive: until it is settled it is also a
	// message no copy claims.
	if !errors.Is(err, ErrDifferences) || vr.Differences != 3 {
		t.Fatalf("verify: %v, %+v", err, vr.List)
	}
	dr, err := Repair(ctx, p, RepairOptions{DryRun: true, RemoveExtra: true})
	if !errors.Is(err, ErrDifferences) || dr.Found.Differences != 4 {
		t.Fatalf("repair --dry-run --remove-extra: %v, %+v", err, dr.Found.List)
	}
	kinds := map[string]string{}
	for _, d := range dr.Found.List {
		kinds[d.Kind] = d.Repair
	}
	if !strings.Contains(kinds[DiffContent], "removes the wrong copy") || !strings.Contains(kinds[DiffRefused], "tries again") || !strings.Contains(kinds[DiffUnsettled], "settles") ||
		!strings.Contains(kinds[DiffExtra], "settles the copies first") {
		t.Errorf("differences: %+v", dr.Found.List)
	}
	before := len(be.dst.Snapshot("ann")["INBOX"])
	rr, err := Repair(ctx, p, RepairOptions{Force: true, RemoveExtra: true})
	if err != nil || rr.Left.Differences != 0 || rr.Copied != 2 || rr.Removed != 1 {
		t.Errorf("repair: %v, %+v", err, rr)
	}
	if got := len(be.dst.Snapshot("ann")["INBOX"]); got != before+1 {
		t.Errorf("target INBOX holds %d messages after repair, want %d (the refused one added, the wrong copy replaced, the unsettled one not doubled)", got, before+1)
	}
	fakemail.Compare(t, be.src, "ann", be.dst, "ann")
}

// TestRepairHeldByMaxDelete: removals beyond sync.max_delete of a target
// folder are held back and named; the rest is repaired.
func TestRepairHeldByMaxDelete(t *testing.T) {
	ctx := context.Background()
	p, be := newFakeProject(t, "ann")
	p.Config.Sync.Deletions = "mirror"
	p.Config.Sync.MaxDelete = 1
	approvedAndCopied(t, p)
	for i := range 3 {
		be.dst.Put("ann", "Sent", []byte(fmt.Sprintf("Subject: only here %d\r\n\r\nx\r\n", i)), nil, time.Time{})
	}
	rr, err := Repair(ctx, p, RepairOptions{RemoveExtra: true})
	if !errors.Is(err, ErrDifferences) || rr.Removed != 0 || len(rr.Held) != 1 || rr.Held[0].Folder != "Sent" || rr.Left.Differences != 3 {
		t.Fatalf("repair: %v, %+v", err, rr)
	}
	rr, err = Repair(ctx, p, RepairOptions{Force: true, RemoveExtra: true})
	if err != nil || rr.Removed != 3 || rr.Left.Differences != 0 {
		t.Errorf("repair --force: %v, %+v", err, rr)
	}
}
