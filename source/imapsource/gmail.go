package imapsource

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/mailshift/mailshift/internal/imapconn"
	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/mutf7"
	"github.com/mailshift/mailshift/source"
)

// Policies for Gmail's labels (GmailOptions.Labels).
//
// Gmail shows each label as a folder and every message once more in
// "[Gmail]/All Mail" (https://developers.google.com/gmail/imap/imap-extensions;
// imapsync FAQ.d/FAQ.Gmail.txt: "a message labelled Work ProjectX Urgent
// ends up in three folders"). Copying every folder multiplies such a
// message; leaving All Mail out loses the mail that has no label
// (archived). With a policy the source presents the folders the policy
// asks for instead of Gmail's, so that each message is copied as the
// policy says and counts, estimates and verification follow it.
const (
	// GmailFolders: one copy per label folder (INBOX, Sent, Drafts, Spam,
	// Trash and the user's labels); All Mail is not copied, except its
	// messages that show in none of those folders, which go to the
	// archive folder. "[Gmail]/Starred" and "[Gmail]/Important" are not
	// copied as folders (a star is the \Flagged flag every copy keeps;
	// Important is Gmail's own guess); a message that has only those
	// labels goes to the archive folder.
	GmailFolders = "folders"
	// GmailKeywords: one copy of each All Mail message, in INBOX when it
	// has the \Inbox label, else in the Sent folder (\Sent), else in
	// Drafts (\Draft), else in the archive folder; its user labels become
	// keywords (see LabelKeyword), \Important the keyword $Important,
	// \Starred the \Flagged flag. Spam and Trash, which are not in All
	// Mail, are copied as folders.
	GmailKeywords = "keywords"
	// GmailLabels: for a Gmail target, each All Mail message once, in the
	// folder GmailKeywords chooses, its other labels (user labels and
	// \Important) carried as imapconn.LabelFlag keywords, which a Gmail
	// target sets as labels (UID STORE +X-GM-LABELS) after the APPEND
	// instead of storing them as keywords; \Starred is \Flagged. Gmail
	// then shows the message in each of its label folders, stored and
	// uploaded once (imapsync FAQ.d/FAQ.Gmail.txt: a copy of a message
	// Gmail holds already is accepted and thrown away, "a waste of
	// bandwidth and time", and uploads are limited to 500 MB a day).
	// Spam and Trash are copied as folders.
	GmailLabels = "labels"
	// GmailOff reads Gmail like any IMAP server: every folder as it is.
	GmailOff = "off"
)

// DefaultArchiveFolder is where mail that only All Mail holds goes.
const DefaultArchiveFolder = "Archive"

// GmailOptions says how a Gmail source presents its labels.
type GmailOptions struct {
	// Labels is the policy: GmailFolders, GmailKeywords or GmailOff;
	// "" means GmailFolders on a server that offers X-GM-EXT-1 and
	// GmailOff elsewhere.
	Labels string
	// ArchiveFolder is the folder (as the source presents it, "/"
	// separated) of mail that only All Mail holds; "" means
	// DefaultArchiveFolder.
	ArchiveFolder string
}

// Gmail is an IMAP source on Gmail presented by a label policy. Its
// message keys are UIDs of the folder a message is read from: the label
// folder for the folders Gmail has, All Mail for the ones the policy makes
// (the archive folder, and INBOX, Sent and Drafts with GmailKeywords).
// It has no ChangeTracker: every pass lists the folders in full.
type Gmail struct {
	src    *Source
	policy string
	arch   string

	allMail string                         // the \All folder's name
	real    []mailbox.Folder               // the folders as Gmail lists them
	made    map[string]func([]string) bool // folders the policy makes: which All Mail messages they hold, by labels
	scan    *gmailScan
}

// gmailScan is All Mail read once: counters, messages and labels.
type gmailScan struct {
	folder mailbox.Folder
	msgs   []mailbox.Message
	labels map[uint32][]string
}

var _ source.Source = (*Gmail)(nil)

