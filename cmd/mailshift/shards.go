package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailshift/mailshift/phase"
	"github.com/mailshift/mailshift/state"
)

// shardOptions are the flags of the commands that can run as one shard.
type shardOptions struct {
	shard      string // "I/N", 1-based
	count      int    // --shard-count, for the scheduler's index variable
	shardState string // the shard's state file, or a directory for it
}

// shardHelp says which commands take --shard and why the others do not.
const shardHelp = `bulk, sync, cutover, repair, status, report and verify run as one shard
with --shard I/N (or the scheduler's index variable); collect, approve and
test are the project's: the split is made from what collect measured and
approve signed off, and one test proves the endpoints and mapping every
shard shares. Run them on the project state, then copy it to the stations.`

// addShardFlags gives cmd the flags that run it as one shard.
func (g *globalOptions) addShardFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&g.shards.shard, "shard", "", "run as shard `I/N` of the approved plan (I from 1 to N; see \"mailshift shards N\"), against the shard's own state file; "+
		"default from JOB_COMPLETION_INDEX (Kubernetes) or NOMAD_ALLOC_INDEX (Nomad), 0-based, with the count from --shard-count or shards.count. "+
		"collect, approve and test take no shard: they are the project's")
	f.IntVar(&g.shards.count, "shard-count", 0, "how many shards, when the scheduler's index variable names the shard (default shards.count)")
	f.StringVar(&g.shards.shardState, "shard-state", "", "the shard's state `file`, or a directory for it ending in / (default: NAME-I-of-N.db beside --state, the project state it starts from)")
}

// shardRun is the shard a command runs as.
type shardRun struct {
	index, count int
	from         string // where the index came from, for messages
}

// schedulerIndexes are the environment variables schedulers set to a
// task's 0-based index, in the order they are looked at.
var schedulerIndexes = []string{"JOB_COMPLETION_INDEX", "NOMAD_ALLOC_INDEX"}

// shardOf says which shard this run is, if any: --shard, or the
// scheduler's index variable with the count from --shard-count or
// shards.count. NOMAD_ALLOC_INDEX is set in every Nomad task, so without a
// count it is not taken for a shard; JOB_COMPLETION_INDEX only in Indexed
// Jobs, so there a missing count is an error.
func (g *globalOptions) shardOf(cmd *cobra.Command, cfg phase.Config) (*shardRun, error) {
	if cmd.Flags().Lookup("shard") == nil {
		return nil, nil
	}
	o := g.shards
	count := o.count
	if count == 0 {
		count = cfg.Shards.Count
	}
	if o.shard != "" {
		i, n, err := parseShard(o.shard)
		if err != nil {
			return nil, err
		}
		if o.count != 0 && o.count != n {
			return nil, usageError{fmt.Errorf("--shard %s and --shard-count %d disagree", o.shard, o.count)}
		}
		return &shardRun{index: i, count: n, from: "--shard"}, nil
	}
	for _, name := range schedulerIndexes {
		v, ok := os.LookupEnv(name)
		if !ok || v == "" {
			continue
		}
		if count < 1 {
			if name == "NOMAD_ALLOC_INDEX" {
				continue
			}
			return nil, &phase.ConfigError{Key: "shards.count", Msg: fmt.Sprintf("%s=%s names a shard but not how many there are: set shards.count (or --shard-count) to the Job's completions", name, v)}
		}
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 || i >= count {
			return nil, &phase.ConfigError{Key: "shards.count", Msg: fmt.Sprintf("%s=%q is not an index from 0 to %d (shards.count %d)", name, v, count-1, count)}
		}
		return &shardRun{index: i + 1, count: count, from: name}, nil
	}
	return nil, nil
}

// parseShard reads "I/N".
func parseShard(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return 0, 0, usageError{fmt.Errorf("--shard %q: write I/N with 1 <= I <= N, e.g. --shard 3/8", s)}
	}
	return i, n, nil
}

