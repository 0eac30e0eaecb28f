package phase

// Progress receives what a step is doing, for progress bars or log lines.
// Implementations must be safe for concurrent use: users run in parallel.
type Progress interface {
	// Start announces a user's work: how many messages and bytes to copy.
	Start(user string, messages, bytes int64)
	// Add reports messages and bytes copied (or skipped) for a user.
	Add(user string, messages, bytes int64)
	// Done ends a user's work; err is nil on success.
	Done(user string, err error)
}

// NoProgress discards progress.
type NoProgress struct{}

// Start implements Progress.
func (NoProgress) Start(string, int64, int64) {}

// Add implements Progress.
func (NoProgress) Add(string, int64, int64) {}

// Done implements Progress.
func (NoProgress) Done(string, error) {}
