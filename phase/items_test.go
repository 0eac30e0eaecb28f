package phase

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-vcard"

	"github.com/mailshift/mailshift/internal/dav"
	"github.com/mailshift/mailshift/internal/pim"
	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
	"github.com/mailshift/mailshift/internal/testrig/imaptest"
	"github.com/mailshift/mailshift/internal/testrig/radicale"
	"github.com/mailshift/mailshift/state"
)

// itemSamples are the sample PST files that hold items that are not mail:
// appointments (32-bit, jl-dist-list: one recurring, with exceptions),
// contacts and distribution lists (jl-dist-list, jl-passworded, which has
// a password set), by user.
var itemSamples = map[string]string{
	"32-bit":        "pst/32-bit.pst",
	"jl-dist-list":  "pst/jl-dist-list.pst",
	"jl-passworded": "pst-more/jl-passworded.pst",
}

// readpstExport runs readpst (Debian's pst-utils) on file and returns what
// it exports of calendar items and contacts (vCard).
func readpstExport(t *testing.T, file string) (cals []*ical.Calendar, cards []vcard.Card) {
	t.Helper()
	if _, err := exec.LookPath("readpst"); err != nil {
		if os.Getenv(corpus.RequireEnv) == "1" {
			t.Fatal("readpst not installed (make deps installs pst-utils)")
		}
		t.Skip("readpst not installed (make deps installs pst-utils)")
	}
	out := t.TempDir()
	if b, err := exec.Command("readpst", "-q", "-r", "-cv", "-t", "ajc", "-o", out, file).CombinedOutput(); err != nil {
		t.Fatalf("readpst %s: %v\n%s", file, err, b)
	}
	filepath.Walk(out, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch fi.Name() {
		case "calendar":
			c, err := ical.NewDecoder(bytes.NewReader(b)).Decode()
			if err != nil {
				t.Fatalf("readpst's %s: %v", p, err)
			}
			cals = append(cals, c)
		case "contacts":
			d := vcard.NewDecoder(bytes.NewReader(b))
			for {
				c, err := d.Decode()
				if err != nil {
					break
				}
				cards = append(cards, c)
			}
		}
		return nil
	})
	return cals, cards
}

// davItems reads every resource of a user's collection on the server.
func davItems(t *testing.T, cl *dav.Client) map[string][]byte {
	t.Helper()
	names, err := cl.List(context.Background())
	if de := (*dav.Error)(nil); errors.As(err, &de) && de.Status == http.StatusNotFound {
		return nil // nothing was uploaded to it
	}
	must(t, err)
	out := map[string][]byte{}
	for _, n := range names {
		b, _, err := cl.Get(context.Background(), n)
		must(t, err)
		out[n] = b
	}
	return out
}

