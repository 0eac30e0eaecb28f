// Package pim is the model of the items of a mailbox that are not mail
// (contacts, distribution lists, calendar items, tasks, notes and journal
// entries) and their standard forms: vCard 4.0 (RFC 6350) for contacts and
// groups, iCalendar (RFC 5545) for the rest, as VEVENT, VTODO and VJOURNAL.
//
// Sources fill the model; the copy engine writes the encoded items as
// files and uploads them to CardDAV and CalDAV servers.
package pim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Kind is what an item is.
type Kind string

// The kinds of item.
const (
	KindContact Kind = "contact"
	KindGroup   Kind = "group" // a distribution list
	KindEvent   Kind = "event" // an appointment or meeting
	KindTask    Kind = "task"
	KindNote    Kind = "note"
	KindJournal Kind = "journal"
)

// Item is one item read from a source, with the one of Contact, Event,
// Task or Journal its kind needs (groups are Contacts, notes Journals).
type Item struct {
	// Key identifies the item in its source, stably between runs
	// ("archive.pst:0x200024").
	Key string
	// Folder is the source folder the item is in.
	Folder string
	Kind   Kind
	// Class is the source's name for the kind ("IPM.Appointment").
	Class   string
	Contact *Contact
	Event   *Event
	Task    *Task
	Journal *Journal
}

// Collection is where an item goes: "contacts" (CardDAV) or "calendar"
// (CalDAV) for the servers; Dir is the folder of the files.
func (it Item) Collection() string {
	if it.Kind == KindContact || it.Kind == KindGroup {
		return "contacts"
	}
	return "calendar"
}

// Dir is the folder, below the user's items folder, where the item's file
// goes: contacts, calendar, tasks or notes.
func (it Item) Dir() string {
	switch it.Kind {
	case KindContact, KindGroup:
		return "contacts"
	case KindTask:
		return "tasks"
	case KindNote, KindJournal:
		return "notes"
	}
	return "calendar"
}

// Ext is the file name extension of the item's form: ".vcf" or ".ics".
func (it Item) Ext() string {
	if it.Collection() == "contacts" {
		return ".vcf"
	}
	return ".ics"
}

// ContentType is the media type of the item's form.
func (it Item) ContentType() string {
	if it.Collection() == "contacts" {
		return "text/vcard; charset=utf-8"
	}
	return "text/calendar; charset=utf-8"
}

// Name is the item's resource name, the same on every run: "ms-" and a
// hash of its key, with its extension. Files and server resources use it.
func (it Item) Name() string {
	h := sha256.Sum256([]byte(it.Key))
	return "ms-" + hex.EncodeToString(h[:12]) + it.Ext()
}

// UID is the item's UID when it carries none of its own: derived from its
// key, so that a second run gives the same.
func (it Item) UID() string {
	h := sha256.Sum256([]byte("uid\x00" + it.Key))
	return "mailshift-" + hex.EncodeToString(h[:16])
}

// Title names the item for people: its subject or display name.
func (it Item) Title() string {
	switch {
	case it.Contact != nil:
		return it.Contact.FormattedName()
	case it.Event != nil:
		return it.Event.Summary
	case it.Task != nil:
		return it.Task.Summary
	case it.Journal != nil:
		return it.Journal.Summary
	}
	return ""
}

