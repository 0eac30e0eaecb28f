package users

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func lit(s string) Secret { return Secret{kind: KindLiteral, ref: s} }
func ref(kind, s string) Secret {
	return Secret{kind: kind, ref: s}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []Row
	}{
		{
			name: "mailshift, all columns",
			in: "source_user,source_password,target_user,target_password,batch\n" +
				"alice@old.example,pw1,alice@new.example,pw2,wave1\n" +
				"bob@old.example,,,,\n",
			want: []Row{
				{Line: 2, SourceUser: "alice@old.example", SourcePassword: lit("pw1"), TargetUser: "alice@new.example", TargetPassword: lit("pw2"), Batch: "wave1"},
				{Line: 3, SourceUser: "bob@old.example", TargetUser: "bob@old.example"},
			},
		},
		{
			name: "mailshift, users of several servers",
			in: "source_user,source_password,target_user,target_password,batch,source_url,target_url\n" +
				"ann,pw1,ann,pw2,wave1,imaps://mail2.old.example,\n" +
				"ben,pw1,ben,pw2,wave1,, imap://new2.example:1143?tls=starttls \n" +
				"cat,pw1,cat,pw2,wave1,maildir:/srv/export/%u/Maildir,\n" +
				"dan,pw1,dan,pw2,wave1,,\n",
			want: []Row{
				{Line: 2, SourceUser: "ann", SourcePassword: lit("pw1"), TargetUser: "ann", TargetPassword: lit("pw2"), Batch: "wave1", SourceURL: "imaps://mail2.old.example"},
				{Line: 3, SourceUser: "ben", SourcePassword: lit("pw1"), TargetUser: "ben", TargetPassword: lit("pw2"), Batch: "wave1", TargetURL: "imap://new2.example:1143?tls=starttls"},
				{Line: 4, SourceUser: "cat", SourcePassword: lit("pw1"), TargetUser: "cat", TargetPassword: lit("pw2"), Batch: "wave1", SourceURL: "maildir:/srv/export/%u/Maildir"},
				{Line: 5, SourceUser: "dan", SourcePassword: lit("pw1"), TargetUser: "dan", TargetPassword: lit("pw2"), Batch: "wave1"},
			},
		},
		{
			name: "mailshift, columns in any order and case, BOM, CRLF, comments, blank lines",
			in: "\uFEFF# migrated in two waves\r\n" +
				"\r\n" +
				" Batch ,TARGET_USER,Source_User\r\n" +
				"wave2,,carol\r\n" +
				"# dave comes later\r\n" +
				"   \r\n" +
				",,,\r\n" +
				"wave1, Dave@New ,  dave  \r\n",
			want: []Row{
				{Line: 4, SourceUser: "carol", TargetUser: "carol", Batch: "wave2"},
				{Line: 8, SourceUser: "dave", TargetUser: "Dave@New", Batch: "wave1"},
			},
		},
		{
			name: "mailshift, references and quoted literals kept exactly",
			in: "source_user,source_password,target_user,target_password\n" +
				"erin,env:ERIN_PW,erin,\" file:/run/secrets/erin \"\n" +
				"frank,\"a,b \"\"c\"\" \",frank,cmd: pass show mail/frank\n",
			want: []Row{
				{Line: 2, SourceUser: "erin", TargetUser: "erin", SourcePassword: ref(KindEnv, "ERIN_PW"), TargetPassword: ref(KindFile, "/run/secrets/erin")},
				{Line: 3, SourceUser: "frank", TargetUser: "frank", SourcePassword: lit(`a,b "c" `), TargetPassword: ref(KindCmd, "pass show mail/frank")},
			},
		},
		{
			name: "mailshift, a multi-line quoted field and a nameless empty column",
			in: "source_user,source_password,\n" +
				"gina,\"two\nlines\",\n" +
				"hank,x,\n",
			want: []Row{
				{Line: 2, SourceUser: "gina", TargetUser: "gina", SourcePassword: lit("two\nlines")},
				{Line: 4, SourceUser: "hank", TargetUser: "hank", SourcePassword: lit("x")},
			},
		},
		{
			name: "mailshift with ';' as a spreadsheet writes it in German",
			in:   "source_user;source_password;target_user;batch\r\n\"jürgen\";\"a;b,c\";;Welle 1\r\n",
			want: []Row{{Line: 2, SourceUser: "jürgen", TargetUser: "jürgen", SourcePassword: lit("a;b,c"), Batch: "Welle 1"}},
		},
		{
			name: "Microsoft 365 with ';'",
			in:   "EmailAddress;UserName;Password\nt@new;t;p,w\n",
			want: []Row{{Line: 2, SourceUser: "t", TargetUser: "t@new", SourcePassword: lit("p,w")}},
		},
		{
			name: "Microsoft 365",
			in: "EmailAddress,UserName,Password\n" +
				"terry@contoso.com,terry.adams,1091990\n" +
				"ann@contoso.com,ann.beebe,env:ANN\n",
			want: []Row{
				{Line: 2, SourceUser: "terry.adams", TargetUser: "terry@contoso.com", SourcePassword: lit("1091990")},
				{Line: 3, SourceUser: "ann.beebe", TargetUser: "ann@contoso.com", SourcePassword: ref(KindEnv, "ANN")},
			},
		},
		{
			name: "Microsoft 365, other order and case",
			in:   "password,emailaddress,username\nsecret,a@new,a\n",
			want: []Row{{Line: 2, SourceUser: "a", TargetUser: "a@new", SourcePassword: lit("secret")}},
		},
		{
			name: "imapsync lines",
			in: "# imapsync file.txt\n" +
				"old.example;alice;pw 1;new.example;alice@new;pw2;\n" +
				"\n" +
				"old.example:993; bob ;;new.example;;file:bob.pw\r\n" +
				"other.example;alice;x;new.example;alice2;y;;  \n",
			want: []Row{
				{Line: 2, SourceHost: "old.example", SourceUser: "alice", SourcePassword: lit("pw 1"), TargetHost: "new.example", TargetUser: "alice@new", TargetPassword: lit("pw2")},
				{Line: 4, SourceHost: "old.example:993", SourceUser: "bob", TargetHost: "new.example", TargetUser: "bob", TargetPassword: ref(KindFile, "bob.pw")},
				{Line: 5, SourceHost: "other.example", SourceUser: "alice", SourcePassword: lit("x"), TargetHost: "new.example", TargetUser: "alice2", TargetPassword: lit("y")},
			},
		},
		{
			name: "non-ASCII users",
			in:   "source_user,target_user\njürgen@alt.de,jürgen@neu.de\nзоя,зоя@new\n",
			want: []Row{
				{Line: 2, SourceUser: "jürgen@alt.de", TargetUser: "jürgen@neu.de"},
				{Line: 3, SourceUser: "зоя", TargetUser: "зоя@new"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse("users.csv", strings.NewReader(tc.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse:\n%s\nwant:\n%s", dump(got), dump(tc.want))
			}
		})
	}
}

// dump shows rows with their secrets, for test failures only.
func dump(rows []Row) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "line %d: %q/%q -> %q/%q batch %q hosts %q %q; pw %s:%q %s:%q\n",
			r.Line, r.SourceHost, r.SourceUser, r.TargetHost, r.TargetUser, r.Batch, r.SourceHost, r.TargetHost,
			r.SourcePassword.kind, r.SourcePassword.ref, r.TargetPassword.kind, r.TargetPassword.ref)
	}
	return b.String()
}

