//go:build linux && !android

package engine

import (
	"fmt"
	"math/bits"
	"os"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"github.com/ksocket-go/ksocket/internal/uring"
	"golang.org/x/sys/unix"
)

const sqEntries = 1024

// cqEntries is the CQ size. Pending ops take no CQ room; only completions
// not yet reaped do, so the CQ overflows only if more ops complete at once
// than it holds. The kernel then keeps the rest (IORING_FEAT_NODROP) and the
// reaper flushes them; nothing is lost. KSOCKET_CQ_ENTRIES overrides the
// size (a power of two from 8), so that tests can run on a tiny CQ.
var cqEntries uint32 = 32768

// defaultInlineWait is how long an op alone in flight waits in the kernel on
// its caller's thread before parking. KSOCKET_INLINE_WAIT overrides it (a Go
// duration such as 1ms; 0 turns inline waits off).
//
// It is off by default. An inline wait holds its P in a syscall until the
// CQE comes or sysmon takes the P back, so any other goroutine of the
// process that the CQE waits for (a client of package net in the same
// process, a proxy's upstream side) cannot run meanwhile. Measured here,
// 64 B round trips between a gonet server and a net client in one process
// took 176-186 us at GOMAXPROCS=1 and 46-48 us at 2 with a 1 ms inline
// wait, against 17 and 22 us without. What it saves, for a process whose
// only busy goroutine is one connection's, is small: a separate-process
// echo at 1 connection did 16.3k against 15.2k round trips/s, at 29.5
// against 34.9 us of server CPU each, and nothing at 64 connections.
const defaultInlineWait time.Duration = 0

var setupFlagNames = map[uint32]string{
	uring.IORING_SETUP_CQSIZE:       "CQSIZE",
	uring.IORING_SETUP_CLAMP:        "CLAMP",
	uring.IORING_SETUP_SUBMIT_ALL:   "SUBMIT_ALL",
	uring.IORING_SETUP_COOP_TASKRUN: "COOP_TASKRUN",
	uring.IORING_SETUP_TASKRUN_FLAG: "TASKRUN_FLAG",
	uring.IORING_SETUP_NO_SQARRAY:   "NO_SQARRAY",
}

