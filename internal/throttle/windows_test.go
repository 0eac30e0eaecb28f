package throttle

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin wherever the tests run
)

func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustWindows(t *testing.T, loc *time.Location, specs ...string) Windows {
	t.Helper()
	w, err := ParseWindows(specs, loc)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestParseWindowsErrors(t *testing.T) {
	for _, tc := range []struct {
		spec, want string
	}{
		{"", "empty"},
		{"   ", "empty"},
		{"Mon-Fri 25:00-07:00", `"25:00": hours must be 00 to 23`},
		{"Mon-Fri 19:60-07:00", `"19:60": minutes must be 00 to 59`},
		{"Mon-Fri 7pm-7am", `"7pm" is not a time of day`},
		{"Mon-Fri 19:00", `"19:00": write a time range as HH:MM-HH:MM`},
		{"Mon-Fry 19:00-07:00", `"Fry" is not a day`},
		{"Funday", `"Funday" is not a day`},
		{"Mon,,Tue", `"" is not a day`},
		{"Mon 24:00-02:00", "cannot open at 24:00"},
		{"Mon 24:30-25:00", `"24:30": hours must be 00 to 23`},
		{"Mon 10:00-10:00", "opens and closes at the same time"},
		{"Fri 18:00-Mon", `"Mon" is not a time of day`},
		{"Fri 18:00-Mun 06:00", "stretch across days"},
		{"Mon 1:00-2:00 and more", "too many parts"},
		{"Mon 1:0-2:00", `"1:0" is not a time of day`},
	} {
		_, err := ParseWindows([]string{"Sat-Sun", tc.spec}, time.UTC)
		if err == nil {
			t.Errorf("%q: accepted", tc.spec)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "time window \""+tc.spec+"\"") {
			t.Errorf("%q: error %q; want it to name the spec and say %q", tc.spec, err, tc.want)
		}
	}
}

func TestParseWindowsForms(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want window
	}{
		{"Mon-Fri 19:00-07:00", window{days: [7]bool{false, true, true, true, true, true, false}, start: 19 * 60, endDays: 1, end: 7 * 60}},
		{"mon - fri  19:00 - 07:00", window{days: [7]bool{false, true, true, true, true, true, false}, start: 19 * 60, endDays: 1, end: 7 * 60}},
		{"Sat-Sun", window{days: [7]bool{true, false, false, false, false, false, true}, endDays: 1}},
		{"Saturday,Sunday", window{days: [7]bool{true, false, false, false, false, false, true}, endDays: 1}},
		{"Mon,Wed 22:00-23:30", window{days: [7]bool{false, true, false, true, false, false, false}, start: 22 * 60, end: 23*60 + 30}},
		{"daily 01:00-05:00", window{days: everyDay(), start: 60, end: 300}},
		{"1:00-5:00", window{days: everyDay(), start: 60, end: 300}},
		{"Fri-Mon", window{days: [7]bool{true, true, false, false, false, true, true}, endDays: 1}},
		{"Mon,Wed-Fri", window{days: [7]bool{false, true, false, true, true, true, false}, endDays: 1}},
		{"22:00-24:00", window{days: everyDay(), start: 22 * 60, endDays: 1}},
		{"Fri 18:00-Mon 06:00", window{days: [7]bool{false, false, false, false, false, true, false}, start: 18 * 60, endDays: 3, end: 6 * 60}},
		{"Mon 08:00-Mon 17:00", window{days: [7]bool{false, true, false, false, false, false, false}, start: 8 * 60, end: 17 * 60}},
		{"Mon 17:00-Mon 08:00", window{days: [7]bool{false, true, false, false, false, false, false}, start: 17 * 60, endDays: 7, end: 8 * 60}},
		{"Sun 12:00-Sun 24:00", window{days: [7]bool{true, false, false, false, false, false, false}, start: 12 * 60, endDays: 1}},
	} {
		w, err := ParseWindows([]string{tc.spec}, time.UTC)
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		got := w.list[0]
		got.spec = ""
		if got != tc.want {
			t.Errorf("%q: parsed %+v, want %+v", tc.spec, got, tc.want)
		}
	}
	w := mustWindows(t, time.UTC, "mon - fri  19:00 - 07:00", "Sat-Sun")
	if s := w.String(); s != "mon-fri 19:00-07:00; Sat-Sun (UTC)" {
		t.Errorf("String = %q", s)
	}
	if (Windows{}).String() != "always" || !(Windows{}).Always() || w.Always() {
		t.Error("Always/String of no windows")
	}
	if w, _ := ParseWindows(nil, nil); w.Location() != time.Local {
		t.Error("a nil location is not the local time zone")
	}
}

