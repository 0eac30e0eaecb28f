package phase

import (
	"context"

	"github.com/mailshift/mailshift/internal/endpoint"
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/source"
	"github.com/mailshift/mailshift/source/imapsource"
	"github.com/mailshift/mailshift/target"
)

// fromConfig opens mailboxes as the command layer does (internal/endpoint),
// from the project's configuration as it is at each call: tests change
// the endpoints after building the project.
type fromConfig struct{ p *Project }

func (b fromConfig) pair() endpoint.Pair {
	return endpoint.Pair{
		Source:        endpoint.Settings(b.p.Config.Source),
		Target:        endpoint.Settings(b.p.Config.Target),
		AllowInsecure: b.p.Config.AllowInsecure,
		Dir:           b.p.Dir,
		Gmail:         imapsource.GmailOptions{Labels: b.p.Config.Gmail.Labels, ArchiveFolder: b.p.Config.Gmail.ArchiveFolder},
	}
}

func (b fromConfig) OpenSource(ctx context.Context, r users.Row) (source.Source, error) {
	return b.pair().OpenSource(ctx, r)
}

func (b fromConfig) OpenTarget(ctx context.Context, r users.Row) (target.Target, error) {
	return b.pair().OpenTarget(ctx, r)
}

func (b fromConfig) Servers(r users.Row) (string, string) { return b.pair().Servers(r) }
