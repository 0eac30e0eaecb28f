package pst

import (
	"context"
	"fmt"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
)

// Survey is what a quick look at every item of a PST file tells, for
// discovery: the items by message class and the dates of the oldest and
// newest item. It reads each item's properties only, never its bodies or
// attachments.
type Survey struct {
	// Classes counts the items by message class ("IPM.Note": 120,
	// "IPM.Appointment": 14); items that cannot be read are counted
	// under "unreadable".
	Classes map[string]int
	// First and Last are the dates of the oldest and newest item that has
	// one (delivery, submit, creation or modification time).
	First, Last time.Time
}

// Survey counts every item of the file by class and finds its date range.
// A folder whose contents cannot be read is an error naming it.
func (s *Source) Survey(ctx context.Context) (sv Survey, err error) {
	defer func() {
		if !recoverPanics {
			return
		}
		if p := recover(); p != nil {
			err = fmt.Errorf("pst %s: %w: internal error: %v", s.path, ErrCorrupt, p)
		}
	}()
	sv.Classes = map[string]int{}
	for _, fi := range s.folders {
		ids, err := s.f.contents(fi.nid)
		if err != nil {
			return sv, s.wrap(fmt.Errorf("folder %q: %w", fi.name, err))
		}
		seen := map[uint32]bool{}
		for _, nid := range ids {
			if err := ctx.Err(); err != nil {
				return sv, err
			}
			if seen[nid] || nid&0x1F != nidTypeMessage {
				continue
			}
			seen[nid] = true
			sum, err := s.f.summarize(nid)
			if err != nil {
				sv.Classes["unreadable"]++
				continue
			}
			class := sum.class
			if class == "" {
				class = "IPM.Note"
			}
			sv.Classes[class]++
			if d := sum.date; !d.IsZero() {
				if sv.First.IsZero() || d.Before(sv.First) {
					sv.First = d
				}
				if d.After(sv.Last) {
					sv.Last = d
				}
			}
		}
	}
	return sv, nil
}

// Classes returns the message class of every mail message of folder, by
// the key Messages gives it ("0x200024"); a message without a class is
// "IPM.Note".
func (s *Source) Classes(ctx context.Context, folder string) (map[string]string, error) {
	fi, err := s.folder(folder)
	if err != nil {
		return nil, err
	}
	sc, err := s.scanFolder(ctx, fi, false)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(sc.mail))
	for _, m := range sc.mail {
		var nid uint32
		if _, err := fmt.Sscanf(m.Key, "0x%x", &nid); err != nil {
			continue
		}
		sum, err := s.f.summarize(nid)
		if err != nil {
			continue
		}
		out[m.Key] = sum.class
		if sum.class == "" {
			out[m.Key] = "IPM.Note"
		}
	}
	return out, nil
}

// Classes returns the message class of every mail message of a set
// folder, by the key the set's Messages gives it.
func (s *Set) Classes(ctx context.Context, folder string) (map[string]string, error) {
	ms, err := s.members(ctx, folder)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range ms {
		cs, err := m.file.src.Classes(ctx, m.name)
		if err != nil {
			return nil, err
		}
		for k, c := range cs {
			out[m.file.base+":"+k] = c
		}
	}
	return out, nil
}

// Headers lists the mail of folder as Messages does, oldest first, but
// without composing the messages to measure them: Size is 0. Fetch
// streams their bodies all the same. Discovery reads a sample of a large
// folder this way without composing all of it.
func (s *Source) Headers(ctx context.Context, folder string) ([]mailbox.Message, error) {
	fi, err := s.folder(folder)
	if err != nil {
		return nil, err
	}
	sc, err := s.scanFolder(ctx, fi, false)
	if err != nil {
		return nil, err
	}
	return sc.mail, nil
}
