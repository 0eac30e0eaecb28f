package phase

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mailshift/mailshift/internal/users"
	"github.com/mailshift/mailshift/state"
)

// SchemaVersion is the version of the JSON forms of `status --json` and
// `report --format json`, described by the JSON Schemas in phase/schemas.
const SchemaVersion = 1

// Report is the project's status with every failed message; its JSON form is
// the stable interface of `report --format json`.
type Report struct {
	// SchemaVersion is the version of this JSON form (phase/schemas).
	SchemaVersion  int             `json:"schema_version"`
	Status         StatusReport    `json:"status"`
	Problems       []state.Problem `json:"problems"`
	FailedMessages []FailedMessage `json:"failed_messages"`
	// Throughput is how the latest test and bulk copy went over time.
	Throughput []RunThroughput `json:"throughput"`
	// Cutovers are the selected users' cutovers: the final delta each
	// final sync copied, and how long it took.
	Cutovers []UserCutoverRecord `json:"cutovers"`
	// PSTFiles are, for a pstscan: source, the PST files found with what
	// became of each (also in reports/pst-files.csv).
	PSTFiles []PSTFileReport `json:"pst_files"`
}

// UserCutoverRecord is a user's recorded cutover.
type UserCutoverRecord struct {
	User          string    `json:"user"`
	At            time.Time `json:"at"`
	FinalMessages int64     `json:"final_messages"`
	FinalSeconds  float64   `json:"final_sync_seconds"`
	Verified      bool      `json:"verified"`
}

// RunThroughput is one run of a copying step over time: what it had copied
// at each sample.
type RunThroughput struct {
	Step    string      `json:"step"`
	Started time.Time   `json:"started"`
	Samples []RunSample `json:"samples"`
	Rate    float64     `json:"bytes_per_second"` // over the whole run
}

// RunSample is how far a run had got, seconds after it started.
type RunSample struct {
	Seconds  float64 `json:"seconds"`
	Messages int64   `json:"messages"`
	Bytes    int64   `json:"bytes"`
}

// FailedMessage is a message that could not be copied.
type FailedMessage struct {
	User   string `json:"user"`
	Folder string `json:"folder"`
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	Reason string `json:"reason"`
}

// latestRun is the throughput of the step's latest run, from the samples
// it recorded; false when it recorded fewer than two.
func (p *Project) latestRun(step state.Step) (RunThroughput, bool, error) {
	started, xs, err := p.Store.LatestSamples(step)
	if err != nil || len(xs) < 2 {
		return RunThroughput{}, false, err
	}
	run := RunThroughput{Step: string(step), Started: started}
	for _, x := range xs {
		run.Samples = append(run.Samples, RunSample{Seconds: x.At.Sub(started).Seconds(), Messages: x.Messages, Bytes: x.Bytes})
	}
	if last := run.Samples[len(run.Samples)-1]; last.Seconds > 0 {
		run.Rate = float64(last.Bytes) / last.Seconds
	}
	return run, true, nil
}

// BuildReport gathers the report of the selected users.
func BuildReport(p *Project, sel Selection) (Report, error) {
	st, err := Status(p, sel)
	if err != nil {
		return Report{}, err
	}
	rep := Report{SchemaVersion: SchemaVersion, Status: st, Problems: []state.Problem{}, FailedMessages: []FailedMessage{}, Throughput: []RunThroughput{}, Cutovers: []UserCutoverRecord{}, PSTFiles: []PSTFileReport{}}
	for _, step := range []state.Step{state.StepTest, state.StepBulk} {
		run, ok, err := p.latestRun(step)
		if err != nil {
			return rep, err
		}
		if ok {
			rep.Throughput = append(rep.Throughput, run)
		}
	}
	want := map[string]bool{}
	for _, u := range st.Users {
		want[u.SourceUser] = true
	}
	cs, err := p.Store.Cutovers()
	if err != nil {
		return rep, err
	}
	for _, c := range cs {
		if want[c.User] {
			rep.Cutovers = append(rep.Cutovers, UserCutoverRecord{User: c.User, At: c.At.UTC(), FinalMessages: c.FinalMessages, FinalSeconds: c.FinalSyncSeconds, Verified: c.Verified})
		}
	}
	all, err := p.Store.Problems()
	if err != nil {
		return rep, err
	}
	for _, pr := range all {
		if want[pr.User] {
			rep.Problems = append(rep.Problems, pr)
		}
	}
	if _, ok := p.scanner(); ok {
		var rows []users.Row
		for _, r := range p.Users {
			if want[r.SourceUser] {
				rows = append(rows, r)
			}
		}
		if rep.PSTFiles, err = p.pstFileReports(rows); err != nil {
			return rep, err
		}
	}
	// One query for every user's failed messages, in the users' order.
	fs, err := p.Store.FailedPairs("")
	if err != nil {
		return rep, err
	}
	failed := map[string][]state.Pair{}
	for _, f := range fs {
		if want[f.User] {
			failed[f.User] = append(failed[f.User], f)
		}
	}
	for _, u := range st.Users {
		for _, f := range failed[u.SourceUser] {
			rep.FailedMessages = append(rep.FailedMessages, FailedMessage{User: f.User, Folder: f.SourceFolder, Key: f.SourceKey, Size: f.Size, Reason: f.Error})
		}
	}
	return rep, nil
}

