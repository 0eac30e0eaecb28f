// Package users owns the users file: one row per mailbox to migrate, with
// its source and target logins, their passwords (Secret) and its batch. It
// reads the three formats mailshift accepts, validates every row before
// anything starts, and keeps passwords out of every message and printout.
//
// The formats, told apart by the first line that is neither blank nor a
// comment:
//
//   - mailshift CSV, with the header
//     source_user,source_password,target_user,target_password,batch
//     (any order, any case; only source_user is required; target_user
//     defaults to source_user), and optionally source_url and target_url:
//     the user's own server, overriding source.url or target.url (%u
//     stands for the user as there), for a project of several servers;
//   - the Microsoft 365 IMAP migration CSV, with the header
//     EmailAddress,UserName,Password (EmailAddress is the target user,
//     UserName the source user, Password the source password);
//   - imapsync lines host1;user1;password1;host2;user2;password2, without a
//     header (a trailing ";" is fine).
//
// The CSV formats may use ";" instead of "," throughout, as spreadsheets do
// in locales where the comma is the decimal mark; the header tells.
//
// A password may be a literal or a reference: env:VAR, file:PATH (relative
// to the working directory) or cmd:COMMAND. A UTF-8 byte order mark is
// ignored, and so are blank lines and lines starting with "#".
package users

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	neturl "net/url"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
)

// Row is one mailbox to migrate.
type Row struct {
	Line           int    // 1-based line of the row in the users file
	SourceUser     string // login on the source
	TargetUser     string // login on the target; the source user when not given
	Batch          string // the batch (wave) the user belongs to, "" if none
	SourcePassword Secret // password on the source, may be unset
	TargetPassword Secret // password on the target, may be unset
	SourceHost     string // source server of an imapsync line; "" otherwise
	TargetHost     string // target server of an imapsync line; "" otherwise
	// SourceURL and TargetURL are the row's own endpoints (the
	// source_url and target_url columns), overriding source.url and
	// target.url; "" when not given.
	SourceURL string
	TargetURL string
	// Extra holds the row's values of the extra columns the caller asked
	// for (Parse's extra), by column name as the caller wrote it.
	Extra map[string]string
}

// setExtra records the value of an extra column.
func (r *Row) setExtra(col, v string) {
	if r.Extra == nil {
		r.Extra = map[string]string{}
	}
	r.Extra[col] = strings.TrimSpace(v)
}

// Problem is one thing wrong in the users file. Its message never holds a
// password.
type Problem struct {
	Line   int    // 1-based line; 0 when the problem is about the whole file
	Column int    // 1-based field (column) number; 0 when about a whole line
	Field  string // the column's name ("target_user", "Password", "host1"), "" if none
	Msg    string // what is wrong and, where it helps, what to do
}

// String writes the problem as "7:3: target_user: msg", leaving out what is
// not known.
func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "%d:", p.Line)
		if p.Column > 0 {
			fmt.Fprintf(&b, "%d:", p.Column)
		}
		b.WriteString(" ")
	}
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error lists everything wrong in a users file, in the order of the file.
type Error struct {
	File     string // the file's name as given to Parse or Load
	Problems []Problem
}

// Error writes one line per problem: "users.csv:7:3: target_user: ...".
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		sep := ": "
		if p.Line > 0 {
			sep = ":"
		}
		lines[i] = e.File + sep + p.String()
	}
	return strings.Join(lines, "\n")
}

// The formats.
const (
	formatMailshift = iota
	formatM365
	formatImapsync
)

// Column names of the mailshift format.
const (
	colSourceUser     = "source_user"
	colSourcePassword = "source_password"
	colTargetUser     = "target_user"
	colTargetPassword = "target_password"
	colBatch          = "batch"
	colSourceURL      = "source_url"
	colTargetURL      = "target_url"
)

var mailshiftColumns = []string{colSourceUser, colSourcePassword, colTargetUser, colTargetPassword, colBatch, colSourceURL, colTargetURL}

// Column names of the Microsoft 365 format, as its documentation writes them.
const (
	colEmailAddress = "EmailAddress"
	colUserName     = "UserName"
	colPassword     = "Password"
)

var m365Columns = []string{colEmailAddress, colUserName, colPassword}

// Field names of an imapsync line, in order.
var imapsyncFields = []string{"host1", "user1", "password1", "host2", "user2", "password2"}

const formatHint = "write the header source_user,source_password,target_user,target_password,batch (and source_url,target_url for users of other servers), " +
	"the Microsoft 365 header EmailAddress,UserName,Password, " +
	"or imapsync lines host1;user1;password1;host2;user2;password2"

