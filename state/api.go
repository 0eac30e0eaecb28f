package state

// This file is the contract the rest of mailshift codes against. Bodies are
// filled in store.go and friends; signatures here must not change without
// changing every caller.

import (
	"errors"
	"time"

	"github.com/mailshift/mailshift/internal/mailbox"
)

// Sentinel errors; callers test with errors.Is.
var (
	// ErrLocked: another mailshift run holds the state file.
	ErrLocked = errors.New("state file is locked by another mailshift run")
	// ErrCorrupt: the file is not a mailshift state or is damaged.
	ErrCorrupt = errors.New("state file is corrupt")
	// ErrNewerVersion: the file was written by a newer mailshift.
	ErrNewerVersion = errors.New("state file was written by a newer mailshift")
	// ErrNotFound: the asked-for record does not exist.
	ErrNotFound = errors.New("not found")
)

// Step names a lifecycle step a user passes through.
type Step string

// The steps recorded per user.
const (
	StepCollect     Step = "collect"
	StepTest        Step = "test"
	StepBulkStarted Step = "bulk-started"
	StepBulk        Step = "bulk"
	StepSync        Step = "sync"
	StepCutover     Step = "cutover"
)

// User is one mailbox of the project and where it stands.
type User struct {
	SourceUser string
	TargetUser string
	Batch      string

	CollectedAt   time.Time // zero: never
	TestedAt      time.Time
	BulkStartedAt time.Time
	BulkDoneAt    time.Time
	SyncedAt      time.Time
	CutoverAt     time.Time

	ErrorStep Step   // the step whose last run failed for this user, "" if none
	Error     string // that failure's reason (never a secret)

	PausedUntil time.Time // bulk copy waits outside the copy windows until then; zero: not paused
	// PausedReason says why: PauseWindows (also ""), PauseBudget,
	// PauseLimits.
	PausedReason string
}

// Why a user's copy is paused (User.PausedReason).
const (
	PauseWindows = "windows" // outside throttle.windows
	PauseBudget  = "budget"  // throttle.daily_per_user spent
	PauseLimits  = "limits"  // the server said the account's limits are exceeded
)

// Budget is what a user has copied in the current period of
// throttle.daily_per_user.
type Budget struct {
	Start time.Time // when the period began; zero: nothing counted yet
	Bytes int64     // bytes copied since
}

// Side of an account: the source or the target.
type Side string

// The two sides.
const (
	SideSource Side = "source"
	SideTarget Side = "target"
)

// Account is what collect learned about one side of one user.
type Account struct {
	User        string // source user it belongs to
	Side        Side
	Login       string // the account name logged in to
	Description mailbox.Description
	Folders     []mailbox.Folder
	Error       string // login or listing failure, "" if fine
	CollectedAt time.Time
}

// Problem is something collect found that needs a decision before copying.
type Problem struct {
	User   string `json:"user"`
	Kind   string `json:"kind"`   // "login", "oversize", "quota", "name", "folder", "feature", "hierarchy", ...
	Folder string `json:"folder"` // may be empty
	Detail string `json:"detail"`
	Action string `json:"action"` // what mailshift will do about it
}

// Approval is a recorded sign-off of a plan for some users.
type Approval struct {
	ID   int64
	Hash string // of the plan for the users it covers
	By   string
	Role string // the approver's role, "" if not given
	At   time.Time
	Text string // the scope of work as rendered and approved (Markdown)
	// Plan is what the approval covered (its users' rows, the endpoints,
	// the folder mapping) as the caller encoded it, so that a later
	// refusal can say what changed; "" for approvals recorded before.
	Plan string
	// Users are the source users the approval covers. An approval
	// recorded by a mailshift that did not list them covers the users the
	// state knew when it was upgraded: every user of the project then.
	Users []string
}

// TestRun is the outcome of one `mailshift test`.
type TestRun struct {
	ID       int64
	At       time.Time
	PlanHash string
	Users    []string
	Messages int64
	Bytes    int64
	Seconds  float64
	Passed   bool
	Detail   string // why it failed, or a summary
}

// Cursor is the sync position of one source folder of one user.
type Cursor struct {
	User              string
	SourceFolder      string
	SourceUIDValidity uint32
	TargetFolder      string
	TargetUIDValidity uint32
	UIDNext           uint32 // source UIDNEXT when last synced
	HighestModSeq     uint64 // source HIGHESTMODSEQ when last synced
	Messages          uint32 // source message count when last synced
	SyncedAt          time.Time
}

// PairStatus is where a source message stands.
type PairStatus string

// The statuses of a pair.
const (
	// Intent: about to be appended; the target may or may not hold it.
	Intent PairStatus = "intent"
	// Copied: the target holds it at TargetUID (0 if not yet known).
	Copied PairStatus = "copied"
	// Failed: the target refused it or it could not be read; Error says why.
	Failed PairStatus = "failed"
)

// Pair ties one source message to its copy on the target.
type Pair struct {
	User              string
	SourceFolder      string
	SourceUIDValidity uint32
	SourceKey         string
	SourceUID         uint32
	Size              int64
	Hash              string // hex SHA-256 of the content, "" until known
	Flags             []string
	InternalDate      time.Time
	TargetFolder      string
	TargetUIDValidity uint32
	TargetUIDNext     uint32 // target UIDNEXT when the intent was recorded
	TargetUID         uint32
	Status            PairStatus
	Error             string
}

// Cutover is the record of one user's cutover.
type Cutover struct {
	User             string
	At               time.Time
	FinalMessages    int64   // messages the final sync copied
	FinalSyncSeconds float64 // how long the final sync took
	Verified         bool
	Differences      int64
	Report           string // path of the cutover report
}

// Counts summarises a user's pairs.
type Counts struct {
	Copied, Failed, Intent int64
	CopiedBytes            int64
}
