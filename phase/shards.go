package phase

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
)

// Shards split the approved plan's users so that several stations (pods
// of a Kubernetes Indexed Job, allocations of a Nomad job, jobs of a CI
// matrix) can run its steps at once, each against a state file of its own,
// and `merge` brings their states back into the project's.
//
// The split is by volume: the users the approved plan covers, largest
// first (the bytes the last collect counted on the source), each onto the
// shard that holds the fewest bytes so far, so that the shards finish
// together. It is stable: it depends only on the approved users and their
// collected volumes, never on the order of the users file, the time or the
// station. Ties go by user name (equal volumes) and then to the shard with
// the fewest users and the lowest index. The same plan and inventory split
// the same way on every station and at every re-approval of the same plan;
// a change of either may move users between shards, and then the split
// hash changes and shards started from the old split refuse to run.

// ErrShardEmpty means the shard holds no user of the selection: there is
// nothing for it to do, which is not a failure (exit 0).
var ErrShardEmpty = errors.New("this shard holds no user of the selection")

// ShardPlan is the approved plan's users split into shards.
type ShardPlan struct {
	// PlanHash is the hash of the approved plan (every user whose
	// approval holds, their rows, the endpoints, the folder mapping).
	PlanHash string `json:"plan_hash"`
	// SplitHash is the hash of the plan and its assignment to Count
	// shards: a shard state started from another split refuses to run.
	SplitHash string      `json:"split_hash"`
	Count     int         `json:"count"`
	Shards    []ShardSlot `json:"shards"`
	// NotApproved are the users file's users outside the approved plan:
	// in no shard until they are approved.
	NotApproved []string `json:"not_approved"`
}

// ShardSlot is one shard of a plan: its users and their volume.
type ShardSlot struct {
	Index    int         `json:"index"` // 1 to Count
	Bytes    int64       `json:"bytes"`
	Messages int64       `json:"messages"`
	Users    []ShardUser `json:"users"`
}

// ShardUser is a user of a shard with the volume collect measured.
type ShardUser struct {
	User     string `json:"user"`
	Bytes    int64  `json:"bytes"`
	Messages int64  `json:"messages"`
}

// Names lists the slot's source users by name.
func (s ShardSlot) Names() []string {
	out := make([]string, len(s.Users))
	for i, u := range s.Users {
		out[i] = u.User
	}
	slices.Sort(out)
	return out
}

