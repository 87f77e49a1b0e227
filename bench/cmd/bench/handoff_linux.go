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
// most limit.
func handoff(limit time.Duration) (float64, error) {
	if runtime.GOMAXPROCS(0) < 2 || runtime.NumCPU() < 2 {
		return 0, errors.New("needs two CPUs and GOMAXPROCS of at least 2")
	}
	const turns = 200_000
	var (
		line     atomic.Int64 // whose turn: even for CPU 0, odd for CPU 1
		gaveUp   atomic.Bool
		pinErr   = make(chan error, 1)
		finished = make(chan struct{})
	)
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
	go func() {
		defer close(finished)
		// Locked and never unlocked: the thread, pinned, ends with the
		// goroutine rather than run anything else.
		runtime.LockOSThread()
		if err := pinTo(1); err != nil {
			gaveUp.Store(true)
			pinErr <- err
			return
		}
		for t := int64(1); t < turns; t += 2 {
			if !take(t) {
				return
			}
			line.Store(t + 1)
		}
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return 0, err
	}
	defer unix.SchedSetaffinity(0, &old)
	if err := pinTo(0); err != nil {
		gaveUp.Store(true)
		<-finished
		return 0, err
	}
	start := time.Now()
	for t := int64(0); t < turns; t += 2 {
		if !take(t) {
			break
		}
		line.Store(t + 1)
	}
	<-finished
	elapsed := time.Since(start)
	select {
	case err := <-pinErr:
		return 0, err
	default:
	}
	if gaveUp.Load() {
		return 0, errors.New("the other CPU did not take its turns in time")
	}
	return float64(elapsed.Nanoseconds()) / turns, nil
}

// pinTo keeps the calling thread on cpu.
func pinTo(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	return unix.SchedSetaffinity(0, &set)
}
