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
	case "labels":
		w("Each message is copied once (`gmail.labels: labels`), into INBOX when it has the Inbox label, else into Sent, else Drafts, else `%s`; a Gmail target sets its other labels (user labels, Important) as labels, so it shows in each label folder, stored once; Starred is the \\Flagged flag; Spam and Trash are copied as folders. The counts below follow this.\n", arch)
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
// X-GM-EXT-1), or for gmail.labels: labels and a target that is not.
//
// Gmail takes a message it holds already as new and throws the copy away
// (imapsync FAQ.d/FAQ.Gmail.txt, "Can I safely use --useuid or --usecache
// for Gmail transfers?"), and its upload limit is 500 MB a day
// (https://support.google.com/a/answer/1071518). With gmail.labels:
// labels (a Gmail source) each message is appended once and its other
// labels set with UID STORE +X-GM-LABELS (Google, "IMAP Extensions",
// https://developers.google.com/gmail/imap/imap-extensions); otherwise a
// message in several source folders is uploaded once per folder, and
// Gmail labels it with the folder of each upload.
func gmailTarget(user string, dst *state.Account, policy string) []state.Problem {
	gmail := slices.ContainsFunc(dst.Description.Capabilities, func(c string) bool { return strings.EqualFold(c, "X-GM-EXT-1") })
	switch {
	case policy == "labels" && !gmail:
		return []state.Problem{{User: user, Kind: "gmail-target",
			Detail: "gmail.labels: labels sets labels on a Gmail target, and this target does not offer X-GM-EXT-1 (it is not Gmail): the labels would arrive as keywords named $GmLabel.<hex>",
			Action: "set gmail.labels to folders or keywords for a target that is not Gmail"}}
	case !gmail:
		return nil
	case policy == "labels":
		return []state.Problem{{User: user, Kind: "gmail-target",
			Detail: "the target is Gmail: each message is appended once (INBOX, Sent, Drafts or gmail.archive_folder) and its other labels are set with STORE X-GM-LABELS; labels are added, never taken away, and a folder mapping does not rename them",
			Action: "check the labels of the test user after `mailshift test`; set throttle.daily_per_user below Gmail's 500 MB upload limit a day"}}
	}
	return []state.Problem{{User: user, Kind: "gmail-target",
		Detail: "the target is Gmail: each target folder is a label, and a message found in several source folders is uploaded once per folder (Gmail keeps one copy and labels it with each folder, but every upload counts); from a Gmail source, gmail.labels: labels uploads each message once and sets its labels",
		Action: "check the labels of the test user after `mailshift test`; set throttle.daily_per_user below Gmail's 500 MB upload limit a day"}}
}