// SplitPlan splits the users of p's approved plan into n shards by the
// volume collect measured (see the comment at the top of this file).
// It refuses (exit 3) a project with no approved user.
func SplitPlan(p *Project, n int) (ShardPlan, error) {
	if n < 1 {
		return ShardPlan{}, &ConfigError{"shards", fmt.Sprintf("%d shards: the count must be 1 or more", n)}
	}
	approved, left, err := p.approvedRows()
	if err != nil {
		return ShardPlan{}, err
	}
	if len(approved) == 0 {
		return ShardPlan{}, gateError(ErrNotApproved, "no user of the users file is approved under an unchanged plan: run `mailshift approve --yes --by NAME` on the project state first, then split it")
	}
	plan := ShardPlan{PlanHash: p.planHash(approved), Count: n, NotApproved: left, Shards: make([]ShardSlot, n)}
	var us []ShardUser
	for _, r := range approved {
		u := ShardUser{User: r.SourceUser}
		a, err := p.Store.Account(r.SourceUser, state.SideSource)
		if err != nil && !errors.Is(err, state.ErrNotFound) {
			return ShardPlan{}, err
		}
		for _, f := range a.Folders {
			u.Bytes += max(f.Bytes, 0)
			u.Messages += int64(f.Messages)
		}
		us = append(us, u)
	}
	slices.SortFunc(us, func(a, b ShardUser) int {
		if a.Bytes != b.Bytes {
			return cmpInt64(b.Bytes, a.Bytes)
		}
		return strings.Compare(a.User, b.User)
	})
	if plan.NotApproved == nil {
		plan.NotApproved = []string{}
	}
	for i := range plan.Shards {
		plan.Shards[i].Index = i + 1
		plan.Shards[i].Users = []ShardUser{}
	}
	for _, u := range us {
		least := 0
		for i, s := range plan.Shards {
			l := plan.Shards[least]
			if s.Bytes < l.Bytes || (s.Bytes == l.Bytes && len(s.Users) < len(l.Users)) {
				least = i
			}
		}
		s := &plan.Shards[least]
		s.Users = append(s.Users, u)
		s.Bytes += u.Bytes
		s.Messages += u.Messages
	}
	plan.SplitHash = splitHash(plan)
	return plan, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// splitHash is the hash of the plan's hash and each shard's users.
func splitHash(plan ShardPlan) string {
	in := struct {
		Plan   string     `json:"plan"`
		Shards [][]string `json:"shards"`
	}{Plan: plan.PlanHash}
	for _, s := range plan.Shards {
		in.Shards = append(in.Shards, s.Names())
	}
	b, _ := json.Marshal(in)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// approvedRows returns the users file's rows whose approval holds, and the
// names of the others, in file order.
func (p *Project) approvedRows() ([]users.Row, []string, error) {
	as, err := p.userApprovals()
	if err != nil {
		return nil, nil, err
	}
	var ok []users.Row
	var left []string
	for _, r := range p.Users {
		if a, found := as[r.SourceUser]; found && a.Holds {
			ok = append(ok, r)
		} else {
			left = append(left, r.SourceUser)
		}
	}
	return ok, left, nil
}

// RenderShards is the plain-text form of `mailshift shards N`.
func RenderShards(plan ShardPlan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Plan %s split into %d shards (split %s):\n\n", short(plan.PlanHash), plan.Count, short(plan.SplitHash))
	fmt.Fprintf(&b, "%-7s %6s %10s %12s  %s\n", "shard", "users", "messages", "size", "users")
	for _, s := range plan.Shards {
		fmt.Fprintf(&b, "%-7s %6d %10d %12s  %s\n", fmt.Sprintf("%d/%d", s.Index, plan.Count), len(s.Users), s.Messages, FormatBytes(s.Bytes), abbreviate(s.Names(), 8))
	}
	if len(plan.NotApproved) > 0 {
		fmt.Fprintf(&b, "\nIn no shard (not approved under an unchanged plan): %s\n", abbreviate(plan.NotApproved, 10))
	}
	return b.String()
}

// short is the first 12 characters of a hash.
func short(h string) string { return h[:min(12, len(h))] }

// StartShard makes p, whose Store is a shard's state file, run as shard
// index/count of the approved plan. project is the project state (opened
// for reading; nil when the station has none). A new, empty shard state is
// started from project: its users' rows and the approvals are copied into
// it. A shard state already started must be of the same shard of the same
// split as project's (when given) and of the plan the configuration and
// users file make now: otherwise StartShard refuses with ErrPlanChanged
// (exit 3), saying what to do. From then on p's steps see only the
// shard's users.
func StartShard(p *Project, project *state.Store, index, count int) error {
	if index < 1 || index > count {
		return &ConfigError{"--shard", fmt.Sprintf("shard %d/%d: the index must be 1 to %d", index, count, count)}
	}
	var current *ShardPlan
	if project != nil {
		pp := &Project{Config: p.Config, Users: p.Users, Store: project}
		plan, err := SplitPlan(pp, count)
		if err != nil {
			return fmt.Errorf("project state %s: %w", project.Path(), err)
		}
		current = &plan
	}
	info, err := p.Store.Shard()
	switch {
	case errors.Is(err, state.ErrNotFound):
		if info, err = p.seedShard(project, current, index); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if err := p.checkShard(info, project, current, index, count); err != nil {
			return err
		}
	}
	if !p.Store.ReadOnly() {
		if err := p.Store.CountShardRun(); err != nil {
			return err
		}
		info.Runs++
	}
	p.Shard = &info
	return nil
}

// seedShard starts p's empty state as shard index of current, the split
// of the project state project.
func (p *Project) seedShard(project *state.Store, current *ShardPlan, index int) (state.ShardInfo, error) {
	if p.Store.ReadOnly() || current == nil {
		return state.ShardInfo{}, gateError(ErrNotApproved, "the shard state %s was never started and there is no project state to start it from: copy the project state (after `mailshift approve`) to the station and name it with --state", p.Store.Path())
	}
	info := state.ShardInfo{Index: index, Count: current.Count, PlanHash: current.PlanHash, SplitHash: current.SplitHash,
		Users: current.Shards[index-1].Names(), SeededFrom: project.Path(), SeededAt: p.now()}
	if err := p.Store.SeedShard(project.Path(), info); err != nil {
		return state.ShardInfo{}, err
	}
	p.log().Info("shard state started from the project state", "shard", info.Name(), "state", p.Store.Path(), "project_state", project.Path(), "users", len(info.Users), "plan", short(info.PlanHash))
	return info, nil
}

// checkShard refuses a shard state that is not shard index/count of the
// current split (from the project state, when there is one) or of the plan
// the configuration and users file make now.
func (p *Project) checkShard(info state.ShardInfo, project *state.Store, current *ShardPlan, index, count int) error {
	again := fmt.Sprintf("merge it into the project state (`mailshift merge %s`), copy the project state to the station again and start the shard from a new state file (remove %s, or name another with --shard-state)", p.Store.Path(), p.Store.Path())
	if info.Index != index || info.Count != count {
		return gateError(ErrPlanChanged, "the state file %s is shard %s's, not %d/%d's: give each shard its own state file (--shard-state), or %s", p.Store.Path(), info.Name(), index, count, again)
	}
	if current != nil && current.SplitHash != info.SplitHash {
		return gateError(ErrPlanChanged, "shard %s was started from plan %s (split %s), but the project state %s now holds plan %s (split %s): the plan was approved or collected again since; %s",
			info.Name(), short(info.PlanHash), short(info.SplitHash), project.Path(), short(current.PlanHash), short(current.SplitHash), again)
	}
	approved, _, err := p.approvedRows()
	if err != nil {
		return err
	}
	if now := p.planHash(approved); now != info.PlanHash {
		return gateError(ErrPlanChanged, "shard %s was started from plan %s, but the configuration and users file make plan %s now (see `mailshift approve --show` on the project state): %s",
			info.Name(), short(info.PlanHash), short(now), again)
	}
	return nil
}

// inShard narrows rows, the users a selection named, to p's shard. Users
// named with --users that another shard holds are a usage error; a
// selection with none of the shard's users is ErrShardEmpty.
func (p *Project) inShard(rows []users.Row, sel Selection) ([]users.Row, error) {
	mine := make(map[string]bool, len(p.Shard.Users))
	for _, u := range p.Shard.Users {
		mine[u] = true
	}
	var out []users.Row
	var others []string
	for _, r := range rows {
		if mine[r.SourceUser] {
			out = append(out, r)
		} else if len(sel.Users) > 0 {
			others = append(others, r.SourceUser)
		}
	}
	if len(others) > 0 {
		return nil, &ConfigError{"--users", fmt.Sprintf("%s: not in shard %s (see `mailshift shards %d`); a shard never touches another shard's users", abbreviate(others, 10), p.Shard.Name(), p.Shard.Count)}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("shard %s: %w", p.Shard.Name(), ErrShardEmpty)
	}
	return out, nil
}

// writeShards says, in the status for people, which shard a shard's state
// is, and which shard states were merged into a project's.
func writeShards(b *strings.Builder, rep StatusReport) {
	if sh := rep.Shard; sh != nil {
		fmt.Fprintf(b, "Shard %d/%d of plan %s: %d users, started from %s on %s\n", sh.Index, sh.Count, short(sh.PlanHash), sh.Users, sh.SeededFrom, sh.SeededAt.Local().Format("2006-01-02 15:04"))
	}
	if len(rep.MergedShards) == 0 {
		return
	}
	splits := map[string]bool{}
	var names []string
	for _, m := range rep.MergedShards {
		splits[m.SplitHash] = true
		names = append(names, fmt.Sprintf("%d/%d", m.Index, m.Count))
	}
	last := rep.MergedShards[len(rep.MergedShards)-1]
	fmt.Fprintf(b, "Shards merged: %s (last on %s)", strings.Join(names, ", "), last.MergedAt.Local().Format("2006-01-02 15:04"))
	if len(splits) > 1 {
		fmt.Fprintf(b, "; of %d splits of the plan", len(splits))
	}
	b.WriteString("\n")
}
