//go:build !race

package outbound

// raceEnabled: the tests run under the race detector (see TestMain).
const raceEnabled = false
