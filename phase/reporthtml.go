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
)

//go:embed reporthtml.tmpl
var reportTemplateText string

//go:embed charts.tmpl
var chartsTemplateText string

// htmlFuncs are the functions the HTML templates use.
var htmlFuncs = template.FuncMap{
	"bytes":   FormatBytes,
	"dur":     formatDuration,
	"time":    func(t time.Time) string { return t.Format("2006-01-02 15:04") },
	"clock":   func(t time.Time) string { return t.Format("15:04:05") },
	"add":     func(a, b int) int { return a + b },
	"mul":     func(a, b int) int { return a * b },
	"reasons": reasonsText,
}

// reportTemplate renders the migration report as one self-contained HTML
// page: inline CSS (with a print stylesheet) and inline SVG charts, no
// scripts, nothing fetched from the network.
var reportTemplate = template.Must(template.Must(template.New("report").Funcs(htmlFuncs).Parse(chartsTemplateText)).Parse(reportTemplateText))

// maxChartUsers bounds the users drawn one by one in the volume chart; the
// rest are summed up in the batch chart and listed in the CSV and JSON.
const maxChartUsers = 60

// htmlReport is what the template shows.
type htmlReport struct {
	Title     string
	Generated time.Time
	Report
	Plan       string
	Totals     htmlTotals
	States     []htmlState // per-user status, for the status chart
	UserBars   []htmlBar   // volume per user (the largest maxChartUsers)
	MoreUsers  int         // users left out of UserBars
	BatchBars  []htmlBar   // volume per batch
	Runs       []htmlRun   // throughput of the latest test and bulk copy
	Timeline   []htmlSpan  // the bulk estimate on a timeline with the copy windows
	Cutover    []htmlBar   // the final delta per user cut over
	Estimate   *BulkEstimate
	ChartWidth int
	// MoreCutovers are the users cut over left out of Cutover (the
	// largest maxChartUsers final deltas are drawn).
	MoreCutovers int
	// TableUsers are the users of the users' table: every user, or of a
	// project above reportDetailUsers the first of those that need
	// attention, which UsersNote says.
	TableUsers []UserStatus
	UsersNote  string
	// ProblemCount and FailedCount are the report's problems and refused
	// messages; above reportDetailUsers the tables list the first only,
	// and ProblemKinds sums the problems by kind (Messages: problems,
	// Copied: users).
	ProblemCount, FailedCount int
	ProblemKinds              []htmlBar
}

// htmlSpan is a stretch of the estimate's timeline within ChartWidth.
type htmlSpan struct {
	X, Width   int
	Copying    bool
	Start, End time.Time
}

// htmlRun is a run's bytes copied over time, as an SVG polyline.
type htmlRun struct {
	Step           string
	Started        time.Time
	Points         string // "x,y x,y ..." within ChartWidth × runHeight
	Seconds        float64
	Bytes, Rate    int64
	Messages       int64
	MaxBytesLabel  string
	DurationLabel  string
	Height, XLabel int
	Width          int // of the plot
}

// runHeight is the height of a throughput chart's plot.
const runHeight = 120

type htmlTotals struct {
	Users, Done, Failed, Waiting     int
	Messages, Copied                 int64
	Bytes, CopiedBytes, FailedCopies int64
	SkippedFolders                   int
}

// htmlState is one slice of the status chart.
type htmlState struct {
	Name, Class string
	Users       int
	X, Width    int // in the chart, out of ChartWidth
}

// htmlBar is one row of a volume chart: the source's volume, and how much
// of it is copied.
type htmlBar struct {
	Label                 string
	Batch                 string
	Bytes, CopiedBytes    int64
	Messages, Copied      int64
	Width, CopiedWidth, Y int
	State                 string
}

