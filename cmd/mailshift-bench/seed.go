package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mailshift/mailshift/internal/mutf7"
	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
)

// folderSum is what a folder holds, as compared between servers: the
// number of messages, their bytes, and a hash over the sorted SHA-256 of
// every message (equal hashes: the same messages, duplicates included).
type folderSum struct {
	Messages int
	Bytes    int64
	hashes   [][32]byte
}

// digest returns the hash over the folder's sorted message hashes.
func (f *folderSum) digest() [32]byte {
	hs := slices.Clone(f.hashes)
	slices.SortFunc(hs, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	h := sha256.New()
	for _, x := range hs {
		h.Write(x[:])
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func (f *folderSum) add(body []byte) {
	f.Messages++
	f.Bytes += int64(len(body))
	f.hashes = append(f.hashes, sha256.Sum256(body))
}

// userFolders is one user's folders by name ("/" as separator, as the server
// lists them).
type userFolders map[string]*folderSum

func (m userFolders) totals() (messages int, size int64) {
	for _, f := range m {
		messages += f.Messages
		size += f.Bytes
	}
	return messages, size
}

// keywords are the corpus's keywords in the order of the Maildir letters
// a, b, c (Dovecot's dovecot-keywords file).
var keywords = []string{"$Forwarded", "$Label1", "Work"}

// maildirFlags returns the info part of a Maildir file name for flags.
func maildirFlags(flags []string) string {
	var letters []byte
	for _, f := range flags {
		switch f {
		case `\Draft`:
			letters = append(letters, 'D')
		case `\Flagged`:
			letters = append(letters, 'F')
		case `\Answered`:
			letters = append(letters, 'R')
		case `\Seen`:
			letters = append(letters, 'S')
		case `\Deleted`:
			letters = append(letters, 'T')
		default:
			if i := slices.Index(keywords, f); i >= 0 {
				letters = append(letters, byte('a'+i))
			}
		}
	}
	slices.Sort(letters)
	return string(letters)
}

// seedMaildir writes msgs for user straight into the server's Maildir (the
// way Dovecot itself stores appended mail: LF line endings, sizes in the
// name, the internal date as the file's mtime, keywords by letter) and
// hands the files to the mail user. Every folder of folders (parents
// before children; corpus.Folders for a corpus.Mailbox) is created, empty
// or not. It returns what the mailbox holds as IMAP will serve it. Dovecot
// indexes the files at the first access.
func seedMaildir(s *dovecot.Server, user string, folders []string, msgs []corpus.Message) (userFolders, error) {
	root := s.MaildirPath(user)
	plan := userFolders{}
	dirs := map[string]string{}
	for _, f := range folders {
		dir := root
		if f != "INBOX" {
			dir = filepath.Join(root, filepath.FromSlash(mutf7.Encode(f)))
		}
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
				return nil, err
			}
		}
		var kw strings.Builder
		for i, k := range keywords {
			fmt.Fprintf(&kw, "%d %s\n", i, k)
		}
		if err := os.WriteFile(filepath.Join(dir, "dovecot-keywords"), []byte(kw.String()), 0o600); err != nil {
			return nil, err
		}
		dirs[f] = dir
		plan[f] = &folderSum{}
	}
	for i, m := range msgs {
		dir, ok := dirs[m.Folder]
		if !ok {
			return nil, fmt.Errorf("message %d: folder %q is not among the folders to create", i, m.Folder)
		}
		if bytes.Contains(bytes.ReplaceAll(m.Body, []byte("\r\n"), nil), []byte("\n")) {
			return nil, fmt.Errorf("message %d has a bare LF: it would not come back byte for byte", i)
		}
		lf := bytes.ReplaceAll(m.Body, []byte("\r\n"), []byte("\n"))
		name := fmt.Sprintf("%d.M%dP%d.bench,S=%d,W=%d:2,%s", m.InternalDate.Unix(), i, os.Getpid(), len(lf), len(m.Body), maildirFlags(m.Flags))
		p := filepath.Join(dir, "cur", name)
		if err := os.WriteFile(p, lf, 0o600); err != nil {
			return nil, err
		}
		if err := os.Chtimes(p, m.InternalDate, m.InternalDate); err != nil {
			return nil, err
		}
		plan[m.Folder].add(m.Body)
	}
	if err := s.Chown(filepath.Dir(root)); err != nil {
		return nil, err
	}
	return plan, nil
}
