//go:build race

package codeowners

// raceEnabled shortens tests that are slow under the race detector.
const raceEnabled = true