// renderHTML renders the report as HTML.
func (r Report) renderHTML() (string, error) {
	const width = 560
	v := htmlReport{Title: "Migration report", Generated: time.Now(), Report: r, ChartWidth: width}
	if len(r.Status.Approvals) > 0 {
		a := r.Status.Approvals[len(r.Status.Approvals)-1]
		v.Plan = "approved by " + a.By + " on " + a.At.Format("2006-01-02 15:04")
	}
	counts := map[string]int{}
	batches := map[string]*htmlBar{}
	var maxBytes int64
	for _, u := range r.Status.Users {
		state := userState(u)
		counts[state]++
		v.Totals.Users++
		v.Totals.Messages += u.Messages
		// Copied compares with the source as collect counted it; mail new
		// since is shown apart in the users' table.
		v.Totals.Copied += u.CopiedSource
		v.Totals.Bytes += u.Bytes
		v.Totals.CopiedBytes += u.CopiedSourceBytes
		v.Totals.FailedCopies += u.FailedMessages
		v.Totals.SkippedFolders += len(u.SkippedFolders)
		v.UserBars = append(v.UserBars, htmlBar{Label: u.SourceUser, Batch: u.Batch, Bytes: u.Bytes, CopiedBytes: u.CopiedSourceBytes, Messages: u.Messages, Copied: u.CopiedSource, State: state})
		b := batches[u.Batch]
		if b == nil {
			b = &htmlBar{Label: orDash(u.Batch)}
			batches[u.Batch] = b
		}
		b.Bytes += u.Bytes
		b.CopiedBytes += u.CopiedSourceBytes
		b.Messages += u.Messages
		b.Copied += u.CopiedSource
	}
	v.Totals.Done, v.Totals.Failed, v.Totals.Waiting = counts["done"], counts["failed"], counts["waiting"]
	x := 0
	for _, s := range []struct{ name, class string }{{"done", "done"}, {"in progress", "running"}, {"waiting", "waiting"}, {"failed", "failed"}} {
		n := counts[s.class]
		if n == 0 {
			continue
		}
		w := n * width / v.Totals.Users
		v.States = append(v.States, htmlState{Name: s.name, Class: s.class, Users: n, X: x, Width: w})
		x += w
	}
	slices.SortStableFunc(v.UserBars, func(a, b htmlBar) int { return cmp.Compare(b.Bytes, a.Bytes) })
	if len(v.UserBars) > maxChartUsers {
		v.MoreUsers = len(v.UserBars) - maxChartUsers
		v.UserBars = v.UserBars[:maxChartUsers]
	}
	for _, b := range v.UserBars {
		maxBytes = max(maxBytes, b.Bytes, b.CopiedBytes)
	}
	scale(v.UserBars, maxBytes, width)
	var bmax int64
	for _, b := range batches {
		v.BatchBars = append(v.BatchBars, *b)
		bmax = max(bmax, b.Bytes, b.CopiedBytes)
	}
	slices.SortFunc(v.BatchBars, func(a, b htmlBar) int { return cmp.Compare(a.Label, b.Label) })
	scale(v.BatchBars, bmax, width)
	for _, run := range r.Throughput {
		v.Runs = append(v.Runs, plotRun(run, width))
	}
	var most int64
	for _, c := range r.Cutovers {
		most = max(most, c.FinalMessages)
	}
	for i, c := range r.Cutovers {
		b := htmlBar{Label: c.User, Messages: c.FinalMessages, Y: i * 22, State: formatSeconds(c.FinalSeconds)}
		if most > 0 {
			b.Width = int(c.FinalMessages * int64(width) / most)
		}
		v.Cutover = append(v.Cutover, b)
	}
	if e := r.Status.Estimate; e != nil && len(e.Schedule) > 0 {
		v.Estimate = e
		v.Timeline = timeline(e.Schedule, width)
	}
	v.limit()
	var buf bytes.Buffer
	err := reportTemplate.Execute(&buf, v)
	return buf.String(), err
}

