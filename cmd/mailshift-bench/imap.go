package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// login dials addr without TLS (loopback servers) and logs in; the
// connection closes when ctx ends.
func login(ctx context.Context, addr, user, password string) (*imapclient.Client, func(), error) {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	closeFn := func() {
		stop()
		c.Logout().Wait()
		c.Close()
	}
	if err := c.Login(user, password).Wait(); err != nil {
		closeFn()
		return nil, nil, fmt.Errorf("login %s on %s: %w", user, addr, err)
	}
	return c, closeFn, nil
}

// folders lists the selectable folders of user.
func folders(ctx context.Context, addr, user, password string) ([]string, error) {
	c, done, err := login(ctx, addr, user, password)
	if err != nil {
		return nil, err
	}
	defer done()
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", user, err)
	}
	var out []string
	for _, l := range list {
		if slices.Contains(l.Attrs, imap.MailboxAttrNoSelect) || slices.Contains(l.Attrs, imap.MailboxAttrNonExistent) {
			continue
		}
		out = append(out, l.Mailbox)
	}
	slices.Sort(out)
	return out, nil
}

// examine logs in as user on a connection of its own and EXAMINEs folder;
// it returns the client, how to close it, and the folder's message count.
func examine(ctx context.Context, addr, user, password, folder string) (*imapclient.Client, func(), uint32, error) {
	c, done, err := login(ctx, addr, user, password)
	if err != nil {
		return nil, nil, 0, err
	}
	sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		done()
		return nil, nil, 0, fmt.Errorf("examine %s %q: %w", user, folder, err)
	}
	return c, done, sel.NumMessages, nil
}

// fetchFolder reads every message of one folder on a connection of its
// own (EXAMINE, FETCH 1:* BODY.PEEK[]), hashing the bodies into a
// folderSum, or only counting them when hash is false.
func fetchFolder(ctx context.Context, addr, user, password, folder string, hash bool) (*folderSum, error) {
	c, done, n, err := examine(ctx, addr, user, password, folder)
	if err != nil {
		return nil, err
	}
	defer done()
	return fetchExamined(c, user, folder, n, hash)
}

// fetchExamined reads the n messages of the folder c has EXAMINEd, as
// fetchFolder does.
func fetchExamined(c *imapclient.Client, user, folder string, n uint32, hash bool) (*folderSum, error) {
	sum := &folderSum{}
	if n == 0 {
		return sum, nil
	}
	var seq imap.SeqSet
	seq.AddRange(1, 0)
	fetch := c.Fetch(seq, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	for {
		msg := fetch.Next()
		if msg == nil {
			break
		}
		for {
			item := msg.Next()
			if item == nil {
				break
			}
			body, ok := item.(imapclient.FetchItemDataBodySection)
			if !ok || body.Literal == nil {
				continue
			}
			if hash {
				h := sha256.New()
				n, err := io.Copy(h, body.Literal)
				if err != nil {
					fetch.Close()
					return nil, fmt.Errorf("fetch %s %q: %w", user, folder, err)
				}
				var sumHash [32]byte
				copy(sumHash[:], h.Sum(nil))
				sum.Messages++
				sum.Bytes += n
				sum.hashes = append(sum.hashes, sumHash)
			} else {
				n, err := io.Copy(io.Discard, body.Literal)
				if err != nil {
					fetch.Close()
					return nil, fmt.Errorf("fetch %s %q: %w", user, folder, err)
				}
				sum.Messages++
				sum.Bytes += n
			}
		}
	}
	if err := fetch.Close(); err != nil {
		return nil, fmt.Errorf("fetch %s %q: %w", user, folder, err)
	}
	return sum, nil
}

// readAll reads every folder of every user, conns folders at a time, each
// on its own connection. With hash it returns each user's mailbox with
// message hashes; without, only counts.
func readAll(ctx context.Context, addr string, users []string, password string, conns int, hash bool) (map[string]userFolders, error) {
	type job struct{ user, folder string }
	var jobs []job
	out := map[string]userFolders{}
	for _, u := range users {
		fs, err := folders(ctx, addr, u, password)
		if err != nil {
			return nil, err
		}
		out[u] = userFolders{}
		for _, f := range fs {
			jobs = append(jobs, job{u, f})
		}
	}
	var mu sync.Mutex
	err := inParallel(conns, jobs, func(j job) error {
		sum, err := fetchFolder(ctx, addr, j.user, password, j.folder, hash)
		if err == nil {
			mu.Lock()
			out[j.user][j.folder] = sum
			mu.Unlock()
		}
		return err
	})
	return out, err
}

// readUsers is readAll for many small mailboxes: each user over one
// connection of its own (LIST, then EXAMINE and FETCH folder by folder),
// conns users at a time, so that checking 10,000 users costs 10,000
// logins rather than one per folder.
func readUsers(ctx context.Context, addr string, users []string, password string, conns int) (map[string]userFolders, error) {
	var mu sync.Mutex
	out := map[string]userFolders{}
	err := inParallel(conns, users, func(u string) error {
		box, err := readUser(ctx, addr, u, password)
		mu.Lock()
		out[u] = box
		mu.Unlock()
		return err
	})
	return out, err
}

// inParallel calls fn for every item, n at a time (at least one), and
// returns the first error; every item is tried.
func inParallel[T any](n int, items []T, fn func(T) error) error {
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		next  = make(chan T)
	)
	for range max(n, 1) {
		wg.Go(func() {
			for it := range next {
				if err := fn(it); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, it := range items {
		next <- it
	}
	close(next)
	wg.Wait()
	return first
}

// readUser reads every selectable folder of user over one connection,
// hashing the bodies.
func readUser(ctx context.Context, addr, user, password string) (userFolders, error) {
	c, done, err := login(ctx, addr, user, password)
	if err != nil {
		return nil, err
	}
	defer done()
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", user, err)
	}
	box := userFolders{}
	for _, l := range list {
		if slices.Contains(l.Attrs, imap.MailboxAttrNoSelect) || slices.Contains(l.Attrs, imap.MailboxAttrNonExistent) {
			continue
		}
		sel, err := c.Select(l.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			return nil, fmt.Errorf("examine %s %q: %w", user, l.Mailbox, err)
		}
		if box[l.Mailbox], err = fetchExamined(c, user, l.Mailbox, sel.NumMessages, true); err != nil {
			return nil, err
		}
	}
	return box, nil
}

// fetchResult is what the fetch-only ceiling reports on stdout.
type fetchResult struct {
	Messages int   `json:"messages"`
	Bytes    int64 `json:"bytes"`
	Millis   int64 `json:"millis"`
}

// ceilingFetchMain is the fetch-only client, run as a process of its own
// (so that its wall time and peak RSS are measured like the tools'): it
// fetches every message body of the given users, one connection per
// folder, and discards them.
func ceilingFetchMain(args []string) error {
	fs := flag.NewFlagSet("ceiling-fetch", flag.ContinueOnError)
	addr := fs.String("addr", "", "source server")
	users := fs.String("users", "", "comma-separated users")
	password := fs.String("password", "", "their password")
	conns := fs.Int("conns", 8, "connections in parallel")
	if err := fs.Parse(args); err != nil {
		return err
	}
	start := time.Now()
	boxes, err := readAll(context.Background(), *addr, strings.Split(*users, ","), *password, *conns, false)
	if err != nil {
		return err
	}
	var res fetchResult
	for _, b := range boxes {
		m, s := b.totals()
		res.Messages += m
		res.Bytes += s
	}
	res.Millis = time.Since(start).Milliseconds()
	return json.NewEncoder(os.Stdout).Encode(res)
}
