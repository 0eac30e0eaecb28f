package maildir

import (
	"testing"

	"github.com/mailshift/mailshift/source/sourcetest"
)

func TestConformance(t *testing.T) {
	for _, layout := range []Layout{LayoutMaildirPP, LayoutFS} {
		t.Run(string(layout), func(t *testing.T) {
			sourcetest.Run(t, sourcetest.Kind{
				Name:      "maildir",
				Abilities: abilities,
				New: func(t *testing.T, fx sourcetest.Fixture) sourcetest.Medium {
					return newMedium(t, layout, fx)
				},
			})
		})
	}
}