// TestPSTItemsToRadicale migrates the sample PST files that hold
// appointments, contacts and distribution lists to a real Dovecot and a
// real Radicale: the items arrive as CalDAV and CardDAV objects and as
// files, agree with what readpst exports for them, and a pass run again,
// with or without the state's record of the uploads, stores nothing twice.
func TestPSTItemsToRadicale(t *testing.T) {
	ctx := context.Background()
	td := corpus.TestdataDir(t)
	dir := t.TempDir()
	names := []string{"32-bit", "jl-dist-list", "jl-passworded"}
	for _, n := range names {
		must(t, os.Symlink(filepath.Join(td, itemSamples[n]), filepath.Join(dir, n+".pst")))
	}
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, names...)
	rad := radicale.Start(t, e.pw)
	e.p.Config.Target.CardDAV = rad.URL + "%u/contacts/"
	e.p.Config.Target.CalDAV = rad.URL + "%u/calendar/"
	e.fileSourced("pst:" + dir + "/%u.pst")
	e.approved()
	// The scope of work says what becomes of the items.
	ar, err := Approve(ctx, e.p, ApproveOptions{Show: true})
	must(t, err)
	if want := "Not copied as mail but converted after each user's mail (vCard 4.0, iCalendar), written under items/<user>/ and uploaded to `" + rad.URL + "%u/contacts/`"; !strings.Contains(ar.Text, want) {
		t.Errorf("the scope of work does not say %q:\n%s", want, ar.Text)
	}
	res, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	// 32-bit: an appointment; jl-dist-list: an appointment, a contact and
	// a distribution list; jl-passworded: a contact and a distribution list.
	if want := (ItemCounts{Items: 6, Written: 6, Uploaded: 6}); res.Items != want {
		t.Errorf("bulk items: %+v, want %+v", res.Items, want)
	}
	client := func(user, coll string) *dav.Client {
		return &dav.Client{URL: rad.URL + user + "/" + coll + "/", User: user, Password: e.pw[user]}
	}
	for _, n := range names {
		file := filepath.Join(td, itemSamples[n])
		cals, cards := readpstExport(t, file)
		got := davItems(t, client(n, "calendar"))
		gotCards := davItems(t, client(n, "contacts"))
		compareEvents(t, n, cals, got)
		compareCards(t, n, cards, gotCards)
		// The files hold the items the server holds (which it may have
		// reformatted).
		for name, b := range got {
			f, err := os.ReadFile(filepath.Join(e.p.Dir, "items", n, "calendar", name))
			if err != nil || uidsOf(t, f) != uidsOf(t, b) {
				t.Errorf("%s: file calendar/%s: %q, the server's %q (%v)", n, name, uidsOf(t, f), uidsOf(t, b), err)
			}
		}
	}
	checkRecurring(t, davItems(t, client("jl-dist-list", "calendar")))

	// status and report count the uploads, and still validate.
	st, err := Status(e.p, Selection{})
	must(t, err)
	for _, u := range st.Users {
		want := map[string]map[string]int{"32-bit": {"calendar": 1}, "jl-dist-list": {"calendar": 1, "contacts": 2}, "jl-passworded": {"contacts": 2}}[u.SourceUser]
		if !maps.Equal(u.UploadedItems, want) {
			t.Errorf("status of %s: uploaded items %v, want %v", u.SourceUser, u.UploadedItems, want)
		}
		if notes := strings.Join(statusNotes(u), "; "); !strings.Contains(notes, fmt.Sprintf("%d calendar item(s) uploaded", want["calendar"])) {
			t.Errorf("status notes of %s: %q", u.SourceUser, notes)
		}
	}
	b, err := json.Marshal(st)
	must(t, err)
	validate(t, schemaFor(t, "status.schema.json"), "status --json", string(b))
	rep, err := BuildReport(e.p, Selection{})
	must(t, err)
	js, err := rep.Render("json")
	must(t, err)
	validate(t, schemaFor(t, "report.schema.json"), "report --format json", js)

	// Again: everything is there already.
	sr, err := Sync(ctx, e.p, SyncOptions{})
	must(t, err)
	if want := (ItemCounts{Items: 6, Already: 6}); sr.Items != want {
		t.Errorf("sync items: %+v, want %+v", sr.Items, want)
	}
	// Again with a state that lost the record of the uploads (as if each
	// pass had stopped between the upload and its record): the server's
	// resources are found, not copied a second time.
	store, err := state.Open(filepath.Join(t.TempDir(), "fresh.db"))
	must(t, err)
	t.Cleanup(func() { store.Close() })
	e.p.Store = store
	e.approved()
	res, err = Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	if want := (ItemCounts{Items: 6, Already: 6}); res.Items != want {
		t.Errorf("bulk with a fresh state: items %+v, want %+v", res.Items, want)
	}
	total := 0
	for _, n := range names {
		total += len(davItems(t, client(n, "calendar"))) + len(davItems(t, client(n, "contacts")))
	}
	if total != 6 {
		t.Errorf("the server holds %d items, want 6", total)
	}
}

