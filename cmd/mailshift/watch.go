package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/mailshift/mailshift/phase"
)

// rateWindow is how far back `status --watch` looks for the rate: long
// enough to smooth the bursts of group commits, short enough to follow a
// throttle window opening or closing.
const rateWindow = 30 * time.Second

// watchSample is what one look at the state showed of one user.
type watchSample struct {
	at     time.Time
	copied int64 // messages
	bytes  int64
}

// statusWatch is a running `status --watch`: the samples seen per user.
type statusWatch struct {
	samples map[string][]watchSample // oldest first, within rateWindow
}

// watchStatus shows the status of sel every interval until ctx ends: on a
// terminal it clears the screen and redraws, elsewhere it prints one block
// after the other. Stopping it (Ctrl-C) is its normal end: it returns nil,
// so the command exits 0, as nothing was interrupted that needs a rerun.
func watchStatus(ctx context.Context, p *phase.Project, sel phase.Selection, out io.Writer, interval time.Duration) error {
	if interval <= 0 {
		return usageError{fmt.Errorf("--interval %s: must be more than zero", interval)}
	}
	tty := false
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		tty = true
	}
	w := &statusWatch{samples: map[string][]watchSample{}}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for first := true; ; first = false {
		now := time.Now()
		rep, err := phase.Status(p, sel)
		if err != nil && first {
			return err
		}
		var b strings.Builder
		if err != nil {
			fmt.Fprintf(&b, "mailshift status at %s: could not read the state: %v\n", now.Format("15:04:05"), err)
		} else {
			w.render(&b, rep, now, interval)
		}
		if tty {
			io.WriteString(out, "\x1b[H\x1b[2J")
		} else if !first {
			io.WriteString(out, "\n")
		}
		io.WriteString(out, b.String())
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// rate records s for user and returns the messages and bytes per second
// over the samples of the last rateWindow (0 with fewer than two).
func (w *statusWatch) rate(user string, s watchSample) (msgs, bytes float64) {
	ss := append(w.samples[user], s)
	for len(ss) > 2 && s.at.Sub(ss[0].at) > rateWindow {
		ss = ss[1:]
	}
	w.samples[user] = ss
	first := ss[0]
	dt := s.at.Sub(first.at).Seconds()
	if dt <= 0 {
		return 0, 0
	}
	return float64(s.copied-first.copied) / dt, float64(s.bytes-first.bytes) / dt
}

// render writes one block: per user the stage, messages and bytes copied
// of those the last collect counted on the source, the rate (of all
// copying, new mail included), the time left at that rate, what holds it
// (paused until, last error), and the total.
func (w *statusWatch) render(b *strings.Builder, rep phase.StatusReport, now time.Time, interval time.Duration) {
	fmt.Fprintf(b, "mailshift status at %s (every %s; Ctrl-C to stop)\n", now.Format("2006-01-02 15:04:05"), interval)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tSTAGE\tMESSAGES\tBYTES\tRATE\tETA\tNOTE")
	var total phase.UserStatus
	var totalRate, totalMsgRate float64
	for _, u := range rep.Users {
		mr, br := w.rate(u.SourceUser, watchSample{at: now, copied: u.Copied, bytes: u.CopiedBytes})
		totalRate += br
		totalMsgRate += mr
		total.Messages += u.Messages
		total.Bytes += u.Bytes
		total.CopiedSource += u.CopiedSource
		total.CopiedSourceBytes += u.CopiedSourceBytes
		total.FailedMessages += u.FailedMessages
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.SourceUser, u.Stage,
			ofTotal(u.CopiedSource, u.Messages, count), ofTotal(u.CopiedSourceBytes, u.Bytes, phase.FormatBytes),
			watchRateText(br, mr), eta(u.Bytes-u.CopiedSourceBytes, br), note(u, now))
	}
	fmt.Fprintf(tw, "total\t\t%s\t%s\t%s\t%s\t%s\n",
		ofTotal(total.CopiedSource, total.Messages, count), ofTotal(total.CopiedSourceBytes, total.Bytes, phase.FormatBytes),
		watchRateText(totalRate, totalMsgRate), eta(total.Bytes-total.CopiedSourceBytes, totalRate), failedText(total.FailedMessages))
	tw.Flush()
}

// ofTotal is "n/of", or n alone when the source's figure is unknown.
func ofTotal(n, of int64, format func(int64) string) string {
	if of <= 0 {
		return format(n)
	}
	return format(n) + "/" + format(of)
}

// watchRateText is bytes and messages per second, "-" when nothing moved.
func watchRateText(bytes, msgs float64) string {
	if bytes <= 0 && msgs <= 0 {
		return "-"
	}
	return fmt.Sprintf("%s/s %.0f msg/s", phase.FormatBytes(int64(bytes)), msgs)
}

// eta is the time left for left bytes at rate bytes per second, "-" when
// nothing is left or nothing moves.
func eta(left int64, rate float64) string {
	if left <= 0 || rate <= 0 {
		return "-"
	}
	return time.Duration(float64(left) / rate * float64(time.Second)).Round(time.Second).String()
}

// note is what holds u back or went wrong last.
func note(u phase.UserStatus, now time.Time) string {
	var parts []string
	if u.PausedUntil != nil && u.PausedUntil.After(now) {
		parts = append(parts, "paused until "+u.PausedUntil.Local().Format("2006-01-02 15:04"))
	}
	if u.CopiedNew > 0 {
		parts = append(parts, fmt.Sprintf("+%d new since collect", u.CopiedNew))
	}
	if u.FailedMessages > 0 {
		parts = append(parts, failedText(u.FailedMessages))
	}
	if u.Error != "" {
		e := u.Error
		if i := strings.IndexByte(e, '\n'); i >= 0 {
			e = e[:i]
		}
		parts = append(parts, "last error ("+u.ErrorStep+"): "+e)
	}
	return strings.Join(parts, "; ")
}

// count is a number of messages.
func count(n int64) string { return strconv.FormatInt(n, 10) }

func failedText(n int64) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d messages failed", n)
}
