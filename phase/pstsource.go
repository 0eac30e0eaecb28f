package phase

import (
	"context"
	"fmt"

	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/source"
)

// decidedSource is a user's PST files as every step sees them: without
// the items collect decided to leave out (duplicates, filtered), so that
// no step copies, verifies or counts them.
type decidedSource struct {
	source.Source
	drop map[string]map[string]bool // folder -> key -> left out
}

var (
	_ source.Skipper     = (*decidedSource)(nil)
	_ source.ItemCounter = (*decidedSource)(nil)
)

func (d *decidedSource) keep(folder string, msgs []mailbox.Message) []mailbox.Message {
	drop := d.drop[folder]
	if len(drop) == 0 {
		return msgs
	}
	out := make([]mailbox.Message, 0, len(msgs))
	for _, m := range msgs {
		if !drop[m.Key] {
			out = append(out, m)
		}
	}
	return out
}

// Messages lists the folder's messages that are migrated.
func (d *decidedSource) Messages(ctx context.Context, folder string) (mailbox.Folder, []mailbox.Message, error) {
	f, msgs, err := d.Source.Messages(ctx, folder)
	if err != nil {
		return f, msgs, err
	}
	msgs = d.keep(folder, msgs)
	f.Messages = uint32(len(msgs))
	if f.Bytes >= 0 {
		f.Bytes = 0
		for _, m := range msgs {
			f.Bytes += m.Size
		}
	}
	return f, msgs, nil
}

// Fetch streams the bodies of the messages of msgs that are migrated.
func (d *decidedSource) Fetch(ctx context.Context, folder string, msgs []mailbox.Message, fn func(mailbox.Message, mailbox.Body) error) error {
	return d.Source.Fetch(ctx, folder, d.keep(folder, msgs), fn)
}

// Skipped forwards to the files' source.
func (d *decidedSource) Skipped(folder string) []source.Skip {
	if s, ok := d.Source.(source.Skipper); ok {
		return s.Skipped(folder)
	}
	return nil
}

// Items forwards to the files' source.
func (d *decidedSource) Items(ctx context.Context, folder string) (mail, other map[string]int, err error) {
	if s, ok := d.Source.(source.ItemCounter); ok {
		return s.Items(ctx, folder)
	}
	return nil, nil, nil
}

// targetIdentities are the content identities of the messages r's target
// mailbox holds that carry a Message-ID (Message-ID, size, date): the
// PST items with the same identity are left out as already there. Only
// the messages whose size and date some item has (want) are read.
func (p *Project) targetIdentities(ctx context.Context, r users.Row, want map[sizeDate]bool) (map[string]bool, error) {
	dst, err := p.openTarget(ctx, r)
	if err != nil {
		return nil, err
	}
	defer dst.Close()
	folders, err := dst.Folders(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, f := range folders {
		if f.NoSelect {
			continue
		}
		_, all, err := dst.Messages(ctx, f.Name)
		if err != nil {
			return nil, fmt.Errorf("folder %q: %w", f.Name, err)
		}
		var msgs []mailbox.Message
		for _, m := range all {
			if want[sizeDate{m.Size, m.InternalDate.Unix()}] {
				msgs = append(msgs, m)
			}
		}
		if len(msgs) == 0 {
			continue
		}
		err = dst.Fetch(ctx, f.Name, msgs, func(m mailbox.Message, b mailbox.Body) error {
			id, err := identityOf(b, m.InternalDate)
			if err == nil && len(id) > 4 && id[:4] == "mid:" {
				out[id] = true
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("folder %q: %w", f.Name, err)
		}
	}
	return out, nil
}
