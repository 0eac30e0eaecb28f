package main

import (
	"fmt"
	"reflect"

	"github.com/mailshift/mailshift/phase"
)

// numberToSampleHook lets verify.sample be written in the configuration
// file as a bare count (sample: 20) as well as a percentage (sample: 1%):
// YAML reads the first as a number.
func numberToSampleHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeOf(phase.SampleSetting("")) {
		return data, nil
	}
	switch v := data.(type) {
	case int, int64, uint64, float64:
		return phase.SampleSetting(fmt.Sprint(v)), nil
	}
	return data, nil
}
