package pst

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/mailshift/mailshift/internal/pim"
	"github.com/mailshift/mailshift/source"
)

// This file reads the items that are not mail into the model of package
// pim: contacts and distribution lists ([MS-OXOCNTC]), appointments and
// meetings ([MS-OXOCAL]), tasks ([MS-OXOTASK]), notes ([MS-OXONOTE]) and
// journal entries ([MS-OXOJRNL]).

var _ source.ItemExporter = (*Source)(nil)

// pimKind is the pim kind of a message class; ok is false for classes
// that are neither mail nor convertible (configuration items, documents).
func pimKind(class string) (pim.Kind, bool) {
	c := strings.ToLower(class)
	for _, k := range []struct {
		prefix string
		kind   pim.Kind
	}{
		{"ipm.contact", pim.KindContact},
		{"ipm.distlist", pim.KindGroup},
		{"ipm.appointment", pim.KindEvent},
		{"ipm.task", pim.KindTask},
		{"ipm.stickynote", pim.KindNote},
		{"ipm.activity", pim.KindJournal},
	} {
		if c == k.prefix || strings.HasPrefix(c, k.prefix+".") {
			return k.kind, true
		}
	}
	return "", false
}

// ExportItems reads every contact, distribution list, calendar item,
// task, note and journal entry, folder by folder. Keys are the items'
// NIDs, as for mail ("0x200024").
func (s *Source) ExportItems(ctx context.Context, fn func(pim.Item, error) error) error {
	for _, fi := range s.folders {
		ids, err := s.f.contents(fi.nid)
		if err != nil {
			continue // Messages reports the folder
		}
		for _, nid := range ids {
			if err := ctx.Err(); err != nil {
				return err
			}
			sum, err := s.f.summarize(nid)
			if err != nil {
				continue // reported with the folder's mail
			}
			kind, ok := pimKind(sum.class)
			if !ok {
				continue
			}
			it := pim.Item{Key: keyOf(nid), Folder: fi.name, Kind: kind, Class: sum.class}
			err = s.readItem(nid, &it)
			if err != nil {
				err = s.wrap(fmt.Errorf("folder %q: item %s: %w", fi.name, keyOf(nid), err))
			}
			if err := fn(it, err); err != nil {
				return err
			}
		}
	}
	return nil
}

// readItem fills it from the item nid.
func (s *Source) readItem(nid uint32, it *pim.Item) (err error) {
	defer func() {
		if !recoverPanics {
			return
		}
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: internal error: %v", ErrCorrupt, p)
		}
	}()
	n, err := s.f.openNode(nid)
	if err != nil {
		return err
	}
	p, err := n.openPC()
	if err != nil {
		return err
	}
	m, err := s.read(nid)
	if err != nil {
		return err
	}
	x := s.f.itemProps(p)
	switch it.Kind {
	case pim.KindContact, pim.KindGroup:
		it.Contact = s.f.readContact(x, m, it.Kind == pim.KindGroup)
	case pim.KindEvent:
		it.Event, err = s.readEvent(n, x, m)
	case pim.KindTask:
		it.Task = readTask(x, m)
	case pim.KindNote, pim.KindJournal:
		it.Journal = readJournal(x, m, it.Kind)
	}
	return err
}

var tagRE = regexp.MustCompile(`(?s)<(script|style)[^>]*>.*?</(script|style)>|<[^>]*>`)