// leak is a password that must never appear in a message.
const leak = "Hunter2-LEAK"

func TestParseProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []string // the lines of the error, exactly
	}{
		{
			name: "empty file",
			in:   "",
			want: []string{"users.csv: no users: " + formatHint},
		},
		{
			name: "comments only",
			in:   "\uFEFF# nothing yet\n\n",
			want: []string{"users.csv: no users: " + formatHint},
		},
		{
			name: "header only",
			in:   "source_user,source_password\n# alice,secret\n",
			want: []string{"users.csv: no users: add one row per mailbox"},
		},
		{
			name: "unknown format, the line not repeated",
			in:   "# list\nalice," + leak + "\n",
			want: []string{"users.csv:2: cannot tell the format of the users file from this line: " + formatHint},
		},
		{
			name: "a server URL that is none, or holds a password",
			in:   "source_user,source_url,target_url\nann,mail2.old.example,\nben,,imaps://ben:" + leak + "@new.example\n",
			want: []string{
				"users.csv:2:2: source_url: not an endpoint URL; write e.g. imaps://mail2.example.com or maildir:/srv/mail/%u/Maildir, or leave it empty for the configuration's",
				"users.csv:3:3: target_url: the URL holds a password; put it in the password column instead",
			},
		},
		{
			name: "unknown, duplicate and nameless columns, no source_user",
			in:   "target_user,password,Target_User,,notes\nx,y,z,,w\n",
			want: []string{
				"users.csv:1: no source_user column; the header needs one",
				"users.csv:1:2: password: unknown column; the columns are source_user, source_password, target_user, target_password, batch, source_url, target_url",
				"users.csv:1:3: target_user: column given twice (also column 1)",
				"users.csv:1:5: notes: unknown column; the columns are source_user, source_password, target_user, target_password, batch, source_url, target_url",
			},
		},
		{
			name: "bad rows, all reported",
			in: "source_user,source_password,target_user,target_password,batch,\n" +
				"alice," + leak + ",alice,,w1,\n" + // 2: fine
				"," + leak + ",nobody,,w1,\n" + // 3: no source user
				"bob," + leak + "\n" + // 4: too few fields
				"carol," + leak + ",carol,,w1,,extra\n" + // 5: too many fields
				"ALICE," + leak + ",alice2,,w1,\n" + // 6: alice again
				"dave,env:,dave,env:1" + leak + ",w1,\n" + // 7: malformed references
				"erin,file:   ,erin,cmd:,w1,\n" + // 8: malformed references
				"frank,,Alice,,w1,\n" + // 9: target taken by alice
				"gina,,,,w1," + leak + "\n" + // 10: value in the nameless column
				"frank2,,frank,,w1,\n" + // 11: fine
				"frank,,frank3,,w1,\n", // 12: frank again
			want: []string{
				"users.csv:3:1: source_user: the source user is missing",
				"users.csv:4: 2 fields, but the header has 6 columns",
				"users.csv:5: 7 fields, but the header has 6 columns",
				"users.csv:7:2: source_password: env: reference names no variable; write env:VARIABLE",
				"users.csv:7:4: target_password: env: reference does not name a valid environment variable (letters, digits and _, not starting with a digit)",
				"users.csv:8:2: source_password: file: reference names no file; write file:PATH",
				"users.csv:8:4: target_password: cmd: reference names no command; write cmd:COMMAND",
				"users.csv:10:6: value in a column without a header; name the column or leave it empty",
			},
		},
		{
			name: "duplicates, once the rows are well-formed",
			in: "batch,target_user,source_user\n" +
				"w1,alice,alice\n" +
				"w1,alice2,ALICE\n" +
				"w1,Alice,frank\n" +
				"w1,,bob\n" +
				"w1,bob,carol\n",
			want: []string{
				`users.csv:3:3: source_user: source user "ALICE" is also on line 2; list each mailbox once`,
				`users.csv:4:2: target_user: target user "Alice" is also the target of line 2; two source mailboxes cannot go into one target mailbox`,
				`users.csv:6:2: target_user: target user "bob" is also the target of line 5; two source mailboxes cannot go into one target mailbox`,
			},
		},
		{
			name: "CSV syntax error",
			in:   "source_user,source_password\nalice,ab\"c" + leak + "\nbob,x\n",
			want: []string{`users.csv:2: CSV syntax error at character 9: bare " in non-quoted-field; quote a field that holds commas or quotes`},
		},
		{
			name: "Microsoft 365, missing fields",
			in: "EmailAddress,UserName,Password\n" +
				"," + leak + "," + leak + "\n" +
				"a@new,," + leak + "\n" +
				"b@new,b,env:\n",
			want: []string{
				"users.csv:2:1: EmailAddress: the target address is missing",
				"users.csv:3:2: UserName: the source user is missing",
				"users.csv:4:3: Password: env: reference names no variable; write env:VARIABLE",
			},
		},
		{
			name: "';' header, ',' rows",
			in:   "source_user;target_user\na,b\n",
			want: []string{"users.csv:2: 1 field, but the header has 2 columns"},
		},
		{
			name: "Microsoft 365, no UserName column",
			in:   "EmailAddress,Password\na@new," + leak + "\n",
			want: []string{"users.csv:1: no UserName column; the header needs one"},
		},
		{
			name: "imapsync, bad lines",
			in: "h1;alice;" + leak + ";h2;alice;" + leak + "\n" +
				"h1;bob;" + leak + ";h2;bob\n" +
				"h1;carol;" + leak + ";h2;carol;" + leak + ";;x" + leak + "\n" +
				";dave;" + leak + ";;dave;cmd:\n" +
				"h1;;" + leak + ";h2;erin;" + leak + "\n",
			want: []string{
				"users.csv:2: 5 fields; an imapsync line has 6: host1;user1;password1;host2;user2;password2",
				"users.csv:3:8: field after password2; an imapsync line has 6: host1;user1;password1;host2;user2;password2",
				"users.csv:4:1: host1: the source host is missing",
				"users.csv:4:4: host2: the target host is missing",
				"users.csv:4:6: password2: cmd: reference names no command; write cmd:COMMAND",
				"users.csv:5:2: user1: the source user is missing",
			},
		},
		{
			name: "imapsync, duplicates; the same user on another host is another mailbox",
			in: "h1;alice;p;h2;alice;p\n" +
				"H1;Alice;p;h2;alice9;p\n" +
				"h3;alice;p;h2;Alice;p\n" +
				"h3;bob;p;h4;alice;p\n",
			want: []string{
				`users.csv:2:2: user1: source user "Alice" is also on line 1; list each mailbox once`,
				`users.csv:3:5: user2: target user "Alice" is also the target of line 1; two source mailboxes cannot go into one target mailbox`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := Parse("users.csv", strings.NewReader(tc.in))
			if err == nil {
				t.Fatalf("Parse = %s, want an error", dump(rows))
			}
			var ue *Error
			if !errors.As(err, &ue) {
				t.Fatalf("error %T is not *Error: %v", err, err)
			}
			if ue.File != "users.csv" || len(ue.Problems) != len(tc.want) {
				t.Errorf("File %q, %d problems, want users.csv and %d", ue.File, len(ue.Problems), len(tc.want))
			}
			if got, want := err.Error(), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("error:\n%s\nwant:\n%s", got, want)
			}
			if strings.Contains(err.Error(), leak) || strings.Contains(fmt.Sprintf("%#v", ue), leak) {
				t.Errorf("a password leaks into the error: %v", err)
			}
		})
	}
}

