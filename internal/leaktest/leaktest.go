//go:build unix

// Package leaktest checks, at the end of a test binary, that the tests left
// no goroutine or file descriptor behind. Each package's TestMain takes a
// Snapshot before m.Run and calls Check after it.
package leaktest

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Snapshot is the state before the tests ran.
type Snapshot struct {
	goroutines int
	fds        int
}

// Take records the current goroutines and open fds. It first makes the
// runtime open its netpoller (an epoll fd and an eventfd), which it does on
// first use of a pollable file and never closes, so that a test's first
// connection does not look like a leak.
func Take() Snapshot {
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	return Snapshot{goroutines: len(stacks()), fds: OpenFDs()}
}

// Check waits up to wait for the goroutines and fds to fall back to the
// snapshot, and otherwise describes what is left over.
func (s Snapshot) Check(wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		g, f := stacks(), OpenFDs()
		if len(g) <= s.goroutines && f <= s.fds {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("leak check: %d goroutines (before %d), %d fds (before %d)\n%s",
				len(g), s.goroutines, f, s.fds, strings.Join(g, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ignored are goroutines that the testing machinery itself starts, such as
// the fuzz coordinator's signal handler.
var ignored = []string{
	"os/signal.loop",
	"os/signal.signal_recv",
	"testing.(*F).Fuzz",
	"testing.runFuzzTests",
	"testing.tRunner",
	"testing.(*M).Run",
	"runtime.goexit0",
}

// stacks returns the stacks of the goroutines that count.
func stacks() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
next:
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "leaktest.stacks") {
			continue
		}
		for _, ig := range ignored {
			if strings.Contains(g, ig) {
				continue next
			}
		}
		out = append(out, g)
	}
	return out
}

// OpenFDs counts the process's open file descriptors, or returns -1 if
// /proc/self/fd cannot be read.
func OpenFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// SettledFDs waits up to wait for the open fds to fall to base (the
// kernel and the runtime close some a little after the call that asks),
// and returns how many are open then.
func SettledFDs(base int, wait time.Duration) int {
	deadline := time.Now().Add(wait)
	for {
		n := OpenFDs()
		if n <= base || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// HighestFD is the highest open file descriptor number, or -1.
func HighestFD() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	hi := -1
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			hi = max(hi, n)
		}
	}
	return hi
}