// Parse reads a users file; name is used in messages only. It reads every
// row and reports every problem it finds at once, as an *Error; other
// errors are I/O errors. The mailshift format may carry the extra columns
// named (e.g. "uid" for pst.owner_rules' file_owner), whose values go to
// Row.Extra; other unknown columns are mistakes.
func Parse(name string, r io.Reader, extra ...string) ([]Row, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	p := &parser{file: name, extra: extra}
	line, first := firstLine(data)
	var rows []Row
	switch {
	case line == 0:
		p.add(Problem{Msg: "no users: " + formatHint})
	case isHeader(first, ',', mailshiftColumns):
		rows = p.csv(data, ',', formatMailshift)
	case isHeader(first, ';', mailshiftColumns):
		rows = p.csv(data, ';', formatMailshift)
	case isHeader(first, ',', m365Columns):
		rows = p.csv(data, ',', formatM365)
	case isHeader(first, ';', m365Columns):
		rows = p.csv(data, ';', formatM365)
	case strings.Contains(first, ";"):
		rows = p.imapsync(data)
	default:
		p.add(Problem{Line: line, Msg: "cannot tell the format of the users file from this line: " + formatHint})
	}
	if len(p.problems) == 0 {
		p.checkUnique(rows)
	}
	if len(p.problems) == 0 && len(rows) == 0 {
		p.add(Problem{Msg: "no users: add one row per mailbox"})
	}
	if len(p.problems) > 0 {
		slices.SortStableFunc(p.problems, func(a, b Problem) int {
			if a.Line != b.Line {
				return a.Line - b.Line
			}
			return a.Column - b.Column
		})
		return nil, &Error{File: name, Problems: p.problems}
	}
	return rows, nil
}

// firstLine returns the first line that is neither blank nor a comment, and
// its number; 0 if there is none.
func firstLine(data []byte) (int, string) {
	for i, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSuffix(l, "\r")
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			continue
		}
		return i + 1, l
	}
	return 0, ""
}

// isHeader tells whether a CSV line, with comma as the separator, names
// any of the columns.
func isHeader(line string, comma rune, columns []string) bool {
	cr := csv.NewReader(strings.NewReader(line))
	cr.Comma = comma
	rec, err := cr.Read()
	if err != nil {
		return false
	}
	for _, f := range rec {
		if canonical(f, columns) != "" {
			return true
		}
	}
	return false
}

// canonical returns the column named by a header field, or "".
func canonical(field string, columns []string) string {
	field = strings.TrimSpace(field)
	for _, c := range columns {
		if strings.EqualFold(field, c) {
			return c
		}
	}
	return ""
}

type parser struct {
	file     string
	extra    []string // extra columns the mailshift format may carry
	problems []Problem
	// where the source and the target user are, for checkUnique
	srcCol, dstCol     int
	srcField, dstField string
}

func (p *parser) add(pr Problem) { p.problems = append(p.problems, pr) }

