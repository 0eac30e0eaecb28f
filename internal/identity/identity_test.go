package identity_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailshift/mailshift/internal/identity"
	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/exchangelike"
)

// messyMessages are the real messages of ../shared/testdata/eml.
func messyMessages(t *testing.T) map[string][]byte {
	t.Helper()
	files, _ := filepath.Glob("../../../shared/testdata/eml/*/*.eml")
	more, _ := filepath.Glob("../../../shared/testdata/eml/*/*/*.eml")
	files = append(files, more...)
	if len(files) == 0 {
		if os.Getenv("MAILSHIFT_REQUIRE_TESTDATA") == "1" {
			t.Fatal("../shared/testdata/eml is missing")
		}
		t.Skip("../shared/testdata/eml is missing")
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[f] = b
	}
	return out
}

func of(t *testing.T, b []byte) identity.Identity {
	t.Helper()
	id, err := identity.Of(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestSurvivesRerendering: every real message of the test data has the
// same identity once re-rendered the way Exchange serves it, and most of
// them were really re-rendered (other bytes).
func TestSurvivesRerendering(t *testing.T) {
	msgs := messyMessages(t)
	changed := 0
	for name, raw := range msgs {
		raw = corpus.DovecotServes(raw) // what a source server serves (CRLF line ends)
		r := exchangelike.Render(raw)
		if !bytes.Equal(r, raw) {
			changed++
		}
		a, b := of(t, raw), of(t, r)
		if a.Key() != b.Key() {
			t.Errorf("%s: identity differs after re-rendering (%s)\n%+v\n%+v", name, identity.Diff(a, b), a, b)
		}
	}
	if changed < len(msgs)*3/4 {
		t.Fatalf("only %d of %d messages were re-rendered: the test shows little", changed, len(msgs))
	}
	t.Logf("%d messages, %d re-rendered", len(msgs), changed)
}

// TestTellsMessagesApart: what a reader would notice changes the identity.
func TestTellsMessagesApart(t *testing.T) {
	const base = "From: Alice <Alice@Example.com>\r\nTo: bob@example.com, carol@example.com\r\nSubject: Quarterly figures\r\nDate: Mon, 2 Mar 2026 10:00:00 +0100\r\nMessage-ID: <q1@example.com>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThe figures are attached.\r\n--b\r\nContent-Type: application/pdf; name=q1.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQ=\r\n--b--\r\n"
	a := of(t, []byte(base))
	if len(a.Attachments) != 1 || a.Attachments[0] != (identity.Attachment{Name: "q1.pdf", Size: 5}) {
		t.Fatalf("attachments %+v", a.Attachments)
	}
	if a.Date != "2026-03-02T09:00:00Z" || a.From[0] != "alice@example.com" || len(a.To) != 2 {
		t.Fatalf("header identity %+v", a)
	}
	same := strings.Replace(base, "The figures are attached.", "The  figures\r\n are attached. ", 1)
	if k := of(t, []byte(same)).Key(); k != a.Key() {
		t.Error("white space changed the identity")
	}
	for what, changed := range map[string]string{
		"text":        strings.Replace(base, "figures are", "figures were", 1),
		"subject":     strings.Replace(base, "Quarterly", "Monthly", 1),
		"attachments": strings.Replace(base, "AAECAwQ=", "AAECAw==", 1),
		"date":        strings.Replace(base, "10:00:00", "10:00:01", 1),
		"Message-ID":  strings.Replace(base, "q1@", "q2@", 1),
		"to":          strings.Replace(base, ", carol@example.com", "", 1),
	} {
		b := of(t, []byte(changed))
		if b.Key() == a.Key() || identity.Diff(a, b) != what {
			t.Errorf("%s changed: key equal %v, diff %q", what, b.Key() == a.Key(), identity.Diff(a, b))
		}
	}
}