// bodyText is a message's plain text body, or its HTML body without
// the markup.
func bodyText(m *message) string {
	if t := strings.TrimSpace(m.text); t != "" {
		return strings.ReplaceAll(m.text, "\r\n", "\n")
	}
	if m.html == "" {
		return ""
	}
	t := tagRE.ReplaceAllString(m.html, "")
	for _, r := range [][2]string{{"&nbsp;", " "}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", `"`}, {"&amp;", "&"}} {
		t = strings.ReplaceAll(t, r[0], r[1])
	}
	return strings.TrimSpace(t)
}

// Contact properties ([MS-OXOCNTC] 2.2.1).
const (
	propGeneration      = 0x3A05
	propGivenName       = 0x3A06
	propBusinessPhone   = 0x3A08
	propHomePhone       = 0x3A09
	propSurname         = 0x3A11
	propCompanyName     = 0x3A16
	propTitle           = 0x3A17
	propDepartment      = 0x3A18
	propPrimaryPhone    = 0x3A1A
	propBusiness2Phone  = 0x3A1B
	propMobilePhone     = 0x3A1C
	propCarPhone        = 0x3A1E
	propOtherPhone      = 0x3A1F
	propPager           = 0x3A21
	propBusinessFax     = 0x3A24
	propHomeFax         = 0x3A25
	propCountry         = 0x3A26
	propLocality        = 0x3A27
	propStateOrProvince = 0x3A28
	propStreetAddress   = 0x3A29
	propPostalCode      = 0x3A2A
	propHome2Phone      = 0x3A2F
	propWedding         = 0x3A41
	propBirthday        = 0x3A42
	propMiddleName      = 0x3A44
	propNamePrefix      = 0x3A45
	propNickname        = 0x3A4F
	propPersonalHome    = 0x3A50
	propBusinessHome    = 0x3A51
	propHomeCity        = 0x3A59
	propHomeCountry     = 0x3A5A
	propHomePostalCode  = 0x3A5B
	propHomeState       = 0x3A5C
	propHomeStreet      = 0x3A5D
	propOtherCity       = 0x3A5F
	propOtherCountry    = 0x3A60
	propOtherPostalCode = 0x3A61
	propOtherState      = 0x3A62
	propOtherStreet     = 0x3A63
	propImportance      = 0x0017
	propSensitivity     = 0x0036
	propStartDate       = 0x0060
	propEndDate         = 0x0061
)

func (f *file) readContact(x props, m *message, group bool) *pim.Contact {
	c := &pim.Contact{
		DisplayName: x.str(propDisplayName), Given: x.str(propGivenName), Family: x.str(propSurname),
		Middle: x.str(propMiddleName), Prefix: x.str(propNamePrefix), Suffix: x.str(propGeneration),
		Nickname: x.str(propNickname), Company: x.str(propCompanyName), Department: x.str(propDepartment),
		JobTitle: x.str(propTitle), Note: bodyText(m), Categories: x.categories(), Modified: x.time(propLastModTime),
	}
	if group {
		if n := x.nstr(lidDLName); n != "" {
			c.DisplayName = n
		}
		c.Members = f.dlMembers(x)
		return c
	}
	for _, e := range lidEmail {
		addr := smtpOf(x.nstr(e[1]), x.nstr(e[2]), "")
		if addr == "" && strings.Contains(x.nstr(e[3]), "@") {
			addr = x.nstr(e[3]) // the original display name of an Exchange address
		}
		if addr != "" {
			c.Emails = append(c.Emails, pim.Person{Name: x.nstr(e[0]), Email: addr})
		}
	}
	for _, ph := range []struct {
		id    uint16
		types []string
	}{
		{propPrimaryPhone, []string{"voice", "pref"}}, {propBusinessPhone, []string{"work", "voice"}},
		{propBusiness2Phone, []string{"work", "voice"}}, {propHomePhone, []string{"home", "voice"}},
		{propHome2Phone, []string{"home", "voice"}}, {propMobilePhone, []string{"cell", "voice"}},
		{propCarPhone, []string{"voice"}}, {propOtherPhone, []string{"voice"}},
		{propBusinessFax, []string{"work", "fax"}}, {propHomeFax, []string{"home", "fax"}},
		{propPager, []string{"pager"}},
	} {
		if v := x.str(ph.id); v != "" {
			c.Phones = append(c.Phones, pim.Phone{Types: ph.types, Number: v})
		}
	}
	work := pim.Address{Type: "work", Street: x.nstr(lidWorkStreet), City: x.nstr(lidWorkCity), Region: x.nstr(lidWorkState), PostalCode: x.nstr(lidWorkPostalCode), Country: x.nstr(lidWorkCountry)}
	if work.Empty() {
		work = pim.Address{Type: "work", Street: x.str(propStreetAddress), City: x.str(propLocality), Region: x.str(propStateOrProvince), PostalCode: x.str(propPostalCode), Country: x.str(propCountry)}
	}
	for _, a := range []pim.Address{
		{Type: "home", Street: x.str(propHomeStreet), City: x.str(propHomeCity), Region: x.str(propHomeState), PostalCode: x.str(propHomePostalCode), Country: x.str(propHomeCountry)},
		work,
		{Street: x.str(propOtherStreet), City: x.str(propOtherCity), Region: x.str(propOtherState), PostalCode: x.str(propOtherPostalCode), Country: x.str(propOtherCountry)},
	} {
		if !a.Empty() {
			c.Addresses = append(c.Addresses, a)
		}
	}
	c.Photo, c.PhotoType = contactPhoto(m)
	c.Birthday = localDate(x.ntime(lidBirthdayLocal), x.time(propBirthday))
	c.Anniversary = localDate(x.ntime(lidWeddingLocal), x.time(propWedding))
	for _, u := range []string{x.nstr(lidHTML), x.str(propBusinessHome), x.str(propPersonalHome)} {
		if u != "" {
			c.URL = u
			break
		}
	}
	return c
}

// maxPhoto bounds the contact photo taken into a vCard.
const maxPhoto = 1 << 20

// contactPhoto is the contact's picture: the attachment marked as its
// photo ([MS-OXOCNTC] 2.2.1.8.3), JPEG unless its media type says
// otherwise; nothing when it is larger than maxPhoto.
func contactPhoto(m *message) ([]byte, string) {
	for _, a := range m.attach {
		if !a.photo || a.size > maxPhoto {
			continue
		}
		b := a.inline
		if a.data != nil {
			var err error
			if b, err = a.data.bytes(maxPhoto); err != nil {
				continue
			}
		}
		typ := a.mimeType
		if !strings.HasPrefix(typ, "image/") {
			typ = "image/jpeg"
		}
		return b, typ
	}
	return nil, ""
}

// localDate is the date of a birthday or anniversary: the local form
// when there is one (midnight of the day), else the UTC form, which
// Outlook writes as local midnight in UTC: a time in the second half of
// the day belongs to the next day.
func localDate(localForm, utcForm time.Time) time.Time {
	if !localForm.IsZero() {
		return time.Date(localForm.Year(), localForm.Month(), localForm.Day(), 0, 0, 0, 0, time.UTC)
	}
	if utcForm.IsZero() {
		return time.Time{}
	}
	if utcForm.Hour() >= 12 {
		utcForm = utcForm.Add(12 * time.Hour)
	}
	return time.Date(utcForm.Year(), utcForm.Month(), utcForm.Day(), 0, 0, 0, 0, time.UTC)
}

// dlMembers reads a distribution list's members from its one-off entry
// IDs (PidLidDistributionListOneOffMembers), or, without them, from its
// members (PidLidDistributionListMembers): one-off entries, and wrapped
// entries naming a contact of this file with the address they use.
func (f *file) dlMembers(x props) []pim.Person {
	var out []pim.Person
	if v, ok := x.named(lidDLOneOff); ok {
		for _, b := range v.multiBytes() {
			if p, ok := oneOff(b); ok {
				out = append(out, p)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	v, _ := x.named(lidDLMembers)
	for _, b := range v.multiBytes() {
		if p, ok := oneOff(b); ok {
			out = append(out, p)
		} else if p, ok := f.wrappedContact(b); ok {
			out = append(out, p)
		}
	}
	return out
}

// wrappedProvider is the provider UID of a WrappedEntryId ([MS-OXOCNTC]
// 2.2.2.2.4.1.1).
var wrappedProvider = []byte{0xC0, 0x91, 0xAD, 0xD3, 0x51, 0x9D, 0xCF, 0x11, 0xA4, 0xA9, 0x00, 0xAA, 0x00, 0x47, 0xFA, 0xA4}

// wrappedContact reads a WrappedEntryId that names a contact (type 3 in
// its low 4 bits; the next 3 bits say which of its e-mail addresses) by
// a message EntryID of this file (flags, store UID, NID), and returns the
// contact's name and that address.
func (f *file) wrappedContact(b []byte) (pim.Person, bool) {
	if len(b) != 21+24 || string(b[4:20]) != string(wrappedProvider) || b[20]&0x0F != 3 {
		return pim.Person{}, false
	}
	idx := int(b[20]>>4) & 0x07
	if idx > 2 {
		return pim.Person{}, false // a fax number, not an address
	}
	n, err := f.openNode(binary.LittleEndian.Uint32(b[21+20:]))
	if err != nil {
		return pim.Person{}, false
	}
	p, err := n.openPC()
	if err != nil {
		return pim.Person{}, false
	}
	x := f.itemProps(p)
	e := lidEmail[idx]
	addr := smtpOf(x.nstr(e[1]), x.nstr(e[2]), "")
	if addr == "" {
		return pim.Person{}, false
	}
	name := x.str(propDisplayName)
	if name == "" {
		name = x.nstr(e[0])
	}
	return pim.Person{Name: name, Email: addr}, true
}

// oneOffProvider is the provider UID of a one-off entry ID ([MS-OXCDATA]
// 2.2.5.1).
var oneOffProvider = []byte{0x81, 0x2B, 0x1F, 0xA4, 0xBE, 0xA3, 0x10, 0x19, 0x9D, 0x6E, 0x00, 0xDD, 0x01, 0x0F, 0x54, 0x02}

// oneOff reads a one-off entry ID: flags, the provider UID, version and
// flags, then the display name, address type and address, NUL-ended, in
// UTF-16 when the flags have 0x8000.
func oneOff(b []byte) (pim.Person, bool) {
	if len(b) < 24 || string(b[4:20]) != string(oneOffProvider) {
		return pim.Person{}, false
	}
	unicode := b[23]&0x80 != 0
	rest := b[24:]
	var parts []string
	for i := 0; i < 3; i++ {
		var s string
		if unicode {
			end := 0
			for end+1 < len(rest) && (rest[end] != 0 || rest[end+1] != 0) {
				end += 2
			}
			s = wide(rest[:end])
			rest = rest[min(end+2, len(rest)):]
		} else {
			end := strings.IndexByte(string(rest), 0)
			if end < 0 {
				end = len(rest)
			}
			s = decodeCodepage(rest[:end], 1252)
			rest = rest[min(end+1, len(rest)):]
		}
		parts = append(parts, s)
	}
	addr := smtpOf(parts[1], parts[2], "")
	if addr == "" {
		return pim.Person{}, false
	}
	return pim.Person{Name: parts[0], Email: addr}, true
}

// Appointment state flags and busy statuses ([MS-OXOCAL] 2.2.1.10, 2.2.1.2).
const (
	asfMeeting  = 0x1
	asfCanceled = 0x4
	busyFree    = 0
	busyTent    = 1
)

func (s *Source) readEvent(n *node, x props, m *message) (*pim.Event, error) {
	e := &pim.Event{
		Summary: m.subject, Location: x.nstr(lidLocation), Description: bodyText(m),
		Start: x.ntime(lidApptStartWhole), End: x.ntime(lidApptEndWhole),
		AllDay: x.nbool(lidApptSubType), Categories: x.categories(),
		Private: x.nbool(lidPrivate) || x.int(propSensitivity) == 2,
		Created: x.time(propCreationTime), Modified: x.time(propLastModTime),
		UID: goidUID(x),
	}
	if e.Start.IsZero() {
		e.Start, e.End = x.ntime(lidCommonStart), x.ntime(lidCommonEnd)
	}
	if e.Start.IsZero() {
		e.Start, e.End = x.time(propStartDate), x.time(propEndDate)
	}
	if e.Start.IsZero() {
		return nil, fmt.Errorf("calendar item %q without a start time", m.subject)
	}
	if e.End.Before(e.Start) {
		e.End = e.Start
	}
	e.Status = "CONFIRMED"
	switch busy := x.nint(lidBusyStatus); {
	case busy == busyFree:
		e.Busy = "TRANSPARENT"
	case busy == busyTent:
		e.Status = "TENTATIVE"
	}
	state := x.nint(lidApptStateFlags)
	if state&asfCanceled != 0 {
		e.Status = "CANCELLED"
	}
	if x.nbool(lidReminderSet) {
		d := time.Duration(x.nint(lidReminderDelta)) * time.Minute
		e.Reminder = &d
	}
	if state&asfMeeting != 0 {
		s.meeting(n, m, e)
	}
	e.Zone = parseZone(x.nbin(lidTimeZoneStruct), x.nstr(lidTimeZoneDesc))
	if b := x.nbin(lidApptRecur); b != nil {
		rec, ok := parseRecurrence(b)
		if ok {
			if e.Zone == nil {
				// Without a zone, the offset of the first occurrence.
				local := rec.start.Add(time.Duration(rec.startOffset) * time.Minute)
				e.Zone = pim.FixedZone("", int(local.Sub(e.Start).Minutes()))
			}
			if !rec.Until.IsZero() {
				rec.Until = rec.Until.Add(time.Duration(rec.startOffset) * time.Minute)
			}
			e.Recurrence = &rec.Recurrence
			s.f.exceptionBodies(n, e.Zone, e.Recurrence)
		}
	}
	if e.AllDay {
		z := e.Zone
		if z == nil {
			z = pim.FixedZone("", 0)
		}
		e.Start, e.End = midnight(z.ToLocal(e.Start)), midnight(z.ToLocal(e.End))
		if !e.End.After(e.Start) {
			e.End = e.Start.AddDate(0, 0, 1)
		}
	}
	return e, nil
}

// lidExceptionReplaceTime is the original start (UTC) of the occurrence
// an exception replaces ([MS-OXOCAL] 2.2.10.2.5).
var lidExceptionReplaceTime = lid(psetidAppointment, 0x8228)

// exceptionBodies gives the changed occurrences of r the descriptions of
// their exception objects: messages attached to the series, each naming
// the occurrence it replaces ([MS-OXOCAL] 2.2.10.2).
func (f *file) exceptionBodies(n *node, z *pim.Zone, r *pim.Recurrence) {
	if len(r.Changed) == 0 {
		return
	}
	at, err := n.sub(nidAttachmentTable)
	if err != nil {
		return
	}
	t, err := at.openTC()
	if err != nil {
		return
	}
	for i := 0; i < t.nrows; i++ {
		row, err := t.row(i)
		if err != nil {
			return
		}
		id, ok := t.rowID(row)
		if !ok {
			continue
		}
		replaced, body, ok := f.exceptionObject(n, id)
		if !ok {
			continue
		}
		for j := range r.Changed {
			if o := &r.Changed[j]; z.ToUTC(o.Original).Equal(replaced) {
				o.Description = body
			}
		}
	}
}

// exceptionObject reads the exception message attached as attachment id:
// the start of the occurrence it replaces and its description.
func (f *file) exceptionObject(n *node, id uint32) (time.Time, string, bool) {
	an, err := n.sub(id)
	if err != nil {
		return time.Time{}, "", false
	}
	ap, err := an.openPC()
	if err != nil {
		return time.Time{}, "", false
	}
	e, ok := ap.props[propAttachDataBinary]
	if !ok || e.typ != ptObject {
		return time.Time{}, "", false
	}
	nid := e.raw
	if e.raw&0x1F == nidTypeHID {
		b, err := ap.h.alloc(e.raw)
		if err != nil || len(b) < 4 {
			return time.Time{}, "", false
		}
		nid = binary.LittleEndian.Uint32(b)
	}
	en, err := an.sub(nid)
	if err != nil {
		return time.Time{}, "", false
	}
	p, err := en.openPC()
	if err != nil {
		return time.Time{}, "", false
	}
	x := f.itemProps(p)
	m := &message{}
	if f.readBodies(p, x.cp, m) != nil {
		return time.Time{}, "", false
	}
	replaced := x.ntime(lidExceptionReplaceTime)
	return replaced, strings.TrimSpace(bodyText(m)), !replaced.IsZero()
}

// midnight rounds a clock reading to the nearest midnight.
func midnight(t time.Time) time.Time {
	u := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), 0, 0, time.UTC).Add(12 * time.Hour)
	return time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
}

// goidUID is a meeting's iCalendar UID: the one an iCalendar invitation
// gave it (kept in the global object ID after "vCal-Uid"), else the clean
// global object ID in hexadecimal, as Exchange writes it.
func goidUID(x props) string {
	b := x.nbin(lidCleanGlobalObject)
	if b == nil {
		b = x.nbin(lidGlobalObjectID)
	}
	if len(b) < 40 {
		return ""
	}
	data := b[40:]
	if marker := "vCal-Uid\x01\x00\x00\x00"; strings.HasPrefix(string(data), marker) {
		u := strings.TrimRight(string(data[len(marker):]), "\x00")
		if u != "" {
			return u
		}
	}
	c := append([]byte(nil), b...)
	c[16], c[17], c[18], c[19] = 0, 0, 0, 0 // the instance date: every occurrence shares the UID
	return strings.ToUpper(hex.EncodeToString(c))
}

// Recipient properties of meetings ([MS-OXOCAL] 2.2.4.10, 2.2.4.11).
const (
	propRecipientFlags       = 0x5FFD
	propRecipientTrackStatus = 0x5FFF
	recipOrganizer           = 0x0002
)

// meeting adds the organizer and attendees of a meeting.
func (s *Source) meeting(n *node, m *message, e *pim.Event) {
	org := m.from
	if org.email == "" {
		org = m.sender
	}
	if org.email != "" {
		e.Organizer = &pim.Person{Name: org.name, Email: org.email}
	}
	rows := s.f.recipientExtras(n)
	add := func(as []address, role string) {
		for _, a := range as {
			ex := rows[a]
			if ex.flags&recipOrganizer != 0 || (e.Organizer != nil && strings.EqualFold(a.email, e.Organizer.Email)) {
				continue
			}
			at := pim.Attendee{Person: pim.Person{Name: a.name, Email: a.email}, Role: role, Status: partStat(ex.track)}
			if role == "" {
				at.Role, at.CUType = "NON-PARTICIPANT", "RESOURCE"
			}
			e.Attendees = append(e.Attendees, at)
		}
	}
	add(m.to, "REQ-PARTICIPANT")
	add(m.cc, "OPT-PARTICIPANT")
	add(m.bcc, "")
}

// partStat maps PidTagRecipientTrackStatus to PARTSTAT.
func partStat(track int64) string {
	switch track {
	case 2:
		return "TENTATIVE"
	case 3:
		return "ACCEPTED"
	case 4:
		return "DECLINED"
	}
	return "NEEDS-ACTION"
}

type recipientExtra struct{ flags, track int64 }

// recipientExtras reads the recipient flags and response of each
// recipient, by address.
func (f *file) recipientExtras(n *node) map[address]recipientExtra {
	out := map[address]recipientExtra{}
	tmp := &message{}
	if err := f.readRecipients(n, 1252, tmp); err != nil {
		return out
	}
	sn, err := n.sub(nidRecipientTable)
	if err != nil {
		return out
	}
	t, err := sn.openTC()
	if err != nil {
		return out
	}
	all := append(append(append([]address(nil), tmp.to...), tmp.cc...), tmp.bcc...)
	// readRecipients lists the rows in order, by kind; match them by
	// reading the rows again in the same order.
	var byKind [4][]int
	for i := 0; i < t.nrows; i++ {
		row, err := t.row(i)
		if err != nil {
			return out
		}
		var kind int64 = 1
		if v, ok, err := t.cell(row, colRecipientType); err == nil && ok {
			kind = v.int()
		}
		k := int(kind & 0x0F)
		if k != 2 && k != 3 {
			k = 1
		}
		byKind[k] = append(byKind[k], i)
	}
	order := append(append(append([]int(nil), byKind[1]...), byKind[2]...), byKind[3]...)
	for j, i := range order {
		if j >= len(all) {
			break
		}
		row, err := t.row(i)
		if err != nil {
			break
		}
		var ex recipientExtra
		if v, ok, err := t.cell(row, propRecipientFlags<<16|ptInt32); err == nil && ok {
			ex.flags = v.int()
		}
		if v, ok, err := t.cell(row, propRecipientTrackStatus<<16|ptInt32); err == nil && ok {
			ex.track = v.int()
		}
		out[all[j]] = ex
	}
	return out
}

// Task statuses ([MS-OXOTASK] 2.2.2.2.2).
var taskStatus = map[int64]string{0: "NEEDS-ACTION", 1: "IN-PROCESS", 2: "COMPLETED", 3: "NEEDS-ACTION", 4: "CANCELLED"}

func readTask(x props, m *message) *pim.Task {
	t := &pim.Task{
		Summary: m.subject, Description: bodyText(m), Categories: x.categories(),
		Start: dateOf(x.ntime(lidTaskStart)), Due: dateOf(x.ntime(lidTaskDue)),
		Completed: x.ntime(lidTaskCompleted), Status: taskStatus[x.nint(lidTaskStatus)],
		Private: x.nbool(lidPrivate) || x.int(propSensitivity) == 2,
		Created: x.time(propCreationTime), Modified: x.time(propLastModTime),
	}
	if v, ok := x.named(lidPercent); ok && v.typ == ptDouble && len(v.data) == 8 {
		t.Percent = int(float64frombits(v.data)*100 + 0.5)
	}
	if v, ok := x.val(propImportance); ok {
		t.Priority = map[int64]int{0: 9, 1: 5, 2: 1}[v.int()]
	}
	if x.nbool(lidReminderSet) {
		if r := x.ntime(lidReminderTime); !r.IsZero() {
			t.Reminder = &r
		}
	}
	if t.Status == "COMPLETED" && t.Completed.IsZero() {
		t.Completed = t.Modified
	}
	return t
}

// dateOf is the date of a task date, which Outlook keeps as midnight of
// the local day written as if it were UTC.
func dateOf(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// noteColor names the colours of PidLidNoteColor ([MS-OXONOTE] 2.2.1.1).
var noteColor = map[int64]string{0: "blue", 1: "green", 2: "pink", 3: "yellow", 4: "white"}

func readJournal(x props, m *message, kind pim.Kind) *pim.Journal {
	j := &pim.Journal{
		Summary: m.subject, Description: bodyText(m), Categories: x.categories(),
		Created: x.time(propCreationTime), Modified: x.time(propLastModTime),
	}
	if kind == pim.KindNote {
		j.Start = j.Created
		if v, ok := x.named(lidNoteColor); ok {
			j.Color = noteColor[v.int()]
		}
		if j.Summary == "" {
			j.Summary, _, _ = strings.Cut(strings.TrimSpace(j.Description), "\n")
		}
		return j
	}
	j.Start = x.ntime(lidLogStart)
	if j.Start.IsZero() {
		j.Start = j.Created
	}
	j.Duration = time.Duration(x.nint(lidLogDuration)) * time.Minute
	j.Type = x.nstr(lidLogTypeDesc)
	if j.Type == "" {
		j.Type = x.nstr(lidLogType)
	}
	return j
}
