package phase

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mailshift/mailshift/state"
)

// ForgetOptions names the users whose state to delete.
type ForgetOptions struct {
	Users []string // source (or target) users no longer in the users file
	Yes   bool     // confirm
}

// ForgetResult is what Forget deleted.
type ForgetResult struct {
	Users  []string `json:"users"`           // source users forgotten
	Copied int64    `json:"copied_messages"` // their copied messages the state no longer knows of
}

// Forget deletes from the state everything recorded about users that are
// no longer in the users file: progress, inventory, problems, per-message
// pairs, sync cursors, skipped folders and cutover records. It never
// touches a server: what was copied stays on the target. Approvals and
// test runs that name the users are kept as they were signed. A user
// still in the users file is refused (remove its row first), and so is a
// name the state does not know; nothing is deleted unless Yes.
func Forget(p *Project, opts ForgetOptions) (ForgetResult, error) {
	var res ForgetResult
	var names []string
	for _, n := range opts.Users {
		if n = strings.TrimSpace(n); n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		msg := "name the users to forget: `mailshift forget --users a,b --yes`"
		gone, err := p.removedUsers()
		if err != nil {
			return res, err
		}
		if len(gone) == 0 {
			msg += "; every user the state knows is in the users file"
		} else {
			msg += "; users in the state but not in the users file: " + strings.Join(gone, ",")
		}
		return res, &ConfigError{"--users", msg}
	}
	var listed []string
	for _, n := range names {
		for _, r := range p.Users {
			if n == r.SourceUser || n == r.TargetUser {
				listed = append(listed, n)
				break
			}
		}
	}
	if len(listed) > 0 {
		return res, &ConfigError{"--users", fmt.Sprintf("%s still in the users file %s: remove the row first; forget deletes only the state of users no longer in it", strings.Join(listed, ", "), p.Config.Users.File)}
	}
	known, err := p.Store.Users()
	if err != nil {
		return res, err
	}
	var unknown []string
	for _, n := range names {
		i := slices.IndexFunc(known, func(u state.User) bool { return u.SourceUser == n || u.TargetUser == n })
		if i < 0 {
			unknown = append(unknown, n)
			continue
		}
		if !slices.Contains(res.Users, known[i].SourceUser) {
			res.Users = append(res.Users, known[i].SourceUser)
		}
	}
	if len(unknown) > 0 {
		msg := fmt.Sprintf("the state holds nothing about %s", strings.Join(unknown, ", "))
		if gone, err := p.removedUsers(); err == nil && len(gone) > 0 {
			msg += "; users in the state but not in the users file: " + strings.Join(gone, ",")
		}
		return res, &ConfigError{"--users", msg}
	}
	for _, u := range res.Users {
		c, err := p.Store.Counts(u)
		if err != nil {
			return res, err
		}
		res.Copied += c.Copied
	}
	if !opts.Yes {
		return res, &ConfigError{"--yes", fmt.Sprintf("forgetting deletes what the state knows about %s (%d copied messages among it); the servers are not touched. Run again with --yes", strings.Join(res.Users, ", "), res.Copied)}
	}
	for _, u := range res.Users {
		if err := p.Store.ForgetUser(u); err != nil {
			return res, err
		}
	}
	return res, nil
}

// removedUsers lists the source users the state knows that are not in the
// users file: kept until forgotten, left out of every document.
func (p *Project) removedUsers() ([]string, error) {
	known, err := p.Store.Users()
	if err != nil {
		return nil, err
	}
	listed := make(map[string]bool, len(p.Users))
	for _, r := range p.Users {
		listed[r.SourceUser] = true
	}
	var out []string
	for _, u := range known {
		if !listed[u.SourceUser] {
			out = append(out, u.SourceUser)
		}
	}
	return out, nil
}
