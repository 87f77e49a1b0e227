package main

import (
	"errors"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// handoff measures what one cache line costs to move between CPUs 0 and 1:
// two threads, one pinned to each, take turns to write a shared counter,
// and the result is the mean time of one turn (one way), in ns. On a VM
// the two vCPUs may share a core complex at one time and not at another;
// this figure tells which, and every figure at GOMAXPROCS=2 follows it (a
// second P gains less where a shared line costs more). It spins for at
// most limit. Both sides run on goroutines of their own, locked to their
// threads and never unlocked, so each pinned thread ends with its
// goroutine (runtime.LockOSThread) and no thread of the caller's is ever
// pinned: there is no affinity to restore.
func handoff(limit time.Duration) (float64, error) {
	if runtime.GOMAXPROCS(0) < 2 || runtime.NumCPU() < 2 {
		return 0, errors.New("needs two CPUs and GOMAXPROCS of at least 2")
	}
	const turns = 200_000
	var (
		line       atomic.Int64 // whose turn: even for CPU 0, odd for CPU 1
		gaveUp     atomic.Bool
		start, end time.Time // of the turns after both sides are pinned and running
		errs       = make(chan error, 2)
	)
	errLate := errors.New("the other CPU did not take its turns in time")
	deadline := time.Now().Add(limit)
	// take waits for turn, and gives up with the other side once the
	// limit has passed (checked every 4096 spins).
	take := func(turn int64) bool {
		for spins := 1; line.Load() != turn; spins++ {
			if spins%4096 == 0 && (gaveUp.Load() || time.Now().After(deadline)) {
				gaveUp.Store(true)
				return false
			}
		}
		return true
	}
	side := func(cpu int) {
		runtime.LockOSThread()
		if err := pinTo(cpu); err != nil {
			gaveUp.Store(true)
			errs <- err
			return
		}
		for t := int64(cpu); t < turns; t += 2 {
			if !take(t) {
				errs <- errLate
				return
			}
			if t == 2 {
				start = time.Now() // one round trip done: both are pinned
			}
			line.Store(t + 1)
		}
		if cpu == 1 {
			end = time.Now() // after the last turn (turns is even)
		}
		errs <- nil
	}
	go side(0)
	go side(1)
	var err error
	for range 2 {
		if e := <-errs; e != nil && (err == nil || err == errLate) {
			err = e // a failed pin, rather than the other side giving up
		}
	}
	if err != nil {
		return 0, err
	}
	return float64(end.Sub(start).Nanoseconds()) / (turns - 2), nil
}

// pinTo keeps the calling thread on cpu.
func pinTo(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	return unix.SchedSetaffinity(0, &set)
}