// newUring sets up the set of rings, probes the first, and starts a reaper
// per ring.
func newUring(inf *Info, mask featureMask) (backend, error) {
	inlineWait := defaultInlineWait
	if v := os.Getenv("KSOCKET_INLINE_WAIT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("KSOCKET_INLINE_WAIT=%q: want a Go duration such as 200us, or 0", v)
		}
		inlineWait = d
	}
	nrings, perP := runtime.GOMAXPROCS(0), true
	if v := os.Getenv("KSOCKET_RINGS"); v != "" {
		perP = false
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxRings {
			return nil, fmt.Errorf("KSOCKET_RINGS=%q: want a number of rings from 1 to %d", v, maxRings)
		}
		nrings = n
	}
	nrings = min(nrings, maxRings)

	// The CQ is split between the rings, down to minCQEntries each.
	cq := max(minCQEntries, cqEntries>>bits.Len(uint(nrings-1)))
	if v := os.Getenv("KSOCKET_CQ_ENTRIES"); v != "" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n < 8 || n&(n-1) != 0 {
			return nil, fmt.Errorf("KSOCKET_CQ_ENTRIES=%q: want a power of two, 8 or more", v)
		}
		cq = uint32(n)
	}
	sq := min(uint32(sqEntries), cq/2)

	// DEFER_TASKRUN is not wanted: its completions need the issuing thread
	// to enter, and the reaper parks on another thread
	// (engine-experiment.md, "DEFER_TASKRUN with an eventfd").
	var optional uint32
	for flag, name := range setupFlagNames {
		if flag != uring.IORING_SETUP_CQSIZE && !mask[name] {
			optional |= flag
		}
	}
	// Created disabled, so that it can be restricted before first use.
	optional |= disabledSetupFlag(mask)

	b := &uringBackend{inlineWait: inlineWait, muteEnters: kernelAtLeast(6, 0), perP: perP}
	var ops []bool
	var restricted string
	var allowed []uint8
	for i := range nrings {
		sh, probe, r, a, err := b.newShard(i, sq, cq, optional, mask, ops)
		if err != nil {
			for _, sh := range b.shards {
				sh.efd.Close()
				if sh.rfile != nil {
					sh.rfile.Close() // the duplicate would keep the ring open
				}
				sh.ring.Close()
			}
			return nil, err
		}
		if i == 0 {
			ops, restricted, allowed = probe, r, a
		}
		b.shards = append(b.shards, sh)
	}
	has := func(op int, name string) bool { return op < len(ops) && ops[op] && !mask[name] }
	b.useSocket = has(uring.IORING_OP_SOCKET, "SOCKET")
	b.useBind = has(uring.IORING_OP_BIND, "BIND")
	b.useListen = has(uring.IORING_OP_LISTEN, "LISTEN")
	b.useClose = has(uring.IORING_OP_CLOSE, "CLOSE")
	b.useSplice = has(uring.IORING_OP_SPLICE, "SPLICE")

	for _, sh := range b.shards {
		go sh.reap()
	}
	for _, sh := range b.shards {
		if err := sh.smokeTest(); err != nil {
			// The rings are left as they are: the reapers own them,
			// and the process falls back to epoll for good.
			return nil, err
		}
	}
	b.useSetsockopt = has(uring.IORING_OP_URING_CMD, "SOCKOPT") && b.probeSockopt(uring.SOCKET_URING_OP_SETSOCKOPT)
	b.useGetsockopt = has(uring.IORING_OP_URING_CMD, "SOCKOPT") && b.probeSockopt(uring.SOCKET_URING_OP_GETSOCKOPT)
	b.useAcceptDontwait = !mask["ACCEPT_DONTWAIT"] && kernelAtLeast(6, 10)
	b.useSendto = !mask["SENDTO"] && kernelAtLeast(6, 1)

	ring := b.shards[0].ring
	inf.SetupFlags = flagNames(ring.Flags()&^uring.IORING_SETUP_R_DISABLED, setupFlagNames)
	inf.InlineWait = inlineWait.String()
	if inlineWait == 0 {
		inf.InlineWait = "off"
	}
	inf.PolledWait = "on"
	switch {
	case !b.muteEnters:
		inf.PolledWait = "off (before Linux 6.0 an enter cannot be kept from signalling the eventfd)"
	case slices.ContainsFunc(b.shards, func(sh *shard) bool { return sh.rrc == nil }):
		inf.PolledWait = "off (the netpoller refused a ring's fd)"
	}
	inf.Rings = len(b.shards)
	inf.RingEntries = fmt.Sprintf("SQ %d, CQ %d each", ring.SQEntries(), ring.CQEntries())
	inf.Restricted = restricted
	for _, op := range allowed {
		inf.AllowedOps = append(inf.AllowedOps, uring.OpName(op))
	}
	ring2 := func(use bool, name string) {
		if use {
			inf.RingCalls = append(inf.RingCalls, name)
		} else {
			inf.SysCalls = append(inf.SysCalls, name)
		}
	}
	ring2(b.useSocket, "socket")
	ring2(b.useBind, "bind")
	ring2(b.useListen, "listen")
	ring2(true, "connect")
	ring2(true, "accept")
	ring2(true, "send")
	ring2(true, "recv")
	ring2(true, "sendmsg")
	ring2(true, "recvmsg")
	inf.SysCalls = append(inf.SysCalls, "shutdown") // uring_ops.go says why
	ring2(b.useClose, "close")
	ring2(b.useSplice, "splice")
	// A file into a socket, as net: at GOMAXPROCS > 1 even with the
	// ring's splice op (splice.go).
	inf.SysCalls = append(inf.SysCalls, "sendfile")
	ring2(b.useSetsockopt, "setsockopt")
	ring2(b.useGetsockopt, "getsockopt(SOL_SOCKET)")
	inf.SysCalls = append(inf.SysCalls, "getsockopt(other levels)", "getsockname", "getpeername")
	b.inf = *inf
	return b, nil
}

const (
	maxRings     = 256  // KSOCKET_RINGS's bound
	minCQEntries = 4096 // the smallest share of the CQ a ring gets
)

