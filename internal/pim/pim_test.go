package pim

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// lines returns the encoded item's lines, unfolded, that start with one
// of prefixes.
func lines(t *testing.T, it Item, prefixes ...string) []string {
	t.Helper()
	b, err := it.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(string(b), "\r\n ", ""), "\r\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
			}
		}
	}
	return out
}

func TestEventForms(t *testing.T) {
	cet := &Zone{Name: "CET", Bias: -60, DstBias: -60, Std: Change{Month: 10, Week: 5, Hour: 3}, Dst: Change{Month: 3, Week: 5, Hour: 2}}
	for _, c := range []struct {
		name string
		ev   Event
		want []string
	}{
		{"all-day yearly", Event{Summary: "Birthday", Start: day(2026, 5, 4), End: day(2026, 5, 5), AllDay: true,
			Recurrence: &Recurrence{Freq: "YEARLY", Interval: 1, ByMonth: 5, ByMonthDay: 4}},
			[]string{"DTEND;VALUE=DATE:20260505", "DTSTART;VALUE=DATE:20260504", "RRULE:FREQ=YEARLY;BYMONTHDAY=4;BYMONTH=5"}},
		{"last weekday of the month until a date", Event{Summary: "Report", Zone: cet,
			Start: time.Date(2026, 1, 30, 15, 0, 0, 0, time.UTC), End: time.Date(2026, 1, 30, 16, 0, 0, 0, time.UTC),
			Recurrence: &Recurrence{Freq: "MONTHLY", Interval: 2, ByDay: []string{"MO", "TU", "WE", "TH", "FR"}, SetPos: -1, Until: day(2026, 7, 31)}},
			[]string{"DTSTART:16010101T030000", "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU", // the VTIMEZONE
				"DTSTART:16010101T020000", "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
				"DTEND;TZID=CET:20260130T170000", "DTSTART;TZID=CET:20260130T160000",
				// 23:59:59 on 31 July in summer time is 21:59:59 UTC.
				"RRULE:FREQ=MONTHLY;INTERVAL=2;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;UNTIL=20260731T215959Z"}},
		{"single", Event{Summary: "Lunch", Start: time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC), End: time.Date(2026, 6, 1, 11, 0, 0, 0, time.UTC), Busy: "TRANSPARENT", Private: true},
			[]string{"CLASS:PRIVATE", "DTEND:20260601T110000Z", "DTSTART:20260601T100000Z", "TRANSP:TRANSPARENT"}},
	} {
		got := lines(t, Item{Key: c.name, Kind: KindEvent, Event: &c.ev}, "DTSTART", "DTEND", "RRULE", "CLASS", "TRANSP")
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s:\n%s\nwant\n%s", c.name, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
	}
}

func TestZone(t *testing.T) {
	cet := &Zone{Bias: -60, DstBias: -60, Std: Change{Month: 10, Week: 5, Hour: 3}, Dst: Change{Month: 3, Week: 5, Hour: 2}}
	for _, c := range []struct{ local, utc time.Time }{
		{time.Date(2026, 3, 28, 9, 0, 0, 0, time.UTC), time.Date(2026, 3, 28, 8, 0, 0, 0, time.UTC)}, // winter
		{time.Date(2026, 3, 30, 9, 0, 0, 0, time.UTC), time.Date(2026, 3, 30, 7, 0, 0, 0, time.UTC)}, // summer from 29 March
		{time.Date(2026, 10, 26, 9, 0, 0, 0, time.UTC), time.Date(2026, 10, 26, 8, 0, 0, 0, time.UTC)},
	} {
		if got := cet.ToUTC(c.local); !got.Equal(c.utc) {
			t.Errorf("ToUTC(%v) = %v, want %v", c.local, got, c.utc)
		}
		if got := cet.ToLocal(c.utc); !got.Equal(c.local) {
			t.Errorf("ToLocal(%v) = %v, want %v", c.utc, got, c.local)
		}
	}
	// Southern hemisphere: summer time from October to April.
	syd := &Zone{Bias: -600, DstBias: -60, Std: Change{Month: 4, Week: 1, Hour: 3}, Dst: Change{Month: 10, Week: 1, Hour: 2}}
	if got := syd.ToUTC(time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)); !got.Equal(time.Date(2026, 1, 15, 1, 0, 0, 0, time.UTC)) {
		t.Errorf("Sydney in January: %v", got)
	}
}

func TestContactForm(t *testing.T) {
	it := Item{Key: "k", Kind: KindContact, Contact: &Contact{Given: "Jo", Family: "Doe; Jr", Emails: []Person{{Email: "jo@example.org"}},
		Categories: []string{"A, B", "C"}, Addresses: []Address{{Type: "work", Street: "1 Main St\nFloor 2", City: "Town"}}}}
	got := lines(t, it, "FN", "N:", "CATEGORIES", "ADR", "EMAIL")
	want := []string{"ADR;TYPE=work:;;1 Main St Floor 2;Town;;;", "CATEGORIES:A\\, B", "CATEGORIES:C", "EMAIL:jo@example.org", "FN:Jo Doe\\, Jr", "N:Doe\\, Jr;Jo;;;"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Long lines are folded at 75 octets, never inside a character, and read
// back whole.
func TestFold(t *testing.T) {
	long := strings.Repeat("Grüße aus Köln – ", 12)
	it := Item{Key: "k", Kind: KindJournal, Journal: &Journal{Summary: "s", Description: long, Start: day(2026, 1, 1)}}
	b, err := it.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var unfolded strings.Builder
	for i, l := range strings.Split(strings.TrimSuffix(string(b), "\r\n"), "\r\n") {
		if len(l) > 75 {
			t.Errorf("line %d of %d octets", i, len(l))
		}
		if !utf8.ValidString(l) {
			t.Errorf("line %d cuts a character: %q", i, l)
		}
		if strings.HasPrefix(l, " ") {
			unfolded.WriteString(l[1:])
		} else {
			unfolded.WriteString("\n" + l)
		}
	}
	if !strings.Contains(unfolded.String(), "DESCRIPTION:"+long) {
		t.Errorf("unfolded, the description is not whole:\n%s", unfolded.String())
	}
}
