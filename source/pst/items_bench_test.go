package pst

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailshift/mailshift/internal/pim"
)

// BenchmarkExportItems reads and encodes a file of 1000 contacts and 1000
// weekly meetings with an exception each: items per second.
func BenchmarkExportItems(b *testing.B) {
	o := wOptions{format: formatUnicode, crypt: cryptPermute}
	w := newWriter(o)
	var contacts, events []wMessage
	for i := 0; i < 1000; i++ {
		contacts = append(contacts, wMessage{class: "IPM.Contact", subject: fmt.Sprintf("Person %d", i), date: utcAt("2026-01-05T10:00:00Z"),
			props: pcProps{propDisplayName: w.str(fmt.Sprintf("Person %d", i)), propGivenName: w.str("Person"), propSurname: w.str(fmt.Sprint(i)), propMobilePhone: w.str("+44 7700 900123")},
			named: map[nameKey]obj{lidEmail[0][1]: w.str("SMTP"), lidEmail[0][2]: w.str(fmt.Sprintf("p%d@example.org", i)), lidKeywords: w.strs("Friends")}})
		start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC).AddDate(0, 0, i%5)
		events = append(events, wMessage{class: "IPM.Appointment", subject: fmt.Sprintf("Meeting %d", i), body: "Agenda", from: "boss@example.org",
			to: []string{"ann@example.org"}, date: utcAt("2026-02-20T10:00:00Z"),
			named: map[nameKey]obj{
				lidApptStartWhole: ftime(start.Add(-time.Hour)), lidApptEndWhole: ftime(start.Add(-30 * time.Minute)),
				lidApptStateFlags: i32(asfMeeting), lidTimeZoneStruct: bin(berlinZone()),
				lidApptRecur: bin(recurBlob(start, 30*time.Minute, 1<<int(start.Weekday()), 10, nil,
					[]wException{{orig: start.AddDate(0, 0, 7), start: start.AddDate(0, 0, 7).Add(time.Hour), end: start.AddDate(0, 0, 7).Add(90 * time.Minute), subject: "moved"}})),
			}})
	}
	w.content(&wFolder{children: []*wFolder{{name: "Contacts", msgs: contacts}, {name: "Calendar", msgs: events}}})
	path := filepath.Join(b.TempDir(), "bench.pst")
	if err := os.WriteFile(path, w.finish(0), 0o600); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	n := 0
	var bytes int64
	for i := 0; i < b.N; i++ {
		s, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		err = s.ExportItems(context.Background(), func(it pim.Item, err error) error {
			if err != nil {
				return err
			}
			data, err := it.Encode()
			n++
			bytes += int64(len(data))
			return err
		})
		s.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "items/s")
	b.ReportMetric(float64(bytes)/float64(n), "bytes/item")
}
