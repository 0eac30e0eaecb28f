package state

import (
	"maps"
	"testing"
	"time"
)

// The record of uploaded items: put, read back, replaced, counted, and
// forgotten with the user.
func TestPIMItems(t *testing.T) {
	s := memStore(t)
	if err := s.PutUser("ann", "ann", ""); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	put := func(key, coll, etag string) {
		t.Helper()
		if err := s.PutPIMItem(PIMItem{User: "ann", Key: key, Collection: coll, Href: "/ann/" + coll + "/" + key, ETag: etag, Hash: "h-" + etag, Uploaded: at}); err != nil {
			t.Fatal(err)
		}
	}
	put("a.pst:0x24", "contacts", `"1"`)
	put("a.pst:0x44", "calendar", `"2"`)
	put("a.pst:0x44", "calendar", `"3"`) // replaced
	it, ok, err := s.PIMItemOf("ann", "a.pst:0x44", "calendar")
	if err != nil || !ok || it.ETag != `"3"` || it.Hash != `h-"3"` || it.Href != "/ann/calendar/a.pst:0x44" || !it.Uploaded.Equal(at) {
		t.Errorf("PIMItemOf: %+v %v %v", it, ok, err)
	}
	if _, ok, err := s.PIMItemOf("ann", "a.pst:0x44", "contacts"); ok || err != nil {
		t.Errorf("an item in another collection: %v %v", ok, err)
	}
	if c, err := s.PIMCounts("ann"); err != nil || !maps.Equal(c, map[string]int{"contacts": 1, "calendar": 1}) {
		t.Errorf("PIMCounts: %v %v", c, err)
	}
	if err := s.ForgetUser("ann"); err != nil {
		t.Fatal(err)
	}
	if c, err := s.PIMCounts("ann"); err != nil || len(c) != 0 {
		t.Errorf("after ForgetUser: %v %v", c, err)
	}
}
