//go:build linux && !android

package engine

import (
	"runtime"
	"unsafe"

	"github.com/ksocket-go/ksocket/internal/uring"
	"golang.org/x/sys/unix"
)

// Op slots. Each ring has its own table, guarded by its shard's mu, so no
// two rings share a free list. A slot has two halves with one index: the
// kernel half in mmap'd memory, the Go half on the heap.

// kslot is the kernel half of an op slot. It lives in mmap'd memory, so it
// never moves and the GC never frees it; the kernel may read or write it
// until the op's final CQE.
//
// It holds no Go pointer types: the GC does not scan this memory, and a
// pointer store here would run the write barrier on whatever stale value the
// slot last held, which the GC may already have freed ("found bad pointer in
// Go heap"). Addresses are stored as plain integers instead.
//
// A send's or receive's data of up to 208 bytes goes here too, in place
// of the caller's slice, over the fields its op leaves unused (dataArea): so the fields an inline wait may write while any op is in
// flight (ts, arg) come first, and the destination of a send to an
// address (sa) next.
type kslot struct {
	ts    uring.Timespec
	arg   uring.GeteventsArg
	sa    unix.RawSockaddrAny
	salen uint32
	_     uint32
	msg   rawMsghdr
	iov   rawIovec
	opt   [16]byte // setsockopt/getsockopt value
}

// The areas that carry data: a plain SEND's or RECV's from sa on, a SEND's
// to the address in sa from salen on, each to the end of kslot.
const (
	plainArea = unsafe.Offsetof(kslot{}.sa)
	toArea    = unsafe.Offsetof(kslot{}.salen)
)

// area returns the n bytes of k from off on.
func (k *kslot) area(off uintptr, n int) []byte {
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(k), off)), n)
}

// rawIovec is struct iovec with integer fields.
type rawIovec struct {
	base uintptr // void *iov_base
	len  uintptr // size_t iov_len
}

// rawMsghdr is struct msghdr with integer fields.
type rawMsghdr struct {
	name       uintptr // void *msg_name
	namelen    uint32  // socklen_t msg_namelen
	iov        uintptr // struct iovec *msg_iov
	iovlen     uintptr // size_t msg_iovlen
	control    uintptr // void *msg_control
	controllen uintptr // size_t msg_controllen
	flags      int32   // int msg_flags
}

var (
	_ [unix.SizeofMsghdr - unsafe.Sizeof(rawMsghdr{})]byte
	_ [unsafe.Sizeof(rawMsghdr{}) - unix.SizeofMsghdr]byte
	_ [unix.SizeofIovec - unsafe.Sizeof(rawIovec{})]byte
	_ [unsafe.Sizeof(rawIovec{}) - unix.SizeofIovec]byte
)

const (
	kslotSize     = 256
	slotsPerChunk = 256
)

var _ [kslotSize - unsafe.Sizeof(kslot{})]byte // kslot must fit its stride

// opState is the Go half of an op slot. The Pinner and the caller's slice
// live here, on the Go heap, where the GC sees them: a Pinner kept only in
// mmap'd memory would look unreachable, and its finalizer would unpin early
// and panic. Fields marked "guarded by mu" are guarded by the mu of the
// shard whose table holds the slot.
//
// One is held by every op in flight, an idle connection's read among them,
// so it holds the caller's buffers by pointer, not by slice: 112 bytes.
type opState struct {
	k        *kslot         // kernel half; immutable
	ch       chan struct{}  // capacity 1: the reaper's wake-up; immutable
	gen      uint32         // bumped on free; guarded by mu
	done     bool           // final CQE reaped; guarded by mu
	tokened  bool           // a wake-up was (or will be) sent on ch; guarded by mu
	detached bool           // nobody waits (cancels): the reaper frees it; guarded by mu
	idle     bool           // an accept, not counted as busy for inline waits; guarded by mu
	acc      *acceptQueue   // a listener's multishot accept: CQEs go to its queue; guarded by mu
	dq       *dgramQueue    // a socket's multishot receive: CQEs go to its queue; guarded by mu
	res      int32          // CQE res; valid once done
	cflags   uint32         // CQE flags; valid once done
	pin      runtime.Pinner // pins buf and oob until the final CQE
	buf      unsafe.Pointer // the caller's slice's first byte: keeps its array reachable until the final CQE
	oob      unsafe.Pointer // the caller's control data's, likewise

	// While the op waits in await, it is on its socket's deadline's
	// pend list, for the deadline to cancel. Guarded by that deadline's
	// mu, but for what enlist writes before the CAS that lists an op
	// alone, and delist's CAS that takes it off (enlist says how).
	sh      *shard   // the ring whose table holds the slot; immutable
	idx     uint32   // the slot's index; immutable
	dlGen   uint32   // gen of the op on the list
	dlPrev  *opState // neighbours on the list
	dlNext  *opState
	dlFired bool // the deadline cancelled it
	dlOne   bool // it was listed alone, without the deadline's mu (enlist)

	polled bool // it waits alone in the netpoller (waitPolled); guarded by mu

	warm bool // its kernel half carried data (ioBuf); guarded by mu

	// bounced is the length of the caller's slice at buf when a plain
	// receive lands in the kernel half (plainArea), to be copied there by
	// finish; 0 if not. Its owner's alone.
	bounced uint16
}

