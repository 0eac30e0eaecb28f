package phase

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chromium finds a headless browser, or skips (make deps installs one).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("MAILSHIFT_REQUIRE_TESTDATA") == "1" {
		t.Fatal("no chromium to render the HTML reports with: run `make deps`")
	}
	t.Skip("no chromium: run `make deps` to render the HTML reports")
	return ""
}

// headless runs chromium on a file with the given extra flags.
func headless(t *testing.T, browser, file string, flags ...string) []byte {
	t.Helper()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir()}, flags...)
	out, err := exec.Command(browser, append(args, "file://"+file)...).Output()
	if err != nil {
		t.Fatalf("chromium %v: %v", flags, err)
	}
	return out
}

// The migration report in HTML, rendered in a real browser: its charts
// have one mark per user, it shows no Markdown, and it carries the
// numbers the JSON report has.
func TestReportHTMLInBrowser(t *testing.T) {
	browser := chromium(t)
	p, _ := newFakeProject(t, "ann", "bob", "cid")
	p.Users[2].Batch = "wave2"
	p.Config.Throttle.Windows, p.Config.Throttle.TimeZone = []string{"daily 01:00-02:00"}, "UTC"
	must(t, p.Config.Validate())
	ctx := context.Background()
	_, err := Collect(ctx, p, Selection{})
	must(t, err)
	_, err = Approve(ctx, p, ApproveOptions{Yes: true, By: "Test"})
	must(t, err)
	_, err = Bulk(ctx, p, BulkOptions{SkipTest: true, Now: true, Selection: Selection{Users: []string{"ann", "bob"}}})
	must(t, err)

	_, err = Cutover(ctx, p, CutoverOptions{Yes: true, Selection: Selection{Users: []string{"ann"}}})
	must(t, err)
	rep, err := BuildReport(p, Selection{})
	must(t, err)
	page, err := rep.Render("html")
	must(t, err)
	dir := artifacts(t)
	file := filepath.Join(dir, "report.html")
	must(t, os.WriteFile(file, []byte(page), 0o600))

	dom := string(headless(t, browser, file, "--dump-dom"))
	if strings.Contains(dom, "|---|") || strings.Contains(dom, "## ") || strings.Contains(dom, "<pre>") {
		t.Error("the HTML report holds Markdown")
	}
	for _, id := range []string{`id="chart-status"`, `id="chart-users"`, `id="chart-batches"`, `id="users"`} {
		if !strings.Contains(dom, id) {
			t.Errorf("the rendered report has no %s", id)
		}
	}
	if n := strings.Count(dom, `class="user-bar"`); n != 3 {
		t.Errorf("the volume chart has %d marks, want one per user (3)", n)
	}
	if !strings.Contains(dom, `data-step="bulk"`) || !strings.Contains(dom, "<polyline") {
		t.Error("the report has no throughput chart of the bulk copy")
	}
	if !strings.Contains(dom, `id="chart-estimate"`) || !strings.Contains(dom, `class="copying"`) ||
		(!strings.Contains(dom, `class="closed"`) && time.Now().UTC().Hour() != 1) {
		t.Error("the report has no timeline of the estimate with its copy windows")
	}
	if n := strings.Count(dom, `class="cutover-bar"`); n != 1 {
		t.Errorf("the cutover chart has %d marks, want one per user cut over (1)", n)
	}
	if n := strings.Count(dom, `class="batch-bar"`); n != 2 {
		t.Errorf("the batch chart has %d marks, want 2", n)
	}
	// Every user's numbers in the JSON report are on the page.
	js, err := rep.Render("json")
	must(t, err)
	var back struct {
		Status struct {
			Users []struct {
				SourceUser     string `json:"source_user"`
				Copied         int64  `json:"copied_source_messages"`
				Messages       int64  `json:"source_messages"`
				FailedMessages int64  `json:"failed_messages"`
			} `json:"users"`
		} `json:"status"`
	}
	must(t, json.Unmarshal([]byte(js), &back))
	validate(t, schemaFor(t, "report.schema.json"), "a report with a cutover and throughput", js)
	for _, u := range back.Status.Users {
		if want := strconv.FormatInt(u.Copied, 10) + " / " + strconv.FormatInt(u.Messages, 10); !strings.Contains(dom, want) || !strings.Contains(dom, `data-user="`+u.SourceUser+`"`) {
			t.Errorf("%s: %q or its chart mark is not on the page", u.SourceUser, want)
		}
	}
	shot := filepath.Join(dir, "report.png")
	headless(t, browser, file, "--screenshot="+shot, "--window-size=1100,1500", "--hide-scrollbars")
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 10_000 {
		t.Errorf("no screenshot of the report: %v", err)
	}
	t.Logf("report and screenshot in %s", dir)
}

// The scope of work's HTML page is HTML: headings and tables, no Markdown.
func TestScopeOfWorkHTMLInBrowser(t *testing.T) {
	browser := chromium(t)
	p, _ := newFakeProject(t, "ann", "bob")
	ctx := context.Background()
	_, err := Collect(ctx, p, Selection{})
	must(t, err)
	_, err = Approve(ctx, p, ApproveOptions{Yes: true, By: "Test"})
	must(t, err)
	file := filepath.Join(p.Dir, "reports", "scope-of-work.html")
	dom := string(headless(t, browser, file, "--dump-dom"))
	if strings.Contains(dom, "|---|") || strings.Contains(dom, "<pre>") || strings.Contains(dom, "## ") {
		t.Error("the scope of work's HTML holds Markdown")
	}
	if strings.Count(dom, "<table>") < 2 || !strings.Contains(dom, "<h1") || !strings.Contains(dom, "ann") {
		t.Errorf("the scope of work's HTML has no headings and tables:\n%.2000s", dom)
	}
	headless(t, browser, file, "--screenshot="+filepath.Join(artifacts(t), "scope-of-work.png"), "--window-size=1100,1500", "--hide-scrollbars")
}

