package fakemail_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/testrig/fakemail"
)

// A source account seeded with Put, a target whose connection drops in the
// middle of the second message, a copy that reopens the connection and
// stores the message again, and the counters that show what happened.
func Example() {
	srv := fakemail.NewServer()
	day := time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC)
	srv.Put("alice", "Archive/2023", []byte("Subject: one\r\n\r\nfirst\r\n"), []string{`\Seen`}, day)
	srv.Put("alice", "Archive/2023", []byte("Subject: two\r\n\r\nsecond\r\n"), []string{"$Forwarded"}, day.Add(time.Hour))

	// The target drops its connection once 30 more bytes have come in;
	// the message that crosses the mark is lost with the connection.
	srv.SetCut("bob", fakemail.Cut{After: 30})

	ctx := context.Background()
	src := srv.Source("alice")
	defer src.Close()
	dst := srv.Target("bob")
	defer func() { dst.Close() }()
	_, msgs, _ := src.Messages(ctx, "Archive/2023")
	dst.CreateFolder(ctx, "Archive/2023", "")
	src.Fetch(ctx, "Archive/2023", msgs, func(m mailbox.Message, b mailbox.Body) error {
		body, err := io.ReadAll(b)
		if err != nil {
			return err
		}
		for {
			ap, err := dst.Append(ctx, "Archive/2023", m.Flags, m.InternalDate, int64(len(body)), bytes.NewReader(body))
			if errors.Is(err, mailbox.ErrTransient) {
				fmt.Println("UID", m.UID, "failed:", err)
				dst.Close()
				dst = srv.Target("bob")
				continue
			}
			fmt.Println("UID", m.UID, "stored as UID", ap.UID)
			return err
		}
	})
	c := srv.Counters("bob")
	fmt.Println("appends", c.Appends, "stored", c.Stored, "cuts", c.Cuts)
	// Output:
	// UID 1 stored as UID 1
	// UID 2 failed: fakemail: append to "Archive/2023" of "bob": connection cut: unexpected EOF
	// UID 2 stored as UID 2
	// appends 3 stored 2 cuts 1
}
