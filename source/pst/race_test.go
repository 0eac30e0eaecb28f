//go:build race

package pst

// raceEnabled shrinks the large-file test under the race detector, which
// makes every byte copied several times slower.
const raceEnabled = true
