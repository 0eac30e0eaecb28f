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

// planInput is what an approval covers: the users, the endpoints and the
// folder mapping rules. Changing any of it voids the approval.
type planInput struct {
	Users   [][3]string       `json:"users"` // source, target, batch
	Source  string            `json:"source"`
	Target  string            `json:"target"`
	Exclude []string          `json:"exclude"`
	Map     map[string]string `json:"map"`
	Prefix  string            `json:"prefix"`
}

// PlanHash is the hash of the plan an approval covers.
func (p *Project) PlanHash() string {
	in := planInput{
		Source:  p.Config.Source.URL,
		Target:  p.Config.Target.URL,
		Exclude: slices.Clone(p.Config.Folders.Exclude),
		Map:     p.Config.Folders.Map,
		Prefix:  p.Config.Folders.Prefix,
	}
	for _, r := range p.Users {
		in.Users = append(in.Users, [3]string{r.SourceUser, r.TargetUser, r.Batch})
	}
	slices.SortFunc(in.Users, func(a, b [3]string) int {
		return slices.Compare(a[:], b[:])
	})
	slices.Sort(in.Exclude)
	b, _ := json.Marshal(in) // maps marshal with sorted keys
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// requireApproval checks that the current plan is the approved one.
func (p *Project) requireApproval() (state.Approval, error) {
	a, err := p.Store.LatestApproval()
	if errors.Is(err, state.ErrNotFound) {
		return a, gateError(ErrNotApproved, "run `mailshift approve --show` to review the scope of work, then `mailshift approve --yes --by NAME`")
	}
	if err != nil {
		return a, err
	}
	if a.Hash != p.PlanHash() {
		return a, gateError(ErrPlanChanged, "the users, endpoints or folder mapping changed after %s approved the plan on %s; review and approve it again with `mailshift approve`", a.By, a.At.Format("2006-01-02 15:04"))
	}
	return a, nil
}

// requireTest checks that a test migration of this plan passed.
func (p *Project) requireTest() error {
	t, err := p.Store.LatestTestRun()
	if errors.Is(err, state.ErrNotFound) {
		return gateError(ErrNotTested, "run `mailshift test` first (or `mailshift bulk --skip-test` to go on without one)")
	}
	if err != nil {
		return err
	}
	if t.PlanHash != p.PlanHash() {
		return gateError(ErrNotTested, "the last test migration was of another plan; run `mailshift test` again (or `--skip-test`)")
	}
	if !t.Passed {
		return gateError(ErrNotTested, "the last test migration failed (%s); fix it and run `mailshift test` again (or `--skip-test`)", t.Detail)
	}
	return nil
}

// requireCollected checks that every selected user was collected.
func (p *Project) requireCollected(rows []users.Row) error {
	var missing []string
	for _, r := range rows {
		u, err := p.Store.User(r.SourceUser)
		if err != nil && !errors.Is(err, state.ErrNotFound) {
			return err
		}
		if u.CollectedAt.IsZero() {
			missing = append(missing, r.SourceUser)
		}
	}
	if len(missing) > 0 {
		return gateError(ErrNotCollected, "%d user(s) not collected yet (%s); run `mailshift collect` first", len(missing), abbreviate(missing, 5))
	}
	return nil
}

// abbreviate lists up to n names and says how many more there are.
func abbreviate(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(" and %d more", len(names)-n)
}