// uidsOf lists the UID, RECURRENCE-ID and DTSTART of a calendar's events.
func uidsOf(t *testing.T, b []byte) string {
	cal, err := ical.NewDecoder(bytes.NewReader(b)).Decode()
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, ev := range cal.Events() {
		s := ev.Props.Get(ical.PropUID).Value + " " + ev.Props.Get(ical.PropDateTimeStart).Value
		if r := ev.Props.Get(ical.PropRecurrenceID); r != nil {
			s += " " + r.Value
		}
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}

// dateTime reads a DATE-TIME in the zone of its TZID.
func dateTime(p *ical.Prop) (time.Time, error) {
	if p == nil {
		return time.Time{}, errors.New("missing")
	}
	if p.Params.Get(ical.ParamTimezoneID) != "" {
		return time.ParseInLocation("20060102T150405", p.Value, zoneOf(p))
	}
	return p.DateTime(time.UTC)
}

// zoneOf is the zone of jl-dist-list.pst's appointment, which its
// VTIMEZONE describes under Outlook's name for it.
func zoneOf(p *ical.Prop) *time.Location {
	if strings.Contains(p.Params.Get(ical.ParamTimezoneID), "Pacific Time") {
		if l, err := time.LoadLocation("America/Los_Angeles"); err == nil {
			return l
		}
	}
	return time.UTC
}

// compareEvents checks every VEVENT readpst exports against the master
// VEVENT of the same summary on the server: summary, description, start,
// end, the rule's frequency and days, the reminder.
func compareEvents(t *testing.T, user string, want []*ical.Calendar, got map[string][]byte) {
	t.Helper()
	byUID := map[string]*ical.Component{}
	for name, b := range got {
		cal, err := ical.NewDecoder(bytes.NewReader(b)).Decode()
		if err != nil {
			t.Fatalf("%s: %s from the server: %v", user, name, err)
		}
		for _, ev := range cal.Events() {
			if ev.Props.Get(ical.PropRecurrenceID) == nil {
				s, _ := ev.Props.Text(ical.PropSummary)
				byUID[s] = ev.Component
			}
		}
	}
	n := 0
	for _, cal := range want {
		for _, w := range cal.Events() {
			n++
			sum, _ := w.Props.Text(ical.PropSummary)
			g := byUID[sum]
			if g == nil {
				t.Errorf("%s: readpst's event %q is not on the server", user, sum)
				continue
			}
			wd, _ := w.Props.Text(ical.PropDescription)
			gd, _ := g.Props.Text(ical.PropDescription)
			if strings.TrimSpace(wd) != strings.TrimSpace(gd) {
				t.Errorf("%s: %q description %q, readpst %q", user, sum, gd, wd)
			}
			for _, p := range []string{ical.PropDateTimeStart, ical.PropDateTimeEnd} {
				wt, err1 := w.Props.DateTime(p, time.UTC)
				gt, err2 := dateTime(g.Props.Get(p))
				if err1 != nil || err2 != nil || !wt.Equal(gt) {
					t.Errorf("%s: %q %s %v (%v), readpst %v (%v)", user, sum, p, gt, err2, wt, err1)
				}
			}
			if wr := w.Props.Get(ical.PropRecurrenceRule); wr != nil {
				gr := g.Props.Get(ical.PropRecurrenceRule)
				if gr == nil {
					t.Errorf("%s: %q has no RRULE, readpst %s", user, sum, wr.Value)
				} else {
					for _, part := range strings.Split(wr.Value, ";") {
						if !slices.Contains(strings.Split(gr.Value, ";"), part) {
							t.Errorf("%s: %q RRULE %s lacks readpst's %s", user, sum, gr.Value, part)
						}
					}
				}
			}
			if len(w.Children) > 0 {
				wt := w.Children[0].Props.Get(ical.PropTrigger)
				if len(g.Children) == 0 {
					t.Errorf("%s: %q has no reminder, readpst %s", user, sum, wt.Value)
				} else {
					wd, _ := wt.Duration()
					gd, _ := g.Children[0].Props.Get(ical.PropTrigger).Duration()
					if wd != gd {
						t.Errorf("%s: %q reminder %v, readpst %v", user, sum, gd, wd)
					}
				}
			}
		}
	}
	if n != len(byUID) {
		t.Errorf("%s: %d events on the server, readpst exports %d", user, len(byUID), n)
	}
}

// compareCards checks every contact readpst exports against the one of
// the same e-mail address on the server: name parts and address.
func compareCards(t *testing.T, user string, want []vcard.Card, got map[string][]byte) {
	t.Helper()
	byEmail := map[string]vcard.Card{}
	groups := 0
	for name, b := range got {
		c, err := vcard.NewDecoder(bytes.NewReader(b)).Decode()
		if err != nil {
			t.Fatalf("%s: %s from the server: %v", user, name, err)
		}
		if c.Value(vcard.FieldVersion) != "4.0" {
			t.Errorf("%s: %s is vCard %s, want 4.0", user, name, c.Value(vcard.FieldVersion))
		}
		if c.Kind() == vcard.KindGroup {
			groups++
			members := c.Values(vcard.FieldMember)
			want := []string{"mailto:contact1@rjohnson.id.au", "mailto:dist1@rjohnson.id.au", "mailto:dist2@rjohnson.id.au"}
			if c.Value(vcard.FieldFormattedName) != "test dist list" || !slices.Equal(members, want) {
				t.Errorf("%s: group %q members %q, want \"test dist list\" %q", user, c.Value(vcard.FieldFormattedName), members, want)
			}
			continue
		}
		byEmail[c.Value(vcard.FieldEmail)] = c
	}
	for _, w := range want {
		email := w.Value(vcard.FieldEmail)
		g, ok := byEmail[email]
		if !ok {
			t.Errorf("%s: readpst's contact %s is not on the server", user, email)
			continue
		}
		wn, gn := w.Name(), g.Name()
		if wn == nil || gn == nil || wn.FamilyName != gn.FamilyName || wn.GivenName != gn.GivenName || wn.AdditionalName != gn.AdditionalName {
			t.Errorf("%s: contact %s name %+v, readpst %+v", user, email, gn, wn)
		}
	}
	if len(byEmail) != len(want) {
		t.Errorf("%s: %d contacts on the server, readpst exports %d", user, len(byEmail), len(want))
	}
	if user != "32-bit" && groups != 1 {
		t.Errorf("%s: %d distribution lists on the server, want 1", user, groups)
	}
}

// checkRecurring checks what readpst does not export of the recurring
// appointment of jl-dist-list.pst, as its PidLidAppointmentRecur says:
// weekly on Tuesdays at 8:00 Pacific time, three occurrences deleted of
// which two were moved (9:00 on 23 August, 10:00 on 30 August) and given
// descriptions of their own.
func checkRecurring(t *testing.T, got map[string][]byte) {
	t.Helper()
	for _, b := range got {
		cal, err := ical.NewDecoder(bytes.NewReader(b)).Decode()
		must(t, err)
		evs := cal.Events()
		if len(evs) != 3 {
			t.Errorf("recurring appointment: %d VEVENTs, want the series and two moved occurrences", len(evs))
			return
		}
		ex := evs[0].Props.Values(ical.PropExceptionDates)
		if len(ex) != 1 || ex[0].Value != "20160809T080000" {
			t.Errorf("EXDATE %v, want 20160809T080000", ex)
		}
		var moved []string
		for _, ev := range evs[1:] {
			desc, _ := ev.Props.Text(ical.PropDescription)
			moved = append(moved, ev.Props.Get(ical.PropRecurrenceID).Value+"->"+ev.Props.Get(ical.PropDateTimeStart).Value+" "+desc)
		}
		// The descriptions are those of the exception objects.
		want := []string{"20160823T080000->20160823T090000 This is the appointment at 9", "20160830T080000->20160830T100000 This is the one at 10"}
		if !slices.Equal(moved, want) {
			t.Errorf("moved occurrences %q, want %q", moved, want)
		}
		if len(cal.Children) == 0 || cal.Children[0].Name != ical.CompTimezone {
			t.Errorf("no VTIMEZONE first")
		}
	}
}

// TestPSTCategoriesAsKeywords migrates pstsdk-sample1.pst, whose message
// in Sample1 Outlook filed under "Green Category" and "Blue Category", to
// a real Dovecot: the categories arrive as keywords.
func TestPSTCategoriesAsKeywords(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	must(t, os.Symlink(filepath.Join(corpus.TestdataDir(t), "pst", "pstsdk-sample1.pst"), filepath.Join(dir, "sample.pst")))
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "sample")
	e.fileSourced("pst:" + dir + "/%u.pst")
	e.approved()
	_, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	msgs := imaptest.Snapshot(t, e.dst.Addr, "sample", e.pw["sample"])["sample/Sample1"]
	found := false
	for _, m := range msgs {
		if slices.Contains(m.Flags, "Green_Category") {
			found = true
			if !slices.Contains(m.Flags, "Blue_Category") {
				t.Errorf("flags %q: Blue_Category missing", m.Flags)
			}
		}
	}
	if !found {
		t.Errorf("no message of sample/Sample1 has the keyword Green_Category: %+v", msgs)
	}
}

