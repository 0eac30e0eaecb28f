package phase

import (
	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
)

// Progress receives what a step is doing, for progress bars or log lines.
// Implementations must be safe for concurrent use: users run in parallel.
//
// A copying step (test, bulk, sync, cutover) calls Begin once, then for
// each user Start, any number of Add and AlreadyCopied, and Done; then End.
// Other steps may call Done for their users outside any Begin and End.
type Progress interface {
	// Begin announces a step by its name ("bulk") with the users it will
	// work on, each with what the inventory says its source holds. The
	// step's clock starts: rates and estimates count from here.
	Begin(step string, work []Work)
	// Start announces a user's work: the messages and bytes its source
	// holds now in the folders the pass copies. It replaces the
	// inventory's figures given to Begin.
	Start(user string, messages, bytes int64)
	// Add reports messages and bytes this run copied for a user (a message
	// the target refused counts: it was sent).
	Add(user string, messages, bytes int64)
	// AlreadyCopied reports messages of a user found on the target already
	// (copied by an earlier run, or in a folder unchanged since the last
	// pass): they bring the user nearer its end but are no work of this
	// run, so they do not count towards its rate. bytes may be 0 when
	// the source did not tell their size.
	AlreadyCopied(user string, messages, bytes int64)
	// Done ends a user's work; err is nil on success.
	Done(user string, err error)
	// End ends the step Begin announced.
	End(step string)
}

// Work is what a step expects of one user before it starts: the messages
// and bytes of the user's source as collect found them.
type Work struct {
	User     string
	Messages int64
	Bytes    int64
}

// NoProgress discards progress.
type NoProgress struct{}

// Begin implements Progress.
func (NoProgress) Begin(string, []Work) {}

// Start implements Progress.
func (NoProgress) Start(string, int64, int64) {}

// Add implements Progress.
func (NoProgress) Add(string, int64, int64) {}

// AlreadyCopied implements Progress.
func (NoProgress) AlreadyCopied(string, int64, int64) {}

// Done implements Progress.
func (NoProgress) Done(string, error) {}

// End implements Progress.
func (NoProgress) End(string) {}

// beginStep tells the progress display that step starts on rows, with
// what the inventory holds of each in the folders the step copies
// (nothing known for a user not collected), and returns the function that
// ends it.
func (p *Project) beginStep(step string, rows []users.Row) func() {
	work := make([]Work, 0, len(rows))
	for _, r := range rows {
		w := Work{User: r.SourceUser}
		if a, err := p.Store.Account(r.SourceUser, state.SideSource); err == nil {
			excluded, err := p.mapConfig().Excluder(a.Description.Delimiter)
			for _, f := range a.Folders {
				if err == nil && !f.NoSelect && f.Error == "" && !excluded(f.Name) {
					w.Messages += int64(f.Messages)
					w.Bytes += max(f.Bytes, 0)
				}
			}
		}
		work = append(work, w)
	}
	p.progress().Begin(step, work)
	return func() { p.progress().End(step) }
}
