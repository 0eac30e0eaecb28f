package state

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// Holder is the run that holds a state file's writers' lock, as it
// recorded itself in the lock file: what a second writer is told.
type Holder struct {
	Command string    `json:"command"` // e.g. "mailshift bulk --batch wave1"; never a secret
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Started time.Time `json:"started"`
}

// holderPrefix begins the lock file's line that names the run holding it.
const holderPrefix = "held by: "

// newHolder describes this process running command.
func newHolder(command string) Holder {
	host, _ := os.Hostname()
	return Holder{Command: command, PID: os.Getpid(), Host: host, Started: time.Now().UTC()}
}

// line is h as the lock file holds it.
func (h Holder) line() string {
	b, _ := json.Marshal(h)
	return holderPrefix + string(b) + "\n"
}

// readHolder reads the run recorded in the lock file's content, if any.
func readHolder(content string) (Holder, bool) {
	for l := range strings.Lines(content) {
		rest, ok := strings.CutPrefix(l, holderPrefix)
		if !ok {
			continue
		}
		var h Holder
		if json.Unmarshal([]byte(strings.TrimSpace(rest)), &h) == nil && h.PID != 0 {
			return h, true
		}
	}
	return Holder{}, false
}

// lockedMessage tells a second writer that the run h (ok: known) uses the
// state file at path, and what to do.
func lockedMessage(path string, h Holder, ok bool) string {
	who := "another mailshift run is using it"
	if ok {
		cmd := h.Command
		if cmd == "" {
			cmd = "mailshift"
		}
		host := h.Host
		if host == "" {
			host = "?"
		}
		who = fmt.Sprintf("`%s` is using it (pid %d on host %s, started %s)",
			cmd, h.PID, host, h.Started.Local().Format("2006-01-02 15:04:05 MST"))
	}
	return fmt.Sprintf("state file %s: %s; wait for that run to finish, or stop it, and try again (status, report and verify work meanwhile)", path, who)
}
