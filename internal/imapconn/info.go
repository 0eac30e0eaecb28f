package imapconn

import (
	"context"
	"errors"
	"sort"

	"github.com/emersion/go-imap/v2"
	"github.com/mailshift/mailshift/internal/mailbox"
)

// CapNames returns the server's capabilities as sorted strings.
func (c *Conn) CapNames() []string {
	out := make([]string, 0, len(c.caps))
	for cp := range c.caps {
		out = append(out, string(cp))
	}
	sort.Strings(out)
	return out
}

// AppendLimit returns the largest message the server accepts in bytes as its
// APPENDLIMIT capability states it, or 0 if it states no global limit.
func (c *Conn) AppendLimit() int64 {
	if limit, ok := c.caps.AppendLimit(); ok && limit != nil {
		return int64(*limit)
	}
	return 0
}

// Quota returns the storage in use and allowed for INBOX's quota root in
// bytes (GETQUOTAROOT INBOX, STORAGE resource), or -1, -1 if the server
// offers no QUOTA or sets no storage limit. A refused GETQUOTAROOT is not
// an error. Neither is an answer go-imap cannot parse (Courier answers a
// user without quota with a bare `* QUOTA "ROOT"`), though go-imap closes
// the connection on it: the quota is unknown, a warning is kept for
// Describe, GETQUOTAROOT is not sent again on this Conn, and the next call
// connects again. Ask it last, as Describe does.
func (c *Conn) Quota(ctx context.Context) (used, limit int64, err error) {
	used, limit = -1, -1
	if !c.caps.Has(imap.CapQuota) || c.skip["QUOTA"] {
		return used, limit, nil
	}
	end, err := c.begin(ctx)
	if err != nil {
		return used, limit, err
	}
	defer end()
	roots, err := c.client.GetQuotaRoot("INBOX").Wait()
	if err != nil {
		if isStatus(err) && c.alive() {
			return used, limit, nil
		}
		err = c.ctxErr(ctx, err)
		if errors.Is(err, mailbox.ErrProtocol) {
			c.skip["QUOTA"] = true
			c.warn("QUOTA: GETQUOTAROOT INBOX: %v; the quota is taken as unknown", err)
			c.Break() // closed by go-imap already; the next call dials again
			return used, limit, nil
		}
		return used, limit, err
	}
	for _, q := range roots {
		if r, ok := q.Resources[imap.QuotaResourceStorage]; ok {
			return r.Usage * 1024, r.Limit * 1024, nil
		}
	}
	return used, limit, nil
}

// Describe tells what the server is and can do. What could not be read of
// its optional features (QUOTA, ID, NAMESPACE) is unknown in the
// description and said in its Warnings.
func (c *Conn) Describe(ctx context.Context) (mailbox.Description, error) {
	used, limit, err := c.Quota(ctx)
	if err != nil {
		return mailbox.Description{}, err
	}
	return mailbox.Description{
		Kind:         "imap",
		Server:       c.Server(),
		Capabilities: c.CapNames(),
		Delimiter:    c.delim,
		Prefix:       c.prefix,
		AppendLimit:  c.AppendLimit(),
		QuotaUsed:    used,
		QuotaLimit:   limit,
		UIDPlus:      c.caps.Has(imap.CapUIDPlus),
		CondStore:    c.caps.Has(imap.CapCondStore),
		Warnings:     c.Warnings(),
	}, nil
}
