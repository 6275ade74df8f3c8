//go:build race

package archive

// raceEnabled: the race detector is on, and sync.Pool drops items at random.
const raceEnabled = true
