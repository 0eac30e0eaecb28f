package imapconn

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/mutf7"
)

// labelFlagPrefix starts the keyword that carries a Gmail label from a
// Gmail source to a Gmail target (gmail.labels: labels). The label is
// hex-encoded (its UTF-8 bytes) so that any label, spaces, "/" and
// non-ASCII included, is an IMAP atom and comes back unchanged.
const labelFlagPrefix = "$GmLabel."

// LabelFlag is the keyword that carries Gmail label l on its way from a
// Gmail source to a Gmail target, which sets it as a label (STORE
// +X-GM-LABELS) instead of a keyword.
func LabelFlag(l string) string { return labelFlagPrefix + hex.EncodeToString([]byte(l)) }

// FlagLabel returns the Gmail label a LabelFlag keyword carries.
func FlagLabel(flag string) (string, bool) {
	rest, ok := strings.CutPrefix(flag, labelFlagPrefix)
	if !ok {
		return "", false
	}
	b, err := hex.DecodeString(rest)
	if err != nil || len(b) == 0 {
		return "", false
	}
	return string(b), true
}

// SplitLabelFlags separates the LabelFlag keywords of flags (their
// labels) from the other flags.
func SplitLabelFlags(flags []string) (rest, labels []string) {
	for _, f := range flags {
		if l, ok := FlagLabel(f); ok {
			labels = append(labels, l)
		} else {
			rest = append(rest, f)
		}
	}
	return rest, labels
}

// GmailLabeler adds labels to messages on Gmail: "UID STORE uid
// +X-GM-LABELS (label ...)", as Google's "IMAP Extensions" page
// (https://developers.google.com/gmail/imap/imap-extensions#x-gm-labels)
// documents; the message then shows in those labels' folders too. It
// speaks on a connection of its own (go-imap's client cannot send the
// item), dialled with the options of the Conn it was made from and kept
// for the next call; it counts against the server's connection limit
// while open. Not safe for concurrent use.
type GmailLabeler struct {
	c        *Conn
	o        *Conn // the connection's owner, once dialled
	g        *gmailReader
	utf8     bool
	selected string
	n        int // commands sent, for tags
}

// GmailLabeler returns a labeler for c's account; nothing is dialled
// before its first AddLabels.
func (c *Conn) GmailLabeler() *GmailLabeler { return &GmailLabeler{c: c} }

// AddLabels adds labels to message uid of folder. After an error the
// connection is closed; the next call dials again.
func (l *GmailLabeler) AddLabels(ctx context.Context, folder string, uid uint32, labels []string) error {
	c := l.c
	if len(labels) == 0 {
		return nil
	}
	if !c.GmailExt() {
		return mailbox.Mark(mailbox.ErrRefused, fmt.Errorf("imap server %s does not offer %s (Gmail's IMAP extensions): labels %q of uid %d in folder %q cannot be set", c.addr, CapGmail, labels, uid, folder))
	}
	err := l.addLabels(ctx, folder, uid, labels)
	if err != nil {
		l.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return Classify(fmt.Errorf("set Gmail labels %q of uid %d in folder %q of %q on %s: %w", labels, uid, folder, c.opts.User, c.addr, err))
	}
	return nil
}

func (l *GmailLabeler) addLabels(ctx context.Context, folder string, uid uint32, labels []string) error {
	if l.g == nil {
		if err := l.dial(ctx); err != nil {
			return err
		}
	}
	stop := context.AfterFunc(ctx, func() { l.g.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if l.selected != folder {
		l.selected = ""
		if err := l.g.do(l.tag()+" SELECT "+l.c.mailboxArg(l.c.WireName(folder), l.utf8), func([]any) {}); err != nil {
			return err
		}
		l.selected = folder
	} else if err := l.g.do(l.tag()+" NOOP", func([]any) {}); err != nil {
		// NOOP first: the message was appended on another connection
		// after the SELECT, and a session learns of such messages from
		// the EXISTS a NOOP gives it (RFC 3501, 6.1.2).
		return err
	}
	return l.g.do(l.tag()+" UID STORE "+strconv.FormatUint(uint64(uid), 10)+" +X-GM-LABELS ("+labelArgs(labels, l.utf8)+")", func([]any) {})
}

func (l *GmailLabeler) tag() string {
	l.n++
	return "L" + strconv.Itoa(l.n)
}

// dial opens the labeler's connection, taken over from the IMAP client
// after login as GmailLabels does.
func (l *GmailLabeler) dial(ctx context.Context) error {
	o, err := Dial(ctx, l.c.opts)
	if err != nil {
		return err
	}
	end, err := o.begin(ctx)
	if err != nil {
		o.Close()
		return err
	}
	conn, err := o.nc.hijack(o.client.Closed())
	end()
	if err != nil {
		o.Close()
		return fmt.Errorf("connection lost before setting Gmail labels: %w", err)
	}
	o.closed = true
	l.o, l.utf8 = o, o.caps.Has(imap.CapIMAP4rev2)
	l.g = &gmailReader{conn: conn, r: bufio.NewReaderSize(conn, 64<<10), timeout: l.c.opts.Timeout}
	return nil
}

// Close logs out and closes the labeler's connection, if open.
func (l *GmailLabeler) Close() error {
	if l.g == nil {
		return nil
	}
	l.g.conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(l.g.conn, l.tag()+" LOGOUT\r\n")
	err := l.o.nc.Close()
	l.o.client.Close()
	l.g, l.o, l.selected = nil, nil, ""
	return err
}

// labelArgs writes labels for X-GM-LABELS: system labels (\Inbox,
// \Important, ...) as they are, user labels as quoted strings, modified
// UTF-7 unless names are UTF-8.
func labelArgs(labels []string, utf8 bool) string {
	out := make([]string, 0, len(labels))
	for _, l := range slices.Compact(slices.Clone(labels)) {
		if strings.HasPrefix(l, `\`) {
			out = append(out, l)
			continue
		}
		if !utf8 {
			l = mutf7.Encode(l)
		}
		out = append(out, `"`+strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(l)+`"`)
	}
	return strings.Join(out, " ")
}
