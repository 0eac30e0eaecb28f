package throttle

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Windows are the times of the week in which copying is allowed, read in
// one time zone. The zero Windows (no window) is always open.
//
// A window is one of these forms (names of days and "daily" in any case,
// days as three letters or in full, times as H:MM or HH:MM from 00:00 to
// 24:00, spaces around "-" and "," allowed):
//
//	Mon-Fri 19:00-07:00   opens on each listed day at 19:00, closes at 07:00;
//	                      an end not after the start is on the next day, so
//	                      the window that opens on Friday 19:00 runs to
//	                      Saturday 07:00
//	Mon,Wed 22:00-23:30   days as a list; lists and ranges mix: Mon,Wed-Fri;
//	                      a range may wrap over the week end: Fri-Mon
//	Sat-Sun               whole days (00:00 to 24:00)
//	daily 01:00-05:00     every day; "01:00-05:00" alone means the same
//	Fri 18:00-Mon 06:00   one stretch across days: from a day and time to a
//	                      day and time, at most a week
//
// Windows overlap freely: the allowed times are their union. Times are wall
// clock times in the Windows' location, so a window keeps its hours across
// daylight-saving changes (a 19:00-07:00 window lasts 11 or 13 hours on the
// nights the clocks change). A time skipped by a change (02:30 on a
// spring-forward night in Europe/Berlin) means the instant the clocks jumped
// to it, 03:00 CEST; a time that occurs twice means its first occurrence.
type Windows struct {
	loc  *time.Location
	list []window
}

// window is one parsed window.
type window struct {
	spec    string
	days    [7]bool // indexed by time.Weekday: the days it opens on
	start   int     // minutes after midnight of the opening day
	endDays int     // days after the opening day on which it closes
	end     int     // minutes after midnight of the closing day
}

// ParseWindows parses window specs (see Windows for the forms), read in
// loc (nil: the local time zone). No spec gives the always-open Windows.
// An error names the spec and what is wrong with it.
func ParseWindows(specs []string, loc *time.Location) (Windows, error) {
	if loc == nil {
		loc = time.Local
	}
	w := Windows{loc: loc}
	for _, s := range specs {
		win, err := parseWindow(s)
		if err != nil {
			return Windows{}, fmt.Errorf("time window %q: %s", s, err)
		}
		w.list = append(w.list, win)
	}
	return w, nil
}

// normalizeSpec trims a spec and drops the spaces around "-" and ",".
func normalizeSpec(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	for _, sep := range []string{"-", ","} {
		s = strings.ReplaceAll(s, " "+sep, sep)
		s = strings.ReplaceAll(s, sep+" ", sep)
	}
	return s
}

func parseWindow(spec string) (window, error) {
	w := window{spec: spec}
	fields := strings.Fields(normalizeSpec(spec))
	switch len(fields) {
	case 0:
		return w, fmt.Errorf("empty; write e.g. \"Mon-Fri 19:00-07:00\" or \"Sat-Sun\"")
	case 1:
		if strings.Contains(fields[0], ":") { // "01:00-05:00": every day
			w.days = everyDay()
			return w, w.parseTimes(fields[0])
		}
		days, err := parseDays(fields[0])
		if err != nil {
			return w, err
		}
		w.days, w.start, w.endDays, w.end = days, 0, 1, 0
		return w, nil
	case 2:
		days, err := parseDays(fields[0])
		if err != nil {
			return w, err
		}
		w.days = days
		return w, w.parseTimes(fields[1])
	case 3: // "Fri 18:00-Mon 06:00"
		from, ok1 := parseDay(fields[0])
		startText, toText, ok2 := strings.Cut(fields[1], "-")
		to, ok3 := parseDay(toText)
		if !ok1 || !ok2 || !ok3 {
			return w, fmt.Errorf("not understood; a stretch across days is written \"Fri 18:00-Mon 06:00\"")
		}
		start, err := parseClock(startText, false)
		if err != nil {
			return w, err
		}
		end, err := parseClock(fields[2], true)
		if err != nil {
			return w, err
		}
		w.days[from] = true
		w.start, w.end = start, end
		w.endDays = (int(to) - int(from) + 7) % 7
		if w.endDays == 0 && end <= start {
			w.endDays = 7
		}
		w.normalizeEnd()
		return w, nil
	}
	return w, fmt.Errorf("too many parts; write DAYS [HH:MM-HH:MM] or DAY HH:MM-DAY HH:MM")
}