// OpenGmail connects and logs in like Open and presents the mailbox by
// o's policy when the server offers X-GM-EXT-1; with GmailOff, or without
// the extension and no policy asked for, it returns the plain *Source.
// Asking for a policy of a server without the extension is an error.
func OpenGmail(ctx context.Context, co imapconn.Options, o GmailOptions) (source.Source, error) {
	s, err := Open(ctx, co)
	if err != nil {
		return nil, err
	}
	g, err := NewGmail(s, o)
	if err != nil {
		s.Close()
		return nil, err
	}
	if g == nil {
		return s, nil
	}
	return g, nil
}

// NewGmail wraps s by o's policy; nil when s is to be read as it is.
func NewGmail(s *Source, o GmailOptions) (*Gmail, error) {
	policy := o.Labels
	switch policy {
	case "":
		if !s.conn.GmailExt() {
			return nil, nil
		}
		policy = GmailFolders
	case GmailOff:
		return nil, nil
	case GmailFolders, GmailKeywords, GmailLabels:
		if !s.conn.GmailExt() {
			return nil, mailbox.Mark(mailbox.ErrConfig, fmt.Errorf("gmail.labels: %s: the source server does not offer %s (Gmail's IMAP extensions); remove gmail.labels or set it to off for a server that is not Gmail", policy, imapconn.CapGmail))
		}
	default:
		return nil, mailbox.Mark(mailbox.ErrConfig, fmt.Errorf("gmail.labels: %q: must be folders, keywords, labels or off", policy))
	}
	arch := o.ArchiveFolder
	if arch == "" {
		arch = DefaultArchiveFolder
	}
	return &Gmail{src: s, policy: policy, arch: arch}, nil
}

// Policy is the label policy in force.
func (g *Gmail) Policy() string { return g.policy }

// Conn returns the underlying connection.
func (g *Gmail) Conn() *imapconn.Conn { return g.src.conn }

// Describe tells what the server is; CONDSTORE is not offered, since
// the folders the policy makes have no modification sequences of their
// own.
func (g *Gmail) Describe(ctx context.Context) (mailbox.Description, error) {
	d, err := g.src.Describe(ctx)
	d.CondStore = false
	return d, err
}

// Close logs out.
func (g *Gmail) Close() error { return g.src.Close() }

