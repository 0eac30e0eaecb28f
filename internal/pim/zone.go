package pim

import (
	"fmt"
	"time"

	"github.com/emersion/go-ical"
)

// Zone is a time zone as Outlook stores it with a recurring event
// (PidLidTimeZoneStruct, [MS-OXOCAL] section 2.2.1.39): offsets in
// minutes, UTC = local + Bias + StdBias (or + DstBias during daylight
// saving time), and the yearly days the clocks change.
type Zone struct {
	Name    string
	Bias    int
	StdBias int
	DstBias int
	// Std and Dst are when standard and daylight saving time begin;
	// a zero Std.Month means the zone has no daylight saving time.
	Std, Dst Change
}

// Change is a yearly change of the clocks: the Week-th (5: last) Weekday
// (0: Sunday) of Month, at Hour:Minute local time.
type Change struct {
	Month, Week, Weekday, Hour, Minute int
}

// FixedZone is a zone without daylight saving time, offset minutes east
// of UTC.
func FixedZone(name string, offset int) *Zone {
	return &Zone{Name: name, Bias: -offset}
}

// hasDST tells whether the zone changes its clocks.
func (z *Zone) hasDST() bool { return z.Std.Month != 0 && z.Dst.Month != 0 }

// at is the moment of the change c in year, local time.
func (c Change) at(year int) time.Time {
	if c.Week >= 5 {
		last := time.Date(year, time.Month(c.Month)+1, 0, c.Hour, c.Minute, 0, 0, time.UTC)
		d := (int(last.Weekday()) - c.Weekday + 7) % 7
		return last.AddDate(0, 0, -d)
	}
	first := time.Date(year, time.Month(c.Month), 1, c.Hour, c.Minute, 0, 0, time.UTC)
	d := (c.Weekday - int(first.Weekday()) + 7) % 7
	return first.AddDate(0, 0, d+7*(c.Week-1))
}

// inDST tells whether the local time t (held as UTC) is in daylight
// saving time.
func (z *Zone) inDST(t time.Time) bool {
	if !z.hasDST() {
		return false
	}
	dst, std := z.Dst.at(t.Year()), z.Std.at(t.Year())
	if dst.Before(std) { // northern hemisphere
		return !t.Before(dst) && t.Before(std)
	}
	return !t.Before(dst) || t.Before(std)
}

// ToUTC converts a local time (its clock reading held in any location)
// into UTC.
func (z *Zone) ToUTC(local time.Time) time.Time {
	l := time.Date(local.Year(), local.Month(), local.Day(), local.Hour(), local.Minute(), local.Second(), 0, time.UTC)
	off := z.Bias + z.StdBias
	if z.inDST(l) {
		off = z.Bias + z.DstBias
	}
	return l.Add(time.Duration(off) * time.Minute)
}

// ToLocal converts a moment into the zone's clock reading (held as UTC).
func (z *Zone) ToLocal(t time.Time) time.Time {
	t = t.UTC()
	std := t.Add(-time.Duration(z.Bias+z.StdBias) * time.Minute)
	if z.inDST(std) {
		return t.Add(-time.Duration(z.Bias+z.DstBias) * time.Minute)
	}
	return std
}

// tzid is the zone's TZID.
func (z *Zone) tzid() string {
	if z.Name != "" {
		return z.Name
	}
	return fmt.Sprintf("UTC%+03d%02d", -(z.Bias+z.StdBias)/60, abs(z.Bias+z.StdBias)%60)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// offset formats minutes west of UTC as an RFC 5545 UTC-OFFSET.
func offset(west int) string {
	east := -west
	sign := "+"
	if east < 0 {
		sign, east = "-", -east
	}
	return fmt.Sprintf("%s%02d%02d", sign, east/60, east%60)
}

// component is the zone's VTIMEZONE.
func (z *Zone) component() *ical.Component {
	tz := ical.NewComponent(ical.CompTimezone)
	tz.Props.SetText(ical.PropTimezoneID, z.tzid())
	std, dst := z.Bias+z.StdBias, z.Bias+z.DstBias
	if !z.hasDST() {
		tz.Children = append(tz.Children, observance(ical.CompTimezoneStandard, Change{}, std, std))
		return tz
	}
	tz.Children = append(tz.Children,
		observance(ical.CompTimezoneStandard, z.Std, dst, std),
		observance(ical.CompTimezoneDaylight, z.Dst, std, dst))
	return tz
}

var weekdays = []string{"SU", "MO", "TU", "WE", "TH", "FR", "SA"}

// observance is a STANDARD or DAYLIGHT part of a VTIMEZONE.
func observance(name string, c Change, from, to int) *ical.Component {
	o := ical.NewComponent(name)
	raw(o.Props, ical.PropDateTimeStart, fmt.Sprintf("16010101T%02d%02d00", c.Hour, c.Minute))
	raw(o.Props, ical.PropTimezoneOffsetFrom, offset(from))
	raw(o.Props, ical.PropTimezoneOffsetTo, offset(to))
	if c.Month != 0 {
		week := c.Week
		if week >= 5 {
			week = -1
		}
		raw(o.Props, ical.PropRecurrenceRule, fmt.Sprintf("FREQ=YEARLY;BYMONTH=%d;BYDAY=%d%s", c.Month, week, weekdays[c.Weekday%7]))
	}
	return o
}

// raw sets a property to a value written as is.
func raw(p ical.Props, name, value string) {
	p.Set(&ical.Prop{Name: name, Params: ical.Params{}, Value: value})
}