// parseTimes reads "HH:MM-HH:MM" into start, end and endDays.
func (w *window) parseTimes(s string) error {
	startText, endText, ok := strings.Cut(s, "-")
	if !ok {
		return fmt.Errorf("%q: write a time range as HH:MM-HH:MM", s)
	}
	start, err := parseClock(startText, false)
	if err != nil {
		return err
	}
	end, err := parseClock(endText, true)
	if err != nil {
		return err
	}
	switch {
	case end == start:
		return fmt.Errorf("%q opens and closes at the same time; for whole days leave the times out (\"Sat-Sun\")", s)
	case end < start:
		w.endDays = 1 // closes the next day
	}
	w.start, w.end = start, end
	w.normalizeEnd()
	return nil
}

// normalizeEnd writes an end of 24:00 as 00:00 of the next day.
func (w *window) normalizeEnd() {
	if w.end == 24*60 {
		w.endDays++
		w.end = 0
	}
}

// parseClock reads H:MM or HH:MM as minutes after midnight; 24:00 only
// when it is an end.
func parseClock(s string, isEnd bool) (int, error) {
	hs, ms, ok := strings.Cut(s, ":")
	if !ok || len(hs) < 1 || len(hs) > 2 || len(ms) != 2 {
		return 0, fmt.Errorf("%q is not a time of day; write HH:MM (24-hour clock)", s)
	}
	h, err1 := strconv.Atoi(hs)
	m, err2 := strconv.Atoi(ms)
	if err1 != nil || err2 != nil || h < 0 || m < 0 {
		return 0, fmt.Errorf("%q is not a time of day; write HH:MM (24-hour clock)", s)
	}
	if m > 59 {
		return 0, fmt.Errorf("%q: minutes must be 00 to 59", s)
	}
	if h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("%q: hours must be 00 to 23 (24:00 only as an end)", s)
	}
	if h == 24 && !isEnd {
		return 0, fmt.Errorf("%q: a window cannot open at 24:00; write 00:00 of the next day", s)
	}
	return h*60 + m, nil
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "sunday": time.Sunday,
	"mon": time.Monday, "monday": time.Monday,
	"tue": time.Tuesday, "tuesday": time.Tuesday,
	"wed": time.Wednesday, "wednesday": time.Wednesday,
	"thu": time.Thursday, "thursday": time.Thursday,
	"fri": time.Friday, "friday": time.Friday,
	"sat": time.Saturday, "saturday": time.Saturday,
}

func parseDay(s string) (time.Weekday, bool) {
	d, ok := dayNames[strings.ToLower(s)]
	return d, ok
}

func everyDay() [7]bool { return [7]bool{true, true, true, true, true, true, true} }

// parseDays reads "daily", or a list of days and day ranges: "Mon,Wed-Fri".
func parseDays(s string) ([7]bool, error) {
	var days [7]bool
	if strings.EqualFold(s, "daily") {
		return everyDay(), nil
	}
	for _, item := range strings.Split(s, ",") {
		fromText, toText, isRange := strings.Cut(item, "-")
		from, ok := parseDay(fromText)
		if !ok {
			return days, fmt.Errorf("%q is not a day; write Mon, Tue, Wed, Thu, Fri, Sat, Sun, a range such as Mon-Fri, or daily", fromText)
		}
		to := from
		if isRange {
			if to, ok = parseDay(toText); !ok {
				return days, fmt.Errorf("%q is not a day; write Mon, Tue, Wed, Thu, Fri, Sat, Sun, a range such as Mon-Fri, or daily", toText)
			}
		}
		for d := from; ; d = (d + 1) % 7 {
			days[d] = true
			if d == to {
				break
			}
		}
	}
	return days, nil
}

// String returns the windows as given, joined by "; ", with the time zone;
// "always" for none.
func (w Windows) String() string {
	if len(w.list) == 0 {
		return "always"
	}
	specs := make([]string, len(w.list))
	for i, win := range w.list {
		specs[i] = normalizeSpec(win.spec)
	}
	return strings.Join(specs, "; ") + " (" + w.loc.String() + ")"
}

// Always reports whether the Windows hold no window (always open).
func (w Windows) Always() bool { return len(w.list) == 0 }

