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
	closing atomic.Bool // Closesocket has started

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

// table is read on every call and written by Socket and Closesocket.
// Readers take no lock: a lock every call shares, even an RWMutex's read
// side, is one cache line written by every op of the process on every
// core.
var table struct {
	// slots index entries by descriptor - firstDescriptor. The array is
	// replaced, never changed in length, when it must grow; its elements
	// are stored under mu.
	slots atomic.Pointer[[]atomic.Pointer[entry]]

	mu   sync.Mutex // serializes install and remove
	n    int        // one past the highest index in use; guarded by mu
	free freeList   // indexes below n that are free; guarded by mu
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

// slot returns the element for index i, or nil past the array.
func slot(i int) *atomic.Pointer[entry] {
	if p := table.slots.Load(); p != nil && i >= 0 && i < len(*p) {
		return &(*p)[i]
	}
	return nil
}

// install gives s the lowest free descriptor.
func install(s *engine.Socket) int {
	e := &entry{s: s}
	table.mu.Lock()
	defer table.mu.Unlock()
	i := table.n
	if table.free.Len() > 0 {
		i = heap.Pop(&table.free).(int)
	} else {
		table.n++
	}
	if slot(i) == nil {
		// Grow: copy into an array twice the size and publish it.
		// Readers of the old one see the same entries, and every store
		// from now on goes to the new one.
		var old []atomic.Pointer[entry]
		if p := table.slots.Load(); p != nil {
			old = *p
		}
		grown := make([]atomic.Pointer[entry], max(64, 2*len(old)))
		for k := range old {
			grown[k].Store(old[k].Load())
		}
		table.slots.Store(&grown)
	}
	slot(i).Store(e)
	return i + firstDescriptor
}

// lookup returns the entry for descriptor d if it is open and its category
// allows call: EBADF for an unknown or closing descriptor, EOPNOTSUPP for a
// call the category forbids.
func lookup(d int, call engine.Call) (*entry, error) {
	var e *entry
	if sl := slot(d - firstDescriptor); sl != nil {
		e = sl.Load()
	}
	if e == nil || e.closing.Load() {
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
	if sl := slot(i); sl != nil {
		e = sl.Load()
	}
	if e == nil || e.closing.Swap(true) {
		table.mu.Unlock()
		return unix.EBADF
	}
	table.mu.Unlock()

	err := e.s.Close()

	table.mu.Lock()
	slot(i).Store(nil)
	if i == table.n-1 {
		// Trailing free slots fold back into the tail.
		for table.n > 0 && slot(table.n-1).Load() == nil {
			table.n--
		}
		table.free = pruneFree(table.free, table.n)
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
