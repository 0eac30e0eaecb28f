package pst

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"mime"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailshift/mailshift/source"
)

var base = time.Date(2015, 6, 1, 8, 0, 0, 0, time.UTC)

// attachData is deterministic attachment content of n bytes.
func attachData(seed, n int) []byte {
	r := rand.New(rand.NewSource(int64(seed)))
	b := make([]byte, n)
	r.Read(b)
	return b
}

// genMessage makes message i; big asks for values beyond one block.
func genMessage(i int, big bool) wMessage {
	m := wMessage{
		class:    "IPM.Note",
		subject:  fmt.Sprintf("Message %d Grüße", i),
		from:     fmt.Sprintf("sender%d@example.com", i),
		fromName: fmt.Sprintf("Sender %d", i),
		to:       []string{fmt.Sprintf("rcpt%d@example.org", i)},
		body:     fmt.Sprintf("Body of message %d.\r\n", i),
		msgID:    fmt.Sprintf("<m%d@example.com>", i),
		date:     base.Add(time.Duration(i) * time.Minute),
	}
	if i%2 == 0 {
		m.flags |= mfRead
	}
	if i%9 == 0 {
		m.flags |= mfUnsent
	}
	if i%3 == 0 {
		m.cc = []string{"cc@example.net"}
		m.html = fmt.Sprintf("<html><body><p>HTML of message %d</p></body></html>", i)
	}
	if i%7 == 0 {
		m.body += strings.Repeat("filler line of text\r\n", 250) // 5 KB: a subnode
	}
	if big && i%20 == 0 {
		m.body += strings.Repeat("0123456789abcdef", 3000) // 48 KB: an XBLOCK
	}
	if i%10 == 0 {
		n := 3000
		if big {
			n = 40000 + i
		}
		m.attach = append(m.attach, wAttach{name: fmt.Sprintf("file%d.bin", i), mime: "application/x-test", data: attachData(i, n)})
	}
	if i%25 == 0 {
		inner := wMessage{class: "IPM.Note", subject: fmt.Sprintf("Inner %d", i), from: "inner@example.com", body: "inner body", date: base}
		m.attach = append(m.attach, wAttach{name: "inner.msg", embedded: &inner})
	}
	return m
}

// genTree makes a folder tree with n messages in Inbox and a few
// elsewhere, with awkward names and non-mail items.
func genTree(n int, big bool) (*wFolder, map[string][]int) {
	want := map[string][]int{}
	inbox := &wFolder{name: "Inbox"}
	for i := 1; i <= n; i++ {
		inbox.msgs = append(inbox.msgs, genMessage(i, big))
		want["Inbox"] = append(want["Inbox"], i)
	}
	sub := &wFolder{name: "Überblick"}
	for i := n + 1; i <= n+3; i++ {
		sub.msgs = append(sub.msgs, genMessage(i, big))
		want["Inbox/Überblick"] = append(want["Inbox/Überblick"], i)
	}
	inbox.children = []*wFolder{sub}
	cal := &wFolder{name: "Calendar", msgs: []wMessage{{class: "IPM.Appointment", subject: "Meeting", date: base}}}
	slash := &wFolder{name: "A/B", msgs: []wMessage{genMessage(n+10, big)}}
	want["A_B"] = []int{n + 10}
	dup1 := &wFolder{name: "Dup", msgs: []wMessage{genMessage(n+11, big)}}
	dup2 := &wFolder{name: "Dup", msgs: []wMessage{genMessage(n+12, big)}}
	want["Dup"] = []int{n + 11}
	want["Dup (2)"] = []int{n + 12}
	return &wFolder{children: []*wFolder{inbox, cal, slash, dup1, dup2}}, want
}