// csv reads the mailshift and the Microsoft 365 formats, with comma as the
// field separator.
func (p *parser) csv(data []byte, comma rune, format int) []Row {
	columns := append(slices.Clone(mailshiftColumns), p.extra...)
	if format == formatM365 {
		columns = m365Columns
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comma = comma
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	next := func() ([]string, int, bool) {
		for {
			rec, err := cr.Read()
			if err == io.EOF {
				return nil, 0, false
			}
			if pe, ok := errors.AsType[*csv.ParseError](err); ok {
				p.add(Problem{Line: pe.Line, Msg: fmt.Sprintf("CSV syntax error at character %d: %v; quote a field that holds commas or quotes", pe.Column, pe.Err)})
				continue
			}
			if err != nil { // cannot happen on a bytes.Reader
				p.add(Problem{Msg: err.Error()})
				return nil, 0, false
			}
			if blank(rec) {
				continue
			}
			line, _ := cr.FieldPos(0)
			return rec, line, true
		}
	}

	header, hline, ok := next()
	if !ok {
		return nil
	}
	cols := make([]string, len(header)) // column index -> canonical name, "" if unnamed
	where := map[string]int{}
	for i, h := range header {
		c := canonical(h, columns)
		switch {
		case strings.TrimSpace(h) == "":
			// A nameless column (a spreadsheet's trailing comma) is
			// ignored as long as it stays empty.
		case c == "":
			p.add(Problem{Line: hline, Column: i + 1, Field: strings.TrimSpace(h), Msg: "unknown column; the columns are " + strings.Join(columns, ", ")})
		case where[c] != 0:
			p.add(Problem{Line: hline, Column: i + 1, Field: c, Msg: fmt.Sprintf("column given twice (also column %d)", where[c])})
		default:
			where[c] = i + 1
		}
		cols[i] = c
	}
	required := []string{colSourceUser}
	if format == formatM365 {
		required = []string{colEmailAddress, colUserName}
	}
	for _, c := range required {
		if where[c] == 0 {
			p.add(Problem{Line: hline, Msg: fmt.Sprintf("no %s column; the header needs one", c)})
		}
	}
	if len(p.problems) > 0 {
		return nil // rows cannot be read reliably under a wrong header
	}
	p.srcField, p.dstField = colSourceUser, colTargetUser
	if format == formatM365 {
		p.srcField, p.dstField = colUserName, colEmailAddress
	}
	p.srcCol, p.dstCol = where[p.srcField], where[p.dstField]

	var rows []Row
	for {
		rec, line, ok := next()
		if !ok {
			return rows
		}
		if len(rec) != len(cols) {
			p.add(Problem{Line: line, Msg: fmt.Sprintf("%s, but the header has %d columns", count(len(rec), "field"), len(cols))})
			continue
		}
		row := Row{Line: line}
		for i, v := range rec {
			col := i + 1
			switch cols[i] {
			case "":
				if strings.TrimSpace(v) != "" {
					p.add(Problem{Line: line, Column: col, Msg: "value in a column without a header; name the column or leave it empty"})
				}
			case colSourceUser, colUserName:
				row.SourceUser = strings.TrimSpace(v)
			case colTargetUser, colEmailAddress:
				row.TargetUser = strings.TrimSpace(v)
			case colBatch:
				row.Batch = strings.TrimSpace(v)
			case colSourceURL:
				row.SourceURL = p.url(line, col, cols[i], v)
			case colTargetURL:
				row.TargetURL = p.url(line, col, cols[i], v)
			case colSourcePassword, colPassword:
				row.SourcePassword = p.secret(line, col, cols[i], v)
			case colTargetPassword:
				row.TargetPassword = p.secret(line, col, cols[i], v)
			default:
				row.setExtra(cols[i], v)
			}
		}
		if format == formatM365 {
			p.require(line, where[colUserName], colUserName, row.SourceUser, "the source user is missing")
			p.require(line, where[colEmailAddress], colEmailAddress, row.TargetUser, "the target address is missing")
		} else {
			p.require(line, where[colSourceUser], colSourceUser, row.SourceUser, "the source user is missing")
			if row.TargetUser == "" {
				row.TargetUser = row.SourceUser
			}
		}
		rows = append(rows, row)
	}
}

// imapsync reads imapsync's host1;user1;password1;host2;user2;password2
// lines.
func (p *parser) imapsync(data []byte) []Row {
	p.srcField, p.dstField, p.srcCol, p.dstCol = imapsyncFields[1], imapsyncFields[4], 2, 5
	var rows []Row
	for i, l := range strings.Split(string(data), "\n") {
		line := i + 1
		l = strings.TrimSuffix(l, "\r")
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Split(l, ";")
		if len(f) < len(imapsyncFields) {
			p.add(Problem{Line: line, Msg: count(len(f), "field") + "; an imapsync line has 6: host1;user1;password1;host2;user2;password2"})
			continue
		}
		bad := false
		for j := len(imapsyncFields); j < len(f); j++ {
			if strings.TrimSpace(f[j]) != "" {
				p.add(Problem{Line: line, Column: j + 1, Msg: "field after password2; an imapsync line has 6: host1;user1;password1;host2;user2;password2"})
				bad = true
			}
		}
		if bad {
			continue
		}
		row := Row{
			Line:           line,
			SourceHost:     strings.TrimSpace(f[0]),
			SourceUser:     strings.TrimSpace(f[1]),
			SourcePassword: p.secret(line, 3, imapsyncFields[2], f[2]),
			TargetHost:     strings.TrimSpace(f[3]),
			TargetUser:     strings.TrimSpace(f[4]),
			TargetPassword: p.secret(line, 6, imapsyncFields[5], f[5]),
		}
		p.require(line, 1, imapsyncFields[0], row.SourceHost, "the source host is missing")
		p.require(line, 2, imapsyncFields[1], row.SourceUser, "the source user is missing")
		p.require(line, 4, imapsyncFields[3], row.TargetHost, "the target host is missing")
		if row.TargetUser == "" {
			row.TargetUser = row.SourceUser
		}
		rows = append(rows, row)
	}
	return rows
}

// url reads a source_url or target_url field: empty, or an endpoint URL
// (scheme:...). Which schemes are known is the endpoints' business; a
// URL must not carry a password (the password columns do).
func (p *parser) url(line, col int, field, v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	scheme, rest, ok := strings.Cut(v, ":")
	if !ok || scheme == "" || rest == "" || strings.ContainsAny(scheme, "/ ") {
		p.add(Problem{Line: line, Column: col, Field: field, Msg: "not an endpoint URL; write e.g. imaps://mail2.example.com or maildir:/srv/mail/%u/Maildir, or leave it empty for the configuration's"})
		return ""
	}
	if u, err := neturl.Parse(strings.ReplaceAll(v, "%u", "user")); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			p.add(Problem{Line: line, Column: col, Field: field, Msg: "the URL holds a password; put it in the password column instead"})
			return ""
		}
	}
	return v
}