// Location returns the time zone the windows are read in (nil for the zero
// Windows).
func (w Windows) Location() *time.Location { return w.loc }

// interval is one concrete opening of a window.
type interval struct{ open, close time.Time }

// At reports whether t is inside a window and when that changes next: the
// time the window closes if open (the end of the union of the windows that
// overlap or touch), the next opening if closed. With no windows, or
// windows that cover the whole week, it is always open and change is the
// zero time.
func (w Windows) At(t time.Time) (open bool, change time.Time) {
	if len(w.list) == 0 {
		return true, time.Time{}
	}
	lt := t.In(w.loc)
	y, m, d := lt.Date()
	// Windows last at most eight days (a week-long stretch ending at
	// 24:00), and the next opening is at most a week away: openings from
	// nine days before to nine days after t cover everything that matters.
	var ivs []interval
	for off := -9; off <= 9; off++ {
		day := time.Date(y, m, d+off, 12, 0, 0, 0, time.UTC)
		dy, dm, dd := day.Date()
		for _, win := range w.list {
			if !win.days[day.Weekday()] {
				continue
			}
			iv := interval{
				open:  wallTime(dy, dm, dd, win.start, w.loc),
				close: wallTime(dy, dm, dd+win.endDays, win.end, w.loc),
			}
			if iv.close.After(iv.open) { // a window inside a skipped hour vanishes
				ivs = append(ivs, iv)
			}
		}
	}
	slices.SortFunc(ivs, func(a, b interval) int { return a.open.Compare(b.open) })
	// Merge into a union of disjoint intervals.
	var union []interval
	for _, iv := range ivs {
		if n := len(union); n > 0 && !iv.open.After(union[n-1].close) {
			if iv.close.After(union[n-1].close) {
				union[n-1].close = iv.close
			}
			continue
		}
		union = append(union, iv)
	}
	for _, iv := range union {
		if !t.Before(iv.open) && t.Before(iv.close) {
			if iv.close.Sub(t) > 7*24*time.Hour+2*time.Hour {
				return true, time.Time{} // the windows cover the whole week
			}
			return true, iv.close
		}
		if iv.open.After(t) {
			return false, iv.open
		}
	}
	// Unreachable with at least one window: one opens within a week.
	return false, time.Time{}
}

// wallTime is the instant the clocks in loc show minute min of day
// y-m-d (day and minute may overflow into the next days). A wall time
// skipped by a daylight-saving change is the instant the clocks jumped to
// it; one that occurs twice is its first occurrence.
func wallTime(y int, m time.Month, d, min int, loc *time.Location) time.Time {
	naive := time.Date(y, m, d, 0, min, 0, 0, time.UTC)
	_, offBefore := naive.Add(-24 * time.Hour).In(loc).Zone()
	_, offAfter := naive.Add(24 * time.Hour).In(loc).Zone()
	var best time.Time
	for _, off := range []int{offBefore, offAfter} {
		cand := naive.Add(-time.Duration(off) * time.Second)
		if sameWallClock(cand.In(loc), naive) && (best.IsZero() || cand.Before(best)) {
			best = cand
		}
	}
	if best.IsZero() {
		// Skipped: the clocks jumped over it when the zone after the
		// change began.
		best = naive.Add(-time.Duration(offBefore) * time.Second)
		if start, _ := best.In(loc).ZoneBounds(); !start.IsZero() && start.Before(best) {
			best = start
		}
	}
	return best.In(loc)
}

func sameWallClock(t, naive time.Time) bool {
	y1, m1, d1 := t.Date()
	y2, m2, d2 := naive.Date()
	return y1 == y2 && m1 == m2 && d1 == d2 && t.Hour() == naive.Hour() && t.Minute() == naive.Minute()
}

// maxWindowSleep bounds one sleep of WaitOpen, so that a jump of the
// system clock or a suspended machine delays the opening by at most this.
const maxWindowSleep = time.Minute

// WaitOpen returns nil at once if a window is open on clock c (nil: the
// system clock), else waits until one opens; it returns ctx.Err() as soon
// as ctx ends.
func (w Windows) WaitOpen(ctx context.Context, c Clock) error {
	c = orSystem(c)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := c.Now()
		open, change := w.At(now)
		if open {
			return nil
		}
		if err := Sleep(ctx, c, min(change.Sub(now), maxWindowSleep)); err != nil {
			return err
		}
	}
}
