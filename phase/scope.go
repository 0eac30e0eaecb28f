package phase

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/state"
)

// The parts of the scope of work that come from the project's own fields
// (project.* in the configuration) rather than from the inventory: what a
// statement of work needs before a customer signs it. A field left empty
// is named as still to be agreed, so the gap shows.

const toAgree = "*to be agreed*"

// writeParties writes who the project is between.
func (p *Project) writeParties(w func(string, ...any)) {
	pc := p.Config.Project
	if pc.Name != "" {
		w("**%s**\n\n", pc.Name)
	}
	w("| | |\n|---|---|\n")
	w("| customer | %s |\n", orText(pc.Customer))
	w("| consultant | %s |\n", orText(pc.Consultant))
	for _, c := range pc.Contacts {
		who := c.Name
		if c.Email != "" {
			who += " <" + c.Email + ">"
		}
		w("| %s | %s |\n", strings.TrimSpace(orDash(c.Party)+" contact"), strings.TrimSpace(who+", "+c.Role))
	}
	w("\n")
}

// serverSummary names what matters of a server for a migration, not every
// capability token: its software, change tracking (CONDSTORE),
// special-use folders, APPENDUID (UIDPLUS), MULTIAPPEND, quota and size
// limit.
func serverSummary(d mailbox.Description) string {
	if d.Kind == "" {
		return "-"
	}
	if d.Kind != "imap" {
		return d.Kind + " files"
	}
	has := func(c string) string {
		if slices.ContainsFunc(d.Capabilities, func(x string) bool { return strings.EqualFold(x, c) }) {
			return "yes"
		}
		return "no"
	}
	parts := []string{
		orDash(d.Server),
		"change tracking (CONDSTORE): " + has("CONDSTORE"),
		"special-use folders: " + has("SPECIAL-USE"),
		"new UIDs on append (UIDPLUS): " + has("UIDPLUS"),
		"several messages per append (MULTIAPPEND): " + has("MULTIAPPEND"),
	}
	switch {
	case d.QuotaLimit > 0:
		parts = append(parts, fmt.Sprintf("quota %s used of %s", FormatBytes(max(d.QuotaUsed, 0)), FormatBytes(d.QuotaLimit)))
	case d.QuotaUsed >= 0:
		parts = append(parts, "no quota limit")
	default:
		parts = append(parts, "quota unknown")
	}
	if d.AppendLimit > 0 {
		parts = append(parts, "messages up to "+FormatBytes(d.AppendLimit))
	}
	for _, warn := range d.Warnings {
		parts = append(parts, "note: "+warn)
	}
	return strings.Join(parts, "; ")
}

// davTargets names where converted items are uploaded.
func (p *Project) davTargets() string {
	var l []string
	for _, u := range []string{p.Config.Target.CardDAV, p.Config.Target.CalDAV} {
		if u != "" {
			l = append(l, "`"+u+"`")
		}
	}
	if len(l) == 0 {
		return "no server (target.carddav and target.caldav are not set)"
	}
	return strings.Join(l, " and ")
}

// writeOutOfScope writes what is not migrated: item types the sources
// hold beside mail, excluded folders, and what the project says.
func (p *Project) writeOutOfScope(w func(string, ...any), problems []state.Problem) {
	w("## Out of scope\n\n")
	var found, converted []string
	for _, pr := range problems {
		if pr.Kind == "non-mail" {
			item := fmt.Sprintf("%s %s: %s", pr.User, pr.Folder, pr.Detail)
			if pr.Action == nonMailConverted {
				converted = append(converted, item)
			} else {
				found = append(found, item)
			}
		}
	}
	if len(converted) > 0 {
		w("- Not copied as mail but converted after each user's mail (vCard 4.0, iCalendar), written under items/<user>/ and uploaded to %s: %s.\n", p.davTargets(), abbreviate(converted, 5))
	}
	w("- Calendars, contacts, tasks and notes of mail servers and mail files: mailshift moves mail only.")
	if len(found) > 0 {
		w(" Found in the sources and not migrated: %s.", abbreviate(found, 5))
	}
	w("\n")
	if ex := p.Config.Folders.Exclude; len(ex) > 0 {
		w("- Folders excluded by `folders.exclude`: %s.\n", strings.Join(ex, ", "))
	}
	for _, o := range p.Config.Project.OutOfScope {
		w("- %s\n", o)
	}
	w("\n")
}

// writeResponsibilities writes who does what; the tasks every migration
// has are listed even when nobody is named for them yet.
func (p *Project) writeResponsibilities(w func(string, ...any)) {
	w("## Roles and responsibilities\n\n| task | who |\n|---|---|\n")
	given := map[string]bool{}
	for _, t := range p.Config.Project.Responsibilities {
		w("| %s | %s |\n", t.Task, orText(t.Who))
		given[strings.ToLower(t.Task)] = true
	}
	for _, t := range []string{"run the migration steps", "inform the users", "change MX and DNS at the cutover", "sign off the scope of work", "agree how to roll back"} {
		if !given[t] {
			w("| %s | %s |\n", t, toAgree)
		}
	}
	w("\n")
}

// milestoneSteps are the steps a milestone can name, in order.
var milestoneSteps = []string{"collect", "approve", "test", "bulk", "sync", "cutover"}

// writeMilestones writes the planned date of each step and, where it
// happened already, when.
func (p *Project) writeMilestones(w func(string, ...any), done map[string]string) {
	w("## Milestones\n\n| step | planned | done |\n|---|---|---|\n")
	for _, s := range milestoneSteps {
		w("| %s | %s | %s |\n", s, orText(p.Config.Project.Milestones.of(s)), orDash(done[s]))
	}
	w("\n")
}

// writeAssumptionsAndRollback writes the assumptions and the rollback plan.
func (p *Project) writeAssumptionsAndRollback(w func(string, ...any)) {
	w("## Assumptions\n\n")
	as := p.Config.Project.Assumptions
	if len(as) == 0 {
		as = []string{toAgree}
	}
	for _, a := range as {
		w("- %s\n", a)
	}
	w("- The source is only read: mailshift never changes it (IMAP EXAMINE and BODY.PEEK).\n\n")
	w("## Rollback\n\n")
	if r := p.Config.Project.Rollback; r != "" {
		w("%s\n\n", r)
	} else {
		w("%s. Until MX and DNS point at the target, nothing depends on it: the source is unchanged and stays in use.\n\n", toAgree)
	}
}

// writeSignatures writes the blank sign-off lines for both parties.
func (p *Project) writeSignatures(w func(string, ...any)) {
	w("| party | name | role | date | signature |\n|---|---|---|---|---|\n")
	for _, party := range []string{orDefault(p.Config.Project.Customer, "customer"), orDefault(p.Config.Project.Consultant, "consultant")} {
		w("| %s | | | | |\n", party)
	}
	w("\n")
}

func orText(s string) string {
	if s == "" {
		return toAgree
	}
	return s
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
