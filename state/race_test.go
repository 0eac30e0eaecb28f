//go:build race

package state

// raceDetector tells tests that the race detector slows everything down.
const raceDetector = true