// checkWritten opens data and checks every message against genMessage.
func checkWritten(t *testing.T, data []byte, want map[string][]int, big bool, wantFormat string) {
	t.Helper()
	s, err := open("written.pst", bytes.NewReader(data), int64(len(data)), true)
	if err != nil {
		t.Fatal(err)
	}
	if i := s.Info(); i.Format != wantFormat || i.StoreName != "Test Store" {
		t.Errorf("Info = %+v", i)
	}
	ctx := context.Background()
	folders, err := s.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range folders {
		names = append(names, f.Name)
	}
	for _, w := range []string{"Inbox", "Inbox/Überblick", "Calendar", "A_B", "Dup", "Dup (2)"} {
		if !slices.Contains(names, w) {
			t.Errorf("folder %q missing from %q", w, names)
		}
	}
	if slices.Contains(names, "Search Root") {
		t.Errorf("Search Root listed: %q", names)
	}
	got := map[string][]int{}
	for _, f := range readAll(t, s) {
		h, parts := parseMIME(t, f.raw)
		subj, _ := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
		var i int
		if _, err := fmt.Sscanf(subj, "Message %d Grüße", &i); err != nil {
			t.Errorf("%s %s: subject %q", f.folder, f.msg.Key, subj)
			continue
		}
		got[f.folder] = append(got[f.folder], i)
		m := genMessage(i, big)
		if !f.msg.InternalDate.Equal(m.date) {
			t.Errorf("message %d: internal date %v, want %v", i, f.msg.InternalDate, m.date)
		}
		if slices.Contains(f.msg.Flags, `\Seen`) != (m.flags&mfRead != 0) || slices.Contains(f.msg.Flags, `\Draft`) != (m.flags&mfUnsent != 0) {
			t.Errorf("message %d: flags %v for PidTagMessageFlags %#x", i, f.msg.Flags, m.flags)
		}
		if !strings.Contains(h.Get("From"), m.from) || !strings.Contains(h.Get("To"), m.to[0]) {
			t.Errorf("message %d: From %q To %q", i, h.Get("From"), h.Get("To"))
		}
		if len(m.cc) > 0 && !strings.Contains(h.Get("Cc"), m.cc[0]) {
			t.Errorf("message %d: Cc %q", i, h.Get("Cc"))
		}
		if !strings.Contains(h.Get("Message-Id"), m.msgID) {
			t.Errorf("message %d: Message-ID %q", i, h.Get("Message-Id"))
		}
		var text, html bool
		for _, p := range parts {
			switch {
			case p.contentType == "text/plain" && string(bytes.ReplaceAll(p.body, []byte("\r\n"), []byte("\n"))) == strings.ReplaceAll(m.body, "\r\n", "\n"):
				text = true
			case p.contentType == "text/html" && m.html != "" && strings.Contains(string(p.body), fmt.Sprintf("HTML of message %d", i)):
				html = true
			}
		}
		if !text || html != (m.html != "") {
			t.Errorf("message %d: text body found %v, HTML body found %v", i, text, html)
		}
		for _, a := range m.attach {
			if a.embedded != nil {
				if findPart(parts, func(p part) bool {
					return p.contentType == "message/rfc822" && bytes.Contains(p.body, []byte(a.embedded.subject))
				}) == nil {
					t.Errorf("message %d: no embedded message %q", i, a.embedded.subject)
				}
				continue
			}
			p := findPart(parts, func(p part) bool { return p.filename == a.name })
			if p == nil {
				t.Errorf("message %d: no attachment %q", i, a.name)
			} else if !bytes.Equal(p.body, a.data) {
				t.Errorf("message %d: attachment %q: %d bytes differ from the %d written", i, a.name, len(p.body), len(a.data))
			}
		}
	}
	for folder, ids := range want {
		g := got[folder]
		slices.Sort(g)
		if !slices.Equal(g, ids) {
			t.Errorf("folder %q: messages %v, want %v", folder, g, ids)
		}
	}
	var skips []source.Skip
	for _, f := range folders {
		skips = append(skips, s.Skipped(f.Name)...)
	}
	if len(skips) != 0 {
		t.Errorf("skips %v, want none: the calendar item is ExportItems's", skips)
	}
}