// TestItemUploadReplaces uploads an item to a real Radicale, then a
// changed version of it: the resource is replaced (If-Match), never
// doubled; a resource changed on the server meanwhile is not overwritten.
func TestItemUploadReplaces(t *testing.T) {
	ctx := context.Background()
	p, _ := newFakeProject(t, "ann")
	rad := radicale.Start(t, map[string]string{"ann": "pw"})
	cl := &dav.Client{URL: rad.URL + "ann/calendar/", User: "ann", Password: "pw"}
	must(t, cl.Ensure(ctx, dav.Calendar))
	it := pim.Item{Key: "a.pst:0x200024", Kind: pim.KindEvent, Event: &pim.Event{
		Summary: "Planning", Start: time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}}
	put := func(summary string) (bool, error) {
		it.Event.Summary = summary
		b, err := it.Encode()
		must(t, err)
		return p.upload(ctx, cl, "ann", it, b)
	}
	summaries := func() []string {
		var out []string
		for _, b := range davItems(t, cl) {
			cal, err := ical.NewDecoder(bytes.NewReader(b)).Decode()
			must(t, err)
			s, _ := cal.Events()[0].Props.Text(ical.PropSummary)
			out = append(out, s)
		}
		return out
	}
	if up, err := put("Planning"); err != nil || !up {
		t.Fatalf("first upload: %v %v", up, err)
	}
	if up, err := put("Planning"); err != nil || up {
		t.Fatalf("the same again: uploaded %v (%v), want nothing done", up, err)
	}
	if up, err := put("Planning moved"); err != nil || !up {
		t.Fatalf("changed: %v %v", up, err)
	}
	if got := summaries(); !slices.Equal(got, []string{"Planning moved"}) {
		t.Errorf("on the server: %q, want the changed item once", got)
	}
	// Someone edits it on the server: the next change is refused, not
	// written over theirs.
	b, etag, err := cl.Get(ctx, it.Name())
	must(t, err)
	edited := bytes.Replace(b, []byte("Planning moved"), []byte("Planning (by hand)"), 1)
	if bytes.Equal(edited, b) {
		t.Fatalf("the test's edit changed nothing in:\n%s", b)
	}
	_, _, err = cl.Put(ctx, it.Name(), it.ContentType(), edited, etag)
	must(t, err)
	if _, err := put("Planning moved again"); !errors.Is(err, dav.ErrChanged) {
		t.Errorf("upload over a change made on the server: %v, want it refused", err)
	}
	if got := summaries(); !slices.Equal(got, []string{"Planning (by hand)"}) {
		t.Errorf("on the server: %q, want the edit kept", got)
	}
	// Deleted on the server: a changed item is stored again.
	_, body, err := deleteResource(ctx, cl, it.Name())
	must(t, err)
	if up, err := put("Planning moved once more"); err != nil || !up {
		t.Fatalf("changed after a deletion on the server: %v %v (%s)", up, err, body)
	}
	if got := summaries(); !slices.Equal(got, []string{"Planning moved once more"}) {
		t.Errorf("on the server: %q, want the item stored again", got)
	}
}

