package phase

import (
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