func TestNoPasswordInOutput(t *testing.T) {
	in := "source_user,source_password,target_user,target_password\n" +
		"alice," + leak + ",alice,\"" + leak + "\"\n"
	rows, err := Parse("users.csv", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	r := rows[0]
	if !r.SourcePassword.IsLiteral() || !r.TargetPassword.IsSet() {
		t.Fatalf("passwords not read: %s", dump(rows))
	}
	var outs []string
	for _, v := range []any{r, &r, r.SourcePassword, &r.SourcePassword, rows} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3v", "%-8s|"} {
			outs = append(outs, fmt.Sprintf(verb, v))
		}
		outs = append(outs, fmt.Sprint(v), fmt.Sprintln(v))
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(b))
	}
	txt, _ := r.SourcePassword.MarshalText()
	outs = append(outs, string(txt), r.SourcePassword.String(), r.SourcePassword.GoString())
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("row", "row", r, "pw", r.SourcePassword)
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("row", "row", r, "pw", r.SourcePassword)
	outs = append(outs, logBuf.String())
	for _, o := range outs {
		if strings.Contains(o, leak) || strings.Contains(o, fmt.Sprintf("%x", leak)) {
			t.Errorf("password printed: %s", o)
		}
	}
	if s := fmt.Sprintf("%v", r.SourcePassword); s != "[redacted]" {
		t.Errorf("%%v = %q, want [redacted]", s)
	}
	if s := fmt.Sprintf("%#v", r.SourcePassword); s != "[redacted]" {
		t.Errorf("%%#v = %q, want [redacted]", s)
	}
	if s := fmt.Sprintf("%+v", r); !strings.Contains(s, "SourcePassword:[redacted]") {
		t.Errorf("%%+v = %q, want the password shown as [redacted]", s)
	}
	b, _ := json.Marshal(r)
	if !strings.Contains(string(b), `"SourcePassword":"[redacted]"`) {
		t.Errorf("JSON = %s", b)
	}
	var unset Secret
	if unset.String() != "" || fmt.Sprintf("%#v", unset) != "users.Secret{}" {
		t.Errorf("unset Secret prints %q / %#v", unset.String(), unset)
	}
}

