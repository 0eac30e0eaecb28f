package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/mailshift/mailshift/internal/testrig/corpus"
	"github.com/mailshift/mailshift/internal/testrig/dovecot"
)

// shardUsers are the users of the sharded project: name and message count,
// uneven so that the split by volume matters.
var shardUsers = []struct {
	name string
	msgs int
}{{"ann", 70}, {"ben", 12}, {"cat", 40}, {"dan", 25}, {"eve", 55}, {"fay", 8}, {"gus", 33}, {"hal", 18}}

// newShardProject is a project of shardUsers between two fresh Dovecots,
// the sources seeded the same way every time, collected and approved.
func newShardProject(t *testing.T) *project {
	t.Helper()
	p := &project{t: t, dir: t.TempDir(),
		src: dovecot.Start(t, dovecot.Options{}),
		dst: dovecot.Start(t, dovecot.Options{Separator: ".", Prefix: "INBOX."}),
	}
	var rows strings.Builder
	rows.WriteString("source_user,source_password,target_user,target_password,batch\n")
	for _, u := range shardUsers {
		p.src.AddUser(u.name, "old-"+u.name)
		p.dst.AddUser(u.name+"@new", "new-"+u.name)
	}
	for i, u := range shardUsers {
		seed(t, p.src, u.name, "old-"+u.name, corpus.Mailbox(int64(100+i), u.msgs, 2500))
		fmt.Fprintf(&rows, "%s,old-%s,%s@new,new-%s,wave%d\n", u.name, u.name, u.name, u.name, i%2+1)
	}
	p.write("users.csv", rows.String())
	p.write("mailshift.yaml", "source:\n  url: imap://"+p.src.Addr+"?tls=none\n"+
		"target:\n  url: imap://"+p.dst.Addr+"?tls=none\n"+
		"users:\n  file: users.csv\ncopy:\n  workers: 2\n")
	p.expect(exitOK, "collect")
	p.expect(exitOK, "approve", "--yes", "--by", "Jane Doe")
	return p
}

// shardProcess is one `mailshift` process run as a Kubernetes Indexed Job
// runs a pod: JOB_COMPLETION_INDEX set, the count from the configuration
// (MAILSHIFT_SHARDS_COUNT, as a ConfigMap or the pod's env would give it).
func (p *project) shardProcess(index, count int, args ...string) *exec.Cmd {
	self, err := os.Executable()
	if err != nil {
		p.t.Fatal(err)
	}
	full := append([]string{"--config", filepath.Join(p.dir, "mailshift.yaml"), "--state", filepath.Join(p.dir, "mailshift.db"), "--quiet"}, args...)
	cmd := exec.Command(self, full...)
	cmd.Env = append(os.Environ(), "MAILSHIFT_TEST_AS_MAIN=1",
		fmt.Sprintf("JOB_COMPLETION_INDEX=%d", index), fmt.Sprintf("MAILSHIFT_SHARDS_COUNT=%d", count))
	return cmd
}

// runShards runs args as count shard processes at once and checks that
// each exits with want.
func (p *project) runShards(count, want int, args ...string) {
	p.t.Helper()
	indexes := make([]int, count)
	for i := range indexes {
		indexes[i] = i
	}
	p.runShardIndexes(indexes, count, want, args...)
}