// day returns 2025-03-03 (a Monday) + offset days at hh:mm in loc.
func day(loc *time.Location, offset, hh, mm int) time.Time {
	return time.Date(2025, 3, 3+offset, hh, mm, 0, 0, loc)
}

const (
	mon = iota
	tue
	wed
	thu
	fri
	sat
	sun
	nextMon
)

func TestWindowsAt(t *testing.T) {
	u := time.UTC
	type probe struct {
		at     time.Time
		open   bool
		change time.Time // zero: never changes
	}
	for _, tc := range []struct {
		specs  []string
		probes []probe
	}{
		{[]string{"Mon-Fri 19:00-07:00"}, []probe{
			{day(u, mon, 6, 0), false, day(u, mon, 19, 0)}, // Sunday night is not in the list
			{day(u, mon, 19, 0), true, day(u, tue, 7, 0)},
			{day(u, tue, 6, 59), true, day(u, tue, 7, 0)},
			{day(u, tue, 7, 0), false, day(u, tue, 19, 0)}, // half-open: closed at the end
			{day(u, fri, 20, 0), true, day(u, sat, 7, 0)},  // Friday's window runs into Saturday
			{day(u, sat, 6, 0), true, day(u, sat, 7, 0)},
			{day(u, sat, 7, 0), false, day(u, nextMon, 19, 0)},
		}},
		{[]string{"Mon-Fri 19:00-07:00", "Sat-Sun"}, []probe{
			{day(u, fri, 20, 0), true, day(u, nextMon, 0, 0)}, // union through the weekend
			{day(u, sat, 12, 0), true, day(u, nextMon, 0, 0)},
			{day(u, nextMon, 0, 0), false, day(u, nextMon, 19, 0)},
			{day(u, wed, 3, 0), true, day(u, wed, 7, 0)},
		}},
		{[]string{"Sat-Sun"}, []probe{
			{day(u, fri, 23, 59), false, day(u, sat, 0, 0)},
			{day(u, sun, 23, 59), true, day(u, nextMon, 0, 0)},
		}},
		{[]string{"Fri 18:00-Mon 06:00"}, []probe{
			{day(u, sat, 12, 0), true, day(u, nextMon, 6, 0)},
			{day(u, mon, 5, 0), true, day(u, mon, 6, 0)}, // opened the Friday before
			{day(u, mon, 6, 0), false, day(u, fri, 18, 0)},
		}},
		{[]string{"Mon,Wed 22:00-23:30"}, []probe{
			{day(u, mon, 23, 0), true, day(u, mon, 23, 30)},
			{day(u, mon, 23, 30), false, day(u, wed, 22, 0)},
			{day(u, wed, 23, 31), false, day(u, nextMon, 22, 0)},
		}},
		{[]string{"daily 01:00-05:00"}, []probe{
			{day(u, thu, 0, 0), false, day(u, thu, 1, 0)},
			{day(u, sun, 4, 0), true, day(u, sun, 5, 0)},
			{day(u, sun, 5, 0), false, day(u, nextMon, 1, 0)},
		}},
		{[]string{"22:00-24:00", "00:00-02:00"}, []probe{ // touching at midnight
			{day(u, tue, 23, 0), true, day(u, wed, 2, 0)},
		}},
		{[]string{"01:00-04:00", "03:00-06:00", "Tue 05:00-08:00"}, []probe{ // overlapping
			{day(u, mon, 2, 0), true, day(u, mon, 6, 0)},
			{day(u, tue, 2, 0), true, day(u, tue, 8, 0)},
		}},
		{[]string{"Mon-Sun"}, []probe{{day(u, wed, 12, 0), true, time.Time{}}}},
		{[]string{"Mon-Fri", "Sat-Sun"}, []probe{{day(u, sun, 23, 59), true, time.Time{}}}},
		{[]string{"daily 00:00-24:00"}, []probe{{day(u, mon, 0, 0), true, time.Time{}}}},
		{[]string{"12:00-08:00", "07:00-13:00"}, []probe{{day(u, mon, 0, 0), true, time.Time{}}}},
		{[]string{"Mon 00:00-Mon 00:00"}, []probe{{day(u, thu, 9, 0), true, time.Time{}}}},
		{nil, []probe{{day(u, thu, 9, 0), true, time.Time{}}}},
	} {
		w := mustWindows(t, u, tc.specs...)
		for _, p := range tc.probes {
			open, change := w.At(p.at)
			if open != p.open || !change.Equal(p.change) {
				t.Errorf("%q at %s: open %v until %s; want %v until %s", tc.specs, p.at.Format("Mon 15:04"), open, change.Format("Mon Jan 2 15:04"), p.open, p.change.Format("Mon Jan 2 15:04"))
			}
		}
	}
}

