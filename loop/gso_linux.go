//go:build linux

package loop

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Segmentation offload for replies. The datagrams that one loop iteration
// queues for one destination, in a run of one size (the last may be
// shorter), leave in one sendmsg with UDP_SEGMENT (Linux 4.18): the
// kernel routes, builds and queues one buffer instead of one per
// datagram, and cuts it into the same datagrams the single sends would
// have made, in the same order. On loopback a send of eight 64-byte
// datagrams this way costs the sender about two thirds of sendmmsg's CPU,
// and the pair of ends half. Datagrams to different destinations may leave
// in another order than WriteTo's; those to one destination do not,
// but for the cases below (and, as before, a send io_uring has to retry
// when the socket's buffer is full).
//
// A send the kernel refuses goes again one datagram at a time, so every
// datagram gets the verdict a single send would have; on io_uring those
// may leave after later replies to the same destination, whose sends were
// already in flight. EIO (the route cannot checksum a segmented send) and
// EINVAL (the socket has SO_NO_CHECK; the Linux before 5.x's EMSGSIZE)
// turn segmentation off for the loop; EMSGSIZE (a segment longer than the
// path's MTU allows) for that size and larger. Replies to port 0, which
// the kernel refuses with EINVAL whatever the grouping, are never grouped.
const (
	gsoMaxSegments = 64      // UDP_MAX_SEGMENTS before Linux 6.2's 128
	gsoMaxBytes    = 65000   // under the 65,507-byte UDP payload of IPv4
	gsoOff         = -1      // gsoGrouper.maxSeg once segmentation is off
	gsoAll         = 1 << 16 // gsoGrouper.maxSeg while every size may group
)

// gsoCmsgSpace is the room for the UDP_SEGMENT control message.
var gsoCmsgSpace = unix.CmsgSpace(2)

// gsoGrouper groups one iteration's queued datagrams, in the order they
// were queued, into sends: add each in turn, then walk groups, following
// next from each group's first datagram.
type gsoGrouper struct {
	maxSeg int // the largest segment that may group; gsoOff: none

	open   map[gsoKey]int32 // destination: its last group, by index in groups
	groups []gsoGroup
	next   []int32 // per datagram: the next of its group, or -1
}

type gsoKey struct {
	to    unix.RawSockaddrInet6
	tolen uint32
}

// gsoGroup is one send: count datagrams from first to last, each seg bytes
// but the last, which may be shorter.
type gsoGroup struct {
	first, last int32
	count       int
	seg, bytes  int
	closed      bool // the last is shorter, or the group is full
}

func (g *gsoGrouper) init() {
	g.maxSeg = gsoAll
	g.open = make(map[gsoKey]int32)
}

// add takes the next queued datagram: n bytes for to. solo keeps it out of
// any group.
func (g *gsoGrouper) add(to *unix.RawSockaddrInet6, tolen uint32, n int, solo bool) {
	i := int32(len(g.next))
	g.next = append(g.next, -1)
	k := gsoKey{to: *to, tolen: tolen}
	if n == 0 || n > g.maxSeg || solo || to.Port == 0 {
		// A send of its own, after the destination's open group: later
		// datagrams to it must not join that group and leave before it.
		delete(g.open, k)
		g.groups = append(g.groups, gsoGroup{first: i, last: i, count: 1, seg: n, bytes: n, closed: true})
		return
	}
	if gi, ok := g.open[k]; ok {
		gr := &g.groups[gi]
		if !gr.closed && n <= gr.seg && gr.bytes+n <= gsoMaxBytes {
			g.next[gr.last] = i
			gr.last = i
			gr.count++
			gr.bytes += n
			gr.closed = n < gr.seg || gr.count == gsoMaxSegments
			return
		}
	}
	g.open[k] = int32(len(g.groups))
	g.groups = append(g.groups, gsoGroup{first: i, last: i, count: 1, seg: n, bytes: n})
}

// reset forgets the iteration's datagrams.
func (g *gsoGrouper) reset() {
	if len(g.open) > 256 {
		// clear costs the map's capacity, which one iteration with many
		// destinations would leave to every later one.
		g.open = make(map[gsoKey]int32)
	} else {
		clear(g.open)
	}
	g.groups = g.groups[:0]
	g.next = g.next[:0]
}

// refused records that the kernel refused a send of seg-byte segments
// with err.
func (g *gsoGrouper) refused(err unix.Errno, seg int) {
	switch err {
	case unix.EIO, unix.EINVAL:
		g.maxSeg = gsoOff
	case unix.EMSGSIZE:
		g.maxSeg = min(g.maxSeg, seg-1)
	}
}

// putSegmentCmsg writes the UDP_SEGMENT control message for seg-byte
// segments into b, gsoCmsgSpace bytes long.
func putSegmentCmsg(b []byte, seg int) {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level = unix.SOL_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&b[unix.CmsgLen(0)])) = uint16(seg)
}
