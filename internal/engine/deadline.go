//go:build linux

package engine

import (
	"sync"
	"sync/atomic"
	"time"
)

// deadline is one direction's deadline, in the shape of gVisor gonet's
// deadlineTimer: a channel that is closed when the deadline passes. A pending
// op selects on it, so moving the deadline while the op waits just re-arms
// the timer that will close the same channel. Once closed, the next set
// makes a fresh channel.
type deadline struct {
	used atomic.Bool // set was ever called; lets ops skip the lock

	mu    sync.Mutex
	t     time.Time
	ch    chan struct{} // closed once t has passed; nil until needed
	fired bool          // ch is closed
	gen   uint64        // bumped by set, so a stale timer cannot close ch
	timer *time.Timer
}

// set moves the deadline to t; the zero time removes it.
func (d *deadline) set(t time.Time) {
	d.used.Store(true)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if d.ch == nil || d.fired {
		d.ch, d.fired = make(chan struct{}), false
	}
	d.t = t
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(d.ch)
		d.fired = true
		return
	}
	gen := d.gen
	d.timer = time.AfterFunc(dur, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.gen == gen && !d.fired {
			close(d.ch)
			d.fired = true
		}
	})
}

// wait returns the channel to select on and the deadline itself; a nil
// channel when no deadline was ever set.
func (d *deadline) wait() (<-chan struct{}, time.Time) {
	if !d.used.Load() {
		return nil, time.Time{}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	return d.ch, d.t
}

// when returns the current deadline.
func (d *deadline) when() time.Time {
	if !d.used.Load() {
		return time.Time{}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.t
}

func (d *deadline) stop() {
	if !d.used.Load() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}