// newShard sets up ring i of the set with its eventfd, restricted and
// enabled. Rings after the first share the first one's kernel worker pool
// (IORING_SETUP_ATTACH_WQ, Linux 5.6+). The first ring (probe nil) probes
// the kernel and returns the probe; later ones are given it, so the kernel
// is asked once, and every ring gets the same restriction.
func (b *uringBackend) newShard(i int, sq, cq, optional uint32, mask featureMask, probe []bool) (sh *shard, _ []bool, restricted string, allowed []uint8, err error) {
	p := uring.Params{Flags: uring.IORING_SETUP_CQSIZE, CqEntries: cq}
	if i > 0 {
		optional |= uring.IORING_SETUP_ATTACH_WQ
		p.WqFd = uint32(b.shards[0].ring.Fd())
	}
	ring, err := uring.Setup(sq, &p, optional)
	if err != nil {
		return nil, nil, "", nil, err
	}
	fail := func(err error) (*shard, []bool, string, []uint8, error) {
		ring.Close()
		return nil, nil, "", nil, err
	}
	const need = uring.IORING_FEAT_FAST_POLL | uring.IORING_FEAT_NODROP | uring.IORING_FEAT_SUBMIT_STABLE | uring.IORING_FEAT_EXT_ARG
	if ring.Features()&need != need {
		return fail(fmt.Errorf("kernel io_uring lacks FAST_POLL, NODROP, SUBMIT_STABLE or EXT_ARG (Linux 5.11+): %w", unix.EOPNOTSUPP))
	}
	if i == 0 {
		if probe, err = ring.Probe(); err != nil {
			return fail(err)
		}
		// ASYNC_CANCEL by fd (Close) needs 5.19, the kernel of IORING_OP_SOCKET.
		if !(uring.IORING_OP_SOCKET < len(probe) && probe[uring.IORING_OP_SOCKET]) {
			return fail(fmt.Errorf("kernel io_uring is older than Linux 5.19: %w", unix.EOPNOTSUPP))
		}
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fail(err)
	}
	if err := ring.RegisterEventfd(efd); err != nil {
		unix.Close(efd)
		return fail(err)
	}
	// The buffer ring is registered now: no io_uring_register call is
	// left once the ring is restricted. Without it, datagrams are
	// received one request each.
	var dgrams *dgramPool
	var sqeFlags uint8
	if !mask["RECVMSG_MULTISHOT"] && kernelAtLeast(6, 0) {
		if dgrams, err = newDgramPool(ring); err == nil {
			sqeFlags |= uring.IOSQE_BUFFER_SELECT
		}
	}
	if restricted, allowed, err = enableRestricted(ring, probe, engineOps, sqeFlags, mask); err != nil {
		unix.Close(efd)
		return fail(err)
	}
	sh = &shard{b: b, idx: i, ring: ring, efd: os.NewFile(uintptr(efd), "ksocket-ring-eventfd"), dgrams: dgrams}
	sh.slots.sh = sh
	if sh.erc, err = sh.efd.SyscallConn(); err != nil {
		sh.efd.Close()
		return fail(err)
	}
	sh.rfile, sh.rrc = pollableRing(ring)
	sh.pollStepF = sh.pollStep
	sh.queuePollStepF = sh.queuePollStep
	sh.pollWaker.sh = sh
	return sh, probe, restricted, allowed, nil
}

// pollableRing returns a non-blocking duplicate of ring's fd, parked in
// Go's netpoller, and its RawConn, or nils if the netpoller refused it.
// The kernel reports a ring readable while its CQ holds entries and wakes
// its pollers on every CQE posted, whether or not the eventfd is muted.
// The duplicate holds the ring open: a setup that fails closes it too.
func pollableRing(ring *uring.Ring) (*os.File, syscall.RawConn) {
	fd, err := unix.FcntlInt(uintptr(ring.Fd()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, nil
	}
	// O_NONBLOCK is the file's flag, shared with the ring's own fd; the
	// ring's enters do not look at it.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, nil
	}
	f := os.NewFile(uintptr(fd), "ksocket-ring")
	// A file the netpoller refused is blocking, and has no deadlines.
	if f.SetReadDeadline(time.Time{}) != nil {
		f.Close()
		return nil, nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, nil
	}
	return f, rc
}

func init() {
	engineUses(RingOp{uring.IORING_OP_NOP, ""}) // smokeTest
}

// smokeTest makes one NOP round trip through the ring: a sandbox that lets
// setup succeed but filters opcodes shows up here.
func (sh *shard) smokeTest() error {
	r, err := sh.do(nil, noWait, func(sqe *uring.SQE, _ *opState) { sqe.PrepNop() })
	if err == nil {
		sh.put(r)
	}
	return err
}

// probeSockopt reports whether socket URING_CMD op works (Linux 6.7+): the
// probe lists URING_CMD from 5.19, which says nothing about its sub-ops.
func (b *uringBackend) probeSockopt(op uint32) bool {
	// Through the ring where it can, so a program on this backend makes no
	// socket(2) call at all.
	fd, err := b.socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	r, err := b.do(nil, noWait, func(sqe *uring.SQE, st *opState) {
		*(*int32)(unsafe.Pointer(&st.k.opt)) = 1
		sqe.PrepSockCmd(op, fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, unsafe.Pointer(&st.k.opt), 4)
	})
	if err != nil {
		return false
	}
	b.put(r)
	return true
}
