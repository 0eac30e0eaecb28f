package pim

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-ical"
)

// ProductID names mailshift as the maker of the items it writes.
const ProductID = "-//mailshift//mailshift//EN"

const (
	utcLayout   = "20060102T150405Z"
	localLayout = "20060102T150405"
	dateLayout  = "20060102"
)

// cleanText makes text fit a property value: line ends become LF (which
// the encoder escapes), other control characters go.
func cleanText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || r >= 0x20 && r != 0x7F {
			return r
		}
		return -1
	}, s)
}

// cleanParam makes text fit a parameter value: no double quotes, no
// control characters.
func cleanParam(s string) string {
	s = strings.ReplaceAll(cleanText(s), "\n", " ")
	return strings.ReplaceAll(s, `"`, "'")
}

// newCalendar is a VCALENDAR holding comps.
func newCalendar(comps ...*ical.Component) *ical.Calendar {
	cal := ical.NewCalendar()
	cal.Props.SetText(ical.PropProductID, ProductID)
	cal.Props.SetText(ical.PropVersion, "2.0")
	cal.Children = append(cal.Children, comps...)
	return cal
}

func encodeCalendar(cal *ical.Calendar) ([]byte, error) {
	var b bytes.Buffer
	if err := ical.NewEncoder(&b).Encode(cal); err != nil {
		return nil, err
	}
	return fold(b.Bytes()), nil
}

// fold breaks lines longer than 75 octets as RFC 5545 section 3.1 and
// RFC 6350 section 3.2 ask: CRLF and a space before each further part,
// never inside a UTF-8 sequence (the encoders write whole lines).
func fold(b []byte) []byte {
	var out bytes.Buffer
	for _, line := range bytes.SplitAfter(b, []byte("\r\n")) {
		body := bytes.TrimSuffix(line, []byte("\r\n"))
		limit := 75
		for len(body) > limit {
			cut := limit
			for cut > 0 && !utf8.RuneStart(body[cut]) {
				cut--
			}
			out.Write(body[:cut])
			out.WriteString("\r\n ")
			body = body[cut:]
			limit = 74 // the space counts
		}
		out.Write(body)
		if len(body) < len(line) {
			out.WriteString("\r\n")
		}
	}
	return out.Bytes()
}

// text sets a text property unless v is empty.
func text(p ical.Props, name, v string) {
	if v = cleanText(v); v != "" {
		p.SetText(name, v)
	}
}

// utc sets a UTC date-time property unless t is zero.
func utc(p ical.Props, name string, t time.Time) {
	if !t.IsZero() {
		raw(p, name, t.UTC().Format(utcLayout))
	}
}

// date sets a DATE property unless t is zero.
func date(p ical.Props, name string, t time.Time) {
	if t.IsZero() {
		return
	}
	p.Set(&ical.Prop{Name: name, Params: ical.Params{ical.ParamValue: {"DATE"}}, Value: t.Format(dateLayout)})
}

// local sets a date-time property in zone z.
func local(p ical.Props, name string, z *Zone, t time.Time) {
	p.Set(&ical.Prop{Name: name, Params: ical.Params{ical.ParamTimezoneID: {cleanParam(z.tzid())}}, Value: t.Format(localLayout)})
}

func categories(p ical.Props, cats []string) {
	var l []string
	for _, c := range cats {
		if c = cleanParam(c); c != "" {
			l = append(l, c)
		}
	}
	if len(l) > 0 {
		prop := ical.NewProp(ical.PropCategories)
		prop.SetTextList(l)
		p.Set(prop)
	}
}

// stamp is the DTSTAMP of an item: when it last changed, so that the same
// item always gives the same bytes.
func stamp(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
}

func encodeEvent(it Item) ([]byte, error) {
	e := it.Event
	uid := e.UID
	if uid == "" {
		uid = it.UID()
	}
	master := ical.NewComponent(ical.CompEvent)
	eventProps(master.Props, e, uid)
	if e.Reminder != nil {
		master.Children = append(master.Children, alarm(*e.Reminder))
	}
	comps := []*ical.Component{master}
	z := e.Zone
	if e.Recurrence != nil && z == nil {
		z = FixedZone("UTC", 0)
	}
	switch {
	case e.AllDay:
		date(master.Props, ical.PropDateTimeStart, e.Start)
		date(master.Props, ical.PropDateTimeEnd, e.End)
	case e.Recurrence != nil:
		local(master.Props, ical.PropDateTimeStart, z, z.ToLocal(e.Start))
		local(master.Props, ical.PropDateTimeEnd, z, z.ToLocal(e.End))
	default:
		utc(master.Props, ical.PropDateTimeStart, e.Start)
		utc(master.Props, ical.PropDateTimeEnd, e.End)
	}
	if r := e.Recurrence; r != nil {
		raw(master.Props, ical.PropRecurrenceRule, rrule(r, e, z))
		exceptions(master, r, e, z)
		for _, o := range r.Changed {
			comps = append(comps, occurrence(e, uid, z, o))
		}
		if !e.AllDay {
			comps = append([]*ical.Component{z.component()}, comps...)
		}
	}
	return encodeCalendar(newCalendar(comps...))
}

