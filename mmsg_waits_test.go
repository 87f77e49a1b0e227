//go:build linux

package ksocket

import (
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func openFds(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func boundUDP(t *testing.T) int {
	s, err := Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := Bind(s, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBatchWaitRcvtimeoRecvmmsg(t *testing.T) {
	s := boundUDP(t)
	defer Closesocket(s)
	if err := SetsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 50000}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n, err := Recvmmsg(s, msgs(4, 8), unix.MSG_WAITFORONE)
	t.Logf("procs %d: Recvmmsg = %d, %v after %v", runtime.GOMAXPROCS(0), n, err, time.Since(start))
	if err != unix.EAGAIN {
		t.Errorf("want EAGAIN")
	}
}

// TestBatchWaitShutRDRecvmmsg: after Shutdown(SHUT_RD), a blocking
// Recvmmsg and then a Recvfrom return what recvmmsg(2) and recvfrom(2)
// return on a raw socket shut down the same way, and neither waits.
func TestBatchWaitShutRDRecvmmsg(t *testing.T) {
	// The kernel's answers.
	raw, _ := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	defer unix.Close(raw)
	unix.Bind(raw, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	unix.Shutdown(raw, unix.SHUT_RD)
	unix.SetsockoptTimeval(raw, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1})
	kmn, _, kmerr := rawRecvmmsg(raw, 2, unix.MSG_WAITFORONE)
	kn, _, kerr := unix.Recvfrom(raw, make([]byte, 8), 0)
	t.Logf("kernel after SHUT_RD: recvmmsg %d %v, recvfrom %d %v", kmn, kmerr, kn, kerr)

	s := boundUDP(t)
	defer Closesocket(s)
	if err := Shutdown(s, unix.SHUT_RD); err != nil {
		t.Logf("shutdown: %v", err)
	}
	SetsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1})
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := time.Now()
		n, err := Recvmmsg(s, msgs(2, 8), unix.MSG_WAITFORONE)
		t.Logf("procs %d: ksocket Recvmmsg after SHUT_RD = %d, %v after %v", runtime.GOMAXPROCS(0), n, err, time.Since(start))
		if n != kmn || errOr(err) != errOr(kmerr) {
			t.Errorf("Recvmmsg = %d, %v; kernel %d, %v", n, err, kmn, kmerr)
		}
		start = time.Now()
		n, _, err = Recvfrom(s, make([]byte, 8), 0)
		t.Logf("procs %d: ksocket Recvfrom after SHUT_RD = %d, %v after %v", runtime.GOMAXPROCS(0), n, err, time.Since(start))
		if n != kn || errOr(err) != errOr(kerr) {
			t.Errorf("Recvfrom = %d, %v; kernel %d, %v", n, err, kn, kerr)
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("hang")
	}
}

func TestBatchWaitCloseRaceLeak(t *testing.T) {
	before := openFds(t)
	for i := 0; i < 300; i++ {
		s := boundUDP(t)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			Recvmmsg(s, msgs(2, 8), unix.MSG_WAITFORONE)
		}()
		if i%3 == 0 {
			runtime.Gosched()
		} else if i%3 == 1 {
			time.Sleep(time.Duration(i%50) * time.Microsecond)
		}
		Closesocket(s)
		wg.Wait()
	}
	time.Sleep(50 * time.Millisecond)
	after := openFds(t)
	t.Logf("fds %d -> %d", before, after)
	if after > before {
		t.Errorf("fd leak: %d -> %d", before, after)
	}
}

// The kernel: a blocking recvmmsg(2) waiting on a UDP socket returns when
// another thread shuts its read side down.
func TestBatchWaitShutRDWhileRecvmmsg(t *testing.T) {
	for _, bufs := range []int{1, 2} {
		s := boundUDP(t)
		SetsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 2})
		done := make(chan struct{})
		var ru0, ru1 unix.Rusage
		unix.Getrusage(unix.RUSAGE_SELF, &ru0)
		start := time.Now()
		go func() {
			defer close(done)
			m := []Msg{{Buffers: make([][]byte, bufs)}}
			for i := range bufs {
				m[0].Buffers[i] = make([]byte, 8)
			}
			n, err := Recvmmsg(s, m, unix.MSG_WAITFORONE)
			unix.Getrusage(unix.RUSAGE_SELF, &ru1)
			t.Logf("procs %d bufs %d: Recvmmsg after a Shutdown under it = %d, %v after %v, cpu %v", runtime.GOMAXPROCS(0), bufs, n, err, time.Since(start),
				time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()))
			if err != nil {
				t.Errorf("want 1 zero-length datagram, as the kernel")
			}
		}()
		time.Sleep(30 * time.Millisecond)
		Shutdown(s, unix.SHUT_RD)
		<-done
		Closesocket(s)
	}
}

