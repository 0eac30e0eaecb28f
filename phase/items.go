package phase

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailshift/mailshift/internal/dav"
	"github.com/mailshift/mailshift/internal/pim"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/state"
)

// This file is the pass over a user's items that are not mail (contacts,
// distribution lists, calendar items, tasks, notes, journal entries) that
// follows the user's mail in test, bulk and sync: each is written as a
// file under the project's items/<user>/ (contacts/*.vcf, calendar/*.ics,
// tasks/*.ics, notes/*.ics) and, with target.carddav or target.caldav set,
// uploaded to the user's address book or calendar.

// ItemCounts are what a pass did with items that are not mail.
type ItemCounts struct {
	Items    int `json:"items"`          // read from the sources
	Written  int `json:"items_written"`  // files written or rewritten
	Uploaded int `json:"items_uploaded"` // stored on a CardDAV or CalDAV server, new or replaced
	Already  int `json:"items_already"`  // on the server from an earlier pass, unchanged
	Failed   int `json:"items_failed"`   // unreadable, or refused by the server
	Deleted  int `json:"items_deleted"`  // gone from the source, removed from the server (sync.deletions mirror)
}

func (c *ItemCounts) add(o ItemCounts) {
	c.Items += o.Items
	c.Written += o.Written
	c.Uploaded += o.Uploaded
	c.Already += o.Already
	c.Failed += o.Failed
	c.Deleted += o.Deleted
}

// itemsDir is where a user's item files go.
func (p *Project) itemsDir(user string) string {
	u := strings.NewReplacer("/", "_", "\\", "_").Replace(user)
	if strings.HasPrefix(u, ".") {
		u = "_" + u
	}
	return filepath.Join(p.Dir, "items", u)
}

// itemTarget is where a pass puts a user's items: the folder of files and
// the servers' collections (nil when not configured).
type itemTarget struct {
	dir     string
	clients map[string]*dav.Client // by pim collection: "contacts", "calendar"
	ready   map[string]bool        // collections made or found this pass
}

// davClients returns the user's CardDAV and CalDAV collections, with the
// target's user and password, timeout, ca_file and insecure_skip_verify.
func (p *Project) davClients(ctx context.Context, r users.Row) (map[string]*dav.Client, error) {
	out := map[string]*dav.Client{}
	t := p.Config.Target
	if t.CardDAV == "" && t.CalDAV == "" {
		return out, nil
	}
	timeout := time.Minute
	if d, err := time.ParseDuration(t.Timeout); err == nil && d > 0 {
		timeout = d
	}
	hc, err := dav.NewHTTPClient(timeout, t.CAFile, t.InsecureSkipVerify)
	if err != nil {
		return nil, &ConfigError{"target.ca_file", err.Error()}
	}
	for coll, tmpl := range map[string]string{"contacts": t.CardDAV, "calendar": t.CalDAV} {
		if tmpl == "" {
			continue
		}
		c := &dav.Client{URL: strings.ReplaceAll(tmpl, "%u", url.PathEscape(r.TargetUser)), User: r.TargetUser, HTTP: hc}
		if r.TargetPassword.IsSet() {
			pw, err := r.TargetPassword.Reveal(ctx)
			if err != nil {
				return nil, fmt.Errorf("user %s: target password: %w", r.TargetUser, err)
			}
			c.Password = pw
		}
		out[coll] = c
	}
	return out, nil
}

// itemsPass converts and delivers the user's items from src, the
// source the user's mail came from; a source without items does nothing. Items that fail are counted and logged, and tried
// again by the next pass; the error is for what stops the whole pass.
func (p *Project) itemsPass(ctx context.Context, r users.Row, src source.Source, opts copyOptions) (ItemCounts, error) {
	var c ItemCounts
	ex, ok := src.(source.ItemExporter)
	if !ok {
		return c, nil
	}
	clients, err := p.davClients(ctx, r)
	if err != nil {
		return c, err
	}
	t := &itemTarget{dir: p.itemsDir(r.SourceUser), clients: clients, ready: map[string]bool{}}
	seen := map[string]bool{}
	err = ex.ExportItems(ctx, func(it pim.Item, rerr error) error {
		c.Items++
		seen[it.Key+"\x00"+it.Collection()] = true
		if rerr == nil {
			rerr = p.deliverItem(ctx, r, t, it, &c)
		}
		if rerr != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			c.Failed++
			p.log().Warn("item not delivered", "user", r.SourceUser, "item", it.Key, "folder", it.Folder, "class", it.Class, "reason", rerr.Error())
		}
		return nil
	})
	if err == nil && opts.deletions == "mirror" && c.Failed == 0 {
		c.Deleted, err = p.mirrorItems(ctx, r, clients, seen, opts.force)
	}
	return c, err
}

