//go:build linux && !android

package uring

import (
	"errors"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func newTestRing(t *testing.T, entries uint32) *Ring {
	t.Helper()
	p := Params{Flags: IORING_SETUP_CQSIZE, CqEntries: entries * 4}
	r, err := Setup(entries, &p, IORING_SETUP_SUBMIT_ALL|IORING_SETUP_COOP_TASKRUN|IORING_SETUP_TASKRUN_FLAG)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		t.Skipf("io_uring unavailable here: %v", err)
	}
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestNopRoundTrip(t *testing.T) {
	r := newTestRing(t, 8)
	for i := range 20 { // wraps the 8-entry SQ more than once
		sqe := r.GetSQE()
		if sqe == nil {
			t.Fatal("GetSQE: SQ full on an empty ring")
		}
		sqe.PrepNop()
		sqe.UserData = uint64(i) + 100
		if n, err := r.Submit(); err != nil || n != 1 {
			t.Fatalf("Submit = %d, %v; want 1, nil", n, err)
		}
		if _, err := r.Enter(0, 1, IORING_ENTER_GETEVENTS, nil); err != nil {
			t.Fatalf("Enter wait: %v", err)
		}
		cqe := r.PeekCQE()
		if cqe == nil || cqe.UserData != uint64(i)+100 || cqe.Res != 0 {
			t.Fatalf("CQE = %+v; want user_data %d res 0", cqe, i+100)
		}
		r.CQAdvance(1)
	}
}

func TestGetSQEFull(t *testing.T) {
	r := newTestRing(t, 4)
	for range r.SQEntries() {
		if r.GetSQE() == nil {
			t.Fatal("GetSQE returned nil before the SQ was full")
		}
	}
	if r.GetSQE() != nil {
		t.Fatal("GetSQE handed out more SQEs than the SQ holds")
	}
}

func TestWaitTimeout(t *testing.T) {
	r := newTestRing(t, 4)
	if r.Features()&IORING_FEAT_EXT_ARG == 0 {
		t.Skip("kernel lacks IORING_FEAT_EXT_ARG (Linux 5.11+)")
	}
	arg := &GeteventsArg{}
	ts := &Timespec{Nsec: 1e6}
	arg.Ts = uint64(uintptr(unsafe.Pointer(ts)))
	_, err := r.Enter(0, 1, IORING_ENTER_GETEVENTS|IORING_ENTER_EXT_ARG, arg)
	if err != unix.ETIME {
		t.Fatalf("Enter with 1ms timeout and nothing in flight = %v; want ETIME", err)
	}
}

func TestProbe(t *testing.T) {
	r := newTestRing(t, 4)
	ops, err := r.Probe()
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	for _, op := range []int{IORING_OP_NOP, IORING_OP_SEND, IORING_OP_RECV, IORING_OP_ASYNC_CANCEL} {
		if op >= len(ops) || !ops[op] {
			t.Errorf("probe says opcode %d is missing; every kernel with FAST_POLL has it", op)
		}
	}
}

func TestSetupFallsBackOnEINVAL(t *testing.T) {
	// Bit 31 is not a setup flag on any kernel: it must be dropped, not fatal.
	p := Params{}
	r, err := Setup(4, &p, 1<<31|IORING_SETUP_SUBMIT_ALL)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		t.Skipf("io_uring unavailable here: %v", err)
	}
	if err != nil {
		t.Fatalf("Setup with an unknown optional flag: %v", err)
	}
	defer r.Close()
	if r.Flags()&(1<<31) != 0 {
		t.Fatalf("flags %#x still carry the unknown bit", r.Flags())
	}
}

func TestSetupRequiredFlagNotDropped(t *testing.T) {
	p := Params{Flags: 1 << 31}
	_, err := Setup(4, &p, 0)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		// Refused before the flags are read (seccomp, or the sysctl
		// kernel.io_uring_disabled).
		t.Skipf("io_uring unavailable here: %v", err)
	}
	if err != unix.EINVAL {
		t.Fatalf("Setup with an unknown required flag = %v; want EINVAL", err)
	}
}

func TestRegisteredRingFd(t *testing.T) {
	runtime.LockOSThread() // the registration belongs to this thread
	defer runtime.UnlockOSThread()
	r := newTestRing(t, 4)
	if err := r.RegisterRingFd(); err != nil {
		t.Skipf("IORING_REGISTER_RING_FDS (Linux 5.18+): %v", err)
	}
	sqe := r.GetSQE()
	sqe.PrepNop()
	sqe.UserData = 7
	r.FlushSQ()
	if _, err := r.Enter(1, 1, IORING_ENTER_GETEVENTS, nil); err != nil {
		t.Fatalf("Enter through the registered index: %v", err)
	}
	if cqe := r.PeekCQE(); cqe == nil || cqe.UserData != 7 {
		t.Fatalf("CQE = %+v", cqe)
	}
}