// deleteResource deletes a resource as a user of the server would.
func deleteResource(ctx context.Context, cl *dav.Client, name string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, cl.URL+name, nil)
	if err != nil {
		return 0, "", err
	}
	req.SetBasicAuth(cl.User, cl.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return resp.StatusCode, resp.Status, fmt.Errorf("DELETE %s: %s", name, resp.Status)
	}
	return resp.StatusCode, resp.Status, nil
}

// TestItemsTestCleanup runs test on a PST user whose items go to a real
// Radicale, then test --cleanup: the items are gone from the server, the
// state and the project's items folder, and a bulk afterwards uploads
// them again.
func TestItemsTestCleanup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	must(t, os.Symlink(filepath.Join(corpus.TestdataDir(t), itemSamples["jl-dist-list"]), filepath.Join(dir, "jl.pst")))
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "jl")
	rad := radicale.Start(t, e.pw)
	e.p.Config.Target.CardDAV = rad.URL + "%u/contacts/"
	e.p.Config.Target.CalDAV = rad.URL + "%u/calendar/"
	e.fileSourced("pst:" + dir + "/%u.pst")
	e.approved()
	res, err := Test(ctx, e.p, TestOptions{})
	must(t, err)
	if res.Items.Uploaded != 3 {
		t.Fatalf("test uploaded %+v, want 3 items", res.Items)
	}
	cal := &dav.Client{URL: rad.URL + "jl/calendar/", User: "jl", Password: e.pw["jl"]}
	card := &dav.Client{URL: rad.URL + "jl/contacts/", User: "jl", Password: e.pw["jl"]}
	if n := len(davItems(t, cal)) + len(davItems(t, card)); n != 3 {
		t.Fatalf("%d items on the server after test, want 3", n)
	}
	_, err = Test(ctx, e.p, TestOptions{Cleanup: true})
	must(t, err)
	if n := len(davItems(t, cal)) + len(davItems(t, card)); n != 0 {
		t.Errorf("%d items on the server after test --cleanup, want none", n)
	}
	if c, err := e.p.Store.PIMCounts("jl"); err != nil || len(c) != 0 {
		t.Errorf("the state still records uploads: %v %v", c, err)
	}
	if _, err := os.Stat(filepath.Join(e.p.Dir, "items", "jl")); !os.IsNotExist(err) {
		t.Errorf("items/jl after test --cleanup: %v", err)
	}
	br, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	if br.Items.Uploaded != 3 {
		t.Errorf("bulk after the cleanup: %+v, want 3 uploaded", br.Items)
	}
}