// runShardIndexes runs args as the shard processes of the given 0-based
// indexes of count at once and checks that each exits with want.
func (p *project) runShardIndexes(indexes []int, count, want int, args ...string) {
	p.t.Helper()
	var wg sync.WaitGroup
	outs := make([]bytes.Buffer, count)
	codes := make([]int, count)
	for _, i := range indexes {
		codes[i] = want
		cmd := p.shardProcess(i, count, args...)
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		if err := cmd.Start(); err != nil {
			p.t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd.Wait()
			codes[i] = cmd.ProcessState.ExitCode()
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != want {
			p.t.Errorf("shard index %d: mailshift %s: exit %d, want %d\n%s", i, strings.Join(args, " "), c, want, outs[i].String())
		}
	}
	if p.t.Failed() {
		p.t.FailNow()
	}
}

// TestShardsOnOneMachine runs the approved plan as four shard processes at
// once against the same two Dovecots, each told its index as Kubernetes
// tells an Indexed Job's pods, merges their states, and checks that every
// message is on the target exactly once and that the merged report is the
// report of a single process that ran the same plan on fresh servers. A
// shard started under a plan approved again refuses with exit 3.
func TestShardsOnOneMachine(t *testing.T) {
	sharded := newShardProject(t)
	out, _ := sharded.expect(exitOK, "shards", "4")
	if !strings.Contains(out, "4/4") {
		t.Errorf("shards 4:\n%s", out)
	}
	var plan struct {
		Shards []struct {
			Bytes int64
			Users []struct {
				User  string
				Bytes int64
			}
		}
	}
	out, _ = sharded.expect(exitOK, "shards", "4", "--json")
	if err := json.Unmarshal([]byte(out), &plan); err != nil || len(plan.Shards) != 4 {
		t.Fatalf("shards 4 --json: %v\n%s", err, out)
	}
	// Largest first onto the least-loaded shard: the loads differ by no
	// more than the largest user, and every user is in one shard.
	seen := map[string]int{}
	var lo, hi, largest int64 = 1 << 62, 0, 0
	for _, s := range plan.Shards {
		lo, hi = min(lo, s.Bytes), max(hi, s.Bytes)
		for _, u := range s.Users {
			seen[u.User]++
			largest = max(largest, u.Bytes)
		}
	}
	if len(seen) != len(shardUsers) || hi-lo > largest {
		t.Errorf("split of %d users: %v; loads %d to %d, largest user %d\n%s", len(shardUsers), seen, lo, hi, largest, out)
	}
	// Stable: the order of the users file does not matter.
	rows, _ := os.ReadFile(filepath.Join(sharded.dir, "users.csv"))
	lines := strings.Split(strings.TrimSpace(string(rows)), "\n")
	slices.Reverse(lines[1:])
	sharded.write("users.csv", strings.Join(lines, "\n")+"\n")
	if again, _ := sharded.expect(exitOK, "shards", "4", "--json"); again != out {
		t.Errorf("the split changed with the order of the users file:\n%s\nthen:\n%s", out, again)
	}
	sharded.write("users.csv", string(rows))

	sharded.runShards(4, exitOK, "bulk", "--skip-test")
	sharded.runShards(4, exitOK, "sync")
	// The cutover: per shard for shards 1 and 2, at once, then for all
	// the other users on the merged project state.
	sharded.runShardIndexes([]int{0, 1}, 4, exitOK, "cutover", "--yes")
	for i := 1; i <= 2; i++ { // each shard's cutover report, none overwritten
		if _, err := os.Stat(filepath.Join(sharded.dir, "reports", fmt.Sprintf("cutover-shard-%d-of-4.md", i))); err != nil {
			t.Errorf("shard %d/4's cutover report: %v", i, err)
		}
	}
	var shardFiles []string
	for i := 1; i <= 4; i++ {
		shardFiles = append(shardFiles, filepath.Join(sharded.dir, fmt.Sprintf("mailshift-%d-of-4.db", i)))
	}
	sharded.expect(exitOK, append([]string{"merge"}, shardFiles...)...)
	sharded.expect(exitOK, append([]string{"merge"}, shardFiles...)...) // again: idempotent
	out, _ = sharded.expect(exitOK, "cutover", "--yes")
	if want := fmt.Sprintf("already cut over: %d users", len(plan.Shards[0].Users)+len(plan.Shards[1].Users)); !strings.Contains(out, want) {
		t.Errorf("cutover for all after merging shards 1 and 2's cutovers: want %q in\n%s", want, out)
	}
	for _, u := range shardUsers {
		sharded.compare(u.name, "old-"+u.name, u.name+"@new", "new-"+u.name)
	}
	sharded.expect(exitOK, "verify")
	merged, _ := sharded.expect(exitOK, "report", "--format", "json")
	validateSchema(t, "report.schema.json", "the merged report", merged)
	if !strings.Contains(merged, `"merged_shards"`) {
		t.Errorf("the merged report does not name the shards merged")
	}
	out, _ = sharded.expect(exitOK, "status")
	if !strings.Contains(out, "Shards merged: 1/4, 2/4, 3/4, 4/4") {
		t.Errorf("status after merging:\n%s", out)
	}
	for _, u := range shardUsers {
		if !regexp.MustCompile(`(?m)^` + u.name + ` .* cut-over `).MatchString(out) {
			t.Errorf("status after merging: %s not cut over:\n%s", u.name, out)
		}
	}

	single := newShardProject(t)
	single.expect(exitOK, "bulk", "--skip-test")
	single.expect(exitOK, "sync")
	single.expect(exitOK, "cutover", "--yes")
	alone, _ := single.expect(exitOK, "report", "--format", "json")
	a, b := comparableReport(t, merged), comparableReport(t, alone)
	if !reflect.DeepEqual(a, b) {
		ja, _ := json.MarshalIndent(a, "", " ")
		jb, _ := json.MarshalIndent(b, "", " ")
		t.Errorf("the merged report of 4 shards differs from a single run's:\nmerged:\n%s\nsingle:\n%s", ja, jb)
	}

	// A shard shows only its own users, never touches another's, and one
	// with none has nothing to do.
	out, _ = sharded.expect(exitOK, "status", "--json", "--shard", "1/4")
	var st struct {
		Users []struct {
			SourceUser string `json:"source_user"`
		}
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Users) != len(plan.Shards[0].Users) || !strings.Contains(out, `"shard"`) {
		t.Errorf("status of shard 1/4: %v\n%s", err, out)
	}
	validateSchema(t, "status.schema.json", "status --json of a shard", out)
	// A shard's own state named with --state runs as that shard.
	var stdout, stderr bytes.Buffer
	cfg := filepath.Join(sharded.dir, "mailshift.yaml")
	if code := run(context.Background(), []string{"--config", cfg, "--state", shardFiles[0], "status", "--json"}, &stdout, &stderr); code != exitOK {
		t.Errorf("status --state %s: exit %d\n%s", shardFiles[0], code, stderr.String())
	} else if err := json.Unmarshal(stdout.Bytes(), &st); err != nil || len(st.Users) != len(plan.Shards[0].Users) {
		t.Errorf("status --state %s shows %d users, want shard 1/4's %d (%v)", shardFiles[0], len(st.Users), len(plan.Shards[0].Users), err)
	}
	if code := run(context.Background(), []string{"--config", cfg, "--state", shardFiles[0], "sync", "--shard", "1/4"}, &stdout, &stderr); code != exitUsage {
		t.Errorf("--shard with a shard's own state as --state: exit %d, want %d", code, exitUsage)
	}
	// verify, report and repair run as one shard too, on its users only.
	sharded.expect(exitOK, "verify", "--shard", "2/4")
	out, _ = sharded.expect(exitOK, "report", "--format", "json", "--shard", "2/4")
	for _, u := range shardUsers {
		mine := slices.ContainsFunc(plan.Shards[1].Users, func(s struct {
			User  string
			Bytes int64
		}) bool {
			return s.User == u.name
		})
		if got := strings.Contains(out, `"source_user": "`+u.name+`"`); got != mine {
			t.Errorf("report --shard 2/4: %s in it %v, in the shard %v", u.name, got, mine)
		}
	}
	// (its users are cut over: repair leaves them alone)
	if _, errOut := sharded.expect(exitOutOfOrder, "repair", "--dry-run", "--shard", "2/4"); !strings.Contains(errOut, "shard=2/4") || !strings.Contains(errOut, "already cut over") {
		t.Errorf("repair --shard 2/4: %s", errOut)
	}
	other := plan.Shards[1].Users[0].User
	sharded.expect(exitUsage, "sync", "--shard", "1/4", "--users", other)
	out, _ = sharded.expect(exitOK, "bulk", "--skip-test", "--shard", "9/9")
	if !strings.Contains(out, "nothing to do") {
		t.Errorf("a shard without users: %s", out)
	}
	t.Setenv("JOB_COMPLETION_INDEX", "0")
	sharded.expect(exitUsage, "status") // an index without a count
	sharded.expect(exitOK, "status", "--shard-count", "4")
	os.Unsetenv("JOB_COMPLETION_INDEX")

	// The plan changes (a user moves to another wave) and is approved
	// again: a shard started under the old one refuses and says what to do.
	rows, _ = os.ReadFile(filepath.Join(sharded.dir, "users.csv"))
	sharded.write("users.csv", strings.Replace(string(rows), "ben@new,new-ben,wave2", "ben@new,new-ben,wave3", 1))
	sharded.expect(exitOK, "approve", "--yes", "--by", "Jane Doe")
	cmd := sharded.shardProcess(1, 4, "sync")
	outB, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != exitOutOfOrder || !strings.Contains(string(outB), "mailshift merge") {
		t.Errorf("a shard under a changed plan: exit %d, want %d, saying to merge:\n%s", code, exitOutOfOrder, outB)
	}
}

// comparableReport is a `report --format json` without what differs
// between two runs of the same plan on other servers at other times:
// times, durations, rates, hashes (the plan's covers the servers' ports)
// and the throughput samples.
func comparableReport(t *testing.T, text string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, text)
	}
	return dropVarying(v)
}

