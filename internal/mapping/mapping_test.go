package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mailshift/mailshift/internal/mailbox"
)

// folders builds a folder list from names; "name|\Role" gives a role,
// "name|-" makes an empty \Noselect folder.
func folders(names ...string) []mailbox.Folder {
	out := make([]mailbox.Folder, 0, len(names))
	for _, n := range names {
		f := mailbox.Folder{Messages: 1}
		name, attr, _ := strings.Cut(n, "|")
		f.Name = name
		switch attr {
		case "":
		case "-":
			f.NoSelect, f.Messages = true, 0
		default:
			f.Role = attr
		}
		out = append(out, f)
	}
	return out
}

func ep(delim rune, names ...string) Endpoint {
	return Endpoint{Delimiter: delim, Folders: folders(names...)}
}

// render writes an entry as one line:
//
//	source => target [role] {reason} +new
func render(e Entry) string {
	var b strings.Builder
	b.WriteString(e.Source)
	b.WriteString(" => ")
	if e.Excluded {
		b.WriteString("(excluded)")
	} else {
		b.WriteString(e.Target)
	}
	if e.Role != "" {
		fmt.Fprintf(&b, " [%s]", e.Role)
	}
	fmt.Fprintf(&b, " {%s}", e.Reason)
	if e.Create {
		b.WriteString(" +new")
	}
	return b.String()
}

