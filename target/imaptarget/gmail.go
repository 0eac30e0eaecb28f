package imaptarget

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/mailshift/mailshift/internal/imapconn"
	"github.com/mailshift/mailshift/internal/mailbox"
)

// On a target that offers Gmail's IMAP extensions (X-GM-EXT-1), the
// imapconn.LabelFlag keywords a Gmail source carries (gmail.labels:
// labels) are not stored as keywords: after the APPEND they are set as
// labels with "UID STORE uid +X-GM-LABELS (...)" (Google, "IMAP
// Extensions", https://developers.google.com/gmail/imap/imap-extensions),
// so that the message is stored and uploaded once and shows in each label
// folder. Reading the target back (Messages, Changes) gives the labels as
// the same keywords, so that verification and sync compare like with like.

// SetGmailLabels has a Gmail target set the labels a Gmail source carries
// (gmail.labels: labels) and read its labels back as keywords; off (the
// default), labels are neither set nor read. A server without X-GM-EXT-1
// is not affected.
func (t *Target) SetGmailLabels(on bool) { t.labelsOn = on }

// gmailLabels tells whether the target sets labels rather than keywords.
func (t *Target) gmailLabels() bool { return t.labelsOn && t.conn.GmailExt() }

// setLabels sets labels on message uid of folder after its APPEND. The
// message is stored already: an error says the labels are missing; the
// next pass appends it again, which Gmail takes as the message it holds
// and labels (imapsync FAQ.d/FAQ.Gmail.txt, "Can I safely use --useuid or
// --usecache for Gmail transfers?": "no duplicates on Gmail").
func (t *Target) setLabels(ctx context.Context, folder string, uid uint32, labels []string) error {
	if len(labels) == 0 {
		return nil
	}
	if uid == 0 {
		return mailbox.Mark(mailbox.ErrRefused, fmt.Errorf("labels %q of a message appended to folder %q of %q on %s cannot be set: the server gave no UID (UIDPLUS)", labels, folder, t.conn.User(), t.conn.Addr()))
	}
	if t.labeler == nil {
		t.labeler = t.conn.GmailLabeler()
	}
	return t.labeler.AddLabels(ctx, folder, uid, labels)
}

// withGmailLabels adds to msgs of folder their Gmail labels as
// imapconn.LabelFlag keywords: user labels and \Important, not the label
// of folder itself nor \Inbox, \Sent, \Draft and \Starred (a flag).
func (t *Target) withGmailLabels(ctx context.Context, folder string, f mailbox.Folder, msgs []mailbox.Message) ([]mailbox.Message, error) {
	if !t.gmailLabels() || len(msgs) == 0 {
		return msgs, nil
	}
	validity, infos, err := t.conn.GmailLabels(ctx, folder)
	if err != nil {
		return nil, err
	}
	if validity != f.UIDValidity {
		return nil, mailbox.Mark(mailbox.ErrTransient, fmt.Errorf("folder %q of %s changed UIDVALIDITY while its labels were read", folder, t.conn.User()))
	}
	labels := make(map[uint32][]string, len(infos))
	for _, in := range infos {
		labels[in.UID] = in.Labels
	}
	for i, m := range msgs {
		for _, l := range labels[m.UID] {
			if l == folder || (strings.HasPrefix(l, `\`) && l != `\Important`) {
				continue
			}
			if lf := imapconn.LabelFlag(l); !slices.Contains(m.Flags, lf) {
				msgs[i].Flags = append(slices.Clone(msgs[i].Flags), lf)
			}
		}
	}
	return msgs, nil
}
