package phase

import (
	"slices"
	"strings"

	"github.com/mailshift/mailshift/state"
)

// writeGmail says, when the source is Gmail (it offers X-GM-EXT-1), how
// its labels are copied (gmail.labels) and what that implies.
func (p *Project) writeGmail(w func(string, ...any), caps []string) {
	if !slices.ContainsFunc(caps, func(c string) bool { return strings.EqualFold(c, "X-GM-EXT-1") }) {
		return
	}
	arch := orDefault(p.Config.Gmail.ArchiveFolder, "Archive")
	w("\nThe source is Gmail: it shows each label as a folder and every message once more in `[Gmail]/All Mail`. ")
	switch p.Config.Gmail.Labels {
	case "", "folders":
		w("Labels are copied as folders (`gmail.labels: folders`): a message gets one copy in each of its label folders (INBOX, Sent, Drafts, Spam, Trash, the user's labels); All Mail, Starred and Important are not copied as folders, and the mail that none of the copied folders shows (archived, without a label) goes to `%s`. The counts below follow this.\n", arch)
	case "keywords":
		w("Each message is copied once (`gmail.labels: keywords`): into INBOX when it has the Inbox label, else into Sent, else Drafts, else `%s`, its own labels becoming keywords (IMAP keywords cannot hold spaces: \"Muy Importante\" becomes `Muy_Importante`); Spam and Trash are copied as folders. The counts below follow this.\n", arch)
	default:
		w("`gmail.labels: off` copies every folder as Gmail shows it, All Mail included: a message with labels arrives once per label and once more from All Mail.\n")
	}
}

// writeBudget says what throttle.daily_per_user means for the schedule.
func (p *Project) writeBudget(w func(string, ...any), invs []userInv) {
	limit := p.dailyBudget()
	if limit == 0 {
		return
	}
	var largest int64
	for _, ui := range invs {
		largest = max(largest, ui.bytes)
	}
	days := (largest + limit - 1) / limit
	w("Daily budget (`throttle.daily_per_user`): each user copies at most %s per 24 hours; a user whose budget is spent pauses until it renews while the others go on. The largest user (%s) needs at least %d day(s) of copying, whatever the bandwidth.\n\n",
		FormatBytes(limit), FormatBytes(largest), max(days, 1))
}

// gmailTarget is collect's problem for a target that is Gmail (it offers
// X-GM-EXT-1): mailshift appends into the folder a source folder maps to,
// which Gmail makes a label, and sets no labels itself. Gmail takes a
// message it holds already as new and throws the copy away (imapsync
// FAQ.d/FAQ.Gmail.txt, "Can I safely use --useuid or --usecache for Gmail
// transfers?"), so a message in several source folders costs an upload
// each, and Gmail's upload limit is 500 MB a day
// (https://support.google.com/a/answer/1071518).
func gmailTarget(user string, dst *state.Account) []state.Problem {
	if !slices.ContainsFunc(dst.Description.Capabilities, func(c string) bool { return strings.EqualFold(c, "X-GM-EXT-1") }) {
		return nil
	}
	return []state.Problem{{User: user, Kind: "gmail-target",
		Detail: "the target is Gmail: each target folder is a label, and a message found in several source folders is uploaded once per folder (Gmail keeps one; the labels of the copies it throws away are not set by mailshift)",
		Action: "check the labels of the test user after `mailshift test`; set throttle.daily_per_user below Gmail's 500 MB upload limit a day"}}
}
