//go:build race

package compose

// raceEnabled shrinks the large-attachment test under the race detector,
// which makes every byte copied several times slower.
const raceEnabled = true
