//go:build race

package index

// raceEnabled shortens the long random tests under the race detector, which
// makes each store call several times slower.
const raceEnabled = true
