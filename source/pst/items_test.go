package pst

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-vcard"

	"github.com/mailshift/mailshift/internal/dav"
	"github.com/mailshift/mailshift/internal/pim"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
	"github.com/mailshift/mailshift/internal/testrig/radicale"
)

// minutesOf is t as minutes since 1601-01-01, as recurrence blobs keep
// times.
func minutesOf(t time.Time) uint32 {
	return uint32((t.Unix() + 11644473600) / 60) // a Duration cannot span the 425 years
}

// wException is a changed occurrence to write: its original local start,
// its new local start and end, and its new subject.
type wException struct {
	orig, start, end time.Time
	subject          string
}

// recurBlob writes an AppointmentRecurrencePattern ([MS-OXOCAL]
// 2.2.1.44): weekly on the days of mask, count occurrences from the local
// start start, each dur long, weeks starting on Monday, with occurrences
// deleted and changed (a changed one is also listed as deleted, 2.2.1.44.1).
func recurBlob(start time.Time, dur time.Duration, mask, count int, deleted []time.Time, changed []wException) []byte {
	var b bytes.Buffer
	put := func(vs ...any) {
		for _, v := range vs {
			binary.Write(&b, binary.LittleEndian, v)
		}
	}
	day := func(t time.Time) uint32 {
		return minutesOf(time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC))
	}
	put(uint16(0x3004), uint16(0x3004), uint16(freqWeekly), uint16(patWeek), uint16(0), uint32(0), uint32(1), uint32(0), uint32(mask))
	put(uint32(endAfterCount), uint32(count), uint32(1))
	var dels []uint32
	for _, d := range deleted {
		dels = append(dels, day(d))
	}
	for _, c := range changed {
		dels = append(dels, day(c.orig))
	}
	slices.Sort(dels)
	put(uint32(len(dels)))
	for _, d := range dels {
		put(d)
	}
	put(uint32(len(changed)))
	for _, c := range changed {
		put(day(c.start))
	}
	last := start.AddDate(0, 0, 7*(count-1))
	offset := uint32(start.Hour()*60 + start.Minute())
	put(day(start), day(last), uint32(0x3006), uint32(0x3009), offset, offset+uint32(dur/time.Minute), uint16(len(changed)))
	for _, c := range changed {
		put(minutesOf(c.start), minutesOf(c.end), minutesOf(c.orig), uint16(aroSubject), uint16(len(c.subject)+1), uint16(len(c.subject)))
		b.WriteString(c.subject)
	}
	put(uint32(0))
	for _, c := range changed {
		put(uint32(4), uint32(0), uint32(0), minutesOf(c.start), minutesOf(c.end), minutesOf(c.orig))
		u := utf16.Encode([]rune(c.subject))
		put(uint16(len(u)))
		for _, r := range u {
			put(r)
		}
		put(uint32(0))
	}
	put(uint32(0))
	return b.Bytes()
}

// berlinZone is a TimeZoneStruct ([MS-OXOCAL] 2.2.1.39) for Central
// European time: UTC+1, UTC+2 from the last Sunday of March at 2:00 to
// the last Sunday of October at 3:00.
func berlinZone() []byte {
	var b bytes.Buffer
	sys := func(month, dow, week, hour uint16) []uint16 { return []uint16{0, month, dow, week, hour, 0, 0, 0} }
	binary.Write(&b, binary.LittleEndian, []int32{-60, 0, -60})
	binary.Write(&b, binary.LittleEndian, uint16(0))
	binary.Write(&b, binary.LittleEndian, sys(10, 0, 5, 3))
	binary.Write(&b, binary.LittleEndian, uint16(0))
	binary.Write(&b, binary.LittleEndian, sys(3, 0, 5, 2))
	return b.Bytes()
}

// oneOffID is a one-off entry ID in UTF-16 ([MS-OXCDATA] 2.2.5.1).
func oneOffID(name, email string) []byte {
	b := append(make([]byte, 4), oneOffProvider...)
	b = append(b, 0, 0, 0x01, 0x90) // version 0; flags: UTF-16, no rich text
	for _, s := range []string{name, "SMTP", email} {
		for _, r := range utf16.Encode([]rune(s + "\x00")) {
			b = binary.LittleEndian.AppendUint16(b, r)
		}
	}
	return b
}

