package users

import (
	"strings"
	"testing"
)

// TestExtraColumns reads the extra columns a caller asks for into
// Row.Extra, and still refuses the columns nobody asked for.
func TestExtraColumns(t *testing.T) {
	in := "source_user,target_user,UID\nalice,alice@example.com, 1001 \nbob,bob@example.com,\n"
	rows, err := Parse("users.csv", strings.NewReader(in), "uid")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Extra["uid"] != "1001" || rows[1].Extra["uid"] != "" {
		t.Errorf("rows = %+v", rows)
	}
	if _, err := Parse("users.csv", strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "UID") {
		t.Errorf("an extra column nobody asked for: %v", err)
	}
}
