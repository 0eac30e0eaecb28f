// Package pstscan finds Outlook PST files in directory trees (shares
// mounted on the station, home directories) by their content, not only by
// their name, and tells what each is: its size and times, its owner on the
// filesystem, its format, encoding and password, the store's display name,
// its items by class, their date range and the addresses that occur most
// in its Inbox and Sent folders. It reads files without changing them.
//
// Open reads the files assigned to one user as one source (package pst's
// Set), and an empty source when none are.
package pstscan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/source/pst"
	"github.com/mailshift/mailshift/state"
)

// magic is how every PST file begins ([MS-PST] 2.2.2.6, dwMagic).
const magic = "!BDN"

// Problem is a directory or file the scan could not look into.
type Problem struct {
	Path   string
	Reason string
}

// Roots splits a pstscan: URL's path into its roots ("/home,/srv/share").
func Roots(list string) []string {
	var out []string
	for _, p := range strings.Split(list, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Find walks every root and returns the paths of the files that begin
// with the PST signature, whatever their names, sorted and without
// repeats, and the directories and files it could not read.
func Find(ctx context.Context, roots []string) ([]string, []Problem, error) {
	seen := map[string]bool{}
	var found []string
	var problems []Problem
	for _, root := range roots {
		if _, err := os.Stat(root); err != nil {
			return nil, nil, fmt.Errorf("pstscan: root %s: %w", root, err)
		}
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			if err != nil {
				problems = append(problems, Problem{path, "cannot be read: " + unwrapPath(err)})
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() || seen[path] {
				return nil
			}
			ok, err := isPST(path)
			if err != nil {
				problems = append(problems, Problem{path, "cannot be read: " + unwrapPath(err)})
				return nil
			}
			if ok {
				seen[path] = true
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	slices.Sort(found)
	return found, problems, nil
}

// unwrapPath is an error's text without the path a *fs.PathError adds
// (the problem names the path already).
func unwrapPath(err error) string {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

// isPST tells whether the file at path begins with the PST signature.
func isPST(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var b [4]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return false, nil
		}
		return false, err
	}
	return string(b[:]) == magic, nil
}

// topAddresses is how many addresses of the Inbox and of the Sent folder
// a record keeps; sampleMessages is how many messages of each (the
// newest) are read to count them.
const (
	topAddresses   = 5
	sampleMessages = 500
)

// Inspect tells what the PST file at path is. Err is why the file cannot
// be read (it cannot be opened, or it is damaged); what could be learnt
// before is in the record all the same.
func Inspect(ctx context.Context, path string) (rec state.PSTRecord, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return rec, err
	}
	rec.Size, rec.ModTime = fi.Size(), fi.ModTime().UTC()
	statTimes(fi, &rec)
	src, err := pst.Open(path)
	if err != nil {
		return rec, err
	}
	defer src.Close()
	info := src.Info()
	rec.Format, rec.Encoding, rec.StoreName, rec.HasPassword = info.Format, info.Encoding, info.StoreName, info.HasPassword
	sv, err := src.Survey(ctx)
	if err != nil {
		return rec, err
	}
	rec.Classes, rec.First, rec.Last = sv.Classes, sv.First, sv.Last
	folders, err := src.Folders(ctx)
	if err != nil {
		return rec, err
	}
	for _, f := range folders {
		switch {
		case strings.EqualFold(f.Name, "Inbox"):
			if rec.Inbox, err = addresses(ctx, src, f.Name, []string{"From", "To", "Cc"}); err != nil {
				return rec, err
			}
		case f.Role == `\Sent` || strings.EqualFold(f.Name, "Sent Items"):
			if rec.Sent, err = addresses(ctx, src, f.Name, []string{"From", "To", "Cc"}); err != nil {
				return rec, err
			}
		}
	}
	return rec, nil
}

// addresses counts the addresses of the header fields of the newest
// sampleMessages messages of folder (by UID) and returns the topAddresses most
// frequent, most first.
func addresses(ctx context.Context, src *pst.Source, folder string, fields []string) ([]state.AddressCount, error) {
	msgs, err := src.Headers(ctx, folder)
	if err != nil {
		return nil, err
	}
	msgs = msgs[max(0, len(msgs)-sampleMessages):] // the newest: the owner's address as it is now
	counts := map[string]int{}
	err = src.Fetch(ctx, folder, msgs, func(_ mailbox.Message, b mailbox.Body) error {
		m, err := mail.ReadMessage(b)
		if err != nil {
			return nil // a message without a readable header names nobody
		}
		for _, f := range fields {
			list, err := m.Header.AddressList(f)
			if err != nil {
				continue
			}
			for _, a := range list {
				counts[strings.ToLower(a.Address)]++
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]state.AddressCount, 0, len(counts))
	for a, n := range counts {
		out = append(out, state.AddressCount{Address: a, Count: n})
	}
	slices.SortFunc(out, func(a, b state.AddressCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Address, b.Address)
	})
	return out[:min(len(out), topAddresses)], nil
}

// File is one PST file found, with what Inspect learnt of it; Error is why
// it could not be read ("" if it could).
type File struct {
	Path   string
	Record state.PSTRecord
	Error  string
}

// Scan finds the PST files under roots and inspects each. A file that
// cannot be read is returned with its reason, never dropped; the problems
// are the directories and files the scan could not look into.
func Scan(ctx context.Context, roots []string) ([]File, []Problem, error) {
	paths, problems, err := Find(ctx, roots)
	if err != nil {
		return nil, nil, err
	}
	out := make([]File, 0, len(paths))
	for _, p := range paths {
		rec, err := Inspect(ctx, p)
		if cerr := ctx.Err(); cerr != nil {
			return nil, nil, cerr
		}
		f := File{Path: p, Record: rec}
		if err != nil {
			f.Error = strings.TrimPrefix(err.Error(), "pst "+p+": ")
		}
		out = append(out, f)
	}
	return out, problems, nil
}

// Open reads the PST files at paths as one source (see pst.OpenSet); with
// no paths it is a source without folders. Merged, two files of the same
// name cannot be told apart (the keys of their messages are the file's
// name and the message's node id): that is refused.
func Open(paths []string, merge bool) (source.Source, error) {
	if len(paths) == 0 {
		return empty{}, nil
	}
	if merge {
		seen := map[string]string{}
		for _, p := range paths {
			b := filepath.Base(p)
			if other, ok := seen[b]; ok {
				return nil, fmt.Errorf("pstscan: %s and %s have the same name, and merged (source.pst_folders: merge) their messages cannot be told apart; use source.pst_folders: file, or rename one", other, p)
			}
			seen[b] = p
		}
	}
	return pst.OpenSet(paths, merge)
}

// empty is the source of a user without PST files.
type empty struct{}

func (empty) Describe(context.Context) (mailbox.Description, error) {
	return mailbox.Description{Kind: "pst", Server: "no PST files assigned", Delimiter: '/', QuotaUsed: -1, QuotaLimit: -1}, nil
}
func (empty) Folders(context.Context) ([]mailbox.Folder, error) { return nil, nil }
func (empty) Messages(_ context.Context, folder string) (mailbox.Folder, []mailbox.Message, error) {
	return mailbox.Folder{}, nil, fmt.Errorf("pstscan: folder %q: %w", folder, mailbox.ErrFolderGone)
}
func (empty) Fetch(context.Context, string, []mailbox.Message, func(mailbox.Message, mailbox.Body) error) error {
	return nil
}
func (empty) Close() error { return nil }