var _ [112 - unsafe.Sizeof(opState{})]byte // keep it small (see above)

type slotChunk [slotsPerChunk]opState

// userData is a CQE's user_data for slot idx at generation gen: never a Go
// pointer, and a CQE for a slot freed since is recognised by its gen.
func userData(idx, gen uint32) uint64 { return uint64(gen)<<32 | uint64(idx) }

// noSelf is a slot index that no op has.
const noSelf = ^uint32(0)

// slotTable is one ring's op slots. It grows by chunks and never shrinks
// or moves, so a slot pointer stays valid without the lock.
type slotTable struct {
	sh     *shard       // the shard the table belongs to; immutable
	free   []uint32     // free slot indices whose kernel half carried no data
	warm   []uint32     // free slot indices whose kernel half carried data (ioBuf)
	chunks []*slotChunk // Go halves
	kmem   [][]byte     // kernel halves, mmap'd, never unmapped
}

// slot returns slot idx.
func (t *slotTable) slot(idx uint32) *opState {
	return &t.chunks[idx/slotsPerChunk][idx%slotsPerChunk]
}

func (t *slotTable) len() uint32 { return uint32(len(t.chunks) * slotsPerChunk) }

// alloc returns a free slot, growing the table by a chunk if needed: for
// an op whose data will go through the slot (warm), one that carried data
// before, if there is one; for another op, one that did not. So the
// slots that carry data stay few, those of the ops in flight at once, and
// their pages resident: an idle connection's Read would otherwise wait on
// the slot its last send's data had gone through (the free list is a
// stack), and every idle connection would keep a resident slot (bench
// -points idle, 10,000 connections: 4.76 KiB each against 4.53).
//
// Preconditions: the shard's mu is held.
func (t *slotTable) alloc(warm bool) (uint32, *opState, error) {
	if n := len(t.warm); n > 0 && (warm || len(t.free) == 0) {
		idx := t.warm[n-1]
		t.warm = t.warm[:n-1]
		return idx, t.slot(idx), nil
	}
	if len(t.free) == 0 {
		mem, err := unix.Mmap(-1, 0, slotsPerChunk*kslotSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			return 0, nil, err
		}
		c := new(slotChunk)
		base := t.len()
		for i := range c {
			c[i].k = (*kslot)(unsafe.Pointer(&mem[i*kslotSize]))
			c[i].ch = make(chan struct{}, 1)
			c[i].sh, c[i].idx = t.sh, base+uint32(i)
		}
		t.chunks = append(t.chunks, c)
		t.kmem = append(t.kmem, mem)
		for i := slotsPerChunk - 1; i >= 0; i-- {
			t.free = append(t.free, base+uint32(i))
		}
	}
	idx := t.free[len(t.free)-1]
	t.free = t.free[:len(t.free)-1]
	return idx, t.slot(idx), nil
}

// release returns a slot whose final CQE has been reaped.
//
// Preconditions: the shard's mu is held; st.done.
func (t *slotTable) release(idx uint32, st *opState) {
	st.pin.Unpin()
	st.buf, st.oob, st.bounced = nil, nil, 0
	st.done, st.tokened, st.detached, st.idle = false, false, false, false
	st.gen++
	if st.warm {
		st.warm = false
		t.warm = append(t.warm, idx)
	} else {
		t.free = append(t.free, idx)
	}
}
