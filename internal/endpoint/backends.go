package endpoint

import (
	"context"
	"fmt"
	"strings"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/source/eml"
	"github.com/mailshift/mailshift/source/maildir"
	"github.com/mailshift/mailshift/source/mbox"
	"github.com/mailshift/mailshift/source/pst"
	"github.com/mailshift/mailshift/target"
)

// Backend is one kind of endpoint, named by its URL scheme.
type Backend struct {
	Scheme string
	// Example is a URL of this kind, for messages and documentation.
	Example string
	// Local backends read files on this machine: what follows the scheme
	// is a path, and they have no server.
	Local bool
	// Source opens one user's mailbox for reading; nil if this kind
	// cannot be a source. Errors name the user.
	Source func(ctx context.Context, a Account) (source.Source, error)
	// Target opens one user's mailbox for writing; nil if this kind
	// cannot be a target. Errors name the user.
	Target func(ctx context.Context, a Account) (target.Target, error)
	// Check validates the settings of a server endpoint beyond its
	// scheme; key is "source" or "target". Nil if there is nothing more.
	Check func(key string, s Settings) error
}

// Backends lists every kind of endpoint mailshift can read or write, in
// the order messages name them. It is the one place a new source or
// target is added; nothing registers itself.
func Backends() []Backend {
	return []Backend{
		{Scheme: "imap", Example: "imap://host:143", Source: openIMAPSource, Target: openIMAPTarget, Check: checkIMAP},
		{Scheme: "imaps", Example: "imaps://host:993", Source: openIMAPSource, Target: openIMAPTarget, Check: checkIMAP},
		{Scheme: "maildir", Example: "maildir:/srv/mail/%u/Maildir", Local: true, Source: files(maildir.Open)},
		{Scheme: "mbox", Example: "mbox:/exports/%u/", Local: true, Source: files(mbox.Open)},
		{Scheme: "eml", Example: "eml:/data/%u/", Local: true, Source: files(eml.Open)},
		{Scheme: "pst", Example: "pst:/archives/%u/*.pst", Local: true, Source: openPST},
		{Scheme: "pstscan", Example: "pstscan:/home,/srv/share", Local: true, Source: openScanned},
	}
}

// lookup finds the backend of a URL by its scheme.
func lookup(rawURL string) (Backend, bool) {
	scheme, _, found := strings.Cut(rawURL, ":")
	if !found {
		return Backend{}, false
	}
	for _, b := range Backends() {
		if b.Scheme == scheme {
			return b, true
		}
	}
	return Backend{}, false
}

// IsLocal tells whether a URL names local files (maildir:, mbox:, eml:,
// pst:) rather than a server.
func IsLocal(rawURL string) bool {
	b, ok := lookup(rawURL)
	return ok && b.Local
}

// localPath is a local endpoint's path: what follows the scheme, without
// a leading "//".
func localPath(rawURL string) string {
	_, path, _ := strings.Cut(rawURL, ":")
	return strings.TrimPrefix(path, "//")
}

// files adapts a file source's Open to a Backend's Source. Files do not
// come back by waiting: a failure to open them is a settings error.
func files[S source.Source](open func(path string) (S, error)) func(context.Context, Account) (source.Source, error) {
	return func(_ context.Context, a Account) (source.Source, error) {
		s, err := open(a.Path)
		if err != nil {
			return nil, localErr(a, err)
		}
		return s, nil
	}
}

// openPST opens every PST file the path's pattern matches as one source.
func openPST(_ context.Context, a Account) (source.Source, error) {
	paths, err := pst.Glob(a.Path)
	if err != nil {
		return nil, localErr(a, err)
	}
	s, err := pst.OpenSet(paths, a.Settings.PSTFolders == "merge")
	if err != nil {
		return nil, localErr(a, err)
	}
	return s, nil
}

func localErr(a Account, err error) error {
	return mailbox.Mark(mailbox.ErrConfig, fmt.Errorf("%s %s: %w", a.Key, a.User, err))
}

// unsupported is the message for a URL no backend knows.
func unsupported(rawURL string) string {
	var servers, local []string
	for _, b := range Backends() {
		switch {
		case !b.Local:
			servers = append(servers, b.Example)
		case b.Source != nil && b.Target == nil:
			local = append(local, b.Scheme+":")
		}
	}
	return fmt.Sprintf("%q: unsupported scheme; use %s, or for a source %s with a path", rawURL, orList(servers), orList(local))
}

// orList joins "a, b or c".
func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// check validates one side's settings; key is "source" or "target".
func check(key string, s Settings) error {
	if s.URL == "" {
		return &KeyError{key + ".url", "missing: e.g. imaps://mail.example.com:993"}
	}
	switch s.PSTFolders {
	case "", "file", "merge":
	default:
		return &KeyError{key + ".pst_folders", fmt.Sprintf("%q: must be file (each PST file under a folder named after it) or merge", s.PSTFolders)}
	}
	b, ok := lookup(s.URL)
	if ok && key == "source" && b.Source == nil {
		return &KeyError{key + ".url", fmt.Sprintf("%q: a %s: endpoint cannot be a source", s.URL, b.Scheme)}
	}
	if ok && b.Local {
		if key == "target" && b.Target == nil {
			return &KeyError{key + ".url", fmt.Sprintf("%q: a %s: endpoint can only be a source; the target is an IMAP server (imaps://host:993)", s.URL, b.Scheme)}
		}
		if localPath(s.URL) == "" {
			return &KeyError{key + ".url", fmt.Sprintf("%q: names no path; write e.g. %s", s.URL, b.Example)}
		}
		return nil
	}
	if s.PSTFolders != "" {
		return &KeyError{key + ".pst_folders", "only for a pst: source"}
	}
	if !ok {
		return &KeyError{key + ".url", unsupported(s.URL)}
	}
	if b.Check != nil {
		return b.Check(key, s)
	}
	return nil
}