// TestWrittenFiles writes files in every format and encoding and reads
// every message back.
func TestWrittenFiles(t *testing.T) {
	for _, c := range []struct {
		name string
		o    wOptions
		n    int
		big  bool
		per  int // B-tree entries per page (0: as many as fit)
	}{
		{"unicode-none-many", wOptions{format: formatUnicode, crypt: cryptNone}, 1500, false, 0},
		{"unicode-permute-big", wOptions{format: formatUnicode, crypt: cryptPermute}, 120, true, 0},
		{"unicode-cyclic", wOptions{format: formatUnicode, crypt: cryptCyclic}, 200, true, 0},
		{"unicode-small-blocks", wOptions{format: formatUnicode, crypt: cryptCyclic, blockData: 1024, fanout: 12, slFanout: 3}, 150, true, 4},
		{"ansi-permute", wOptions{format: formatANSI, crypt: cryptPermute}, 300, true, 0},
		{"ansi-small-blocks", wOptions{format: formatANSI, crypt: cryptNone, blockData: 1024, fanout: 12, slFanout: 3}, 100, true, 3},
		{"unicode4k-compressed", wOptions{format: formatUnicode4K, crypt: cryptNone, compress: true}, 300, true, 0},
		{"unicode4k-permute", wOptions{format: formatUnicode4K, crypt: cryptPermute, compress: true}, 100, true, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			if testing.Short() && c.n > 300 {
				t.Skip("large file in -short mode")
			}
			top, want := genTree(c.n, c.big)
			data := writePST(c.o, top, c.per)
			t.Logf("%d bytes", len(data))
			if os.Getenv("PST_KEEP") != "" {
				os.WriteFile(filepath.Join(os.TempDir(), c.name+".pst"), data, 0o600)
			}
			checkWritten(t, data, want, c.big, c.o.format.String())
		})
	}
}

// TestWrittenStructures checks that the small-block file really has the
// structures it is meant to exercise.
func TestWrittenStructures(t *testing.T) {
	top, _ := genTree(150, true)
	data := writePST(wOptions{format: formatUnicode, crypt: cryptNone, blockData: 1024, fanout: 12, slFanout: 3}, top, 4)
	f, err := openFile(bytes.NewReader(data), int64(len(data)), true)
	if err != nil {
		t.Fatal(err)
	}
	levels := 0
	for ref := f.nbt; ; {
		bp, err := f.btPage(ref, ptypeNBT)
		if err != nil {
			t.Fatal(err)
		}
		if bp.level == 0 {
			break
		}
		levels++
		bs := f.bidSize()
		ref = bref{f.uint(bp.entries[bs:]), f.uint(bp.entries[2*bs:])}
	}
	if levels < 3 {
		t.Errorf("node B-tree of %d levels above the leaves, want at least 3", levels)
	}
	var xx, si bool
	err = f.eachNode(func(ne nodeEntry) error {
		if ne.bidSub != 0 {
			b, err := f.block(ne.bidSub)
			if err != nil {
				return err
			}
			if b[1] == 1 {
				si = true
			}
		}
		n := &node{f: f, nid: ne.nid, bidData: ne.bidData, bidSub: ne.bidSub}
		subs, err := f.subnodes(ne.bidSub)
		if err != nil {
			return err
		}
		for _, e := range subs {
			if e.bidData&2 != 0 {
				b, err := f.block(e.bidData)
				if err != nil {
					return err
				}
				if b[0] == 1 && b[1] == 2 {
					xx = true
				}
			}
		}
		_ = n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !xx || !si {
		t.Errorf("XXBLOCK found %v, SIBLOCK found %v; want both", xx, si)
	}
}

// TestCorruptWritten damages written files in targeted places and checks
// for errors rather than panics.
func TestCorruptWritten(t *testing.T) {
	top, _ := genTree(30, true)
	data := writePST(wOptions{format: formatUnicode, crypt: cryptPermute, blockData: 1024, fanout: 12, slFanout: 3}, top, 4)
	r := rand.New(rand.NewSource(7))
	for i := 0; i < 300; i++ {
		d := bytes.Clone(data)
		for k := 0; k < 1+r.Intn(16); k++ {
			d[0x4400+r.Intn(len(d)-0x4400)] = byte(r.Intn(256))
		}
		walkAll(d)
	}
	// With checksums on, a changed block is found.
	d := bytes.Clone(data)
	d[0x4400+100] ^= 0xFF
	if _, err := open("x.pst", bytes.NewReader(d), int64(len(d)), true); err == nil {
		s, _ := open("x.pst", bytes.NewReader(d), int64(len(d)), true)
		_ = s
	}
}
