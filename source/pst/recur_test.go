package pst

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/pim"
)

// patternBlob writes an AppointmentRecurrencePattern ([MS-OXOCAL]
// 2.2.1.44) of any pattern, starting on start at 9:00 for an hour,
// without exceptions.
func patternBlob(freq, pat int, period uint32, specific []uint32, endType, count uint32, start, end time.Time) []byte {
	var b bytes.Buffer
	put := func(vs ...any) {
		for _, v := range vs {
			binary.Write(&b, binary.LittleEndian, v)
		}
	}
	put(uint16(0x3004), uint16(0x3004), uint16(freq), uint16(pat), uint16(0), uint32(0), period, uint32(0))
	put(specific)
	put(endType, count, uint32(0), uint32(0), uint32(0), minutesOf(start), minutesOf(end))
	put(uint32(0x3006), uint32(0x3009), uint32(540), uint32(600), uint16(0), uint32(0), uint32(0))
	return b.Bytes()
}

// TestRecurrencePatterns reads the patterns Outlook offers and checks the
// RRULE each becomes.
func TestRecurrencePatterns(t *testing.T) {
	start := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC) // a Tuesday
	never, forever := uint32(0x2023), time.Date(4500, 8, 31, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		blob []byte
		want string
	}{
		{"every second day", patternBlob(freqDaily, patDay, 2880, nil, never, 10, start, forever), "FREQ=DAILY;INTERVAL=2"},
		{"every other Tuesday, weeks from Sunday", patternBlob(freqWeekly, patWeek, 2, []uint32{0x04}, never, 10, start, forever), "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;WKST=SU"},
		{"every weekday", patternBlob(freqDaily, patWeek, 1, []uint32{0x3E}, never, 10, start, forever), "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"},
		{"day 15 every third month", patternBlob(freqMonthly, patMonth, 3, []uint32{15}, never, 10, start, forever), "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=15"},
		{"last Friday of the month", patternBlob(freqMonthly, patMonthNth, 1, []uint32{0x20, 5}, never, 10, start, forever), "FREQ=MONTHLY;BYDAY=-1FR"},
		{"last weekday of the month", patternBlob(freqMonthly, patMonthNth, 1, []uint32{0x3E, 5}, never, 10, start, forever), "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"},
		{"last day of the month", patternBlob(freqMonthly, patMonthEnd, 1, []uint32{31}, never, 10, start, forever), "FREQ=MONTHLY;BYMONTHDAY=-1"},
		{"second Tuesday of March", patternBlob(freqYearly, patMonthNth, 12, []uint32{0x04, 2}, never, 10, start, forever), "FREQ=YEARLY;BYDAY=2TU;BYMONTH=3"},
		{"10 March, 5 times", patternBlob(freqYearly, patMonth, 12, []uint32{10}, endAfterCount, 5, start, start.AddDate(4, 0, 0)), "FREQ=YEARLY;BYMONTHDAY=10;BYMONTH=3;COUNT=5"},
		{"weekly until 31 March", patternBlob(freqWeekly, patWeek, 1, []uint32{0x04}, endAfterDate, 4, start, time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)),
			"FREQ=WEEKLY;BYDAY=TU;UNTIL=20260331T235959Z"},
	} {
		rec, ok := parseRecurrence(c.blob)
		if !ok {
			t.Errorf("%s: not read", c.name)
			continue
		}
		if !rec.Until.IsZero() {
			rec.Until = rec.Until.Add(time.Duration(rec.startOffset) * time.Minute)
		}
		it := pim.Item{Key: "k", Kind: pim.KindEvent, Event: &pim.Event{Summary: "s", Start: start.Add(9 * time.Hour), End: start.Add(10 * time.Hour), Recurrence: &rec.Recurrence}}
		b, err := it.Encode()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var got string
		for _, l := range strings.Split(string(b), "\r\n") {
			if v, ok := strings.CutPrefix(l, "RRULE:"); ok && !strings.HasPrefix(v, "FREQ=YEARLY;BYMONTH=") {
				got = v
			}
		}
		if got != c.want {
			t.Errorf("%s: RRULE %s, want %s", c.name, got, c.want)
		}
	}
	// What Outlook never writes is not read.
	for _, bad := range [][]byte{
		patternBlob(freqMonthly, patMonthNth, 1, []uint32{0x20, 9}, never, 1, start, forever), // a ninth Friday
		patternBlob(freqWeekly, patWeek, 1, []uint32{0}, never, 1, start, forever),            // no day
		patternBlob(freqWeekly, 0x7, 1, nil, never, 1, start, forever),                        // an unknown pattern
		patternBlob(freqWeekly, patWeek, 1, []uint32{0x04}, never, 1, start, forever)[:40],    // cut short
	} {
		if _, ok := parseRecurrence(bad); ok {
			t.Errorf("read % x", bad)
		}
	}
}
