package mutf7

import "testing"

func TestRoundTrip(t *testing.T) {
	for _, c := range []struct{ enc, dec string }{
		{"INBOX", "INBOX"},
		{"&ANw-berblick", "Überblick"},
		{"Gr&APwA3w-e", "Grüße"},
		{"&-", "&"},
		{"A&-B", "A&B"},
		{"Tom &- Jerry", "Tom & Jerry"},
		{"&ZeVnLIqe-", "日本語"},
		{"Entw&APw-rfe/Gr&APwA3w-e", "Entwürfe/Grüße"},
		{"~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/台北/日本語"},
		{"&2D3eAA-", "😀"},
	} {
		got, err := Decode(c.enc)
		if err != nil || got != c.dec {
			t.Errorf("Decode(%q) = %q, %v; want %q", c.enc, got, err, c.dec)
		}
		if enc := Encode(c.dec); enc != c.enc {
			t.Errorf("Encode(%q) = %q, want %q", c.dec, enc, c.enc)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, bad := range []string{"&", "&ANw", "&AGE-", "Überblick", "&2D0-", "a\x01"} {
		if got, err := Decode(bad); err == nil {
			t.Errorf("Decode(%q) = %q, want an error", bad, got)
		}
	}
}
