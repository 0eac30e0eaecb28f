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

// GmailAddLabels adds labels to message uid of folder on Gmail: "UID STORE
// uid +X-GM-LABELS (label ...)", as Google's "IMAP Extensions" page
// (https://developers.google.com/gmail/imap/imap-extensions) documents:
// the message then shows in those labels' folders too. Like GmailLabels it
// runs on a connection of its own (go-imap's client cannot send the item):
// SELECT, UID STORE, LOGOUT.
func (c *Conn) GmailAddLabels(ctx context.Context, folder string, uid uint32, labels []string) error {
	if len(labels) == 0 {
		return nil
	}
	if !c.GmailExt() {
		return mailbox.Mark(mailbox.ErrRefused, fmt.Errorf("imap server %s does not offer %s (Gmail's IMAP extensions): labels %q of uid %d in folder %q cannot be set", c.addr, CapGmail, labels, uid, folder))
	}
	o, err := Dial(ctx, c.opts)
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
		return Classify(fmt.Errorf("imap %s: connection lost before setting Gmail labels: %w", c.addr, err))
	}
	o.closed = true
	defer func() {
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(conn, "G9 LOGOUT\r\n")
		o.nc.Close()
		o.client.Close()
	}()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	g := &gmailReader{conn: conn, r: bufio.NewReaderSize(conn, 64<<10), timeout: c.opts.Timeout}
	utf8 := o.caps.Has(imap.CapIMAP4rev2)
	err = g.do("G1 SELECT "+c.mailboxArg(c.WireName(folder), utf8), func([]any) {})
	if err == nil {
		err = g.do("G2 UID STORE "+strconv.FormatUint(uint64(uid), 10)+" +X-GM-LABELS ("+labelArgs(labels, utf8)+")", func([]any) {})
	}
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return Classify(fmt.Errorf("set Gmail labels %q of uid %d in folder %q of %q on %s: %w", labels, uid, folder, c.opts.User, c.addr, err))
	}
	return nil
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
