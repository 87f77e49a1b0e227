//go:build linux

package engine

import (
	"context"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// deadline is one direction's deadline, in the shape of gVisor gonet's
// deadlineTimer: a channel that is closed when the deadline passes. A pending
// op selects on it, so moving the deadline while the op waits just re-arms
// the timer that will close the same channel. Once the channel is closed,
// the next set installs a fresh one; a waiter that wakes on a channel that is
// no longer current goes back to waiting on the new one.
type deadline struct {
	at atomic.Int64                  // UnixNano of the deadline; 0 means none
	ch atomic.Pointer[chan struct{}] // closed when the deadline passes; made on first use

	mu    sync.Mutex  // serializes set, stop, the timer and pend's list
	timer *time.Timer // closes ch when it fires (armLocked); kept for reuse
	armed bool        // the timer is set to fire

	// past is set from the moment the deadline fires until it is moved:
	// what enlist reads, without mu, in place of the closed channel.
	past atomic.Bool

	// pend heads the list of the ring ops that wait for their CQE with a
	// plain channel receive, not a select on ch (shard.await): when the
	// deadline passes, it cancels them. The list changes under mu, but
	// for its one common shape, a lone op, which enlist and delist put
	// and take with a CAS (enlist says how).
	pend atomic.Pointer[opState]
}

// fireLocked closes the current channel, or where there is none, since
// nobody has waited on this deadline, installs closedCh in its place (so
// that passing allocates nothing); then
// it cancels the ops in pend.
//
// Preconditions: d.mu is held.
func (d *deadline) fireLocked() {
	d.past.Store(true) // before cancelPendLocked takes one (see enlist)
	if p := d.ch.Load(); p == nil {
		d.ch.Store(&closedCh)
	} else if !closed(*p) {
		close(*p)
	}
	d.cancelPendLocked()
}

// wait returns the channel to select on.
func (d *deadline) wait() chan struct{} {
	for {
		if p := d.ch.Load(); p != nil {
			return *p
		}
		c := make(chan struct{})
		if d.ch.CompareAndSwap(nil, &c) {
			return c
		}
	}
}

// fired reports whether c, which a waiter saw closed, is still the current
// channel: if not, the deadline moved and the waiter must wait again.
func (d *deadline) fired(c chan struct{}) bool {
	p := d.ch.Load()
	return p != nil && *p == c
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// set moves the deadline to t; the zero time removes it. Pending waiters see
// the change. A channel that has fired is dropped, and the next waiter
// makes a fresh one; so net/http's pattern per request, a deadline in the
// past to end a background read and then none, allocates nothing.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked()
	d.store(t)
	if p := d.ch.Load(); p != nil && closed(*p) {
		d.ch.Store(nil)
	}
	d.past.Store(false)
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		d.fireLocked()
		return
	}
	d.armLocked(dur)
}

// armLocked starts the timer that closes the channel after dur. A timer
// that stopLocked kept is reset, so a deadline moved on before it passes,
// as per message, allocates nothing.
//
// Preconditions: d.mu is held; no timer runs.
func (d *deadline) armLocked(dur time.Duration) {
	d.armed = true
	if d.timer != nil {
		d.timer.Reset(dur)
		return
	}
	var tm *time.Timer
	tm = time.AfterFunc(dur, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.timer == tm && d.armed { // not one that stopLocked gave up on
			d.armed = false
			d.fireLocked()
		}
	})
	d.timer = tm
}

// stopLocked disarms the timer. One that Stop catches before it fires is
// kept for armLocked; one that has fired, whose function may yet be
// waiting for d.mu, is let go, and that function then does nothing.
//
// Preconditions: d.mu is held.
func (d *deadline) stopLocked() {
	if d.armed && !d.timer.Stop() {
		d.timer = nil
	}
	d.armed = false
}

// store records t for expired and when, without a timer (the epoll backend
// leaves the timing to the netpoller).
func (d *deadline) store(t time.Time) {
	var at int64
	if !t.IsZero() {
		at = max(t.UnixNano(), 1)
	}
	d.at.Store(at)
}

// expired reports whether the deadline has passed: an op must not start.
func (d *deadline) expired() bool {
	at := d.at.Load()
	return at != 0 && time.Now().UnixNano() >= at
}

