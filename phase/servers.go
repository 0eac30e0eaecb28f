package phase

import (
	"fmt"
	"strings"

	"github.com/mailshift/mailshift/internal/users"
)

// serverGroup is the users of one source server, in the users file's
// order.
type serverGroup struct {
	Server string // as the backends name it (host:port), "" for local files
	Rows   []users.Row
}

// sourceServer names r's source server: its own (source_url, an imapsync
// host) or the configuration's, as the backends name servers; "" when
// the backends do not name servers.
func (p *Project) sourceServer(r users.Row) string {
	sn, ok := p.Backends.(ServerNamer)
	if !ok {
		return ""
	}
	src, _ := sn.Servers(r)
	return src
}

// bySourceServer groups rows by source server, the servers in the order
// their first user comes.
func (p *Project) bySourceServer(rows []users.Row) []serverGroup {
	var out []serverGroup
	at := map[string]int{}
	for _, r := range rows {
		s := p.sourceServer(r)
		i, ok := at[s]
		if !ok {
			i = len(out)
			at[s] = i
			out = append(out, serverGroup{Server: s})
		}
		out[i].Rows = append(out[i].Rows, r)
	}
	return out
}

// serversOf names the source servers of the named users, each with its
// users ("host1:143 (ann), host2:143 (ben, cat)"), or "" when they read
// one server only.
func (p *Project) serversOf(names []string) string {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var rows []users.Row
	for _, r := range p.Users {
		if want[r.SourceUser] {
			rows = append(rows, r)
		}
	}
	groups := p.bySourceServer(rows)
	if len(groups) < 2 {
		return ""
	}
	parts := make([]string, len(groups))
	for i, g := range groups {
		var us []string
		for _, r := range g.Rows {
			us = append(us, r.SourceUser)
		}
		parts[i] = fmt.Sprintf("%s (%s)", orDash(g.Server), strings.Join(us, ", "))
	}
	return strings.Join(parts, ", ")
}

// testUsers are the users a test migrates: those named (--users), else
// test_users, else defaultTestUsers.
func (p *Project) testUsers(named []string) []string {
	switch {
	case len(named) > 0:
		return named
	case len(p.Config.TestUsers) > 0:
		return p.Config.TestUsers
	}
	return p.defaultTestUsers()
}

// defaultTestUsers are the test users when neither test_users nor --users
// names any: the first user of each source server in the users file, so
// that one test migration tries every source server the project reads.
func (p *Project) defaultTestUsers() []string {
	var names []string
	for _, g := range p.bySourceServer(p.Users) {
		names = append(names, g.Rows[0].SourceUser)
	}
	return names
}