// Render renders the report as md, html, csv or json.
func (r Report) Render(format string) (string, error) {
	switch format {
	case "json":
		b, err := json.MarshalIndent(r, "", "  ")
		return string(b) + "\n", err
	case "csv":
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		// Columns are only ever added at the end. source_*: as the last
		// collect counted them; copied_source_*: copied of those;
		// copied_new_*: copied, new on the source since that collect.
		w.Write([]string{"source_user", "target_user", "batch", "stage", "source_messages", "copied_messages", "copied_bytes", "failed_messages", "error", "waiting", "skipped_folders",
			"source_bytes", "copied_source_messages", "copied_source_bytes", "copied_new_messages", "copied_new_bytes", "copied_gone_messages"})
		for _, u := range r.Status.Users {
			var skipped []string
			for _, f := range u.SkippedFolders {
				skipped = append(skipped, f.Folder)
			}
			w.Write([]string{u.SourceUser, u.TargetUser, u.Batch, u.Stage, strconv.FormatInt(u.Messages, 10), strconv.FormatInt(u.Copied, 10), strconv.FormatInt(u.CopiedBytes, 10), strconv.FormatInt(u.FailedMessages, 10), u.Error, u.Waiting, strings.Join(skipped, "; "),
				strconv.FormatInt(u.Bytes, 10), strconv.FormatInt(u.CopiedSource, 10), strconv.FormatInt(u.CopiedSourceBytes, 10),
				strconv.FormatInt(u.CopiedNew, 10), strconv.FormatInt(u.CopiedNewBytes, 10), strconv.FormatInt(u.CopiedGone, 10)})
		}
		w.Flush()
		return buf.String(), w.Error()
	case "md", "markdown", "html":
		var b strings.Builder
		b.WriteString("# Migration report\n\n```\n")
		b.WriteString(RenderStatus(r.Status))
		b.WriteString("```\n\n## Problems found by collect\n\n")
		if len(r.Problems) == 0 {
			b.WriteString("None.\n")
		}
		problems, failed := r.Problems, r.FailedMessages
		if len(problems) > reportDetailUsers {
			writeProblemKinds(func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }, problems)
			fmt.Fprintf(&b, "The first %d of %d (every one: `mailshift report --format json`):\n\n", reportDetailUsers, len(problems))
			problems = problems[:reportDetailUsers]
		}
		for _, pr := range problems {
			fmt.Fprintf(&b, "- %s %s %s: %s (%s)\n", pr.User, pr.Kind, pr.Folder, pr.Detail, pr.Action)
		}
		r.writeSkippedFolders(&b)
		r.writePSTFiles(&b)
		fmt.Fprintf(&b, "\n## Messages that could not be copied (%d)\n\n", len(failed))
		if len(failed) > reportDetailUsers {
			fmt.Fprintf(&b, "The first %d (every one: `mailshift report --format json`):\n\n", reportDetailUsers)
			failed = failed[:reportDetailUsers]
		}
		if len(failed) > 0 {
			b.WriteString("| user | folder | message | size | reason |\n|---|---|---|---|---|\n")
			for _, f := range failed {
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", f.User, f.Folder, f.Key, FormatBytes(f.Size), f.Reason)
			}
		}
		if format == "html" {
			return r.renderHTML()
		}
		return b.String(), nil
	}
	return "", &ConfigError{"--format", fmt.Sprintf("%q: must be md, html, csv or json", format)}
}

// writeSkippedFolders lists the folders passes skipped, per user.
func (r Report) writeSkippedFolders(b *strings.Builder) {
	var rows []string
	for _, u := range r.Status.Users {
		for _, f := range u.SkippedFolders {
			rows = append(rows, fmt.Sprintf("| %s | %s | %s | %s |\n", u.SourceUser, f.Folder, f.FailedAt.Format("2006-01-02 15:04"), f.Reason))
		}
	}
	fmt.Fprintf(b, "\n## Folders skipped (%d)\n\n", len(rows))
	if len(rows) == 0 {
		return
	}
	b.WriteString("Each was skipped by the last pass that reached it; the user's other folders were copied, and the next run tries it again.\n\n")
	b.WriteString("| user | folder | since | reason |\n|---|---|---|---|\n")
	for _, row := range rows {
		b.WriteString(row)
	}
}
