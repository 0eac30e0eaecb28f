package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailshift/mailshift/internal/imapconn"
	"github.com/mailshift/mailshift/internal/mailbox"
)

// appendGroupBytes is how much one MULTIAPPEND of the append-only client
// carries: the copy engine's group size.
const appendGroupBytes = 8 << 20

// heldFolder is one source folder read into memory.
type heldFolder struct {
	user, target, name string
	msgs               []mailbox.Item
}

// ceilingAppendMain is the append-only client, run as a process of its
// own: it reads every message of the given users from the source into
// memory (untimed), then stores them into the target users in MULTIAPPEND
// groups of appendGroupBytes with LITERAL+, flags and dates kept, over
// -per-folder connections per folder (on Dovecot two take half the time of
// one for small messages, three no less than two; for large ones one is
// faster), up to -conns connections at once. It reports the time of the
// appends alone: the most an IMAP client can put into the target.
func ceilingAppendMain(args []string) error {
	fs := flag.NewFlagSet("ceiling-append", flag.ContinueOnError)
	src := fs.String("src", "", "source server")
	dst := fs.String("dst", "", "target server")
	users := fs.String("users", "", "comma-separated source users")
	targets := fs.String("targets", "", "comma-separated target users, in the same order")
	password := fs.String("password", "", "everyone's password")
	conns := fs.Int("conns", 8, "connections in parallel")
	perFolder := fs.Int("per-folder", 2, "connections per folder")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	us, ts := strings.Split(*users, ","), strings.Split(*targets, ",")
	if len(us) != len(ts) {
		return fmt.Errorf("%d users but %d targets", len(us), len(ts))
	}
	var jobs []*heldFolder
	for i, u := range us {
		names, err := folders(ctx, *src, u, *password)
		if err != nil {
			return err
		}
		for _, n := range names {
			f, err := holdFolder(ctx, *src, u, *password, n)
			if err != nil {
				return err
			}
			f.target = ts[i]
			jobs = append(jobs, f)
		}
	}

	start := time.Now()
	var (
		mu       sync.Mutex
		res      fetchResult
		firstErr error
		wg       sync.WaitGroup
		next     = make(chan *heldFolder)
	)
	for range max(*conns / *perFolder, 1) {
		wg.Go(func() {
			for f := range next {
				n, size, err := appendFolder(ctx, *dst, *password, f, *perFolder)
				mu.Lock()
				res.Messages += n
				res.Bytes += size
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	for _, f := range jobs {
		next <- f
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	res.Millis = time.Since(start).Milliseconds()
	return json.NewEncoder(os.Stdout).Encode(res)
}

// holdFolder reads one folder's messages (body, flags, date) into memory.
func holdFolder(ctx context.Context, addr, user, password, name string) (*heldFolder, error) {
	c, done, n, err := examine(ctx, addr, user, password, name)
	if err != nil {
		return nil, err
	}
	defer done()
	f := &heldFolder{user: user, name: name}
	if n == 0 {
		return f, nil
	}
	var seq imap.SeqSet
	seq.AddRange(1, 0)
	fetch := c.Fetch(seq, &imap.FetchOptions{Flags: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	defer fetch.Close()
	for {
		msg := fetch.Next()
		if msg == nil {
			break
		}
		var it mailbox.Item
		for {
			item := msg.Next()
			if item == nil {
				break
			}
			switch item := item.(type) {
			case imapclient.FetchItemDataFlags:
				for _, fl := range item.Flags {
					if !strings.EqualFold(string(fl), `\Recent`) {
						it.Flags = append(it.Flags, string(fl))
					}
				}
			case imapclient.FetchItemDataInternalDate:
				it.Date = item.Time
			case imapclient.FetchItemDataBodySection:
				if it.Body, err = io.ReadAll(item.Literal); err != nil {
					return nil, fmt.Errorf("fetch %s %q: %w", user, name, err)
				}
			}
		}
		f.msgs = append(f.msgs, it)
	}
	if err := fetch.Close(); err != nil {
		return nil, fmt.Errorf("fetch %s %q: %w", user, name, err)
	}
	return f, nil
}

// appendFolder stores f into its target user over k connections of its
// own, creating the folder first unless it is INBOX.
func appendFolder(ctx context.Context, addr, password string, f *heldFolder, k int) (int, int64, error) {
	dial := func() (*imapconn.Conn, error) {
		return imapconn.Dial(ctx, imapconn.Options{Addr: addr, TLS: imapconn.TLSNone, User: f.target, Password: password})
	}
	if !strings.EqualFold(f.name, "INBOX") {
		c, err := dial()
		if err != nil {
			return 0, 0, err
		}
		err = c.Do(ctx, func(cl *imapclient.Client) error { return cl.Create(f.name, nil).Wait() })
		c.Close()
		var ie *imap.Error
		if errors.As(err, &ie) && ie.Code == imap.ResponseCodeAlreadyExists {
			err = nil // created by the server's configuration (auto = subscribe)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("create %s %q: %w", f.target, f.name, err)
		}
	}
	groups := make(chan []mailbox.Item)
	var (
		mu       sync.Mutex
		n        int
		size     int64
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	for range max(k, 1) {
		wg.Go(func() {
			defer func() {
				for range groups { // after a failure: let the sender finish
				}
			}()
			c, err := dial()
			if err != nil {
				fail(err)
				return
			}
			a, err := c.Appender(ctx)
			if err != nil {
				c.Close()
				fail(err)
				return
			}
			defer a.Close()
			for g := range groups {
				if _, _, err := a.Append(ctx, f.name, g); err != nil {
					fail(fmt.Errorf("append to %s %q: %w", f.target, f.name, err))
					return
				}
				mu.Lock()
				n += len(g)
				for _, it := range g {
					size += int64(len(it.Body))
				}
				mu.Unlock()
			}
		})
	}
	for i := 0; i < len(f.msgs); {
		j, groupBytes := i, 0
		for ; j < len(f.msgs) && (j == i || groupBytes+len(f.msgs[j].Body) <= appendGroupBytes); j++ {
			groupBytes += len(f.msgs[j].Body)
		}
		groups <- f.msgs[i:j]
		i = j
	}
	close(groups)
	wg.Wait()
	return n, size, firstErr
}
