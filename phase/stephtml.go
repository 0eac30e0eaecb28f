package phase

import (
	"bytes"
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/mailshift/mailshift/state"
)

//go:embed stephtml.tmpl
var stepTemplateText string

// stepTemplate renders a step's report (test, cutover) as one
// self-contained, printable HTML page: the step's charts, then its
// Markdown report as HTML.
var stepTemplate = template.Must(template.Must(template.New("step").Funcs(htmlFuncs).Parse(chartsTemplateText)).Parse(stepTemplateText))

// stepPage is what stepTemplate shows.
type stepPage struct {
	Title      string
	Generated  time.Time
	ChartWidth int
	Runs       []htmlRun     // the step's throughput
	Estimate   *BulkEstimate // with Timeline: the bulk estimate a test gives
	Timeline   []htmlSpan
	Window     *htmlWindow // a cutover's window
	Cutover    []htmlBar   // a cutover's final delta per user
	Body       template.HTML
}

// htmlWindow is a cutover's window, each user's part of it placed within
// ChartWidth.
type htmlWindow struct {
	Seconds    float64
	Start, End time.Time
	Spans      []htmlUserSpan
	More       int // users cut over and not drawn
}

// htmlUserSpan is one user's final sync and verification in the window.
type htmlUserSpan struct {
	User                      string
	X, SyncWidth, VerifyWidth int
	Y                         int
	Sync, Verify              float64
	Verified                  bool
}

// stepChartWidth is the plot width of the step pages' charts.
const stepChartWidth = 560

// renderStepPage renders v with the Markdown report md below its charts;
// md's own first heading is the page's title and is left out.
func renderStepPage(v stepPage, md string) string {
	if first, rest, ok := strings.Cut(md, "\n"); ok && strings.HasPrefix(first, "# ") {
		md = rest
	}
	v.Body = markdownHTML(md)
	v.ChartWidth = stepChartWidth
	var out bytes.Buffer
	if err := stepTemplate.Execute(&out, v); err != nil {
		// The template is fixed and its data plain: only a broken build
		// gets here. The Markdown report stays the record.
		return markdownPage(v.Title, md)
	}
	return out.String()
}

// testPage is the test report as HTML: the run's throughput and the bulk
// estimate on a timeline with the copy windows.
func (p *Project) testPage(res TestResult, md string) string {
	v := stepPage{Title: "Test migration", Generated: p.now()}
	if run, ok, err := p.latestRun(state.StepTest); err == nil && ok {
		v.Runs = []htmlRun{plotRun(run, stepChartWidth)}
	}
	if e := res.Estimate; e != nil && len(e.Schedule) > 0 {
		v.Estimate, v.Timeline = e, timeline(e.Schedule, stepChartWidth)
	}
	return renderStepPage(v, md)
}

// cutoverPage is the cutover report as HTML: the window with each user's
// final sync and verification, and the final delta per user.
func (p *Project) cutoverPage(res CutoverResult, md string) string {
	v := stepPage{Title: "Cutover report", Generated: p.now()}
	w := &htmlWindow{Seconds: res.WindowSecs, Start: res.Started, End: res.Started.Add(time.Duration(res.WindowSecs * float64(time.Second)))}
	// Many users: the ones that took longest are drawn, the others are
	// counted (every one is in cutover.md and the JSON).
	shown := slices.Clone(res.Users)
	if len(shown) > maxChartUsers {
		slices.SortStableFunc(shown, func(a, b UserCutover) int {
			return cmp.Compare(b.FinalSeconds+b.VerifySeconds, a.FinalSeconds+a.VerifySeconds)
		})
		w.More, shown = len(shown)-maxChartUsers, shown[:maxChartUsers]
		slices.SortStableFunc(shown, func(a, b UserCutover) int { return strings.Compare(a.User, b.User) })
	}
	var most int64
	for _, u := range shown {
		most = max(most, u.FinalMessages)
	}
	at := func(secs float64) int {
		if res.WindowSecs <= 0 {
			return 0
		}
		return int(secs / res.WindowSecs * stepChartWidth)
	}
	for i, u := range shown {
		s := htmlUserSpan{User: u.User, Y: i * 22, Sync: u.FinalSeconds, Verify: u.VerifySeconds, Verified: u.Verified,
			X: at(u.Started.Sub(res.Started).Seconds())}
		s.SyncWidth = max(1, at(u.FinalSeconds))
		s.VerifyWidth = max(1, at(u.VerifySeconds))
		w.Spans = append(w.Spans, s)
		b := htmlBar{Label: u.User, Messages: u.FinalMessages, Y: i * 22, State: formatSeconds(u.FinalSeconds)}
		if most > 0 {
			b.Width = int(u.FinalMessages * stepChartWidth / most)
		}
		v.Cutover = append(v.Cutover, b)
	}
	v.Window = w
	return renderStepPage(v, md)
}

// formatSeconds is a short duration in seconds, e.g. "2.4 s".
func formatSeconds(s float64) string { return fmt.Sprintf("%.1f s", s) }