// target.carddav and target.caldav are checked: a URL per user, no
// credentials in it, no password in plain text to another machine, and
// only on the target.
func TestDAVConfig(t *testing.T) {
	for _, c := range []struct {
		set       func(*Config)
		key, want string // want "": valid
	}{
		{func(c *Config) { c.Target.CardDAV = "https://dav.example.com/%u/contacts/" }, "", ""},
		{func(c *Config) { c.Target.CalDAV = "http://127.0.0.1:5232/%u/calendar/" }, "", ""},
		{func(c *Config) { c.Target.CalDAV = "https://dav.example.com/calendar/" }, "target.caldav", "no %u"},
		{func(c *Config) { c.Target.CardDAV = "https://me:secret@dav.example.com/%u/" }, "target.carddav", "leave them out"},
		{func(c *Config) { c.Target.CardDAV = "ftp://dav.example.com/%u/" }, "target.carddav", "http:// or https://"},
		{func(c *Config) { c.Target.CalDAV = "http://dav.example.com/%u/calendar/" }, "target.caldav", "unencrypted"},
		{func(c *Config) {
			c.Target.CalDAV, c.AllowInsecure = "http://dav.example.com/%u/calendar/", true
		}, "", ""},
		{func(c *Config) { c.Source.CalDAV = "https://dav.example.com/%u/calendar/" }, "source.caldav", "a target key"},
	} {
		cfg := Defaults()
		cfg.Users.File = "users.csv"
		c.set(&cfg)
		err := cfg.Validate()
		var ce *ConfigError
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v", cfg.Target, err)
		case c.want != "" && (!errors.As(err, &ce) || ce.Key != c.key || !strings.Contains(ce.Msg, c.want)):
			t.Errorf("%+v: %v, want %s: ...%s...", cfg.Target, err, c.key, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

// TestItemsMirrorDeletions: with sync.deletions mirror, an item gone from
// the source is removed from the server, the state and the files, held
// back by sync.max_delete unless forced.
func TestItemsMirrorDeletions(t *testing.T) {
	ctx := context.Background()
	td := corpus.TestdataDir(t)
	dir := t.TempDir()
	link := filepath.Join(dir, "jl.pst")
	must(t, os.Symlink(filepath.Join(td, itemSamples["jl-dist-list"]), link))
	e := newEnv(t, dovecot.Options{}, dovecot.Options{}, "jl")
	rad := radicale.Start(t, e.pw)
	e.p.Config.Target.CardDAV = rad.URL + "%u/contacts/"
	e.p.Config.Target.CalDAV = rad.URL + "%u/calendar/"
	e.p.Config.Sync.Deletions = "mirror"
	e.fileSourced("pst:" + dir + "/%u.pst")
	e.approved()
	res, err := Bulk(ctx, e.p, BulkOptions{SkipTest: true})
	must(t, err)
	if res.Items.Uploaded != 3 {
		t.Fatalf("bulk: %+v, want 3 uploaded", res.Items)
	}
	// The file is replaced by one with the same contact and list (the same
	// node IDs) and no appointment.
	must(t, os.Remove(link))
	must(t, os.Symlink(filepath.Join(td, itemSamples["jl-passworded"]), link))
	cal := &dav.Client{URL: rad.URL + "jl/calendar/", User: "jl", Password: e.pw["jl"]}
	e.p.Config.Sync.MaxDelete = 10
	sr, err := Sync(ctx, e.p, SyncOptions{})
	if err == nil || !strings.Contains(err.Error(), "sync.max_delete") || sr.Items.Deleted != 0 || len(davItems(t, cal)) != 1 {
		t.Fatalf("sync past max_delete: %v, %+v, %d on the server; want it held back", err, sr.Items, len(davItems(t, cal)))
	}
	sr, err = Sync(ctx, e.p, SyncOptions{Force: true})
	must(t, err)
	if sr.Items.Deleted != 1 || sr.Items.Already != 2 {
		t.Errorf("forced sync: %+v, want 1 deleted, 2 already there", sr.Items)
	}
	if n := len(davItems(t, cal)); n != 0 {
		t.Errorf("%d calendar items left on the server", n)
	}
	if c, err := e.p.Store.PIMCounts("jl"); err != nil || !maps.Equal(c, map[string]int{"contacts": 2}) {
		t.Errorf("state: %v %v", c, err)
	}
	if m, _ := filepath.Glob(filepath.Join(e.p.Dir, "items", "jl", "calendar", "*")); len(m) != 0 {
		t.Errorf("files left: %v", m)
	}
}