// shardStatePath is the state file of shard sh: --shard-state (a file, or
// a directory to put it in), else NAME-I-of-N.db beside the project state.
func (g *globalOptions) shardStatePath(sh *shardRun) string {
	base := strings.TrimSuffix(filepath.Base(g.stateFile), filepath.Ext(g.stateFile))
	name := fmt.Sprintf("%s-%d-of-%d.db", base, sh.index, sh.count)
	p := g.shards.shardState
	if p == "" {
		return filepath.Join(filepath.Dir(g.stateFile), name)
	}
	if fi, err := os.Stat(p); (err == nil && fi.IsDir()) || strings.HasSuffix(p, string(filepath.Separator)) {
		return filepath.Join(p, name)
	}
	return p
}

// openShardState opens shard sh's state file as cmd needs it.
func (g *globalOptions) openShardState(cmd *cobra.Command, sh *shardRun) (*state.Store, error) {
	path := g.shardStatePath(sh)
	if cmd.Annotations[stateAccessKey] == "read" {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("%w: shard %d/%d has no state file %s yet: run one of its steps first (mailshift bulk --shard %d/%d)", phase.ErrOutOfOrder, sh.index, sh.count, path, sh.index, sh.count)
		}
		return state.OpenReader(path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("shard state directory: %w", err)
	}
	return state.OpenAs(path, commandLine(cmd))
}

// startShard makes p run as shard sh, starting its state from the
// project state (--state) when it is new. Without sh, a --state that is a
// shard's own state runs as that shard: a shard's state never takes
// another shard's users.
func (g *globalOptions) startShard(p *phase.Project, sh *shardRun) error {
	if sh == nil {
		info, err := p.Store.Shard()
		if errors.Is(err, state.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		sh = &shardRun{index: info.Index, count: info.Count, from: "the state file " + g.stateFile}
		if err := phase.StartShard(p, nil, sh.index, sh.count); err != nil {
			return err
		}
		p.Log.Info("running as one shard", "shard", p.Shard.Name(), "from", sh.from, "state", p.Store.Path(), "users", len(p.Shard.Users))
		return nil
	}
	var project *state.Store
	if fi, err := os.Stat(g.stateFile); err == nil && fi.Size() > 0 {
		if project, err = state.OpenReader(g.stateFile); err != nil {
			return fmt.Errorf("project state: %w", err)
		}
		defer project.Close()
		if info, err := project.Shard(); err == nil {
			return usageError{fmt.Errorf("--state %s is shard %s's own state: with --shard (or the scheduler's index), --state names the project state the shard starts from; name the shard's state with --shard-state, or run without --shard to use it as it is", g.stateFile, info.Name())}
		}
	}
	if err := phase.StartShard(p, project, sh.index, sh.count); err != nil {
		return err
	}
	p.Log.Info("running as one shard", "shard", p.Shard.Name(), "from", sh.from, "state", p.Store.Path(), "users", len(p.Shard.Users))
	return nil
}

type shardsOptions struct{ json bool }

func newShardsCmd(g *globalOptions) *cobra.Command {
	o := &shardsOptions{}
	cmd := &cobra.Command{
		Use:   "shards N",
		Short: "Split the approved plan into N shards of equal volume",
		Long: `Prints how the approved plan's users split into N shards, so that N stations
(pods of a Kubernetes Indexed Job, allocations of a Nomad job, jobs of a CI
matrix) can copy at once, each with its own state file, and finish together:
the users the approved plan covers, largest first (the bytes collect
counted on the source), each onto the shard that holds the fewest bytes so
far.

The split is stable: it depends only on the approved users and the volumes
collect measured, never on the users file's order, the time or the station,
with ties broken by user name, then by the shard with the fewest users and
the lowest index. Every station computes the same split from the same
project state; collecting or approving again may move users, and then
shards started from the old split refuse to run (exit 3) until their states
are merged and they start again from the new project state.

` + shardHelp + `

A shard's state file (NAME-I-of-N.db beside --state, or --shard-state)
starts as a copy of the project state's rows of its users and every
approval; "mailshift merge" brings it back. A shard's own state named with
--state, without --shard, runs as that shard.`,
		Example: `  mailshift shards 8
  mailshift shards 8 --json | jq '.shards[] | {index, bytes, users: [.users[].user]}'

  # run shard 3 of 8 here, then merge every shard's state into the project's
  mailshift bulk --shard 3/8
  mailshift merge mailshift-1-of-8.db mailshift-2-of-8.db mailshift-3-of-8.db`,
		Args: cobra.ExactArgs(1),
		RunE: g.withReader(func(cmd *cobra.Command, p *phase.Project) error {
			n, err := strconv.Atoi(cmd.Flags().Arg(0))
			if err != nil || n < 1 {
				return usageError{fmt.Errorf("shards %q: give the number of shards, 1 or more", cmd.Flags().Arg(0))}
			}
			if p.Shard != nil {
				return usageError{fmt.Errorf("%s is shard %s's state: split the project state (--state)", p.Store.Path(), p.Shard.Name())}
			}
			plan, err := phase.SplitPlan(p, n)
			if err != nil {
				return err
			}
			if o.json {
				return writeJSON(cmd.OutOrStdout(), plan)
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), phase.RenderShards(plan))
			return err
		}),
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "machine-readable output")
	return cmd
}

func newMergeCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "merge SHARD.db...",
		Short: "Bring shard states into the project state",
		Long: `Brings the state files of shards (written by --shard runs) into the project
state (--state): for each shard's users, what the shard did (steps, copied
messages, sync positions, failures, cutovers) replaces what the project
state held of them. Inventory, problems and approvals stay the project's.
Then status, report and verify show the whole project, and cutover can run
for all users at once.

Merging is idempotent: merge the same shard files again, or newer copies of
them while shards still run, and the project state holds each shard's
latest. It refuses (exit 3) what would put older rows back: a shard
state that does not know a step the project state ran for one of its
users since (a cutover of all users after merging, say), an older copy of
a shard state merged before (fewer runs), or a shard state started before
a shard state of another split that was merged already and holds some of
the same users. Merge the states of a split before the plan is
approved again, then start the shards of the new split from the merged
project state: they take what was copied with them, and nothing is copied
twice. A shard state of an earlier split merged first is merged all the
same (what it copied is on the target) and named in a warning.`,
		Example: `  mailshift merge mailshift-1-of-4.db mailshift-2-of-4.db mailshift-3-of-4.db mailshift-4-of-4.db
  mailshift merge shards/*.db && mailshift report --format html -o reports/migration.html`,
		Args: cobra.MinimumNArgs(1),
		RunE: g.withProject(func(cmd *cobra.Command, p *phase.Project) error {
			return mergeShards(cmd, p, cmd.Flags().Args())
		}),
	}
	return cmd
}

// mergeShards merges each shard state file into p's state, saying what it
// merged and warning of shards of another split.
func mergeShards(cmd *cobra.Command, p *phase.Project, paths []string) error {
	splits := map[int]*phase.ShardPlan{}
	for _, path := range paths {
		info, err := p.Store.MergeShard(path, time.Now())
		if errors.Is(err, state.ErrStaleShard) {
			return fmt.Errorf("%w: %w", phase.ErrOutOfOrder, err)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "merged shard %s (%d users, plan %s) from %s\n", info.Name(), len(info.Users), info.PlanHash[:min(12, len(info.PlanHash))], path)
		cur, ok := splits[info.Count]
		if !ok {
			if plan, err := phase.SplitPlan(p, info.Count); err == nil {
				cur = &plan
			}
			splits[info.Count] = cur
		}
		if cur != nil && cur.SplitHash != info.SplitHash {
			p.Log.Warn("this shard state is of an earlier split of the plan: its users' progress was merged all the same; start the shards of the current split from the merged project state",
				"shard", info.Name(), "path", path)
		}
	}
	return nil
}

// errShardEmpty turns a shard with nothing to do into a message and exit 0.
func errShardEmpty(cmd *cobra.Command, err error) error {
	if errors.Is(err, phase.ErrShardEmpty) {
		fmt.Fprintf(cmd.OutOrStdout(), "%v: nothing to do\n", err)
		return nil
	}
	return err
}