// eventProps sets what a recurring event's changed occurrences share with
// it: everything but the times and the recurrence.
func eventProps(p ical.Props, e *Event, uid string) {
	p.SetText(ical.PropUID, uid)
	utc(p, ical.PropDateTimeStamp, stamp(e.Modified, e.Created, e.Start))
	utc(p, ical.PropCreated, e.Created)
	utc(p, ical.PropLastModified, e.Modified)
	text(p, ical.PropSummary, e.Summary)
	text(p, ical.PropLocation, e.Location)
	text(p, ical.PropDescription, e.Description)
	if e.Busy != "" {
		raw(p, ical.PropTransparency, e.Busy)
	}
	if e.Status != "" {
		raw(p, ical.PropStatus, e.Status)
	}
	if e.Private {
		raw(p, ical.PropClass, "PRIVATE")
	}
	categories(p, e.Categories)
	if o := e.Organizer; o != nil && o.Email != "" {
		prop := &ical.Prop{Name: ical.PropOrganizer, Params: ical.Params{}, Value: "mailto:" + o.Email}
		if o.Name != "" {
			prop.Params.Set(ical.ParamCommonName, cleanParam(o.Name))
		}
		p.Set(prop)
	}
	for _, a := range e.Attendees {
		if a.Email == "" {
			continue // an attendee is a calendar address: without one it cannot be written
		}
		prop := &ical.Prop{Name: ical.PropAttendee, Params: ical.Params{}, Value: "mailto:" + a.Email}
		if a.Name != "" {
			prop.Params.Set(ical.ParamCommonName, cleanParam(a.Name))
		}
		for _, kv := range [][2]string{{ical.ParamRole, a.Role}, {ical.ParamParticipationStatus, a.Status}, {ical.ParamCalendarUserType, a.CUType}} {
			if kv[1] != "" {
				prop.Params.Set(kv[0], kv[1])
			}
		}
		p.Add(prop)
	}
}

// alarm is a VALARM that goes off before the start.
func alarm(before time.Duration) *ical.Component {
	a := ical.NewComponent(ical.CompAlarm)
	raw(a.Props, ical.PropAction, "DISPLAY")
	p := ical.NewProp(ical.PropTrigger)
	p.SetDuration(-before)
	a.Props.Set(p)
	a.Props.SetText(ical.PropDescription, "Reminder")
	return a
}

// rrule is the RRULE of a recurrence.
func rrule(r *Recurrence, e *Event, z *Zone) string {
	parts := []string{"FREQ=" + r.Freq}
	if r.Interval > 1 {
		parts = append(parts, "INTERVAL="+strconv.Itoa(r.Interval))
	}
	if len(r.ByDay) > 0 {
		parts = append(parts, "BYDAY="+strings.Join(r.ByDay, ","))
	}
	if r.ByMonthDay != 0 {
		parts = append(parts, "BYMONTHDAY="+strconv.Itoa(r.ByMonthDay))
	}
	if r.ByMonth != 0 {
		parts = append(parts, "BYMONTH="+strconv.Itoa(r.ByMonth))
	}
	if r.SetPos != 0 {
		parts = append(parts, "BYSETPOS="+strconv.Itoa(r.SetPos))
	}
	switch {
	case r.Count > 0:
		parts = append(parts, "COUNT="+strconv.Itoa(r.Count))
	case !r.Until.IsZero():
		if e.AllDay {
			parts = append(parts, "UNTIL="+r.Until.Format(dateLayout))
		} else {
			// UNTIL is UTC when DTSTART has a zone (RFC 5545 3.3.10): the
			// end of the last day, so that its occurrence counts.
			end := time.Date(r.Until.Year(), r.Until.Month(), r.Until.Day(), 23, 59, 59, 0, time.UTC)
			parts = append(parts, "UNTIL="+z.ToUTC(end).Format(utcLayout))
		}
	}
	// WKST changes nothing but weekly rules with an interval (RFC 5545
	// 3.3.10).
	if r.WeekStart != "" && r.WeekStart != "MO" && r.Freq == "WEEKLY" && r.Interval > 1 {
		parts = append(parts, "WKST="+r.WeekStart)
	}
	return strings.Join(parts, ";")
}

// exceptions adds an EXDATE for each deleted occurrence that was not
// changed instead.
func exceptions(master *ical.Component, r *Recurrence, e *Event, z *Zone) {
	changed := map[string]bool{}
	for _, o := range r.Changed {
		changed[o.Original.Format(dateLayout)] = true
	}
	for _, d := range r.Deleted {
		if changed[d.Format(dateLayout)] {
			continue
		}
		if e.AllDay {
			master.Props.Add(&ical.Prop{Name: ical.PropExceptionDates, Params: ical.Params{ical.ParamValue: {"DATE"}}, Value: d.Format(dateLayout)})
			continue
		}
		master.Props.Add(&ical.Prop{Name: ical.PropExceptionDates, Params: ical.Params{ical.ParamTimezoneID: {cleanParam(z.tzid())}}, Value: d.Format(localLayout)})
	}
}

