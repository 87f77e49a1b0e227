//go:build race

package gonet_test

// raceEnabled: the race detector doubles the stack guard, so every
// goroutine's stack starts larger in use, net's as well as ours.
const raceEnabled = true