func TestPlan(t *testing.T) {
	dovecot := ep('.', "INBOX", `Sent|\Sent`, `Drafts|\Drafts`, `Trash|\Trash`, `Junk|\Junk`, `Archive|\Archive`)
	for _, tc := range []struct {
		name     string
		src, dst Endpoint
		cfg      Config
		want     []string
	}{
		{
			name: "INBOX in any case is INBOX",
			src:  ep('/', "Inbox", "Inbox/Sub"),
			dst:  ep('.', "INBOX"),
			want: []string{
				"Inbox => INBOX {INBOX}",
				"Inbox/Sub => INBOX.Sub {hierarchy} +new",
			},
		},
		{
			name: "special-use to special-use",
			src:  ep('/', "INBOX", `Sent Items|\Sent`, `Deleted Items|\Trash`, `Drafts|\Drafts`, `Junk Email|\Junk`, `Archive|\Archive`),
			dst:  dovecot,
			want: []string{
				"INBOX => INBOX {INBOX}",
				`Archive => Archive [\Archive] {special-use \Archive}`,
				`Deleted Items => Trash [\Trash] {special-use \Trash}`,
				`Drafts => Drafts [\Drafts] {special-use \Drafts}`,
				`Junk Email => Junk [\Junk] {special-use \Junk}`,
				`Sent Items => Sent [\Sent] {special-use \Sent}`,
			},
		},
		{
			name: "well-known names on a source without special-use",
			src:  ep('.', "INBOX", "Sent Items", "Deleted Messages", "Drafts", "Spam"),
			dst:  dovecot,
			want: []string{
				"INBOX => INBOX {INBOX}",
				`Deleted Messages => Trash [\Trash] {well-known name for \Trash}`,
				`Drafts => Drafts [\Drafts] {well-known name for \Drafts}`,
				`Sent Items => Sent [\Sent] {well-known name for \Sent}`,
				`Spam => Junk [\Junk] {well-known name for \Junk}`,
			},
		},
		{
			name: "German source names, case-insensitive",
			src:  ep('/', "INBOX", "Gesendete Elemente", "Entwürfe", "GELÖSCHTE ELEMENTE", "Junk-E-Mail", "Archiv", "Posteingang"),
			dst:  dovecot,
			want: []string{
				"INBOX => INBOX {INBOX}",
				`Archiv => Archive [\Archive] {well-known name for \Archive}`,
				`Entwürfe => Drafts [\Drafts] {well-known name for \Drafts}`,
				`GELÖSCHTE ELEMENTE => Trash [\Trash] {well-known name for \Trash}`,
				`Gesendete Elemente => Sent [\Sent] {well-known name for \Sent}`,
				`Junk-E-Mail => Junk [\Junk] {well-known name for \Junk}`,
				"Posteingang => Posteingang {hierarchy} +new",
			},
		},
		{
			name: "target role found by well-known name, then created",
			src:  ep('/', "INBOX", `Sent|\Sent`, `Trash|\Trash`, `Drafts|\Drafts`),
			dst:  ep('/', "INBOX", "Gesendete Objekte", "Papierkorb", "Drafts|-"),
			want: []string{
				"INBOX => INBOX {INBOX}",
				`Drafts => Drafts [\Drafts] {special-use \Drafts} +new`, // the target's Drafts is \Noselect
				`Sent => Gesendete Objekte [\Sent] {special-use \Sent}`,
				`Trash => Papierkorb [\Trash] {special-use \Trash}`,
			},
		},
		{
			name: "target role marked on a non-English folder wins over a plain English one",
			src:  ep('/', "INBOX", "Sent"),
			dst:  ep('/', "INBOX", "Sent", `Envoyés|\Sent`),
			want: []string{
				"INBOX => INBOX {INBOX}",
				`Sent => Envoyés [\Sent] {well-known name for \Sent}`,
			},
		},
		{
			name: "Gmail without special-use",
			src:  ep('/', "INBOX", "[Gmail]|-", "[Gmail]/All Mail", "[Gmail]/Sent Mail", "[Gmail]/Drafts", "[Gmail]/Spam", "[Gmail]/Trash", "[Gmail]/Starred", "Work"),
			dst:  dovecot,
			want: []string{
				"INBOX => INBOX {INBOX}",
				"Work => Work {hierarchy} +new",
				"[Gmail]/All Mail => [Gmail].All Mail {hierarchy} +new",
				`[Gmail]/Drafts => Drafts [\Drafts] {well-known name for \Drafts}`,
				`[Gmail]/Sent Mail => Sent [\Sent] {well-known name for \Sent}`,
				`[Gmail]/Spam => Junk [\Junk] {well-known name for \Junk}`,
				"[Gmail]/Starred => [Gmail].Starred {hierarchy} +new",
				`[Gmail]/Trash => Trash [\Trash] {well-known name for \Trash}`,
			},
		},
		{
			name: "Gmail with special-use: \\All and \\Flagged are not mapped by role",
			src:  ep('/', "INBOX", "[Gmail]|-", `[Gmail]/All Mail|\All`, `[Gmail]/Sent Mail|\Sent`, `[Gmail]/Starred|\Flagged`, `[Gmail]/Bin|\Trash`),
			dst:  ep('/', "INBOX", `Sent|\Sent`, `Trash|\Trash`),
			want: []string{
				"INBOX => INBOX {INBOX}",
				"[Gmail]/All Mail => [Gmail]/All Mail {hierarchy} +new",
				`[Gmail]/Bin => Trash [\Trash] {special-use \Trash}`,
				`[Gmail]/Sent Mail => Sent [\Sent] {special-use \Sent}`,
				"[Gmail]/Starred => [Gmail]/Starred {hierarchy} +new",
			},
		},
		{
			name: "Sent and Sent Items, no roles: Sent plays the role",
			src:  ep('/', "INBOX", "Sent", "Sent Items"),
			dst:  dovecot,
			want: []string{
				"INBOX => INBOX {INBOX}",
				`Sent => Sent [\Sent] {well-known name for \Sent}`,
				"Sent Items => Sent Items {hierarchy} +new",
			},
		},
		{
			name: "Sent and Sent Items, no roles, target's \\Sent is Sent Items: the second is renamed",
			src:  ep('/', "INBOX", "Sent", "Sent Items"),
			dst:  ep('/', "INBOX", `Sent Items|\Sent`),
			want: []string{
				"INBOX => INBOX {INBOX}",
				`Sent => Sent Items [\Sent] {well-known name for \Sent}`,
				`Sent Items => Sent Items (2) {hierarchy, renamed: "Sent Items" is the \Sent folder for "Sent"} +new`,
			},
		},
		{
			name: "\\Sent marked on Gesendete Elemente while a plain Sent exists",
			src:  ep('/', "INBOX", `Gesendete Elemente|\Sent`, "Gesendete Elemente/Projekt", "Sent", "Sent/2019", "Sent (2)"),
			dst:  dovecot,
			want: []string{
				"INBOX => INBOX {INBOX}",
				`Gesendete Elemente => Sent [\Sent] {special-use \Sent}`,
				"Gesendete Elemente/Projekt => Sent.Projekt {hierarchy} +new",
				`Sent => Sent (3) {hierarchy, renamed: "Sent" is the \Sent folder for "Gesendete Elemente"} +new`,
				"Sent (2) => Sent (2) {hierarchy} +new",
				"Sent/2019 => Sent (3).2019 {hierarchy} +new",
			},
		},
		{
			name: "renaming settles clashes of subfolders too",
			src:  ep('/', "INBOX", `Gesendete Elemente|\Sent`, "Gesendete Elemente/2019", "Sent", "Sent/2019"),
			dst:  dovecot,
			want: []string{
				"INBOX => INBOX {INBOX}",
				`Gesendete Elemente => Sent [\Sent] {special-use \Sent}`,
				"Gesendete Elemente/2019 => Sent.2019 {hierarchy} +new",
				`Sent => Sent (2) {hierarchy, renamed: "Sent" is the \Sent folder for "Gesendete Elemente"} +new`,
				"Sent/2019 => Sent (2).2019 {hierarchy} +new",
			},
		},
		{
			name: "two folders marked with one role: the well-known name wins",
			src:  ep('/', "INBOX", `Sent Items|\Sent`, `Sent|\Sent`, `Outbox Copies|\Sent`),
			dst:  dovecot,
			want: []string{
				"INBOX => INBOX {INBOX}",
				"Outbox Copies => Outbox Copies {hierarchy} +new",
				`Sent => Sent [\Sent] {special-use \Sent}`,
				"Sent Items => Sent Items {hierarchy} +new",
			},
		},
		{
			name: "a source that marks a role disables well-known names for it",
			src:  ep('/', "INBOX", `Outbox Copies|\Sent`, "Sent"),
			dst:  ep('/', "INBOX", `Sent Items|\Sent`),
			want: []string{
				"INBOX => INBOX {INBOX}",
				`Outbox Copies => Sent Items [\Sent] {special-use \Sent}`,
				"Sent => Sent {hierarchy} +new",
			},
		},
		{
			name: "hierarchy '/' to '.': a '.' inside a name becomes '_'",
			src:  ep('/', "INBOX", "Projects|-", "Projects/v1.2", "Projects/v1.2/notes", "a.b.c"),
			dst:  ep('.', "INBOX", "Projects"),
			want: []string{
				"INBOX => INBOX {INBOX}",
				"Projects/v1.2 => Projects.v1_2 {hierarchy} +new",
				"Projects/v1.2/notes => Projects.v1_2.notes {hierarchy} +new",
				"a.b.c => a_b_c {hierarchy} +new",
			},
		},
		{
			name: "hierarchy '.' to '/': a '/' inside a name becomes '_'",
			src:  ep('.', "INBOX", "INBOX.Lists", "Projects.A/B", "Projects.A/B.x"),
			dst:  ep('/', "INBOX", "Projects"),
			want: []string{
				"INBOX => INBOX {INBOX}",
				"INBOX.Lists => INBOX/Lists {hierarchy} +new",
				"Projects.A/B => Projects/A_B {hierarchy} +new",
				"Projects.A/B.x => Projects/A_B/x {hierarchy} +new",
			},
		},
		{
			name: "flat source to hierarchical target",
			src:  ep(0, "INBOX", "a.b", "c/d"),
			dst:  ep('.', "INBOX"),
			want: []string{
				"INBOX => INBOX {INBOX}",
				"a.b => a_b {hierarchy} +new",
				"c/d => c/d {hierarchy} +new",
			},
		},
		{
			name: "non-ASCII names",
			src:  ep('/', "INBOX", "Привет|-", "Привет/Мир", "日本語", "ÉLÉMENTS ENVOYÉS", "Ελληνικά.gr"),
			dst:  ep('.', "INBOX"),
			want: []string{
				"INBOX => INBOX {INBOX}",
				`ÉLÉMENTS ENVOYÉS => Sent [\Sent] {well-known name for \Sent} +new`,
				"Ελληνικά.gr => Ελληνικά_gr {hierarchy} +new",
				"Привет/Мир => Привет.Мир {hierarchy} +new",
				"日本語 => 日本語 {hierarchy} +new",
			},
		},
		{
			name: "exclude patterns",
			src:  ep('.', "INBOX", "INBOX.tmp1", "INBOX.keep", `Spam|\Junk`, "Junk", "Old.Spam", "Archive", "Archive.2019", "Archive.2019.Q1", "Lists.Old", "Old"),
			dst:  dovecot,
			cfg:  Config{Exclude: []string{"inbox/tmp*", "Spam", "Archive/**", "**/Old"}},
			want: []string{
				"INBOX => INBOX {INBOX}",
				`Archive => (excluded) {exclude pattern "Archive/**"}`,
				`Archive.2019 => (excluded) {exclude pattern "Archive/**"}`,
				`Archive.2019.Q1 => (excluded) {exclude pattern "Archive/**"}`,
				`INBOX.keep => INBOX.keep {hierarchy} +new`,
				`INBOX.tmp1 => (excluded) {exclude pattern "inbox/tmp*"}`,
				// The source marks \Junk (on the excluded Spam): Junk is no
				// role folder and keeps its own name, which is the target's
				// Junk: it is renamed only if Spam had played the role.
				"Junk => Junk {hierarchy}",
				`Lists.Old => (excluded) {exclude pattern "**/Old"}`,
				`Old => (excluded) {exclude pattern "**/Old"}`,
				"Old.Spam => Old.Spam {hierarchy} +new",
				`Spam => (excluded) {exclude pattern "Spam"}`,
			},
		},
		{
			name: "an excluded well-known folder lets the next one play the role",
			src:  ep('/', "INBOX", "Sent", "Sent Items"),
			dst:  dovecot,
			cfg:  Config{Exclude: []string{"Sent"}},
			want: []string{
				"INBOX => INBOX {INBOX}",
				`Sent => (excluded) {exclude pattern "Sent"}`,
				`Sent Items => Sent [\Sent] {well-known name for \Sent}`,
			},
		},
		{
			name: "INBOX can be excluded; its subfolders stay",
			src:  ep('/', "INBOX", "INBOX/Sub"),
			dst:  ep('/', "INBOX"),
			cfg:  Config{Exclude: []string{"INBOX"}},
			want: []string{
				`INBOX => (excluded) {exclude pattern "INBOX"}`,
				"INBOX/Sub => INBOX/Sub {hierarchy} +new",
			},
		},
		{
			name: "map wins over roles and exclusions, merges on purpose, subfolders follow",
			src:  ep('/', "INBOX", `Sent|\Sent`, "Old Sent", "Old Sent/2018", "Projects", "Projects/Secret", "Misc", "Misc/a.b"),
			dst:  dovecot,
			cfg: Config{
				Exclude: []string{"Projects/**", "Sent"},
				Map: map[string]string{
					"Old Sent":        "Sent",         // merged into the role folder
					"Projects/Secret": "Archive/Kept", // map wins over the exclusion
					"Misc":            "Archive/v1.0", // a '.' in a map target becomes '_' on a '.' target
					"Unlisted":        "Nowhere",      // a pair for a folder this user lacks is ignored
				},
			},
			want: []string{
				"INBOX => INBOX {INBOX}",
				"Misc => Archive.v1_0 {map} +new",
				"Misc/a.b => Archive.v1_0.a_b {hierarchy} +new",
				"Old Sent => Sent {map}",
				"Old Sent/2018 => Sent.2018 {hierarchy} +new",
				`Projects => (excluded) {exclude pattern "Projects/**"}`,
				"Projects/Secret => Archive.Kept {map} +new",
				`Sent => (excluded) {exclude pattern "Sent"}`,
			},
		},
		{
			name: "map of a mapped role folder and of INBOX",
			src:  ep('/', "inbox", `Sent|\Sent`),
			dst:  dovecot,
			cfg:  Config{Map: map[string]string{"INBOX": "Imported/Inbox", "Sent": "inbox"}},
			want: []string{
				"inbox => Imported.Inbox {map} +new",
				"Sent => INBOX {map}",
			},
		},
		{
			name: "map target of a \\Noselect parent moves its subfolders",
			src:  ep('.', "INBOX", "Alt|-", "Alt.A", "Alt.B"),
			dst:  ep('/', "INBOX"),
			cfg:  Config{Map: map[string]string{"Alt": "Old/Alt"}},
			want: []string{
				"INBOX => INBOX {INBOX}",
				"Alt.A => Old/Alt/A {hierarchy} +new",
				"Alt.B => Old/Alt/B {hierarchy} +new",
			},
		},
		{
			name: "prefix: INBOX and roles go under it, map targets do not",
			src:  ep('/', "INBOX", `Sent Items|\Sent`, "Drafts", "Projects/A.1", "Keep"),
			dst:  ep('.', "INBOX", `Sent|\Sent`, "Archive2019.INBOX"),
			cfg:  Config{Prefix: "Archive2019", Map: map[string]string{"Keep": "Kept"}},
			want: []string{
				"INBOX => Archive2019.INBOX {prefix}",
				"Drafts => Archive2019.Drafts {prefix} +new",
				"Keep => Kept {map} +new",
				"Projects/A.1 => Archive2019.Projects.A_1 {prefix} +new",
				"Sent Items => Archive2019.Sent Items {prefix} +new",
			},
		},
		{
			name: "nested prefix with a target delimiter inside",
			src:  ep('/', "INBOX"),
			dst:  ep('.', "INBOX"),
			cfg:  Config{Prefix: "Imports/PST v1.0"},
			want: []string{
				"INBOX => Imports.PST v1_0.INBOX {prefix} +new",
			},
		},
		{
			name: "case is left alone",
			src:  ep('/', "INBOX", "Foo", "foo"),
			dst:  ep('/', "INBOX", "foo"),
			want: []string{
				"INBOX => INBOX {INBOX}",
				"Foo => Foo {hierarchy} +new",
				"foo => foo {hierarchy}",
			},
		},
		{
			name: "a \\Noselect folder that holds messages is kept",
			src:  Endpoint{Delimiter: '/', Folders: []mailbox.Folder{{Name: "INBOX"}, {Name: "Odd", NoSelect: true, Messages: 3}}},
			dst:  ep('/', "INBOX"),
			want: []string{
				"INBOX => INBOX {INBOX}",
				"Odd => Odd {hierarchy} +new",
			},
		},
		{
			name: "flat target",
			src:  ep('/', "INBOX", "a/b"),
			dst:  ep(0, "INBOX"),
			want: []string{
				"INBOX => INBOX {INBOX}",
				"a/b => a/b {hierarchy} +new",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Plan(tc.src, tc.dst, tc.cfg)
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			lines := make([]string, len(got))
			for i, e := range got {
				lines[i] = render(e)
			}
			if g, w := strings.Join(lines, "\n"), strings.Join(tc.want, "\n"); g != w {
				t.Errorf("Plan:\n%s\n\nwant:\n%s", g, w)
			}
			// The same input gives the same plan, whatever the listing order.
			rev := tc.src
			rev.Folders = append([]mailbox.Folder(nil), tc.src.Folders...)
			for i, j := 0, len(rev.Folders)-1; i < j; i, j = i+1, j-1 {
				rev.Folders[i], rev.Folders[j] = rev.Folders[j], rev.Folders[i]
			}
			again, err := Plan(rev, tc.dst, tc.cfg)
			if err != nil {
				t.Fatalf("Plan (reversed listing): %v", err)
			}
			a, _ := json.Marshal(got)
			b, _ := json.Marshal(again)
			if string(a) != string(b) {
				t.Errorf("plan depends on the listing order:\n%s\n%s", a, b)
			}
		})
	}
}

func TestPlanErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		src, dst   Endpoint
		cfg        Config
		err        []string // substrings
		collisions int
	}{
		{
			name:       "two folders on one target name",
			src:        ep('/', "INBOX", "a.b", "a_b"),
			dst:        ep('.', "INBOX"),
			err:        []string{`source folders "a.b" and "a_b" both map to target folder "a_b"`, "folders.map"},
			collisions: 1,
		},
		{
			name:       "subfolders of a merged map, and '/' to '_' on a '/' target",
			src:        ep('.', "INBOX", "x/y", "x_y", "x\\y", "A", "A.sub", "B", "B.sub"),
			dst:        ep('/', "INBOX"),
			cfg:        Config{Map: map[string]string{"A": "C", "B": "C"}},
			err:        []string{`source folders "A.sub" and "B.sub" both map to target folder "C/sub"`, `"x/y" and "x_y" both map to target folder "x_y"`},
			collisions: 2,
		},
		{
			name:       "several collisions reported together",
			src:        ep('/', "INBOX", "a.b", "a_b", "c.d", "c_d", "e.f", "e_f/x|-"),
			dst:        ep('.', "INBOX"),
			err:        []string{`"a.b" and "a_b"`, `"c.d" and "c_d"`},
			collisions: 2,
		},
		{
			name: "INBOX listed twice",
			src:  ep('/', "INBOX", "Inbox"),
			dst:  ep('/', "INBOX"),
			err:  []string{`"INBOX" and "Inbox"`, "same folder"},
		},
		{
			name: "bad exclude pattern",
			src:  ep('/', "INBOX"),
			dst:  ep('/', "INBOX"),
			cfg:  Config{Exclude: []string{"ok", "bad["}},
			err:  []string{"folders.exclude", `"bad["`},
		},
		{
			name: "empty map target",
			src:  ep('/', "INBOX"),
			dst:  ep('/', "INBOX"),
			cfg:  Config{Map: map[string]string{"a": ""}},
			err:  []string{"folders.map", `"a"`},
		},
		{
			name: "map names one source twice",
			src:  ep('/', "INBOX"),
			dst:  ep('/', "INBOX"),
			cfg:  Config{Map: map[string]string{"INBOX/x": "a", "inbox/x": "b"}},
			err:  []string{"folders.map", `"INBOX/x" and "inbox/x"`},
		},
		{
			name: "bad prefix",
			src:  ep('/', "INBOX"),
			dst:  ep('/', "INBOX"),
			cfg:  Config{Prefix: "/Imported"},
			err:  []string{"folders.prefix"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Plan(tc.src, tc.dst, tc.cfg)
			if err == nil {
				t.Fatalf("Plan = %v, want an error", got)
			}
			for _, s := range tc.err {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			var n int
			var ce *CollisionError
			if errors.As(err, &ce) {
				if joined, ok := err.(interface{ Unwrap() []error }); ok {
					n = len(joined.Unwrap())
				}
			}
			if n != tc.collisions {
				t.Errorf("%d collisions reported, want %d: %v", n, tc.collisions, err)
			}
			if tc.collisions == 0 && tc.name != "INBOX listed twice" {
				if verr := tc.cfg.Validate(); verr == nil || verr.Error() != err.Error() {
					t.Errorf("Validate() = %v, want the same error as Plan", verr)
				}
			}
		})
	}
}

