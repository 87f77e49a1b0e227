//go:build linux

package ksocket

import (
	"container/heap"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ksocket-go/ksocket/internal/engine"
	"golang.org/x/sys/unix"
)

// The descriptor table maps ksocket's ints to engine sockets. Numbers follow
// POSIX: the lowest free one, starting at 3 (0, 1 and 2 look like stdio). A
// number is freed only after Closesocket has waited for every op on it, so
// no op can complete on a reused descriptor. KSOCKET's table held 128
// entries and overwrote live ones when its counter wrapped; this one grows.

// firstDescriptor is the lowest descriptor handed out.
const firstDescriptor = 3

type entry struct {
	s       *engine.Socket
	closing bool // Closesocket has started; guarded by table.mu

	// SO_RCVTIMEO and SO_SNDTIMEO as set, enforced by ksocket because the
	// kernel applies neither to ring ops nor to non-blocking fds.
	rcvtimeo, sndtimeo atomic.Int64 // nanoseconds; 0 means none
	rcvtv, sndtv       atomic.Pointer[unix.Timeval]
}

func (e *entry) timeout(opt int) time.Duration {
	if opt == unix.SO_RCVTIMEO {
		return time.Duration(e.rcvtimeo.Load())
	}
	return time.Duration(e.sndtimeo.Load())
}

var table struct {
	mu      sync.RWMutex
	entries []*entry // index is descriptor - firstDescriptor
	free    freeList // indexes below len(entries) that are free
}

// freeList is a min-heap of free indexes.
type freeList []int

func (h freeList) Len() int           { return len(h) }
func (h freeList) Less(i, j int) bool { return h[i] < h[j] }
func (h freeList) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *freeList) Push(x any)        { *h = append(*h, x.(int)) }
func (h *freeList) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// install gives s the lowest free descriptor.
func install(s *engine.Socket) int {
	e := &entry{s: s}
	table.mu.Lock()
	defer table.mu.Unlock()
	if table.free.Len() > 0 {
		i := heap.Pop(&table.free).(int)
		table.entries[i] = e
		return i + firstDescriptor
	}
	table.entries = append(table.entries, e)
	return len(table.entries) - 1 + firstDescriptor
}

// lookup returns the entry for descriptor d if it is open and its category
// allows call: EBADF for an unknown or closing descriptor, EOPNOTSUPP for a
// call the category forbids.
func lookup(d int, call engine.Call) (*entry, error) {
	i := d - firstDescriptor
	table.mu.RLock()
	var e *entry
	if i >= 0 && i < len(table.entries) {
		e = table.entries[i]
	}
	closing := e != nil && e.closing
	table.mu.RUnlock()
	if e == nil || closing {
		return nil, unix.EBADF
	}
	if !e.s.Category().Allows(call) {
		return nil, unix.EOPNOTSUPP
	}
	return e, nil
}

// remove closes descriptor d: it marks the entry closing, so new calls get
// EBADF, closes the socket (which waits for pending ops), and only then frees
// the number.
func remove(d int) error {
	i := d - firstDescriptor
	table.mu.Lock()
	var e *entry
	if i >= 0 && i < len(table.entries) {
		e = table.entries[i]
	}
	if e == nil || e.closing {
		table.mu.Unlock()
		return unix.EBADF
	}
	e.closing = true
	table.mu.Unlock()

	err := e.s.Close()

	table.mu.Lock()
	table.entries[i] = nil
	if i == len(table.entries)-1 {
		table.entries = table.entries[:i]
		// Trailing free slots fold back into the tail.
		for len(table.entries) > 0 && table.entries[len(table.entries)-1] == nil {
			table.entries = table.entries[:len(table.entries)-1]
		}
		table.free = pruneFree(table.free, len(table.entries))
	} else {
		heap.Push(&table.free, i)
	}
	table.mu.Unlock()
	return err
}

// pruneFree drops indexes at or past n and restores the heap.
func pruneFree(h freeList, n int) freeList {
	out := h[:0]
	for _, i := range h {
		if i < n {
			out = append(out, i)
		}
	}
	heap.Init(&out)
	return out
}
