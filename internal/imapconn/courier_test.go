package imapconn

import (
	"context"
	"strings"
	"testing"

	"github.com/mailshift/mailshift/internal/testrig/courier"
)

// Stock Courier advertises QUOTA and answers GETQUOTAROOT for a user
// without quota with a bare `* QUOTA "ROOT"`, which go-imap cannot parse:
// Describe works, the quota is unknown with a warning, and the folders are
// listed after it over a connection dialled again.
func TestDescribeCourier(t *testing.T) {
	courier.Skip(t)
	s := courier.Start(t, courier.Options{})
	s.AddUser("alice", "secret")
	c := dial(t, Options{Addr: s.Addr, User: "alice", Password: "secret"})
	ctx := context.Background()
	d, err := c.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.QuotaUsed != -1 || d.QuotaLimit != -1 {
		t.Errorf("quota %d/%d, want unknown", d.QuotaUsed, d.QuotaLimit)
	}
	if len(d.Warnings) != 1 || !strings.HasPrefix(d.Warnings[0], "QUOTA:") {
		t.Errorf("warnings %q", d.Warnings)
	}
	if d.Prefix != "INBOX." || d.Delimiter != '.' {
		t.Errorf("namespace %q %q", d.Prefix, d.Delimiter)
	}
	fs, err := c.Folders(ctx)
	if err != nil {
		t.Fatalf("folders after the quota: %v", err)
	}
	if len(fs) == 0 || fs[0].Name != "INBOX" || fs[0].Error != "" {
		t.Errorf("folders %+v", fs)
	}
}