func dropVarying(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			// merged_shards says where the merged state came from: the
			// one thing a single station's report cannot have.
			if k == "throughput" || k == "merged_shards" || k == "at" || k == "started" || k == "hash" || k == "plan_hash" || k == "id" ||
				strings.HasSuffix(k, "_at") || strings.HasSuffix(k, "seconds") || strings.HasSuffix(k, "per_second") {
				continue
			}
			out[k] = dropVarying(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = dropVarying(e)
		}
		return out
	case string:
		return datePattern.ReplaceAllString(x, "DATE")
	}
	return v
}

// datePattern is a time as messages write it ("cut over on 2026-03-01 10:00").
var datePattern = regexp.MustCompile(`\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?`)

// validateSchema checks a JSON document against one of phase/schemas.
func validateSchema(t *testing.T, name, what, doc string) {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for _, f := range []string{"status.schema.json", "report.schema.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "phase", "schemas", f))
		if err != nil {
			t.Fatal(err)
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err == nil {
			err = c.AddResource("https://github.com/mailshift/mailshift/phase/schemas/"+f, v)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	s, err := c.Compile("https://github.com/mailshift/mailshift/phase/schemas/" + name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	if err == nil {
		err = s.Validate(v)
	}
	if err != nil {
		t.Errorf("%s does not validate against %s: %v", what, name, err)
	}
}
