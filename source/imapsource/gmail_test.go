package imapsource

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/imapconn"
	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/testrig/gmaillike"
)

func TestLabelKeyword(t *testing.T) {
	for label, want := range map[string]string{
		"Work":             "Work",
		"Muy Importante":   "Muy_Importante",
		"Work/Projects":    "Work/Projects",
		"Überblick":        "&ANw-berblick",
		`a(b)"c"\d]e%f*g{`: "a_b__c__d_e_f_g_",
	} {
		if got := LabelKeyword(label); got != want {
			t.Errorf("LabelKeyword(%q) = %q, want %q", label, got, want)
		}
	}
}

// TestGmailPolicyNeedsGmail: a policy asked of a server that is not Gmail
// is a configuration mistake naming gmail.labels; without one, such a
// server is read as it is.
func TestGmailPolicyNeedsGmail(t *testing.T) {
	f := newFixture(t)
	o := imapconn.Options{Addr: f.Addr, TLS: imapconn.TLSNone, User: "alice", Password: "secret", Timeout: 5 * time.Second}
	ctx := context.Background()
	_, err := OpenGmail(ctx, o, GmailOptions{Labels: GmailKeywords})
	if !errors.Is(err, mailbox.ErrConfig) || !strings.Contains(err.Error(), "gmail.labels") {
		t.Errorf("keywords on a server without X-GM-EXT-1: %v", err)
	}
	s, err := OpenGmail(ctx, o, GmailOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.(*Source); !ok {
		t.Errorf("a server without X-GM-EXT-1 is read through %T", s)
	}
}

// TestGmailFoldersView: by default a Gmail source presents its label
// folders and an archive folder of what none of them shows; the archive
// folder's messages are read from All Mail.
func TestGmailFoldersView(t *testing.T) {
	g, err := gmaillike.Start(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	g.AddUser("ann", "pw")
	g.Add("ann", gmaillike.Message{Body: []byte("Subject: a\r\n\r\na\r\n"), Labels: []string{`\Inbox`, `\Starred`}})
	g.Add("ann", gmaillike.Message{Body: []byte("Subject: b\r\n\r\nb\r\n"), Labels: []string{`\Important`}})
	g.Add("ann", gmaillike.Message{Body: []byte("Subject: c\r\n\r\nc\r\n")})
	ctx := context.Background()
	s, err := OpenGmail(ctx, imapconn.Options{Addr: g.Addr, TLS: imapconn.TLSNone, User: "ann", Password: "pw", Timeout: 5 * time.Second}, GmailOptions{ArchiveFolder: "Old mail"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	gm, ok := s.(*Gmail)
	if !ok || gm.Policy() != GmailFolders {
		t.Fatalf("Gmail source read through %T", s)
	}
	fs, err := s.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fs {
		names = append(names, f.Name)
		if f.Name == "Old mail" && (f.Messages != 2 || f.Role != mailbox.RoleArchive) {
			t.Errorf("archive folder %+v", f)
		}
	}
	if got := strings.Join(names, ","); got != "INBOX,Old mail,[Gmail]/Drafts,[Gmail]/Sent Mail,[Gmail]/Spam,[Gmail]/Trash" {
		t.Errorf("folders %s", got)
	}
	// A new Source (each lane opens its own) reads the archive folder
	// without listing the folders first.
	s2, err := OpenGmail(ctx, imapconn.Options{Addr: g.Addr, TLS: imapconn.TLSNone, User: "ann", Password: "pw", Timeout: 5 * time.Second}, GmailOptions{ArchiveFolder: "Old mail"})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	_, msgs, err := s2.Messages(ctx, "Old mail")
	if err != nil || len(msgs) != 2 {
		t.Fatalf("archive: %v %v", msgs, err)
	}
	var bodies []string
	err = s2.Fetch(ctx, "Old mail", msgs, func(_ mailbox.Message, b mailbox.Body) error {
		data, err := io.ReadAll(b)
		bodies = append(bodies, string(data))
		return err
	})
	if err != nil || len(bodies) != 2 || !strings.Contains(bodies[0], "Subject: b") || !strings.Contains(bodies[1], "Subject: c") {
		t.Errorf("archive bodies %q %v", bodies, err)
	}
}
