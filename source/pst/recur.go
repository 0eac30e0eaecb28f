package pst

import (
	"encoding/binary"
	"time"
	"unicode/utf16"

	"github.com/mailshift/mailshift/internal/pim"
)

// This file reads the recurrence of a calendar item,
// PidLidAppointmentRecur, an AppointmentRecurrencePattern ([MS-OXOCAL]
// section 2.2.1.44), and its time zone, PidLidTimeZoneStruct (2.2.1.39).

// reader reads little-endian fields and remembers running short.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) take(n int) []byte {
	if r.bad || n < 0 || n > len(r.b) {
		r.bad = true
		return make([]byte, min(max(n, 0), 8)) // enough for a field, never what a bad length asks
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}
func (r *reader) u16() int { return int(binary.LittleEndian.Uint16(r.take(2))) }
func (r *reader) u32() int { return int(binary.LittleEndian.Uint32(r.take(4))) }
func (r *reader) i32() int { return int(int32(binary.LittleEndian.Uint32(r.take(4)))) }

// minutes converts minutes since 1601-01-01 into a clock reading.
func minutes(m int) time.Time {
	return time.Date(1601, 1, 1+m/1440, 0, m%1440, 0, 0, time.UTC)
}

// Recurrence frequencies, pattern types and end types ([MS-OXOCAL]
// 2.2.1.44.1).
const (
	freqDaily   = 0x200A
	freqWeekly  = 0x200B
	freqMonthly = 0x200C
	freqYearly  = 0x200D

	patDay        = 0x0
	patWeek       = 0x1
	patMonth      = 0x2
	patMonthEnd   = 0x3
	patMonthNth   = 0x4
	patHjMonth    = 0xA
	patHjMonthNth = 0xB
	patHjMonthEnd = 0xC

	endAfterDate  = 0x2021
	endAfterCount = 0x2022
)

// Exception override flags (2.2.1.44.2).
const (
	aroSubject   = 0x0001
	aroMeeting   = 0x0002
	aroRemDelta  = 0x0004
	aroReminder  = 0x0008
	aroLocation  = 0x0010
	aroBusy      = 0x0020
	aroAttach    = 0x0040
	aroSubType   = 0x0080
	aroApptColor = 0x0100
)

var rruleDays = []string{"SU", "MO", "TU", "WE", "TH", "FR", "SA"}

// recurrence is what the blob holds beyond the pim.Recurrence: the
// occurrences' time of day.
type recurrence struct {
	pim.Recurrence
	startOffset, endOffset int // minutes after midnight, local
	start                  time.Time
}

// parseRecurrence reads an AppointmentRecurrencePattern; ok is false when
// it is too short or of an unknown kind.
func parseRecurrence(b []byte) (rec recurrence, ok bool) {
	r := &reader{b: b}
	r.take(4) // reader and writer versions
	freq, pat := r.u16(), r.u16()
	r.u16() // calendar type
	r.u32() // first date-time
	period := r.u32()
	r.u32() // sliding flag
	var mask, day, nth int
	switch pat {
	case patWeek:
		mask = r.u32()
	case patMonth, patMonthEnd, patHjMonth, patHjMonthEnd:
		day = r.u32()
	case patMonthNth, patHjMonthNth:
		mask, nth = r.u32(), r.u32()
	case patDay:
	default:
		return rec, false
	}
	endType, count, firstDOW := r.u32(), r.u32(), r.u32()
	var deleted []int
	for n := r.u32(); n > 0 && !r.bad; n-- {
		deleted = append(deleted, r.u32())
	}
	for n := r.u32(); n > 0 && !r.bad; n-- {
		r.u32() // modified instance dates: the exceptions say more
	}
	start, end := r.u32(), r.u32()
	if r.bad {
		return rec, false
	}
	rec.start = minutes(start)
	rr := &rec.Recurrence
	rr.WeekStart = rruleDays[firstDOW%7]
	switch endType {
	case endAfterCount:
		rr.Count = count
	case endAfterDate:
		rr.Until = minutes(end)
	}
	if !pattern(rr, freq, pat, period, mask, day, nth, rec.start) {
		return rec, false
	}
	for _, d := range deleted {
		rr.Deleted = append(rr.Deleted, minutes(d))
	}
	appointmentPart(r, &rec)
	for i := range rr.Deleted {
		rr.Deleted[i] = rr.Deleted[i].Add(time.Duration(rec.startOffset) * time.Minute)
	}
	return rec, true
}

