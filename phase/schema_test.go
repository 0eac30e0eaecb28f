package phase

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaFor compiles one of phase/schemas (with the others it refers to).
func schemaFor(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for _, f := range []string{"status.schema.json", "report.schema.json"} {
		b, err := os.ReadFile(filepath.Join("schemas", f))
		must(t, err)
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
		must(t, err)
		must(t, c.AddResource("https://github.com/mailshift/mailshift/phase/schemas/"+f, doc))
	}
	s, err := c.Compile("https://github.com/mailshift/mailshift/phase/schemas/" + name)
	must(t, err)
	return s
}

// validate checks a JSON document against a schema.
func validate(t *testing.T, s *jsonschema.Schema, what, doc string) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	must(t, err)
	if err := s.Validate(v); err != nil {
		t.Errorf("%s does not validate against its schema: %v\n%.1500s", what, err, doc)
	}
}

// status --json and report --format json validate against the schemas
// kept in phase/schemas: before anything ran, and with users copied,
// waiting, refused messages and skipped folders.
func TestJSONAgainstSchemas(t *testing.T) {
	status, report := schemaFor(t, "status.schema.json"), schemaFor(t, "report.schema.json")
	p, _ := newFakeProject(t, "ann", "bob")
	check := func(when string) {
		t.Helper()
		st, err := Status(p, Selection{})
		must(t, err)
		b, err := json.Marshal(st)
		must(t, err)
		validate(t, status, "status --json "+when, string(b))
		rep, err := BuildReport(p, Selection{})
		must(t, err)
		js, err := rep.Render("json")
		must(t, err)
		validate(t, report, "report --format json "+when, js)
	}
	bad, err := jsonschema.UnmarshalJSON(strings.NewReader(`{"schema_version": 1, "users": [{"source_user": "ann"}]}`))
	must(t, err)
	if status.Validate(bad) == nil {
		t.Fatal("the status schema takes a document without its required fields")
	}
	check("before collect")
	ctx := context.Background()
	_, err = Collect(ctx, p, Selection{})
	must(t, err)
	_, err = Approve(ctx, p, ApproveOptions{Yes: true, By: "Test"})
	must(t, err)
	_, err = Bulk(ctx, p, BulkOptions{SkipTest: true, Selection: Selection{Users: []string{"ann"}}})
	must(t, err)
	check("after a bulk copy of one user")
}