// artifacts is where the rendered pages and their screenshots are kept for
// a look after the run: $MAILSHIFT_ARTIFACTS, or mailshift-artifacts in the
// system's temporary directory. The test logs it.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("MAILSHIFT_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "mailshift-artifacts")
	}
	must(t, os.MkdirAll(dir, 0o755))
	t.Logf("pages and screenshots kept in %s", dir)
	return dir
}

// The test and cutover reports have HTML twins with their charts: the
// test's throughput and bulk estimate, the cutover's window with each
// user's final sync and verification, and its final delta per user.
func TestStepReportsHTMLInBrowser(t *testing.T) {
	browser := chromium(t)
	p, _ := newFakeProject(t, "ann", "bob", "cid")
	ctx := context.Background()
	_, err := Collect(ctx, p, Selection{})
	must(t, err)
	_, err = Approve(ctx, p, ApproveOptions{Yes: true, By: "Test"})
	must(t, err)
	tr, err := Test(ctx, p, TestOptions{Users: []string{"ann"}})
	must(t, err)
	_, err = Bulk(ctx, p, BulkOptions{Now: true})
	must(t, err)
	cr, err := Cutover(ctx, p, CutoverOptions{Yes: true, Selection: Selection{Users: []string{"ann", "bob"}}})
	must(t, err)
	dir := artifacts(t)
	for _, c := range []struct {
		name  string
		marks map[string]int
		texts []string
	}{
		{"test", map[string]int{"<polyline": 1, `id="chart-estimate"`: 1},
			[]string{strconv.FormatInt(tr.Messages, 10) + " messages", "PASSED"}},
		{"cutover", map[string]int{`class="window-span"`: 2, `class="cutover-bar"`: 2},
			[]string{"2 of 2 users verified", `data-user="ann"`, `data-user="bob"`,
				strconv.FormatInt(cr.Users[0].FinalMessages, 10) + " messages"}},
	} {
		file := filepath.Join(p.Dir, "reports", c.name+".html")
		dom := string(headless(t, browser, file, "--dump-dom"))
		if strings.Contains(dom, "|---|") || strings.Contains(dom, "<pre>") || strings.Contains(dom, "## ") || strings.Contains(dom, "**") {
			t.Errorf("%s.html holds Markdown", c.name)
		}
		for mark, n := range c.marks {
			if got := strings.Count(dom, mark); got != n {
				t.Errorf("%s.html has %d × %s, want %d", c.name, got, mark, n)
			}
		}
		for _, text := range c.texts {
			if !strings.Contains(dom, text) {
				t.Errorf("%s.html lacks %q", c.name, text)
			}
		}
		shot := filepath.Join(dir, c.name+".png")
		headless(t, browser, file, "--screenshot="+shot, "--window-size=1100,1300", "--hide-scrollbars")
		if fi, err := os.Stat(shot); err != nil || fi.Size() < 10_000 {
			t.Errorf("no screenshot of %s.html: %v", c.name, err)
		}
		if t.Failed() {
			t.Logf("%s.html:\n%.3000s", c.name, dom)
		}
		b, err := os.ReadFile(file)
		must(t, err)
		must(t, os.WriteFile(filepath.Join(dir, c.name+".html"), b, 0o600))
	}
}

// Users cut over say so in the stage column; what that means for later
// steps is a footnote once, not a "waiting" note on every row. The JSON
// keeps the reason per user for scripts.
func TestStatusOfUsersCutOver(t *testing.T) {
	p, _ := newFakeProject(t, "ann", "bob")
	ctx := context.Background()
	_, err := Collect(ctx, p, Selection{})
	must(t, err)
	_, err = Approve(ctx, p, ApproveOptions{Yes: true, By: "Test"})
	must(t, err)
	_, err = Bulk(ctx, p, BulkOptions{SkipTest: true, Now: true})
	must(t, err)
	_, err = Cutover(ctx, p, CutoverOptions{Yes: true, Selection: Selection{Users: []string{"ann"}}})
	must(t, err)
	st, err := Status(p, Selection{})
	must(t, err)
	text := RenderStatus(st)
	if strings.Contains(text, "waiting: cut over") || strings.Count(text, "--post-cutover") != 1 || !strings.Contains(text, "cut-over") {
		t.Errorf("status of a user cut over:\n%s", text)
	}
	if st.Users[0].Waiting == "" {
		t.Error("status --json lost why plain sync leaves a user cut over alone")
	}
}

// The cutover page of many users draws the ones that took longest and
// counts the others, so that it stays readable.
func TestCutoverPageOfManyUsers(t *testing.T) {
	p, _ := newFakeProject(t, "ann")
	start := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	res := CutoverResult{Started: start, WindowSecs: 100}
	for i := range 500 {
		res.Users = append(res.Users, UserCutover{User: fmt.Sprintf("u%03d", i), Started: start, FinalSeconds: float64(i % 50), VerifySeconds: 1, Verified: true})
	}
	page := p.cutoverPage(res, "# Cutover report\n")
	if n := strings.Count(page, `class="window-span"`); n != maxChartUsers {
		t.Errorf("%d spans drawn of 500 users, want %d", n, maxChartUsers)
	}
	if !strings.Contains(page, "440 more were cut over") || !strings.Contains(page, `data-user="u049"`) || strings.Contains(page, `data-user="u000"`) {
		t.Error("the page does not draw the users that took longest and count the others")
	}
}