// pattern fills the RRULE parts of rr.
func pattern(rr *pim.Recurrence, freq, pat, period, mask, day, nth int, start time.Time) bool {
	days := func() []string {
		var out []string
		for i := 0; i < 7; i++ {
			if mask&(1<<i) != 0 {
				out = append(out, rruleDays[i])
			}
		}
		return out
	}
	switch {
	case (pat == patMonthNth || pat == patHjMonthNth) && (nth < 1 || nth > 5),
		(pat == patWeek || pat == patMonthNth || pat == patHjMonthNth) && mask&0x7F == 0,
		(pat == patMonth || pat == patHjMonth) && day < 1:
		return false // not a pattern Outlook writes
	case nth == 5:
		nth = -1
	}
	switch {
	case pat == patDay:
		rr.Freq, rr.Interval = "DAILY", period/1440
	case pat == patWeek:
		rr.Freq, rr.Interval, rr.ByDay = "WEEKLY", period, days()
	case freq == freqYearly:
		rr.Freq, rr.Interval, rr.ByMonth = "YEARLY", period/12, int(start.Month())
	default:
		rr.Freq, rr.Interval = "MONTHLY", period
	}
	switch pat {
	case patMonth, patHjMonth:
		rr.ByMonthDay = day
		if day >= 31 {
			rr.ByMonthDay = -1
		}
	case patMonthEnd, patHjMonthEnd:
		rr.ByMonthDay = -1
	case patMonthNth, patHjMonthNth:
		d := days()
		if len(d) == 1 {
			rr.ByDay = []string{itoa(nth) + d[0]}
		} else {
			rr.ByDay, rr.SetPos = d, nth
		}
	}
	if rr.Interval < 1 {
		rr.Interval = 1
	}
	return freq >= freqDaily && freq <= freqYearly
}

func itoa(n int) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	return string(rune('0' + n%10))
}

// appointmentPart reads what follows the RecurrencePattern: the time of
// day and the exceptions with their subjects and locations.
func appointmentPart(r *reader, rec *recurrence) {
	r.u32() // reader version 2
	writer2 := r.u32()
	rec.startOffset, rec.endOffset = r.u32(), r.u32()
	n := r.u16()
	if r.bad {
		return
	}
	var occ []pim.Occurrence
	var flags []int
	for i := 0; i < n && !r.bad; i++ {
		o := pim.Occurrence{Start: minutes(r.u32()), End: minutes(r.u32()), Original: minutes(r.u32())}
		fl := r.u16()
		if fl&aroSubject != 0 {
			r.u16()
			o.Summary, o.HasSummary = decodeCodepage(r.take(r.u16()), 1252), true
		}
		for _, f := range []int{aroMeeting, aroRemDelta, aroReminder} {
			if fl&f != 0 {
				r.u32()
			}
		}
		if fl&aroLocation != 0 {
			r.u16()
			o.Location, o.HasLocation = decodeCodepage(r.take(r.u16()), 1252), true
		}
		for _, f := range []int{aroBusy, aroAttach, aroSubType, aroApptColor} {
			if fl&f != 0 {
				r.u32()
			}
		}
		occ = append(occ, o)
		flags = append(flags, fl)
	}
	if r.bad {
		return
	}
	rec.Changed = occ
	r.take(r.u32()) // reserved block 1
	for i := 0; i < n && !r.bad; i++ {
		if writer2 >= 0x3009 {
			r.take(r.u32()) // change highlight
		}
		r.take(r.u32()) // reserved block EE1
		if flags[i]&(aroSubject|aroLocation) == 0 {
			continue
		}
		r.take(12) // start, end and original start again
		if flags[i]&aroSubject != 0 {
			if s := wide(r.take(2 * r.u16())); !r.bad {
				occ[i].Summary = s
			}
		}
		if flags[i]&aroLocation != 0 {
			if s := wide(r.take(2 * r.u16())); !r.bad {
				occ[i].Location = s
			}
		}
		r.take(r.u32()) // reserved block EE2
	}
}

func wide(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// parseZone reads a TimeZoneStruct: biases and two SYSTEMTIMEs.
func parseZone(b []byte, name string) *pim.Zone {
	if len(b) < 48 {
		return nil
	}
	r := &reader{b: b}
	z := &pim.Zone{Name: name, Bias: r.i32(), StdBias: r.i32(), DstBias: r.i32()}
	change := func() pim.Change {
		r.u16() // year
		st := r.take(16)
		u := func(i int) int { return int(binary.LittleEndian.Uint16(st[2*i:])) }
		return pim.Change{Month: u(1), Weekday: u(2), Week: u(3), Hour: u(4), Minute: u(5)}
	}
	z.Std, z.Dst = change(), change()
	if z.Std.Month == 0 || z.Dst.Month == 0 {
		z.Std, z.Dst = pim.Change{}, pim.Change{}
	}
	return z
}