func TestCollisionErrorThree(t *testing.T) {
	err := &CollisionError{Target: "a_b", Sources: []string{"a.b", "a/b", "a_b"}}
	want := `source folders "a.b", "a/b" and "a_b" all map to target folder "a_b"; add a folders.map entry that sends one of them elsewhere`
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
}

func TestEntryJSON(t *testing.T) {
	b, err := json.Marshal(Entry{Source: "Gesendete Elemente", Target: "Sent", Role: mailbox.RoleSent, Reason: "special-use \\Sent", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"source":"Gesendete Elemente","target":"Sent","role":"\\Sent","excluded":false,"reason":"special-use \\Sent","create":true}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func TestPlanEmptySource(t *testing.T) {
	got, err := Plan(Endpoint{Delimiter: '/'}, ep('/', "INBOX"), Config{})
	if err != nil || len(got) != 0 {
		t.Errorf("Plan of no folders = %v, %v", got, err)
	}
}

func TestExcluder(t *testing.T) {
	cfg := Config{Exclude: []string{"Junk", "Archive/**"}, Map: map[string]string{"Archive/Keep": "Kept"}}
	ex, err := cfg.Excluder('.')
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"Junk": true, "Archive.2019": true, "Archive.Keep": false, "INBOX": false, "Junkmail": false, "Sent": false,
	} {
		if got := ex(name); got != want {
			t.Errorf("excluded(%q) = %v, want %v", name, got, want)
		}
	}
	if _, err := (Config{Exclude: []string{""}}).Excluder('/'); err == nil {
		t.Error("an empty pattern was accepted")
	}
}