// mirrorItems removes from the servers (and from the state and the
// files) the items uploaded earlier that the source no longer holds, for
// sync.deletions mirror; an item changed on the server since is left and
// logged. It runs only after an export that read every item.
func (p *Project) mirrorItems(ctx context.Context, r users.Row, clients map[string]*dav.Client, seen map[string]bool, force bool) (int, error) {
	recs, err := p.Store.PIMItems(r.SourceUser)
	if err != nil {
		return 0, err
	}
	var gone []state.PIMItem
	for _, rec := range recs {
		if !seen[rec.Key+"\x00"+rec.Collection] {
			gone = append(gone, rec)
		}
	}
	if limit := p.Config.Sync.MaxDelete; !force && len(gone)*100 > limit*len(recs) {
		return 0, fmt.Errorf("user %s: %d of %d uploaded contacts and calendar items are gone from the source, more than sync.max_delete (%d%%); nothing was deleted on the servers. If this is expected, run `mailshift sync --force`", r.SourceUser, len(gone), len(recs), limit)
	}
	n := 0
	for _, rec := range gone {
		cl := clients[rec.Collection]
		if cl == nil {
			continue // uploaded to a server no longer configured: left alone
		}
		name := resourceName(rec.Href)
		switch err := cl.Delete(ctx, name, rec.ETag); {
		case errors.Is(err, dav.ErrChanged):
			p.log().Warn("item gone from the source but changed on the server: left", "user", r.SourceUser, "item", rec.Key, "href", rec.Href)
			continue
		case err != nil:
			return n, fmt.Errorf("user %s: remove item %s: %w", r.SourceUser, rec.Key, err)
		}
		if err := p.Store.DeletePIMItem(r.SourceUser, rec.Key, rec.Collection); err != nil {
			return n, err
		}
		for _, dir := range []string{"contacts", "calendar", "tasks", "notes"} {
			os.Remove(filepath.Join(p.itemsDir(r.SourceUser), dir, name))
		}
		n++
	}
	return n, nil
}

// resourceName is the last part of a resource's href, unescaped.
func resourceName(href string) string {
	name, err := url.PathUnescape(path.Base(href))
	if err != nil {
		return path.Base(href)
	}
	return name
}

// deliverItem writes one item's file and uploads it.
func (p *Project) deliverItem(ctx context.Context, r users.Row, t *itemTarget, it pim.Item, c *ItemCounts) error {
	data, err := it.Encode()
	if err != nil {
		return err
	}
	wrote, err := writeIfChanged(filepath.Join(t.dir, it.Dir(), it.Name()), data)
	if err != nil {
		return err
	}
	if wrote {
		c.Written++
	}
	cl := t.clients[it.Collection()]
	if cl == nil {
		return nil
	}
	if !t.ready[it.Collection()] {
		kind := dav.AddressBook
		if it.Collection() == "calendar" {
			kind = dav.Calendar
		}
		if err := cl.Ensure(ctx, kind); err != nil {
			return fmt.Errorf("user %s: %s collection: %w", r.TargetUser, it.Collection(), err)
		}
		t.ready[it.Collection()] = true
	}
	uploaded, err := p.upload(ctx, cl, r.SourceUser, it, data)
	switch {
	case err != nil:
		return err
	case uploaded:
		c.Uploaded++
	default:
		c.Already++
	}
	return nil
}

// upload puts an item on the server exactly once: under a name derived
// from its key, created with If-None-Match so that a pass interrupted
// between the upload and its record finds it there instead of making a
// second copy, and replaced with If-Match when the item changed since.
func (p *Project) upload(ctx context.Context, cl *dav.Client, user string, it pim.Item, data []byte) (bool, error) {
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	coll := it.Collection()
	rec, ok, err := p.Store.PIMItemOf(user, it.Key, coll)
	if err != nil {
		return false, err
	}
	if ok && rec.Hash == hash {
		return false, nil
	}
	etag := ""
	if ok {
		etag = rec.ETag
	}
	href, tag, err := cl.Put(ctx, it.Name(), it.ContentType(), data, etag)
	if errors.Is(err, dav.ErrChanged) {
		// Deleted on the server since: stored anew. Changed there: left.
		if _, _, gerr := cl.Get(ctx, it.Name()); dav.IsNotFound(gerr) {
			href, tag, err = cl.Put(ctx, it.Name(), it.ContentType(), data, "")
		}
	}
	uploaded := true
	if errors.Is(err, dav.ErrExists) {
		uploaded, err = false, nil // stored by a pass that stopped before recording it
	}
	if err != nil {
		return false, err
	}
	if tag == "" {
		if _, tag, err = cl.Get(ctx, it.Name()); err != nil {
			return false, err
		}
	}
	rec = state.PIMItem{User: user, Key: it.Key, Collection: coll, Href: href, ETag: tag, Hash: hash, Uploaded: p.now()}
	return uploaded, p.Store.PutPIMItem(rec)
}

// writeIfChanged writes data to path unless the file holds it already,
// through a temporary file so that a file is never half written.
func writeIfChanged(path string, data []byte) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return false, err
	}
	return true, nil
}

// cleanupItems removes from the servers the items uploaded for r (those
// changed there since are left, and said so) and the user's item files,
// for test --cleanup.
func (p *Project) cleanupItems(ctx context.Context, r users.Row) error {
	recs, err := p.Store.PIMItems(r.SourceUser)
	if err != nil {
		return err
	}
	if len(recs) > 0 {
		clients, err := p.davClients(ctx, r)
		if err != nil {
			return err
		}
		var kept []string
		for _, rec := range recs {
			cl := clients[rec.Collection]
			if cl == nil {
				return fmt.Errorf("user %s: %d item(s) were uploaded to the %s server, which the configuration no longer names: set target.carddav or target.caldav again to remove them", r.SourceUser, len(recs), rec.Collection)
			}
			switch err := cl.Delete(ctx, resourceName(rec.Href), rec.ETag); {
			case errors.Is(err, dav.ErrChanged):
				kept = append(kept, rec.Href)
			case err != nil:
				return fmt.Errorf("user %s: remove item %s: %w", r.SourceUser, rec.Key, err)
			}
			if err := p.Store.DeletePIMItem(r.SourceUser, rec.Key, rec.Collection); err != nil {
				return err
			}
		}
		if len(kept) > 0 {
			p.log().Warn("items changed on the server since the test uploaded them were left", "user", r.SourceUser, "items", strings.Join(kept, " "))
		}
	}
	return os.RemoveAll(p.itemsDir(r.SourceUser))
}