// when returns the current deadline.
func (d *deadline) when() time.Time {
	at := d.at.Load()
	if at == 0 {
		return time.Time{}
	}
	return time.Unix(0, at)
}

func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked()
}

// errIfExpired is os.ErrDeadlineExceeded when the deadline has passed.
func (d *deadline) errIfExpired() error {
	if d.expired() {
		return os.ErrDeadlineExceeded
	}
	return nil
}

// waiter is what else a wait ends on: the socket's deadline, the op's
// timeout and its context.
type waiter struct {
	dl    *deadline
	dch   chan struct{}
	ctx   context.Context
	done  <-chan struct{}
	timer *time.Timer
	tch   <-chan time.Time
	reuse bool // timer may go back to idleTimers (not a synctest bubble's)
	made  bool // set by waitLazy
}

func newWaiter(s *Socket, w *waitSpec) waiter {
	wt := waiter{ctx: w.ctx}
	if s != nil && w.mode != 0 {
		wt.dl = s.deadline(w.mode)
		wt.dch = wt.dl.wait()
	}
	if w.ctx != nil {
		wt.done = w.ctx.Done()
	}
	if !w.expire.IsZero() {
		wt.timer, wt.reuse = newTimer(w.expire)
		wt.tch = wt.timer.C
	}
	return wt
}

// idleTimers holds the stopped timers of ended waits, for the next wait
// with a timeout: a new timer was three allocations, two a round trip in
// a UDP ping-pong with SO_RCVTIMEO on the uring backend (1 flow 18.5k ->
// 17.7k ns, 16 flows 230k -> 220k at one P). Only the timers of Go 1.23
// go back, whose channels (of capacity 0) keep no tick past Stop: a
// program on the older ones (a main module at go 1.22 or older, or
// GODEBUG=asynctimerchan=1) could find a tick of a stopped timer arrive
// after Stop, for the next wait to take.
var idleTimers sync.Pool

// newTimer is time.NewTimer(time.Until(at)), from idleTimers where one is
// there. reuse is false in a testing/synctest bubble, where time.Now
// carries no monotonic reading: a bubble's timer must not go to the pool,
// as a Reset or Stop from outside the bubble is a fatal error in the
// runtime, and a timer from outside must not come to a bubble, whose waits
// run on its fake clock.
func newTimer(at time.Time) (t *time.Timer, reuse bool) {
	now := time.Now()
	d := at.Sub(now)
	if now == now.Round(0) { // no monotonic reading: in a bubble
		return time.NewTimer(d), false
	}
	if t, ok := idleTimers.Get().(*time.Timer); ok {
		t.Reset(d)
		return t, true
	}
	return time.NewTimer(d), true
}

// waitLazy is wait on ch for a caller that may not wait at all: it makes
// wt from s and w at its first call, so that a call that finds what it
// wants at once starts no timer. stop is safe on a waiter never made.
func (wt *waiter) waitLazy(s *Socket, w *waitSpec, ch <-chan struct{}) error {
	if !wt.made {
		*wt = newWaiter(s, w)
		wt.made = true
	}
	return wt.wait(ch, s.closingCh())
}

func (wt *waiter) stop() {
	if wt.timer != nil {
		wt.timer.Stop()
		if wt.reuse && cap(wt.timer.C) == 0 {
			idleTimers.Put(wt.timer)
		}
		wt.timer, wt.tch = nil, nil
	}
}

// wait returns nil once it has received from ch, or why the wait ended
// first: net.ErrClosed once closing is closed, or the deadline, timeout or
// context. A deadline that moves is followed.
func (wt *waiter) wait(ch, closing <-chan struct{}) error {
	for {
		select {
		case <-ch:
			return nil
		case <-closing:
			return net.ErrClosed
		case <-wt.dch:
			if !wt.dl.fired(wt.dch) {
				wt.dch = wt.dl.wait() // the deadline moved: wait for the new one
				continue
			}
			return os.ErrDeadlineExceeded
		case <-wt.tch:
			return os.ErrDeadlineExceeded
		case <-wt.done:
			return wt.ctx.Err()
		}
	}
}