// occurrence is the VEVENT of a changed occurrence.
func occurrence(e *Event, uid string, z *Zone, o Occurrence) *ical.Component {
	c := ical.NewComponent(ical.CompEvent)
	x := *e
	if o.HasSummary {
		x.Summary = o.Summary
	}
	if o.HasLocation {
		x.Location = o.Location
	}
	if o.Description != "" {
		x.Description = o.Description
	}
	eventProps(c.Props, &x, uid)
	if e.AllDay {
		c.Props.Set(&ical.Prop{Name: ical.PropRecurrenceID, Params: ical.Params{ical.ParamValue: {"DATE"}}, Value: o.Original.Format(dateLayout)})
		date(c.Props, ical.PropDateTimeStart, o.Start)
		date(c.Props, ical.PropDateTimeEnd, o.End)
	} else {
		local(c.Props, ical.PropRecurrenceID, z, o.Original)
		local(c.Props, ical.PropDateTimeStart, z, o.Start)
		local(c.Props, ical.PropDateTimeEnd, z, o.End)
	}
	if e.Reminder != nil {
		c.Children = append(c.Children, alarm(*e.Reminder))
	}
	return c
}

func encodeTask(it Item) ([]byte, error) {
	t := it.Task
	c := ical.NewComponent(ical.CompToDo)
	uid := t.UID
	if uid == "" {
		uid = it.UID()
	}
	c.Props.SetText(ical.PropUID, uid)
	utc(c.Props, ical.PropDateTimeStamp, stamp(t.Modified, t.Created))
	utc(c.Props, ical.PropCreated, t.Created)
	utc(c.Props, ical.PropLastModified, t.Modified)
	text(c.Props, ical.PropSummary, t.Summary)
	text(c.Props, ical.PropDescription, t.Description)
	date(c.Props, ical.PropDateTimeStart, t.Start)
	if !t.Due.IsZero() && !t.Due.Before(t.Start) {
		date(c.Props, ical.PropDue, t.Due)
	}
	utc(c.Props, ical.PropCompleted, t.Completed)
	if t.Status != "" {
		raw(c.Props, ical.PropStatus, t.Status)
	}
	if t.Percent > 0 {
		raw(c.Props, ical.PropPercentComplete, strconv.Itoa(t.Percent))
	}
	if t.Priority > 0 {
		raw(c.Props, ical.PropPriority, strconv.Itoa(t.Priority))
	}
	if t.Private {
		raw(c.Props, ical.PropClass, "PRIVATE")
	}
	categories(c.Props, t.Categories)
	if t.Reminder != nil {
		a := ical.NewComponent(ical.CompAlarm)
		raw(a.Props, ical.PropAction, "DISPLAY")
		a.Props.Set(&ical.Prop{Name: ical.PropTrigger, Params: ical.Params{ical.ParamValue: {"DATE-TIME"}}, Value: t.Reminder.UTC().Format(utcLayout)})
		a.Props.SetText(ical.PropDescription, "Reminder")
		c.Children = append(c.Children, a)
	}
	return encodeCalendar(newCalendar(c))
}

// noteColors are the colours of Outlook notes (PidLidNoteColor) as CSS
// colour names, for the COLOR property of RFC 7986.
var noteColors = map[string]bool{"blue": true, "green": true, "pink": true, "yellow": true, "white": true}

func encodeJournal(it Item) ([]byte, error) {
	j := it.Journal
	c := ical.NewComponent(ical.CompJournal)
	c.Props.SetText(ical.PropUID, it.UID())
	utc(c.Props, ical.PropDateTimeStamp, stamp(j.Modified, j.Created, j.Start))
	utc(c.Props, ical.PropCreated, j.Created)
	utc(c.Props, ical.PropLastModified, j.Modified)
	utc(c.Props, ical.PropDateTimeStart, j.Start)
	text(c.Props, ical.PropSummary, j.Summary)
	desc := j.Description
	if j.Type != "" || j.Duration > 0 {
		// VJOURNAL has no duration nor type of activity (RFC 5545
		// 3.6.3): they lead the description.
		var head []string
		if j.Type != "" {
			head = append(head, j.Type)
		}
		if j.Duration > 0 {
			head = append(head, fmt.Sprintf("%d min", int(j.Duration.Minutes())))
		}
		desc = "[" + strings.Join(head, ", ") + "]\n" + desc
	}
	text(c.Props, ical.PropDescription, desc)
	categories(c.Props, j.Categories)
	if noteColors[j.Color] {
		raw(c.Props, ical.PropColor, j.Color)
	}
	return encodeCalendar(newCalendar(c))
}
