//go:build linux && !android

package engine

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestNewSocketsFollowGOMAXPROCS: with the rings sized by GOMAXPROCS at
// start-up, a process that lowers GOMAXPROCS puts its new sockets on the
// first GOMAXPROCS rings only, and spreads them over all of them again
// once it raises it back.
func TestNewSocketsFollowGOMAXPROCS(t *testing.T) {
	e := testEngine(t)
	b, ok := e.b.(*uringBackend)
	if !ok || len(b.shards) < 2 || !b.perP {
		t.Skipf("backend %s: needs two rings or more, sized by GOMAXPROCS", e.Backend())
	}
	homes := func(procs, n int) map[uint32]int {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		seen := map[uint32]int{}
		for range n {
			s, err := e.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0, CatDatagram)
			if err != nil {
				t.Fatal(err)
			}
			seen[s.home]++
			s.Close()
		}
		return seen
	}
	if seen := homes(1, 64); len(seen) != 1 || seen[0] != 64 {
		t.Errorf("at GOMAXPROCS=1, 64 sockets went to rings %v, want all on ring 0", seen)
	}
	// 64 random picks a ring miss one of k rings with odds under k*e^-64.
	k := len(b.shards)
	if seen := homes(k, 64*k); len(seen) != k {
		t.Errorf("at GOMAXPROCS=%d, %d sockets went to rings %v, want every one of %d", k, 64*k, seen, k)
	}
}
