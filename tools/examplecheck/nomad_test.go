package examplecheck

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// nomadJob is the Nomad example's job file.
var nomadJob = filepath.Join("..", "..", "examples", "shards-nomad", "mailshift.nomad.hcl")

// TestNomadJobParses parses the Nomad example with the HCL library Nomad
// reads job files with, and checks what makes it run as shards: a batch
// job, a group counted by var.shards, a main task that gets the count
// (MAILSHIFT_SHARDS_COUNT) and runs mailshift with its state files on the
// host volume. Where nomad is installed, `nomad job validate` checks it too.
func TestNomadJobParses(t *testing.T) {
	f, diags := hclparse.NewParser().ParseHCLFile(nomadJob)
	if diags.HasErrors() {
		t.Fatalf("%s: %s", nomadJob, diags.Error())
	}
	fileBytes = f.Bytes
	body := f.Body.(*hclsyntax.Body)
	job := block(t, body, "job", "mailshift")
	if got := literal(t, job.Body, "type"); got != "batch" {
		t.Errorf("job type %q, want batch", got)
	}
	group := block(t, job.Body, "group", "shard")
	if got := expression(group.Body, "count"); got != "var.shards" {
		t.Errorf("group count = %q, want var.shards", got)
	}
	block(t, group.Body, "volume", "state")
	task := block(t, group.Body, "task", "mailshift")
	env := block(t, task.Body, "env")
	if got := expression(env.Body, "MAILSHIFT_SHARDS_COUNT"); !strings.Contains(got, "var.shards") {
		t.Errorf("env MAILSHIFT_SHARDS_COUNT = %q, want it from var.shards", got)
	}
	args := expression(block(t, task.Body, "config").Body, "args")
	for _, want := range []string{`"--state"`, `"--shard-state"`, `"--config"`, "var.step"} {
		if !strings.Contains(args, want) {
			t.Errorf("the task's args %s lack %s", args, want)
		}
	}
	block(t, task.Body, "volume_mount")
	var templates int
	for _, b := range task.Body.Blocks {
		if b.Type == "template" {
			templates++
		}
	}
	if templates != 2 {
		t.Errorf("%d templates in the task, want 2 (the configuration and the users file)", templates)
	}
	if nomad, err := exec.LookPath("nomad"); err == nil {
		out, err := exec.Command(nomad, "job", "validate", nomadJob).CombinedOutput()
		if err != nil {
			t.Errorf("nomad job validate: %v\n%s", err, out)
		}
	} else {
		t.Log("nomad is not installed: the job was parsed with the HCL library only")
	}
}

// block finds the block of type typ with labels in body.
func block(t *testing.T, body *hclsyntax.Body, typ string, labels ...string) *hclsyntax.Block {
	t.Helper()
	for _, b := range body.Blocks {
		if b.Type == typ && slices.Equal(b.Labels, labels) {
			return b
		}
	}
	t.Fatalf("%s: no %s block %q", nomadJob, typ, labels)
	return nil
}

// literal is the string value of a constant attribute.
func literal(t *testing.T, body *hclsyntax.Body, name string) string {
	t.Helper()
	a, ok := body.Attributes[name]
	if !ok {
		t.Fatalf("%s: no attribute %s", nomadJob, name)
	}
	v, diags := a.Expr.Value(&hcl.EvalContext{})
	if diags.HasErrors() {
		t.Fatalf("%s: %s: %s", nomadJob, name, diags.Error())
	}
	return v.AsString()
}

// fileBytes is the job file's text.
var fileBytes []byte

// expression is the source text of an attribute's expression, "" if none.
func expression(body *hclsyntax.Body, name string) string {
	a, ok := body.Attributes[name]
	if !ok {
		return ""
	}
	r := a.Expr.Range()
	return string(r.SliceBytes(fileBytes))
}
