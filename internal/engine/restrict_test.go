//go:build linux && !android

package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/ksocket-go/ksocket/internal/uring"
	"golang.org/x/sys/unix"
)

// uringOf returns the process's uring backend, or skips.
func uringOf(t *testing.T) *uringBackend {
	t.Helper()
	b, ok := testEngine(t).b.(*uringBackend)
	if !ok {
		t.Skip("the uring backend is not in use")
	}
	return b
}

// restrictedOrSkip skips unless the process's ring is restricted.
func restrictedOrSkip(t *testing.T, b *uringBackend) {
	t.Helper()
	if b.inf.Restricted != "yes" {
		t.Skipf("the ring is not restricted: %s", b.inf.Restricted)
	}
}

// TestRingRefusesForeignOps submits ops ksocket never issues, on each of
// the engine's own rings: the kernel must refuse them with EACCES, and must also
// refuse any io_uring_register call, while a NOP still runs.
func TestRingRefusesForeignOps(t *testing.T) {
	b := uringOf(t)
	restrictedOrSkip(t, b)
	path := []byte(t.TempDir() + "/x\x00")
	if len(path) > int(unsafe.Sizeof(kslot{}.sa)) {
		t.Skip("temporary directory path too long for the slot")
	}
	foreign := []struct {
		name string
		prep func(sqe *uring.SQE, st *opState)
	}{
		{"OPENAT", func(sqe *uring.SQE, st *opState) {
			copy((*[unsafe.Sizeof(kslot{}.sa)]byte)(unsafe.Pointer(&st.k.sa))[:], path)
			sqe.Opcode = uring.IORING_OP_OPENAT
			sqe.Fd = unix.AT_FDCWD
			sqe.Addr = uint64(uintptr(unsafe.Pointer(&st.k.sa)))
			sqe.OpFlags = uint32(unix.O_CREAT | unix.O_WRONLY | unix.O_CLOEXEC)
			sqe.Len = 0o600
		}},
		{"UNLINKAT", func(sqe *uring.SQE, st *opState) {
			copy((*[unsafe.Sizeof(kslot{}.sa)]byte)(unsafe.Pointer(&st.k.sa))[:], path)
			sqe.Opcode = uring.IORING_OP_UNLINKAT
			sqe.Fd = unix.AT_FDCWD
			sqe.Addr = uint64(uintptr(unsafe.Pointer(&st.k.sa)))
		}},
		{"MSG_RING", func(sqe *uring.SQE, _ *opState) {
			sqe.PrepMsgRingData(b.shards[0].ring.Fd(), 0, userData(^uint32(0)-1, 0)) // no slot has that index
		}},
	}
	for i, sh := range b.shards {
		for _, f := range foreign {
			r, err := sh.do(nil, noWait, f.prep)
			if err == nil {
				if f.name == "OPENAT" {
					unix.Close(int(r.res))
				}
				sh.put(r)
			}
			if err != unix.EACCES {
				t.Errorf("IORING_OP_%s on the engine's ring %d: %v, want EACCES", f.name, i, err)
			}
		}
		if err := sh.smokeTest(); err != nil {
			t.Errorf("NOP on ring %d after the refusals: %v", i, err)
		}
	}
	for i, sh := range b.shards {
		if _, err := sh.ring.Probe(); err != unix.EACCES {
			t.Errorf("IORING_REGISTER_PROBE on enabled ring %d: %v, want EACCES", i, err)
		}
	}
}

// TestRingAllowsWhatItUses checks the allowed list against the declared
// ops: each one the kernel has and KSOCKET_FEATURES leaves is allowed, and
// each masked one is not, and is refused by the kernel when issued.
func TestRingAllowsWhatItUses(t *testing.T) {
	b := uringOf(t)
	restrictedOrSkip(t, b)
	probe, err := func() ([]bool, error) {
		r, err := uring.Setup(8, &uring.Params{}, 0)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		return r.Probe()
	}()
	if err != nil {
		t.Fatalf("probe on a ring of the test's own: %v", err)
	}
	for _, o := range engineOps {
		name := uring.OpName(o.Op)
		want := probe[o.Op] && !Masked(o.Feature)
		if got := slices.Contains(b.inf.AllowedOps, name); got != want {
			t.Errorf("%s (feature %q, masked %v, kernel has it %v): allowed %v, want %v", name, o.Feature, Masked(o.Feature), probe[o.Op], got, want)
		}
	}
	if !Masked("BIND") {
		return
	}
	// A masked op is really not issued; if it were, the kernel would refuse.
	s, err := testEngine(t).Socket(unix.AF_INET, unix.SOCK_STREAM, 0, CatUnified)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = b.simple(s, noWait, func(sqe *uring.SQE, st *opState) {
		n, _ := putSockaddr(&unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}, &st.k.sa)
		sqe.PrepBind(s.fd, unsafe.Pointer(&st.k.sa), n)
	})
	if err != unix.EACCES {
		t.Errorf("IORING_OP_BIND with BIND masked: %v, want EACCES", err)
	}
	if err := s.Bind(&unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Errorf("Bind with BIND masked (a plain bind(2)): %v", err)
	}
}

// restrictCheck checks a choice's restriction: want is the start of
// Info.Restricted; notAllowed are op names that must not be allowed.
func restrictCheck(want string, notAllowed ...string) func(*Info, error) error {
	return func(inf *Info, err error) error {
		if err != nil {
			return err
		}
		if !strings.HasPrefix(inf.Restricted, want) {
			return fmt.Errorf("restricted %q, want %q", inf.Restricted, want)
		}
		for _, op := range notAllowed {
			if slices.Contains(inf.AllowedOps, op) {
				return fmt.Errorf("%s is allowed (%v), but the profile masks it", op, inf.AllowedOps)
			}
		}
		return nil
	}
}

// allOf runs every check.
func allOf(checks ...func(*Info, error) error) func(*Info, error) error {
	return func(inf *Info, err error) error {
		var errs []error
		for _, c := range checks {
			errs = append(errs, c(inf, err))
		}
		return errors.Join(errs...)
	}
}