// Folders lists the folders the policy presents, with counters that
// follow it: the made folders count the All Mail messages they hold.
func (g *Gmail) Folders(ctx context.Context) ([]mailbox.Folder, error) {
	out, err := g.layout(ctx)
	if err != nil {
		return nil, err
	}
	g.scan = nil
	if err := g.rescan(ctx); err != nil {
		return nil, err
	}
	for name, pick := range g.made {
		out = append(out, g.madeFolder(name, pick))
	}
	slices.SortFunc(out, func(a, b mailbox.Folder) int {
		switch {
		case a.Name == "INBOX":
			return -1
		case b.Name == "INBOX":
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// layout lists Gmail's folders and decides, by the policy, which of them
// are presented as they are (returned) and which folders are made of All
// Mail (g.made).
func (g *Gmail) layout(ctx context.Context) ([]mailbox.Folder, error) {
	real, err := g.src.Folders(ctx)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(real, func(f mailbox.Folder) bool { return f.Role == mailbox.RoleAll })
	if i < 0 {
		return nil, mailbox.Mark(mailbox.ErrConfig, fmt.Errorf("the Gmail source of %s shows no All Mail folder (\\All), without which archived mail cannot be read: tick \"Show in IMAP\" for All Mail in Gmail's settings (Labels), or set gmail.labels: off", g.src.conn.User()))
	}
	g.real, g.allMail = real, real[i].Name
	if g.policy == GmailFolders {
		return g.labelFolders()
	}
	return g.keywordFolders(), nil
}

// ready makes sure the layout is known: a Source opened for copying
// (each lane opens its own) may be asked for a folder's messages
// without a Folders call first.
func (g *Gmail) ready(ctx context.Context) error {
	if g.made != nil {
		return nil
	}
	_, err := g.layout(ctx)
	return err
}

// labelFolders: GmailFolders presents Gmail's folders but All Mail,
// Starred and Important, and makes the archive folder of the All Mail
// messages none of them shows.
func (g *Gmail) labelFolders() ([]mailbox.Folder, error) {
	var out []mailbox.Folder
	shown := map[string]bool{}
	for _, f := range g.real {
		switch {
		case f.NoSelect, f.Role == mailbox.RoleAll, f.Role == mailbox.RoleFlagged, f.Role == mailbox.RoleImportant:
			continue
		case f.Name == g.arch:
			return nil, mailbox.Mark(mailbox.ErrConfig, fmt.Errorf("gmail.archive_folder: %q: %s has a label of that name; choose another archive folder", g.arch, g.src.conn.User()))
		}
		out = append(out, f)
		shown[labelOf(f)] = true
	}
	g.made = map[string]func([]string) bool{g.arch: func(labels []string) bool {
		return !slices.ContainsFunc(labels, func(l string) bool { return shown[l] })
	}}
	return out, nil
}

// labelOf is the label whose messages a folder Gmail lists shows.
func labelOf(f mailbox.Folder) string {
	switch {
	case f.Name == "INBOX":
		return `\Inbox`
	case f.Role == mailbox.RoleSent:
		return `\Sent`
	case f.Role == mailbox.RoleDrafts:
		return `\Draft`
	}
	return f.Name
}

// keywordFolders: GmailKeywords presents Spam and Trash as they are and
// makes INBOX, Sent, Drafts and the archive folder of All Mail.
func (g *Gmail) keywordFolders() []mailbox.Folder {
	var out []mailbox.Folder
	var sent, drafts string
	for _, f := range g.real {
		switch f.Role {
		case mailbox.RoleJunk, mailbox.RoleTrash:
			if !f.NoSelect {
				out = append(out, f)
			}
		case mailbox.RoleSent:
			sent = f.Name
		case mailbox.RoleDrafts:
			drafts = f.Name
		}
	}
	has := func(labels []string, l string) bool { return slices.Contains(labels, l) }
	inbox := func(ls []string) bool { return has(ls, `\Inbox`) }
	isSent := func(ls []string) bool { return sent != "" && !inbox(ls) && has(ls, `\Sent`) }
	isDraft := func(ls []string) bool { return drafts != "" && !inbox(ls) && !isSent(ls) && has(ls, `\Draft`) }
	g.made = map[string]func([]string) bool{
		"INBOX": inbox,
		g.arch:  func(ls []string) bool { return !inbox(ls) && !isSent(ls) && !isDraft(ls) },
	}
	if sent != "" {
		g.made[sent] = isSent
	}
	if drafts != "" {
		g.made[drafts] = isDraft
	}
	return out
}

// madeFolder is a folder the policy makes, with its counters.
func (g *Gmail) madeFolder(name string, pick func([]string) bool) mailbox.Folder {
	f := g.scan.folder
	f.Name, f.Role, f.Error = name, "", ""
	if name == g.arch {
		f.Role = mailbox.RoleArchive
	} else if i := slices.IndexFunc(g.real, func(r mailbox.Folder) bool { return r.Name == name }); i >= 0 {
		f.Role = g.real[i].Role
	}
	f.HighestModSeq = 0
	f.Messages, f.Bytes = 0, 0
	for _, m := range g.scan.msgs {
		if pick(g.scan.labels[m.UID]) {
			f.Messages++
			f.Bytes += m.Size
		}
	}
	return f
}

// rescan reads All Mail's messages and labels, unless nothing changed
// there since the last scan: same UIDNEXT, message count and, with
// CONDSTORE, HIGHESTMODSEQ (without it, always). Folders always reads
// afresh, so labels are at most one pass old.
func (g *Gmail) rescan(ctx context.Context) error {
	if g.scan != nil {
		st, err := g.src.conn.Status(ctx, g.allMail)
		if err != nil {
			return err
		}
		old := g.scan.folder
		if st.UIDValidity == old.UIDValidity && st.UIDNext == old.UIDNext && st.Messages == old.Messages &&
			st.HighestModSeq == old.HighestModSeq && st.HighestModSeq != 0 {
			return nil
		}
	}
	f, msgs, err := g.src.Messages(ctx, g.allMail)
	if err != nil {
		return err
	}
	validity, infos, err := g.src.conn.GmailLabels(ctx, g.allMail)
	if err != nil {
		return err
	}
	if validity != f.UIDValidity {
		return mailbox.Mark(mailbox.ErrTransient, fmt.Errorf("folder %q of %s changed UIDVALIDITY while its labels were read", g.allMail, g.src.conn.User()))
	}
	labels := make(map[uint32][]string, len(infos))
	for _, in := range infos {
		labels[in.UID] = in.Labels
	}
	g.scan = &gmailScan{folder: f, msgs: msgs, labels: labels}
	return nil
}

// Messages lists a folder's messages: a folder Gmail has as it is, a
// folder the policy makes as the All Mail messages it holds (keys are
// All Mail UIDs), with GmailKeywords their labels as keywords.
func (g *Gmail) Messages(ctx context.Context, folder string) (mailbox.Folder, []mailbox.Message, error) {
	if err := g.ready(ctx); err != nil {
		return mailbox.Folder{}, nil, err
	}
	pick, made := g.made[folder]
	if !made {
		return g.src.Messages(ctx, folder)
	}
	if err := g.rescan(ctx); err != nil {
		return mailbox.Folder{}, nil, err
	}
	var out []mailbox.Message
	for _, m := range g.scan.msgs {
		labels := g.scan.labels[m.UID]
		if !pick(labels) {
			continue
		}
		switch g.policy {
		case GmailKeywords:
			m.Flags = withLabels(m.Flags, labels)
		case GmailLabels:
			m.Flags = withLabelFlags(m.Flags, labels)
		}
		out = append(out, m)
	}
	return g.madeFolder(folder, pick), out, nil
}

// Fetch streams bodies; those of a folder the policy makes come from All
// Mail.
func (g *Gmail) Fetch(ctx context.Context, folder string, msgs []mailbox.Message, fn func(mailbox.Message, mailbox.Body) error) error {
	if err := g.ready(ctx); err != nil {
		return err
	}
	if _, made := g.made[folder]; made {
		folder = g.allMail
	}
	return g.src.Fetch(ctx, folder, msgs, fn)
}

// withLabels adds a message's labels to its flags: user labels as
// keywords (LabelKeyword), \Important as $Important, \Starred as
// \Flagged; \Inbox, \Sent and \Draft chose the folder and are left out.
func withLabels(flags, labels []string) []string {
	out := slices.Clone(flags)
	add := func(f string) {
		if !slices.ContainsFunc(out, func(x string) bool { return strings.EqualFold(x, f) }) {
			out = append(out, f)
		}
	}
	for _, l := range labels {
		switch l {
		case `\Inbox`, `\Sent`, `\Draft`:
		case `\Important`:
			add("$Important")
		case `\Starred`:
			add(`\Flagged`)
		default:
			if !strings.HasPrefix(l, `\`) {
				add(LabelKeyword(l))
			}
		}
	}
	return out
}

// withLabelFlags adds a message's labels to its flags for a Gmail target
// (GmailLabels): user labels and \Important as imapconn.LabelFlag
// keywords, \Starred as \Flagged; \Inbox, \Sent and \Draft chose the
// folder and are left out.
func withLabelFlags(flags, labels []string) []string {
	out := slices.Clone(flags)
	add := func(f string) {
		if !slices.ContainsFunc(out, func(x string) bool { return strings.EqualFold(x, f) }) {
			out = append(out, f)
		}
	}
	for _, l := range labels {
		switch {
		case l == `\Starred`:
			add(`\Flagged`)
		case l == `\Important`, !strings.HasPrefix(l, `\`):
			add(imapconn.LabelFlag(l))
		}
	}
	return out
}

// LabelKeyword is the IMAP keyword a Gmail user label becomes with
// GmailKeywords: the label in modified UTF-7 (so that non-ASCII labels
// survive, "Überblick" is "&ANw-berblick"), each character a keyword
// cannot hold (space, control characters, ( ) { % * " \ ]) replaced by
// "_": "Muy Importante" is "Muy_Importante", "Work/Projects" stays.
func LabelKeyword(label string) string {
	b := []byte(mutf7.Encode(label))
	for i, c := range b {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			b[i] = '_'
		}
	}
	return string(b)
}
