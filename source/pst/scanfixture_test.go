package pst

import (
	"os"
	"time"
)

// This file lends the test PST writer to the tests of package pst_test,
// which drive discovery and migration of whole trees of PST files.

// FixtureMessage is a mail message of a written test file.
type FixtureMessage struct {
	Subject string
	From    string
	To      []string
	MsgID   string
	Date    time.Time
	Body    string
	Read    bool
}

// FixtureFolder is a folder of a written test file.
type FixtureFolder struct {
	Name     string
	Messages []FixtureMessage
	Children []FixtureFolder
}

// WriteFixture writes a Unicode PST file ("permute" encoding) whose store
// is named store, with folders below the top of the personal folders.
func WriteFixture(path, store string, folders []FixtureFolder) error {
	w := newWriter(wOptions{format: formatUnicode, crypt: cryptPermute})
	w.namedContent(store, &wFolder{children: fixtureFolders(folders)})
	return os.WriteFile(path, w.finish(0), 0o600)
}

func fixtureFolders(fs []FixtureFolder) []*wFolder {
	var out []*wFolder
	for _, f := range fs {
		wf := &wFolder{name: f.Name, children: fixtureFolders(f.Children)}
		for _, m := range f.Messages {
			wm := wMessage{class: "IPM.Note", subject: m.Subject, from: m.From, fromName: m.From, to: m.To,
				body: m.Body, msgID: m.MsgID, date: m.Date}
			if m.Read {
				wm.flags |= mfRead
			}
			wf.msgs = append(wf.msgs, wm)
		}
		out = append(out, wf)
	}
	return out
}