// rawRecvmmsg is recvmmsg(2) on a raw fd into n messages of 8 bytes.
func rawRecvmmsg(fd, n, flags int) (int, []uint32, error) {
	hdrs := make([]unix.Mmsghdr, n)
	bufs := make([][8]byte, n)
	iovs := make([]unix.Iovec, n)
	names := make([]unix.RawSockaddrAny, n)
	for i := range hdrs {
		iovs[i].Base = &bufs[i][0]
		iovs[i].SetLen(8)
		hdrs[i].Hdr.Iov = &iovs[i]
		hdrs[i].Hdr.SetIovlen(1)
		hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&names[i]))
		hdrs[i].Hdr.Namelen = unix.SizeofSockaddrAny
	}
	r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&hdrs[0])), uintptr(n), uintptr(flags), 0, 0)
	if e != 0 {
		return 0, nil, e
	}
	var nl []uint32
	for i := range int(r) {
		nl = append(nl, hdrs[i].Hdr.Namelen)
	}
	return int(r), nl, nil
}

// Differential: recvmmsg(2) after shutdown(SHUT_RD) on a UDP socket, kernel against ksocket.
func TestBatchWaitShutRDRecvmmsgDifferential(t *testing.T) {
	for _, flags := range []int{0, unix.MSG_WAITFORONE} {
		raw, _ := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		unix.Bind(raw, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
		unix.Shutdown(raw, unix.SHUT_RD)
		unix.SetsockoptTimeval(raw, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1})
		kn, knl, kerr := rawRecvmmsg(raw, 3, flags)
		unix.Close(raw)

		s := boundUDP(t)
		Shutdown(s, unix.SHUT_RD)
		SetsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1})
		m := msgs(3, 8)
		n, err := Recvmmsg(s, m, flags)
		Closesocket(s)
		var addrs []bool
		for i := range n {
			addrs = append(addrs, m[i].Addr != nil || m[i].N != 0)
		}
		t.Logf("flags %#x: kernel %d %v %v; ksocket %d %v (addr or data: %v)", flags, kn, knl, kerr, n, err, addrs)
		if kn != n || errOr(kerr) != errOr(err) {
			t.Errorf("flags %#x: kernel %d, %v; ksocket %d, %v", flags, kn, kerr, n, err)
		}
	}
}

func errOr(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

// recvmmsg(2) never waits for the error queue: kernel against ksocket.
func TestBatchWaitErrqueueRecvmmsg(t *testing.T) {
	for _, bufs := range []int{1, 2} {
		raw, _ := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		unix.Bind(raw, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
		unix.SetsockoptTimeval(raw, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1})
		kn, _, kerr := rawRecvmmsg(raw, 2, unix.MSG_ERRQUEUE)
		unix.Close(raw)

		s := boundUDP(t)
		SetsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1})
		sizes := make([]int, bufs)
		for i := range sizes {
			sizes[i] = 8
		}
		start := time.Now()
		n, err := Recvmmsg(s, msgs(2, sizes...), unix.MSG_ERRQUEUE)
		d := time.Since(start)
		Closesocket(s)
		t.Logf("procs %d bufs %d: kernel %d %v; ksocket %d %v after %v", runtime.GOMAXPROCS(0), bufs, kn, kerr, n, err, d)
		if kn != n || errOr(kerr) != errOr(err) || d > 500*time.Millisecond {
			t.Errorf("bufs %d: kernel %d, %v; ksocket %d, %v after %v", bufs, kn, kerr, n, err, d)
		}
	}
}
