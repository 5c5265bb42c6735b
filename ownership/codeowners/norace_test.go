//go:build !race

package codeowners

const raceEnabled = false
