//go:build linux && !android

package loop

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"github.com/ksocket-go/ksocket/internal/engine"
	"github.com/ksocket-go/ksocket/internal/uring"
	"golang.org/x/sys/unix"
)

// ringFds returns the process's io_uring fds.
func ringFds(t *testing.T) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot list /proc/self/fd: %v", err)
	}
	var fds []int
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || target != "anon_inode:[io_uring]" {
			continue
		}
		var fd int
		for _, c := range e.Name() {
			fd = fd*10 + int(c-'0')
		}
		fds = append(fds, fd)
	}
	return fds
}

// TestLoopRingsRestricted: with the engine's ring restricted, every ring in
// the process, the loops' included, refuses an io_uring_register call
// (none is allowed once a ring is enabled), and the loops still serve.
func TestLoopRingsRestricted(t *testing.T) {
	inf, err := engine.Probe()
	if err != nil || inf.Backend != "uring" {
		t.Skipf("the uring backend is not in use (%s)", inf.Reason)
	}
	if inf.Restricted != "yes" {
		t.Skipf("rings are not restricted here: %s", inf.Restricted)
	}
	before := len(ringFds(t))
	s := serve(t, echo, &Config{Loops: 2})

	// The loops set up their rings when Serve starts them: one echo
	// round trip on each of a few connections shows they run.
	for range 4 {
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		msg := []byte("restricted")
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("echo %q, %v", got, err)
		}
		c.Close()
	}

	// The echoes may all have gone to one loop (SO_REUSEPORT hashes
	// them), and the other may not have made its ring yet.
	for wait := time.Now(); len(ringFds(t)) < before+2; time.Sleep(5 * time.Millisecond) {
		if time.Since(wait) > 5*time.Second {
			t.Fatalf("%d io_uring fds with two loops serving, %d before: the loops' rings are missing", len(ringFds(t)), before)
		}
	}
	// A SINGLE_ISSUER ring answers EEXIST to a register call from any
	// other thread, so each loop makes the call on its own thread.
	for i, lr := range s.loops {
		l, ok := lr.(*uringLoop)
		if !ok {
			t.Fatalf("loop %d is %T on the uring backend", i, lr)
		}
		errc := make(chan unix.Errno, 1)
		if !l.post(func() {
			buf := make([]byte, uring.SizeofProbeHdr+256*uring.SizeofProbeOp)
			_, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(l.ring.Fd()), uring.IORING_REGISTER_PROBE, uintptr(unsafe.Pointer(&buf[0])), 256, 0, 0)
			errc <- errno
		}) {
			t.Fatalf("loop %d takes no task", i)
		}
		select {
		case errno := <-errc:
			if errno != unix.EACCES {
				t.Errorf("loop %d: IORING_REGISTER_PROBE on its ring, from its thread: %v, want EACCES from a restricted ring", i, errno)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("loop %d ran no task in 10 s", i)
		}
	}
}