// secret parses a password field, recording a malformed reference.
func (p *parser) secret(line, col int, field, v string) Secret {
	s, err := ParseSecret(v)
	if err != nil {
		p.add(Problem{Line: line, Column: col, Field: field, Msg: err.Error()})
	}
	return s
}

func (p *parser) require(line, col int, field, v, msg string) {
	if v == "" {
		p.add(Problem{Line: line, Column: col, Field: field, Msg: msg})
	}
}

// checkUnique refuses a source mailbox listed twice and a target mailbox
// that two source mailboxes would be migrated into. Logins compare without
// regard to case; on imapsync lines the host is part of the mailbox.
func (p *parser) checkUnique(rows []Row) {
	sources := map[string]int{}
	targets := map[string]int{}
	for _, r := range rows {
		sk := strings.ToLower(r.SourceHost + "\x00" + r.SourceUser)
		if first, dup := sources[sk]; dup {
			p.add(Problem{Line: r.Line, Column: p.srcCol, Field: p.srcField, Msg: fmt.Sprintf("source user %q is also on line %d; list each mailbox once", r.SourceUser, first)})
			continue
		}
		sources[sk] = r.Line
		tk := strings.ToLower(r.TargetHost + "\x00" + r.TargetUser)
		if first, dup := targets[tk]; dup {
			p.add(Problem{Line: r.Line, Column: p.dstCol, Field: p.dstField, Msg: fmt.Sprintf("target user %q is also the target of line %d; two source mailboxes cannot go into one target mailbox", r.TargetUser, first)})
			continue
		}
		targets[tk] = r.Line
	}
}

// count writes "1 field", "2 fields".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// Load reads and validates the users file at path. The warnings are for a
// person to read: Load warns when the file holds plaintext passwords and
// group or others may access it.
// The mailshift format may carry the extra columns named, as Parse says.
func Load(path string, extra ...string) ([]Row, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("users file: %w", err)
	}
	defer f.Close()
	rows, err := Parse(path, f, extra...)
	if err != nil {
		return nil, nil, err
	}
	var warnings []string
	if fi, err := f.Stat(); err == nil && exposed(fi) {
		if slices.ContainsFunc(rows, func(r Row) bool { return r.SourcePassword.IsLiteral() || r.TargetPassword.IsLiteral() }) {
			warnings = append(warnings, fmt.Sprintf("%s holds plaintext passwords and is readable by others (mode %04o); chmod 600 %s, or write the passwords as env:VAR, file:PATH or cmd:COMMAND", path, fi.Mode().Perm(), shellQuote(path)))
		}
	}
	return rows, warnings, nil
}

// exposed tells whether group or others may access a file.
func exposed(fi os.FileInfo) bool {
	return runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0
}

// ExposedSecretsWarning returns a warning for a person when the file at
// path (a configuration file) holds secrets in plain text, under the keys
// named, and group or others may access it; "" otherwise.
func ExposedSecretsWarning(path string, keys []string) string {
	if len(keys) == 0 {
		return ""
	}
	fi, err := os.Stat(path)
	if err != nil || !exposed(fi) {
		return ""
	}
	return fmt.Sprintf("%s holds plaintext secrets (%s) and is readable by others (mode %04o); chmod 600 %s, or write them as env:VAR, file:PATH or cmd:COMMAND",
		path, strings.Join(keys, ", "), fi.Mode().Perm(), shellQuote(path))
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./@%+=:,-]+$`)

// shellQuote quotes a path for a command a person may paste.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