// limit keeps the page of a large project readable: the largest
// maxChartUsers final deltas in the cutover chart, and above
// reportDetailUsers users or rows, the users that need attention, the
// problems summed by kind and the first rows of each table. Every row is
// in the CSV and JSON reports.
func (v *htmlReport) limit() {
	slices.SortStableFunc(v.Cutover, func(a, b htmlBar) int { return cmp.Compare(b.Messages, a.Messages) })
	if len(v.Cutover) > maxChartUsers {
		v.MoreCutovers = len(v.Cutover) - maxChartUsers
		v.Cutover = v.Cutover[:maxChartUsers]
	}
	for i := range v.Cutover {
		v.Cutover[i].Y = i * 22
	}
	v.TableUsers = v.Status.Users
	if n := len(v.TableUsers); n > reportDetailUsers {
		var attention []UserStatus
		for _, u := range v.TableUsers {
			if needsAttention(u) {
				attention = append(attention, u)
			}
		}
		v.UsersNote = fmt.Sprintf("%d users: the %d that need attention (a failure, a wait, a skipped folder, a refused message) are listed", n, len(attention))
		if len(attention) > reportDetailUsers {
			v.UsersNote += fmt.Sprintf(", the first %d of them", reportDetailUsers)
			attention = attention[:reportDetailUsers]
		}
		v.UsersNote += "; every user is in the CSV and JSON reports, and by batch in the chart above."
		v.TableUsers = attention
	}
	v.ProblemCount, v.FailedCount = len(v.Problems), len(v.FailedMessages)
	if len(v.Problems) > reportDetailUsers {
		kinds := map[string]*htmlBar{}
		users := map[string]map[string]bool{}
		for _, pr := range v.Problems {
			if kinds[pr.Kind] == nil {
				kinds[pr.Kind], users[pr.Kind] = &htmlBar{Label: pr.Kind}, map[string]bool{}
			}
			kinds[pr.Kind].Messages++
			users[pr.Kind][pr.User] = true
		}
		for k, b := range kinds {
			b.Copied = int64(len(users[k]))
			v.ProblemKinds = append(v.ProblemKinds, *b)
		}
		slices.SortFunc(v.ProblemKinds, func(a, b htmlBar) int {
			return cmp.Or(cmp.Compare(b.Messages, a.Messages), cmp.Compare(a.Label, b.Label))
		})
		v.Problems = v.Problems[:reportDetailUsers]
	}
	if len(v.FailedMessages) > reportDetailUsers {
		v.FailedMessages = v.FailedMessages[:reportDetailUsers]
	}
}

// scale sets the bars' widths and rows for a chart width wide.
func scale(bars []htmlBar, largest int64, width int) {
	for i := range bars {
		bars[i].Y = i * 22
		if largest > 0 {
			bars[i].Width = int(bars[i].Bytes * int64(width) / largest)
			bars[i].CopiedWidth = int(min(bars[i].CopiedBytes, max(bars[i].Bytes, bars[i].CopiedBytes)) * int64(width) / largest)
		}
	}
}

// userState is where a user stands, for the charts: failed (its last step
// failed), waiting (something it needs first), done (bulk copy finished),
// running otherwise.
func userState(u UserStatus) string {
	switch {
	case u.Error != "":
		return "failed"
	case u.BulkDoneAt != nil || u.CutoverAt != nil:
		return "done"
	case u.Waiting != "" && u.BulkStartedAt == nil:
		return "waiting"
	}
	return "running"
}

// plotRun draws a run's bytes copied over time within width × runHeight.
func plotRun(run RunThroughput, width int) htmlRun {
	last := run.Samples[len(run.Samples)-1]
	h := htmlRun{Step: run.Step, Started: run.Started, Seconds: last.Seconds, Bytes: last.Bytes, Messages: last.Messages,
		Rate: int64(run.Rate), Height: runHeight, XLabel: width - 60, Width: width,
		MaxBytesLabel: FormatBytes(last.Bytes), DurationLabel: formatDuration(time.Duration(last.Seconds * float64(time.Second)))}
	var pts []string
	for _, x := range run.Samples {
		px, py := 0.0, float64(runHeight)
		if last.Seconds > 0 {
			px = x.Seconds / last.Seconds * float64(width)
		}
		if last.Bytes > 0 {
			py = float64(runHeight) - float64(x.Bytes)/float64(last.Bytes)*float64(runHeight)
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", px, py))
	}
	h.Points = strings.Join(pts, " ")
	return h
}

// timeline places the estimate's spans within width.
func timeline(spans []EstimateSpan, width int) []htmlSpan {
	start, end := spans[0].Start, spans[len(spans)-1].End
	total := end.Sub(start)
	var out []htmlSpan
	for _, sp := range spans {
		h := htmlSpan{Copying: sp.Copying, Start: sp.Start, End: sp.End, Width: width}
		if total > 0 {
			h.X = int(float64(sp.Start.Sub(start)) / float64(total) * float64(width))
			h.Width = max(1, int(float64(sp.End.Sub(sp.Start))/float64(total)*float64(width)))
		}
		out = append(out, h)
	}
	return out
}
