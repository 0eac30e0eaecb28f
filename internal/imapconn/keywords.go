package imapconn

import (
	"context"
	"slices"

	"github.com/emersion/go-imap/v2"
)

// KeepsKeywords tells whether the server stores new keywords: whether
// INBOX's PERMANENTFLAGS holds \* (RFC 3501, 7.1). It needs a read-write
// connection (EXAMINE lists no permanent flags). Exchange answers without
// \*: it keeps no keywords.
func (c *Conn) KeepsKeywords(ctx context.Context) (bool, error) {
	end, err := c.begin(ctx)
	if err != nil {
		return false, err
	}
	defer end()
	data, err := c.doSelect(ctx, "INBOX", true)
	if err != nil {
		return false, c.ctxErr(ctx, err)
	}
	return slices.Contains(data.PermanentFlags, imap.FlagWildcard), nil
}