// wrappedID is a WrappedEntryId ([MS-OXOCNTC] 2.2.2.2.4.1.1) naming
// address idx (0-2) of the contact nid of this file.
func wrappedID(nid uint32, idx byte) []byte {
	b := append(make([]byte, 4), wrappedProvider...)
	b = append(b, 0x80|idx<<4|3)
	b = append(b, make([]byte, 4)...)
	b = append(b, "0123456789abcdef"...)
	return binary.LittleEndian.AppendUint32(b, nid)
}

// goid is a clean PidLidGlobalObjectId: Outlook's class ID, no instance
// date, a creation time, and 16 bytes of data.
func goid() []byte {
	b, _ := hex.DecodeString("040000008200E00074C5B7101A82E008" + "00000000" + "D08AA8F019ECD101" + "0000000000000000" + "10000000" + "33E8E3DAB52AEB4E9597CB068B12F50E")
	return b
}

var utcAt = func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }

// itemsPST is a Unicode file with a contact, a distribution list, a
// weekly meeting in Berlin time (with attendees, a deleted occurrence and
// one moved and renamed, across the change to summer time), a task, a
// note, a journal entry and a mail filed under two categories.
func itemsPST(t *testing.T) string {
	w := &wFolder{children: []*wFolder{
		{name: "Contacts", msgs: []wMessage{{
			class: "IPM.Contact", subject: "Ada Lovelace", date: utcAt("2026-01-05T10:00:00Z"),
			attach: []wAttach{{name: "ContactPicture.jpg", data: []byte("\xff\xd8\xff\xe0 a picture"), photo: true}},
			body:   "Met at the salon;\nlikes numbers, poetry",
			props: pcProps{propDisplayName: {}, propGivenName: {}, propSurname: {}, propCompanyName: {}, propTitle: {}, propDepartment: {},
				propBusinessPhone: {}, propMobilePhone: {}, propHomeStreet: {}, propHomeCity: {}, propHomePostalCode: {}, propHomeCountry: {}},
			named: map[nameKey]obj{lidKeywords: {}, lidEmail[0][1]: {}, lidEmail[0][2]: {}, lidEmail[1][1]: {}, lidEmail[1][2]: {}, lidBirthdayLocal: ftime(utcAt("1985-12-10T00:00:00Z"))},
		}, {
			// Members as Outlook 97 wrote them: no one-off list, the
			// contact above (its second address) wrapped.
			class: "IPM.DistList", subject: "Friends", date: utcAt("2026-01-05T10:00:00Z"),
			named: map[nameKey]obj{lidDLMembers: multi(ptBinary|ptMulti, [][]byte{wrappedID(0x200024, 1), oneOffID("Bob", "bob@example.org")})},
		}, {
			class: "IPM.DistList", subject: "Team", date: utcAt("2026-01-05T10:00:00Z"),
			named: map[nameKey]obj{lidDLName: {}, lidDLOneOff: multi(ptBinary|ptMulti, [][]byte{oneOffID("Ann", "ann@example.org"), oneOffID("Bob", "bob@example.org")})},
		}}},
		{name: "Calendar", msgs: []wMessage{{
			class: "IPM.Appointment", subject: "Weekly sync", date: utcAt("2026-02-20T10:00:00Z"),
			body: "Agenda: numbers", from: "boss@example.org", fromName: "The Boss",
			attach: []wAttach{{name: "Weekly sync (moved)", embedded: &wMessage{
				class: "IPM.OLE.CLASS.{00061055-0000-0000-C000-000000000046}", subject: "Weekly sync (moved)", body: "Bring the slides",
				named: map[nameKey]obj{lidExceptionReplaceTime: ftime(utcAt("2026-03-23T08:00:00Z"))},
			}}},
			to: []string{"ann@example.org"}, cc: []string{"bob@example.org"},
			track: map[string]int{"ann@example.org": 3, "bob@example.org": 4}, // accepted, declined
			named: map[nameKey]obj{
				lidApptStartWhole: ftime(utcAt("2026-03-02T08:00:00Z")), lidApptEndWhole: ftime(utcAt("2026-03-02T08:30:00Z")),
				lidBusyStatus: i32(2), lidApptStateFlags: i32(asfMeeting), lidRecurring: boolean(true),
				lidReminderSet: boolean(true), lidReminderDelta: i32(10), lidCleanGlobalObject: bin(goid()),
				lidTimeZoneStruct: bin(berlinZone()), lidTimeZoneDesc: {},
				lidApptRecur: bin(recurBlob(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), 30*time.Minute, 1<<1, 6,
					[]time.Time{time.Date(2026, 3, 16, 9, 0, 0, 0, time.UTC)},
					[]wException{{orig: time.Date(2026, 3, 23, 9, 0, 0, 0, time.UTC), start: time.Date(2026, 3, 23, 10, 0, 0, 0, time.UTC), end: time.Date(2026, 3, 23, 10, 30, 0, 0, time.UTC), subject: "Weekly sync (moved)"}})),
			},
		}}},
		{name: "Tasks", msgs: []wMessage{{
			class: "IPM.Task", subject: "File the report", body: "Quarterly figures", date: utcAt("2026-02-01T10:00:00Z"),
			props: pcProps{propImportance: i32(2)},
			named: map[nameKey]obj{lidTaskStatus: i32(1), lidPercent: f64(0.5), lidTaskStart: ftime(utcAt("2026-03-01T00:00:00Z")), lidTaskDue: ftime(utcAt("2026-03-10T00:00:00Z"))},
		}}},
		{name: "Notes", msgs: []wMessage{{
			class: "IPM.StickyNote", subject: "Call back", body: "Call back Ann", date: utcAt("2026-02-02T10:00:00Z"),
			named: map[nameKey]obj{lidNoteColor: i32(3)},
		}}},
		{name: "Journal", msgs: []wMessage{{
			class: "IPM.Activity", subject: "Phone call with Bob", body: "About the report", date: utcAt("2026-02-03T10:00:00Z"),
			named: map[nameKey]obj{lidLogStart: ftime(utcAt("2026-02-03T09:00:00Z")), lidLogDuration: i32(15), lidLogTypeDesc: {}},
		}}},
		{name: "Inbox", msgs: []wMessage{{
			class: "IPM.Note", subject: "Filed", body: "hello", from: "a@example.org", date: utcAt("2026-02-04T10:00:00Z"),
			named: map[nameKey]obj{lidKeywords: {}},
		}}},
	}}
	o := wOptions{format: formatUnicode, crypt: cryptPermute}
	wr := newWriter(o)
	texts := map[any]string{ // by tag (as int) or named property
		propDisplayName: "Ada Lovelace", propGivenName: "Ada", propSurname: "Lovelace", propCompanyName: "Analytical Engines",
		propTitle: "Programmer", propDepartment: "R&D", propBusinessPhone: "+44 20 7946 0000", propMobilePhone: "+44 7700 900123",
		propHomeStreet: "12 St James's Square", propHomeCity: "London", propHomePostalCode: "SW1Y 4JH", propHomeCountry: "United Kingdom",
		lidEmail[0][1]: "SMTP", lidEmail[0][2]: "ada@example.org", lidEmail[1][1]: "SMTP", lidEmail[1][2]: "countess@example.net",
		lidDLName: "Team", lidLogTypeDesc: "Phone call", lidTimeZoneDesc: "W. Europe Standard Time",
	}
	cats := map[string][]string{"IPM.Contact": {"Friends", "Büro"}, "IPM.Appointment": {"Team"}, "IPM.Note": {"Big Project", "Büro"}}
	for _, f := range w.children {
		for i := range f.msgs {
			m := &f.msgs[i]
			for id := range m.props {
				if s, ok := texts[int(id)]; ok {
					m.props[id] = wr.str(s)
				}
			}
			if m.named == nil {
				m.named = map[nameKey]obj{}
			}
			for k := range m.named {
				if s, ok := texts[k]; ok {
					m.named[k] = wr.str(s)
				}
			}
			if c, ok := cats[m.class]; ok {
				m.named[lidKeywords] = wr.strs(c...)
			} else if m.class == "IPM.Task" {
				m.named[lidKeywords] = wr.strs("Work")
			}
		}
	}
	wr.content(w)
	path := filepath.Join(t.TempDir(), "items.pst")
	if err := os.WriteFile(path, wr.finish(0), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestItemsToRadicale writes contacts, a distribution list, a recurring
// meeting with attendees and exceptions, a task, a note and a journal
// entry with the test writer, reads them, uploads them to a real Radicale
// as the copy engine does, reads them back over CardDAV and CalDAV and
// compares them field by field with what was written. Mail filed under
// categories gets them as keywords.
func TestItemsToRadicale(t *testing.T) {
	ctx := context.Background()
	s, err := Open(itemsPST(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rad := radicale.Start(t, map[string]string{"ada": "pw"})
	clients := map[string]*dav.Client{
		"contacts": {URL: rad.URL + "ada/contacts/", User: "ada", Password: "pw"},
		"calendar": {URL: rad.URL + "ada/calendar/", User: "ada", Password: "pw"},
	}
	if err := clients["contacts"].Ensure(ctx, dav.AddressBook); err != nil {
		t.Fatal(err)
	}
	if err := clients["calendar"].Ensure(ctx, dav.Calendar); err != nil {
		t.Fatal(err)
	}
	kinds := map[pim.Kind]string{}
	groups := map[string]string{} // by name
	var sentContact []byte
	err = s.ExportItems(ctx, func(it pim.Item, err error) error {
		if err != nil {
			t.Errorf("item %s: %v", it.Key, err)
			return nil
		}
		b, err := it.Encode()
		if err != nil {
			t.Errorf("item %s: %v", it.Key, err)
			return nil
		}
		cl := clients[it.Collection()]
		if _, _, err := cl.Put(ctx, it.Name(), it.ContentType(), b, ""); err != nil {
			t.Errorf("put %s: %v", it.Key, err)
		}
		// A second put of the same item finds it there.
		if _, _, err := cl.Put(ctx, it.Name(), it.ContentType(), b, ""); err != dav.ErrExists {
			t.Errorf("second put of %s: %v, want ErrExists", it.Key, err)
		}
		kinds[it.Kind] = it.Name()
		if it.Kind == pim.KindContact {
			sentContact = b
		}
		if it.Kind == pim.KindGroup {
			groups[it.Title()] = it.Name()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(kinds) != 6 {
		t.Fatalf("kinds read: %v, want contact, group, event, task, note, journal", kinds)
	}
	get := func(kind pim.Kind) []byte {
		coll := "calendar"
		if kind == pim.KindContact || kind == pim.KindGroup {
			coll = "contacts"
		}
		b, _, err := clients[coll].Get(ctx, kinds[kind])
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	kinds[pim.KindGroup] = groups["Team"]
	checkContact(t, get(pim.KindContact), sentContact, get(pim.KindGroup))
	kinds[pim.KindGroup] = groups["Friends"]
	friends, err := vcard.NewDecoder(bytes.NewReader(get(pim.KindGroup))).Decode()
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "Friends MEMBER", strings.Join(friends.Values(vcard.FieldMember), ","), "mailto:countess@example.net,mailto:bob@example.org")
	checkMeeting(t, get(pim.KindEvent))
	checkTodo(t, get(pim.KindTask))
	checkJournals(t, get(pim.KindNote), get(pim.KindJournal))

	_, msgs, err := s.Messages(ctx, "Inbox")
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Inbox: %v %v", msgs, err)
	}
	for _, k := range []string{"Big_Project", "B&APw-ro"} {
		if !slices.Contains(msgs[0].Flags, k) {
			t.Errorf("mail flags %q lack the keyword %s", msgs[0].Flags, k)
		}
	}
	// Dovecot takes them as keywords.
	d := dovecot.Start(t, dovecot.Options{})
	d.AddUser("ada", "pw")
	c := imaptest.Login(t, d.Addr, "ada", "pw")
	imaptest.Append(t, c, "INBOX", msgs[0].Flags, msgs[0].InternalDate, []byte("From: a@example.org\r\nSubject: Filed\r\n\r\nhello\r\n"))
	c.Close()
	got := imaptest.Snapshot(t, d.Addr, "ada", "pw")["INBOX"]
	if len(got) != 1 || !slices.Contains(got[0].Flags, "B&APw-ro") || !slices.Contains(got[0].Flags, "Big_Project") {
		t.Errorf("on Dovecot: %+v", got)
	}
}

func eq(t *testing.T, what string, got, want any) {
	t.Helper()
	if !slices.Equal([]any{got}, []any{want}) {
		t.Errorf("%s: %q, want %q", what, got, want)
	}
}

func checkContact(t *testing.T, b, sent, group []byte) {
	c, err := vcard.NewDecoder(bytes.NewReader(b)).Decode()
	if err != nil {
		t.Fatalf("contact: %v\n%s", err, b)
	}
	eq(t, "VERSION", c.Value(vcard.FieldVersion), "4.0")
	eq(t, "FN", c.Value(vcard.FieldFormattedName), "Ada Lovelace")
	n := c.Name()
	eq(t, "N", n.FamilyName+"|"+n.GivenName, "Lovelace|Ada")
	eq(t, "ORG", c.Value(vcard.FieldOrganization), "Analytical Engines;R&D")
	eq(t, "TITLE", c.Value(vcard.FieldTitle), "Programmer")
	eq(t, "EMAIL", strings.Join(c.Values(vcard.FieldEmail), ","), "ada@example.org,countess@example.net")
	eq(t, "EMAIL PREF", c.Get(vcard.FieldEmail).Params.Get(vcard.ParamPreferred), "1")
	var tels []string
	for _, f := range c[vcard.FieldTelephone] {
		tels = append(tels, strings.Join(f.Params.Types(), "+")+":"+f.Value)
	}
	eq(t, "TEL", strings.Join(tels, ","), "work+voice:+44 20 7946 0000,cell+voice:+44 7700 900123")
	a := c.Address()
	if a == nil {
		t.Fatalf("no ADR:\n%s", b)
	}
	eq(t, "ADR", strings.Join([]string{a.StreetAddress, a.Locality, a.PostalCode, a.Country, strings.Join(a.Params.Types(), "")}, "|"),
		"12 St James's Square|London|SW1Y 4JH|United Kingdom|home")
	eq(t, "BDAY", c.Value(vcard.FieldBirthday), "19851210")
	// Radicale keeps a vCard 4.0 PHOTO only up to the comma of its data:
	// URI (its vobject reads vCard 3.0: Kozea/Radicale issues 648, 1863):
	// the photo is checked in what was uploaded.
	eq(t, "PHOTO", photoLine(sent), "data:image/jpeg;base64,"+base64.StdEncoding.EncodeToString([]byte("\xff\xd8\xff\xe0 a picture")))
	// go-vcard leaves the "\;" Radicale writes escaped.
	eq(t, "NOTE", strings.ReplaceAll(c.Value(vcard.FieldNote), `\;`, ";"), "Met at the salon;\nlikes numbers, poetry")
	eq(t, "CATEGORIES", strings.Join(c.Values(vcard.FieldCategories), "|"), "Friends|Büro")
	g, err := vcard.NewDecoder(bytes.NewReader(group)).Decode()
	if err != nil {
		t.Fatalf("group: %v", err)
	}
	eq(t, "group KIND", string(g.Kind()), "group")
	eq(t, "group FN", g.Value(vcard.FieldFormattedName), "Team")
	eq(t, "group MEMBER", strings.Join(g.Values(vcard.FieldMember), ","), "mailto:ann@example.org,mailto:bob@example.org")
}

// photoLine is the value of a vCard's PHOTO line, unfolded.
func photoLine(card []byte) string {
	unfolded := strings.ReplaceAll(strings.ReplaceAll(string(card), "\r\n ", ""), "\n ", "")
	for _, l := range strings.Split(unfolded, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimRight(l, "\r"), "PHOTO:"); ok {
			return v
		}
	}
	return ""
}

func checkMeeting(t *testing.T, b []byte) {
	cal, err := ical.NewDecoder(bytes.NewReader(b)).Decode()
	if err != nil {
		t.Fatalf("meeting: %v\n%s", err, b)
	}
	evs := cal.Events()
	if len(evs) != 2 {
		t.Fatalf("meeting: %d VEVENTs, want the series and the moved occurrence\n%s", len(evs), b)
	}
	m, x := evs[0].Props, evs[1].Props
	if evs[0].Props.Get(ical.PropRecurrenceID) != nil {
		m, x = x, m
	}
	val := func(p ical.Props, name string) string {
		if v := p.Get(name); v != nil {
			if tz := v.Params.Get(ical.ParamTimezoneID); tz != "" {
				return tz + ":" + v.Value
			}
			return v.Value
		}
		return ""
	}
	const tz = "W. Europe Standard Time"
	for _, c := range [][3]string{
		{"SUMMARY", val(m, ical.PropSummary), "Weekly sync"},
		{"DESCRIPTION", val(m, ical.PropDescription), "Agenda: numbers"},
		{"UID", val(m, ical.PropUID), strings.ToUpper(hex.EncodeToString(goid()))},
		{"DTSTART", val(m, ical.PropDateTimeStart), tz + ":20260302T090000"},
		{"DTEND", val(m, ical.PropDateTimeEnd), tz + ":20260302T093000"},
		{"RRULE", val(m, ical.PropRecurrenceRule), "FREQ=WEEKLY;BYDAY=MO;COUNT=6"},
		{"EXDATE", val(m, ical.PropExceptionDates), tz + ":20260316T090000"},
		{"ORGANIZER", val(m, ical.PropOrganizer), "mailto:boss@example.org"},
		{"CATEGORIES", val(m, ical.PropCategories), "Team"},
		{"STATUS", val(m, ical.PropStatus), "CONFIRMED"},
		{"moved RECURRENCE-ID", val(x, ical.PropRecurrenceID), tz + ":20260323T090000"},
		{"moved DTSTART", val(x, ical.PropDateTimeStart), tz + ":20260323T100000"},
		{"moved SUMMARY", val(x, ical.PropSummary), "Weekly sync (moved)"},
		{"moved DESCRIPTION", val(x, ical.PropDescription), "Bring the slides"},
		{"moved UID", val(x, ical.PropUID), val(m, ical.PropUID)},
	} {
		eq(t, c[0], c[1], c[2])
	}
	var att []string
	for _, a := range m.Values(ical.PropAttendee) {
		att = append(att, a.Params.Get(ical.ParamRole)+"/"+a.Params.Get(ical.ParamParticipationStatus)+":"+a.Value)
	}
	eq(t, "ATTENDEE", strings.Join(att, ","), "REQ-PARTICIPANT/ACCEPTED:mailto:ann@example.org,OPT-PARTICIPANT/DECLINED:mailto:bob@example.org")
	if len(evs[0].Children) == 0 {
		t.Errorf("no VALARM")
	} else if d, err := evs[0].Children[0].Props.Get(ical.PropTrigger).Duration(); err != nil || d != -10*time.Minute {
		t.Errorf("VALARM TRIGGER %v %v, want -10m", d, err)
	}
	// The zone: UTC+1 in winter, UTC+2 from the last Sunday of March.
	var zone *ical.Component
	for _, c := range cal.Children {
		if c.Name == ical.CompTimezone {
			zone = c
		}
	}
	if zone == nil {
		t.Fatalf("no VTIMEZONE")
	}
	var obs []string
	for _, o := range zone.Children {
		obs = append(obs, o.Name+" "+o.Props.Get(ical.PropTimezoneOffsetTo).Value+" "+o.Props.Get(ical.PropRecurrenceRule).Value)
	}
	eq(t, "VTIMEZONE", strings.Join(obs, "; "), "STANDARD +0100 FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU; DAYLIGHT +0200 FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU")
}

func checkTodo(t *testing.T, b []byte) {
	cal, err := ical.NewDecoder(bytes.NewReader(b)).Decode()
	if err != nil {
		t.Fatalf("task: %v\n%s", err, b)
	}
	var todo *ical.Component
	for _, c := range cal.Children {
		if c.Name == ical.CompToDo {
			todo = c
		}
	}
	if todo == nil {
		t.Fatalf("no VTODO:\n%s", b)
	}
	v := func(n string) string {
		if p := todo.Props.Get(n); p != nil {
			return p.Value
		}
		return ""
	}
	for _, c := range [][3]string{
		{"SUMMARY", v(ical.PropSummary), "File the report"},
		{"DESCRIPTION", v(ical.PropDescription), "Quarterly figures"},
		{"DTSTART", v(ical.PropDateTimeStart), "20260301"},
		{"DUE", v(ical.PropDue), "20260310"},
		{"STATUS", v(ical.PropStatus), "IN-PROCESS"},
		{"PERCENT-COMPLETE", v(ical.PropPercentComplete), "50"},
		{"PRIORITY", v(ical.PropPriority), "1"},
		{"CATEGORIES", v(ical.PropCategories), "Work"},
	} {
		eq(t, "VTODO "+c[0], c[1], c[2])
	}
}

func checkJournals(t *testing.T, note, journal []byte) {
	for _, c := range []struct {
		b                   []byte
		summary, desc, more string
	}{
		{note, "Call back", "Call back Ann", "COLOR:yellow"},
		{journal, "Phone call with Bob", "[Phone call, 15 min]\nAbout the report", "DTSTART:20260203T090000Z"},
	} {
		cal, err := ical.NewDecoder(bytes.NewReader(c.b)).Decode()
		if err != nil || len(cal.Children) != 1 || cal.Children[0].Name != ical.CompJournal {
			t.Fatalf("not one VJOURNAL (%v):\n%s", err, c.b)
		}
		p := cal.Children[0].Props
		sum, _ := p.Text(ical.PropSummary)
		desc, _ := p.Text(ical.PropDescription)
		eq(t, "VJOURNAL SUMMARY", sum, c.summary)
		eq(t, "VJOURNAL DESCRIPTION", desc, c.desc)
		name, value, _ := strings.Cut(c.more, ":")
		if g := p.Get(name); g == nil || g.Value != value {
			t.Errorf("VJOURNAL %s: %v, want %s", name, g, value)
		}
	}
}
