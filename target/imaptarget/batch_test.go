package imaptarget

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/imapconn"
	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/target"
)

// Several goroutines store batches into one folder of a real Dovecot at
// once: every message arrives once, at the UID its APPENDUID said, each
// call had a connection of its own, and they are kept for the next.
func TestAppendBatchConcurrent(t *testing.T) {
	srv := dovecot.Start(t, dovecot.Options{})
	srv.AddUser("carl", "pw")
	tg, err := Open(context.Background(), imapconn.Options{Addr: srv.Addr, TLS: imapconn.TLSNone, User: "carl", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	if !tg.Batches() {
		t.Fatal("Dovecot offers MULTIAPPEND, but the target says it takes no batches")
	}
	const callers, batches, size = 4, 5, 20
	date := time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)
	var (
		mu   sync.Mutex
		want = map[uint32][]byte{}
		wg   sync.WaitGroup
	)
	// A new user's INBOX is made on its first use, and Dovecot may answer
	// connections that race to make it with a reset or NO [ALREADYEXISTS]:
	// one message first, so that the callers race to store, not to create.
	first := []mailbox.Item{{Flags: []string{`\Seen`}, Date: date, Body: body("first", 3)}}
	apps, err := tg.AppendBatch(context.Background(), "INBOX", first)
	if err != nil || len(apps) != 1 {
		t.Fatalf("first batch: %v", err)
	}
	want[apps[0].UID] = first[0].Body
	begin := make(chan struct{}) // all callers start together
	for c := range callers {
		wg.Go(func() {
			<-begin
			for b := range batches {
				items := make([]mailbox.Item, size)
				for i := range items {
					items[i] = mailbox.Item{Flags: []string{`\Seen`}, Date: date, Body: body(fmt.Sprintf("c%d b%d m%d", c, b, i), 3+i)}
				}
				apps, err := tg.AppendBatch(context.Background(), "INBOX", items)
				if err != nil {
					t.Errorf("caller %d batch %d: %v", c, b, err)
					return
				}
				mu.Lock()
				for i, a := range apps {
					if a.UID == 0 || want[a.UID] != nil {
						t.Errorf("caller %d batch %d message %d: UID %d missing or given twice", c, b, i, a.UID)
					}
					want[a.UID] = items[i].Body
				}
				mu.Unlock()
			}
		})
	}
	close(begin)
	wg.Wait()
	msgs, bodies := readBack(t, tg, "INBOX")
	if len(msgs) != callers*batches*size+1 {
		t.Fatalf("%d messages in INBOX, want %d", len(msgs), callers*batches*size+1)
	}
	for uid, b := range want {
		if !bytes.Equal(bodies[uid], b) {
			t.Errorf("UID %d does not hold what its APPENDUID said", uid)
		}
	}
	tg.batchMu.Lock()
	idle := len(tg.idle)
	tg.batchMu.Unlock()
	if idle < 2 || idle > callers {
		t.Errorf("%d MULTIAPPEND connections kept, want between 2 and %d", idle, callers)
	}
}

// Where the server lets the user have two connections, the Target's own
// and one MULTIAPPEND connection, calls at once take turns on that one;
// where it lets it have none more, batches are refused (nothing stored)
// so that the caller stores the messages one by one.
func TestAppendBatchConnectionCap(t *testing.T) {
	for _, tc := range []struct {
		limit   int
		refused bool
	}{{2, false}, {1, true}} {
		t.Run(fmt.Sprint(tc.limit), func(t *testing.T) {
			srv := dovecot.Start(t, dovecot.Options{MaxConnections: tc.limit})
			srv.AddUser("dora", "pw")
			tg, err := Open(context.Background(), imapconn.Options{Addr: srv.Addr, TLS: imapconn.TLSNone, User: "dora", Password: "pw"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { tg.Close() })
			// The mailbox is listed first, as a pass does before its lanes
			// open: Dovecot's first touch of a fresh mailbox from several
			// processes at once can fail on its list index's lock ("Resource
			// deadlock avoided").
			if _, err := tg.Folders(context.Background()); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 3)
			for c := range 3 {
				wg.Go(func() {
					items := []mailbox.Item{{Body: body(fmt.Sprintf("caller %d", c), 5)}, {Body: body("two", 5)}}
					_, err := tg.AppendBatch(context.Background(), "INBOX", items)
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				switch {
				case tc.refused && !errors.Is(err, target.ErrBatchRefused):
					t.Errorf("no MULTIAPPEND connection to be had: %v, want the batch refused", err)
				case !tc.refused && err != nil:
					t.Errorf("AppendBatch: %v", err)
				}
			}
			msgs, _ := readBack(t, tg, "INBOX")
			want := 6
			if tc.refused {
				want = 0
			}
			if len(msgs) != want {
				t.Errorf("%d messages stored, want %d", len(msgs), want)
			}
		})
	}
}