func TestWindowsAtOtherZone(t *testing.T) {
	// The same instant is inside a window read in Berlin and outside the
	// one read in UTC.
	loc := berlin(t)
	at := time.Date(2025, 1, 15, 18, 30, 0, 0, time.UTC) // 19:30 in Berlin
	if open, _ := mustWindows(t, loc, "19:00-07:00").At(at); !open {
		t.Error("closed at 19:30 Berlin time")
	}
	if open, _ := mustWindows(t, time.UTC, "19:00-07:00").At(at); open {
		t.Error("open at 18:30 UTC")
	}
	_, change := mustWindows(t, loc, "19:00-07:00").At(at)
	if want := time.Date(2025, 1, 16, 6, 0, 0, 0, time.UTC); !change.Equal(want) {
		t.Errorf("closes at %v, want %v", change, want)
	}
}

func TestWindowsDST(t *testing.T) {
	loc := berlin(t)
	utc := func(mo time.Month, d, hh, mm int) time.Time { return time.Date(2024, mo, d, hh, mm, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name   string
		spec   string
		at     time.Time
		open   bool
		change time.Time
	}{
		// Spring forward, Sunday 31 March 2024: 02:00 CET becomes 03:00 CEST.
		{"night window 11 hours long", "19:00-07:00", utc(3, 30, 19, 0), true, utc(3, 31, 5, 0)}, // 07:00 CEST
		{"opening before the night", "19:00-07:00", utc(3, 30, 12, 0), false, utc(3, 30, 18, 0)},
		{"opening after the change", "19:00-07:00", utc(3, 31, 12, 0), false, utc(3, 31, 17, 0)}, // 19:00 CEST
		{"opening in the skipped hour", "02:30-04:00", utc(3, 31, 0, 59), false, utc(3, 31, 1, 0)},
		{"open from the jump", "02:30-04:00", utc(3, 31, 1, 0), true, utc(3, 31, 2, 0)},
		{"window inside the skipped hour", "02:00-03:00", utc(3, 31, 0, 30), false, utc(4, 1, 0, 0)},
		{"closing in the skipped hour", "01:00-02:30", utc(3, 31, 0, 30), true, utc(3, 31, 1, 0)},
		{"whole Sunday of 23 hours", "Sun", utc(3, 31, 12, 0), true, utc(3, 31, 22, 0)},
		// Fall back, Sunday 27 October 2024: 03:00 CEST becomes 02:00 CET.
		{"night window 13 hours long", "19:00-07:00", utc(10, 26, 17, 0), true, utc(10, 27, 6, 0)}, // 07:00 CET
		{"opening at the first 02:30", "02:30-05:00", utc(10, 27, 0, 0), false, utc(10, 27, 0, 30)},
		{"closing at the first 02:30", "01:00-02:30", utc(10, 27, 0, 0), true, utc(10, 27, 0, 30)},
		{"second 02:15 is after the close", "01:00-02:30", utc(10, 27, 1, 15), false, utc(10, 28, 0, 0)}, // 01:00 CET
		{"whole Sunday of 25 hours", "Sun", utc(10, 27, 12, 0), true, utc(10, 27, 23, 0)},
		{"weekend stretch across the change", "Fri 18:00-Mon 06:00", utc(10, 26, 12, 0), true, utc(10, 28, 5, 0)},
	} {
		w := mustWindows(t, loc, tc.spec)
		open, change := w.At(tc.at)
		if open != tc.open || !change.Equal(tc.change) {
			t.Errorf("%s: %q at %s: open %v until %s; want %v until %s", tc.name, tc.spec, tc.at.In(loc), open, change.In(loc), tc.open, tc.change.In(loc))
		}
	}
}

// oracle says whether t is inside one of the windows by its wall clock
// alone: the minute of the week it shows against each window's minutes of
// the week. It is exact except in hours a daylight-saving change skips or
// repeats, which the caller leaves out.
func oracle(w Windows, t time.Time) bool {
	lt := t.In(w.loc)
	minute := int(lt.Weekday())*1440 + lt.Hour()*60 + lt.Minute()
	for _, win := range w.list {
		for d := range 7 {
			if !win.days[d] {
				continue
			}
			from := d*1440 + win.start
			to := d*1440 + win.endDays*1440 + win.end
			for _, m := range []int{minute, minute + 7*1440} {
				if m >= from && m < to {
					return true
				}
			}
		}
	}
	return false
}

// TestWindowsConsistent walks three weeks around each Berlin change, and
// checks At against the oracle and against itself: the state holds until
// the change it announces, and flips there.
func TestWindowsConsistent(t *testing.T) {
	loc := berlin(t)
	sets := [][]string{
		{"Mon-Fri 19:00-07:00", "Sat-Sun"},
		{"Mon-Fri 19:00-07:00"},
		{"Fri 18:00-Mon 06:00", "Wed 12:00-13:00"},
		{"daily 01:00-02:30", "02:15-03:30"},
		{"Mon,Wed 22:00-23:30", "Sun"},
		{"Tue 02:30-Tue 02:00"},
	}
	for _, start := range []time.Time{
		time.Date(2024, 3, 20, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 10, 16, 0, 0, 0, 0, time.UTC),
	} {
		for _, specs := range sets {
			w := mustWindows(t, loc, specs...)
			end := start.Add(21 * 24 * time.Hour)
			// Every 13 minutes against the oracle.
			for at := start; at.Before(end); at = at.Add(13 * time.Minute) {
				if ambiguousOrSkippedNear(at, loc) {
					continue
				}
				if open, _ := w.At(at); open != oracle(w, at) {
					t.Errorf("%q at %s: At says open=%v, the wall clock says %v", specs, at.In(loc), open, !open)
				}
			}
			// From change to change.
			for at, n := start, 0; at.Before(end); n++ {
				open, change := w.At(at)
				if change.IsZero() {
					t.Errorf("%q: no change announced at %s", specs, at.In(loc))
					break
				}
				if !change.After(at) {
					t.Fatalf("%q at %s: change %s not after it", specs, at.In(loc), change.In(loc))
				}
				mid := at.Add(change.Sub(at) / 2)
				if o, c := w.At(mid); o != open || !c.Equal(change) {
					t.Errorf("%q: at %s says open=%v until %s, but at %s open=%v until %s", specs, at.In(loc), open, change.In(loc), mid.In(loc), o, c.In(loc))
				}
				if o, _ := w.At(change); o == open {
					t.Errorf("%q: nothing changes at %s", specs, change.In(loc))
				}
				at = change
			}
		}
	}
}

// ambiguousOrSkippedNear tells whether at lies within an hour of a
// daylight-saving change of loc.
func ambiguousOrSkippedNear(at time.Time, loc *time.Location) bool {
	start, end := at.In(loc).ZoneBounds()
	return (!start.IsZero() && at.Sub(start) < time.Hour) || (!end.IsZero() && end.Sub(at) <= time.Hour)
}

func TestWaitOpen(t *testing.T) {
	c := NewManualClock(day(time.UTC, mon, 12, 0))
	w := mustWindows(t, time.UTC, "Mon-Fri 19:00-07:00")
	done := make(chan error, 1)
	go func() { done <- w.WaitOpen(context.Background(), c) }()
	// The wait is cut into sleeps of at most a minute (against jumps of the
	// system clock) and ends exactly at the opening.
	for waiting := true; waiting; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			waiting = false
		default:
			next, ok := c.NextTimer()
			if !ok {
				runtime.Gosched()
				continue
			}
			if d := next.Sub(c.Now()); d > maxWindowSleep {
				t.Fatalf("one sleep of %v", d)
			}
			c.Set(next)
		}
	}
	if !c.Now().Equal(day(time.UTC, mon, 19, 0)) {
		t.Errorf("WaitOpen returned at %s, want Mon 19:00", c.Now())
	}
	// A jump of the clock into the window ends the wait at the next check.
	c.Set(day(time.UTC, sat, 12, 0))
	go func() { done <- w.WaitOpen(context.Background(), c) }()
	c.BlockUntil(1)
	c.Set(day(time.UTC, nextMon, 20, 0))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Inside a window it returns at once.
	if err := w.WaitOpen(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	// Cancelled while closed.
	c.Set(day(time.UTC, sat, 12, 0))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- w.WaitOpen(ctx, c) }()
	c.BlockUntil(1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled WaitOpen: %v", err)
	}
}
