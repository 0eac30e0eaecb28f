package phase

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/mailshift/mailshift/internal/identity"
	"github.com/mailshift/mailshift/internal/mailbox"
	"github.com/mailshift/mailshift/internal/mapping"
	"github.com/mailshift/mailshift/state"
)

// At verify.level identity (targets that re-render messages: Exchange,
// Microsoft 365) a copy is known by what survives re-rendering
// (internal/identity) instead of its bytes: verification compares
// identities instead of sizes and hashes, and settling an interrupted copy
// matches the original's identity against the target's messages. The
// state keeps the SHA-256 of the bytes sent, as at the bytes level; the
// originals' identities are computed from the source when needed.

// bodyKey is what matches a target message to its original: the SHA-256
// of its bytes, or at the identity level its identity's key.
func (p *Project) bodyKey(b io.Reader) (string, error) {
	if !p.Config.identityLevel() {
		return hashBody(b)
	}
	id, err := identity.Of(b)
	if err != nil {
		return "", err
	}
	return id.Key(), nil
}

// matchKeys returns ps with the keys settling matches by: as they are at
// the bytes level (the hash of the bytes sent), else each with its
// original's identity key, read from the source (a pair whose original is
// gone gets none and matches nothing).
func (s *session) matchKeys(ctx context.Context, c conns, e mapping.Entry, ps []state.Pair) ([]state.Pair, error) {
	if !s.p.Config.identityLevel() || len(ps) == 0 {
		return ps, nil
	}
	sf, _, err := c.src.Messages(ctx, e.Source)
	if errors.Is(err, mailbox.ErrFolderGone) {
		sf = mailbox.Folder{}
	} else if err != nil {
		return nil, err
	}
	var ms []mailbox.Message
	for _, p := range ps {
		if p.SourceUIDValidity == sf.UIDValidity {
			ms = append(ms, mailbox.Message{Key: p.SourceKey, UID: p.SourceUID, Size: p.Size})
		}
	}
	keys := map[string]string{}
	if len(ms) > 0 {
		err = c.src.Fetch(ctx, e.Source, ms, func(m mailbox.Message, b mailbox.Body) error {
			k, err := s.p.bodyKey(b)
			keys[m.Key] = k
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([]state.Pair, len(ps))
	for i, p := range ps {
		p.Hash = ""
		if p.SourceUIDValidity == sf.UIDValidity {
			p.Hash = keys[p.SourceKey]
		}
		out[i] = p
	}
	return out, nil
}

// identityContent checks the copies in one target folder by identity:
// each copy's identity against its original's, read from the source
// again. It stands for content at verify.level identity.
func (c *userCheck) identityContent(ctx context.Context, e mapping.Entry, folder string, ms, smsgs []mailbox.Message, byKey map[string]state.Pair) error {
	copies := map[uint32]identity.Identity{}
	err := c.s.dst.Fetch(ctx, folder, ms, func(m mailbox.Message, b mailbox.Body) error {
		id, err := identity.Of(b)
		copies[m.UID] = id
		return err
	})
	if err != nil {
		return fmt.Errorf("read target folder %q: %w", folder, err)
	}
	var originals []mailbox.Message
	for _, m := range smsgs {
		if pr, ok := byKey[m.Key]; ok && pr.Status == state.Copied && pr.TargetFolder == folder {
			if _, ok := copies[pr.TargetUID]; ok {
				originals = append(originals, m)
			}
		}
	}
	ids := map[string]identity.Identity{}
	err = c.s.src.Fetch(ctx, e.Source, originals, func(m mailbox.Message, b mailbox.Body) error {
		id, err := identity.Of(b)
		ids[m.Key] = id
		return err
	})
	if err != nil {
		return fmt.Errorf("read source folder %q: %w", e.Source, err)
	}
	for _, m := range originals {
		pr := byKey[m.Key]
		orig, copied := ids[m.Key], copies[pr.TargetUID]
		if orig.Key() != copied.Key() {
			c.diff(Difference{Folder: e.Source, Key: m.Key, Size: m.Size, Kind: DiffContent, pair: pr, flags: m.Flags,
				TargetFolder: folder, TargetUID: pr.TargetUID, Subject: orig.Subject, Date: orig.Date,
				What: fmt.Sprintf("content differs by identity: %s (target %q uid %d)", identity.Diff(orig, copied), folder, pr.TargetUID)})
		}
	}
	for i, d := range c.pending {
		if id, ok := copies[d.TargetUID]; ok && d.TargetFolder == folder && d.Subject == "" && d.Date == "" {
			c.pending[i].Subject, c.pending[i].Date = id.Subject, id.Date
		}
	}
	return nil
}

// keptFlags are the flags verification compares: all of them, or the
// system flags only when the target (described by d) keeps no keywords.
func (p *Project) keptFlags(d mailbox.Description, fs []string) []string {
	if p.Config.keywordsLost(d) {
		return systemFlagsOf(fs)
	}
	return fs
}