func TestParseSecret(t *testing.T) {
	for _, tc := range []struct {
		in        string
		kind, ref string
		err       string
	}{
		{in: ""},
		{in: "   "},
		{in: "plain", kind: KindLiteral, ref: "plain"},
		{in: " spaced ", kind: KindLiteral, ref: " spaced "},
		{in: "ENV:X", kind: KindLiteral, ref: "ENV:X"}, // prefixes are lower case
		{in: "env:MAIL_PW_1", kind: KindEnv, ref: "MAIL_PW_1"},
		{in: " env:_x ", kind: KindEnv, ref: "_x"},
		{in: "file: ./pw.txt", kind: KindFile, ref: "./pw.txt"},
		{in: "cmd:pass show x", kind: KindCmd, ref: "pass show x"},
		{in: "env:", err: "names no variable"},
		{in: "env:9X", err: "not name a valid"},
		{in: "env:A-B", err: "not name a valid"},
		{in: "env:A B", err: "not name a valid"},
		{in: "file:", err: "names no file"},
		{in: "cmd: ", err: "names no command"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			s, err := ParseSecret(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseSecret(%q) error = %v, want %q", tc.in, err, tc.err)
				}
				if _, rest, _ := strings.Cut(strings.TrimSpace(tc.in), ":"); len(rest) > 1 && strings.Contains(err.Error(), rest) {
					t.Errorf("error repeats the field: %v", err)
				}
				return
			}
			if err != nil || s.kind != tc.kind || s.ref != tc.ref {
				t.Fatalf("ParseSecret(%q) = %q %q, %v; want %q %q", tc.in, s.kind, s.ref, err, tc.kind, tc.ref)
			}
			if s.IsSet() != (tc.kind != "") || s.IsLiteral() != (tc.kind == KindLiteral) || s.Kind() != tc.kind {
				t.Errorf("IsSet %v IsLiteral %v Kind %q", s.IsSet(), s.IsLiteral(), s.Kind())
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain := "source_user,source_password\nalice," + leak + "\n"
	refs := "source_user,source_password\nalice,env:ALICE_PW\n"

	for _, tc := range []struct {
		name    string
		content string
		mode    os.FileMode
		warn    bool
	}{
		{"plain 0644.csv", plain, 0o644, true},
		{"plain 0640.csv", plain, 0o640, true},
		{"plain 0600.csv", plain, 0o600, false},
		{"plain 0400.csv", plain, 0o400, false},
		{"refs 0644.csv", refs, 0o644, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write(tc.name, tc.content, tc.mode)
			rows, warnings, err := Load(p)
			if err != nil || len(rows) != 1 {
				t.Fatalf("Load = %d rows, %v", len(rows), err)
			}
			if tc.warn {
				want := fmt.Sprintf("%s holds plaintext passwords and is readable by others (mode %04o); chmod 600 '%s', or write the passwords as env:VAR, file:PATH or cmd:COMMAND", p, tc.mode, p)
				if len(warnings) != 1 || warnings[0] != want {
					t.Errorf("warnings = %q\nwant %q", warnings, want)
				}
			} else if len(warnings) != 0 {
				t.Errorf("warnings = %q, want none", warnings)
			}
			for _, w := range warnings {
				if strings.Contains(w, leak) {
					t.Errorf("warning leaks the password: %s", w)
				}
			}
		})
	}

	t.Run("problems name the path", func(t *testing.T) {
		p := write("bad.csv", "source_user\n\n", 0o600)
		_, _, err := Load(p)
		if err == nil || !strings.HasPrefix(err.Error(), p+": no users") {
			t.Errorf("Load = %v", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, _, err := Load(filepath.Join(dir, "nope.csv"))
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.csv") {
			t.Errorf("Load = %v", err)
		}
	})
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"users.csv":           "users.csv",
		"/srv/proj/users.csv": "/srv/proj/users.csv",
		"my users.csv":        "'my users.csv'",
		"it's.csv":            `'it'\''s.csv'`,
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestExposedSecretsWarning(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "mailshift.yaml")
	if err := os.WriteFile(p, []byte("target:\n  master_password: "+leak+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := []string{"target.master_password"}
	if w := ExposedSecretsWarning(p, keys); w != "" {
		t.Errorf("0600 file: %q", w)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		w := ExposedSecretsWarning(p, keys)
		want := fmt.Sprintf("%s holds plaintext secrets (target.master_password) and is readable by others (mode %04o); chmod 600 %s, or write them as env:VAR, file:PATH or cmd:COMMAND", p, mode, shellQuote(p))
		if w != want {
			t.Errorf("mode %04o:\n got %q\nwant %q", mode, w, want)
		}
		if strings.Contains(w, leak) {
			t.Errorf("warning leaks the secret: %s", w)
		}
	}
	if w := ExposedSecretsWarning(p, nil); w != "" {
		t.Errorf("no plaintext keys: %q", w)
	}
	if w := ExposedSecretsWarning(filepath.Join(dir, "none.yaml"), keys); w != "" {
		t.Errorf("missing file: %q", w)
	}
}