// Encode returns the item in its standard form.
func (it Item) Encode() ([]byte, error) {
	var (
		b   []byte
		err error
	)
	switch {
	case it.Contact != nil:
		b, err = encodeContact(it)
	case it.Event != nil:
		b, err = encodeEvent(it)
	case it.Task != nil:
		b, err = encodeTask(it)
	case it.Journal != nil:
		b, err = encodeJournal(it)
	default:
		return nil, fmt.Errorf("item %s: %s without content", it.Key, it.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("item %s (%s %q): %w", it.Key, it.Kind, it.Title(), err)
	}
	return b, nil
}

// Person is an e-mail address with a display name.
type Person struct {
	Name  string
	Email string
}

// Address is a postal address.
type Address struct {
	Type       string // "home", "work" or "" (other)
	Street     string
	City       string
	Region     string
	PostalCode string
	Country    string
}

// Empty tells whether the address has nothing in it.
func (a Address) Empty() bool {
	return a.Street == "" && a.City == "" && a.Region == "" && a.PostalCode == "" && a.Country == ""
}

// Phone is a telephone number and its vCard types ("work", "voice").
type Phone struct {
	Types  []string
	Number string
}

// Contact is a contact, or (Kind group) a distribution list whose
// Members are its entries.
type Contact struct {
	DisplayName string
	Given       string
	Family      string
	Middle      string
	Prefix      string
	Suffix      string
	Nickname    string
	Company     string
	Department  string
	JobTitle    string
	Emails      []Person // in order of preference
	Phones      []Phone
	Addresses   []Address
	Birthday    time.Time // a date; zero when unknown
	Anniversary time.Time
	URL         string
	Note        string
	Categories  []string
	Members     []Person // a group's members
	Photo       []byte   // a picture of the contact
	PhotoType   string   // its media type, e.g. "image/jpeg"
	Modified    time.Time
}

// FormattedName is the contact's display name, or one made of its parts.
func (c *Contact) FormattedName() string {
	if c.DisplayName != "" {
		return c.DisplayName
	}
	parts := []string{}
	for _, s := range []string{c.Prefix, c.Given, c.Middle, c.Family, c.Suffix} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) > 0 {
		return strings.Join(parts, " ")
	}
	if c.Company != "" {
		return c.Company
	}
	if len(c.Emails) > 0 {
		return c.Emails[0].Email
	}
	return ""
}

// Attendee is a participant of a meeting.
type Attendee struct {
	Person
	Role   string // REQ-PARTICIPANT, OPT-PARTICIPANT or NON-PARTICIPANT
	Status string // NEEDS-ACTION, ACCEPTED, DECLINED or TENTATIVE
	CUType string // "" or RESOURCE
}

// Event is an appointment or a meeting.
type Event struct {
	UID         string // the meeting's global ID when it has one
	Summary     string
	Location    string
	Description string
	Start, End  time.Time // UTC; for all-day events, midnight of the days
	AllDay      bool
	Zone        *Zone  // the zone recurring events repeat in; nil: UTC
	Busy        string // TRANSP: OPAQUE or TRANSPARENT
	Private     bool
	Categories  []string
	Organizer   *Person
	Attendees   []Attendee
	Reminder    *time.Duration // before the start
	Recurrence  *Recurrence
	Created     time.Time
	Modified    time.Time
	Status      string // CONFIRMED, TENTATIVE or CANCELLED; "" leaves it out
}

// Recurrence is how an event repeats, with its exceptions.
type Recurrence struct {
	Freq       string // DAILY, WEEKLY, MONTHLY or YEARLY
	Interval   int
	ByDay      []string  // "MO", "TU", ... with an ordinal for monthly ("2TU", "-1FR")
	ByMonthDay int       // 1-31, -1 for the last day
	ByMonth    int       // 1-12, yearly
	SetPos     int       // with several ByDay: which of the days matches (-1: the last)
	Count      int       // 0: no count
	Until      time.Time // local date of the last occurrence; zero: none
	WeekStart  string    // "SU", "MO", ...
	// Deleted are the local start times of the deleted occurrences.
	Deleted []time.Time
	// Changed are the occurrences that differ from the pattern.
	Changed []Occurrence
}

// Occurrence is one changed occurrence of a recurring event: its original
// local start and what changed. Empty fields keep the event's values.
type Occurrence struct {
	Original                time.Time // local
	Start, End              time.Time // local
	Summary                 string
	Location                string
	HasSummary, HasLocation bool
	// Description is the occurrence's own description, when it has one.
	Description string
}

// Task is a task.
type Task struct {
	UID         string
	Summary     string
	Description string
	Start, Due  time.Time // dates
	Completed   time.Time
	Status      string // NEEDS-ACTION, IN-PROCESS, COMPLETED or CANCELLED
	Percent     int
	Priority    int // 1 high, 5 normal, 9 low; 0 none
	Private     bool
	Categories  []string
	Reminder    *time.Time
	Created     time.Time
	Modified    time.Time
}

// Journal is a note or a journal entry.
type Journal struct {
	Summary     string
	Description string
	Start       time.Time
	Duration    time.Duration // journal entries: how long the activity took
	Type        string        // journal entries: the kind of activity ("Phone call")
	Categories  []string
	Color       string // notes: the note's colour
	Created     time.Time
	Modified    time.Time
}
