//go:build linux && !android

package engine

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The raw waits of a socket that asks for them in the netpoller
// (RawWaitsInNetpoller, at more than one P): the duplicate of the fd is
// made by the first wait, which may race Close, a deadline, a context
// and other first waits.

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// boundUDP is a UDP socket bound to loopback, closed at the test's end.
func boundUDP(t *testing.T, e *Engine) *Socket {
	t.Helper()
	s, err := e.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0, CatDatagram)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Bind(loopbackOf(unix.AF_INET)); err != nil {
		t.Fatal(err)
	}
	return s
}

// netpollUDP is a bound UDP socket whose raw waits are in the netpoller.
func netpollUDP(t *testing.T, e *Engine) *Socket {
	t.Helper()
	s := boundUDP(t, e)
	s.RawWaitsInNetpoller()
	return s
}

// drain is a raw read's function: recvfrom(2) until EAGAIN.
func drain(fd uintptr) bool {
	var buf [64]byte
	_, _, err := unix.Recvfrom(int(fd), buf[:], unix.MSG_DONTWAIT)
	return err != unix.EAGAIN
}

func TestRawWaitCloseRacesFirstWait(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	e := testEngine(t)
	before := openFDs(t)
	for i := range 500 {
		s := netpollUDP(t, e)
		done := make(chan error, 1)
		go func() { done <- s.RawRead(drain) }()
		if d := rand.IntN(4); d > 0 {
			time.Sleep(time.Duration(rand.IntN(50*d)) * time.Microsecond)
		}
		s.Close()
		select {
		case err := <-done:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("round %d: RawRead = %v, want %v", i, err, net.ErrClosed)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: RawRead still waits 5s after Close", i)
		}
	}
	if after := openFDs(t); after > before {
		t.Errorf("open fds: %d before, %d after: a duplicate leaked", before, after)
	}
}

func TestRawWaitDeadlineRacesFirstWait(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	e := testEngine(t)
	for i := range 500 {
		s := netpollUDP(t, e)
		set := make(chan struct{})
		go func() { s.SetReadDeadline(time.Now().Add(time.Millisecond)); close(set) }()
		done := make(chan error, 1)
		go func() { done <- s.RawRead(drain) }()
		<-set
		select {
		case err := <-done:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("round %d: RawRead = %v, want %v", i, err, os.ErrDeadlineExceeded)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: RawRead missed its deadline", i)
		}
		s.Close()
	}
}

func TestRawWaitsRaceEachOtherAndClose(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	e := testEngine(t)
	before := openFDs(t)
	for i := range 300 {
		s := netpollUDP(t, e)
		done := make(chan error, 4)
		for range 3 {
			go func() { done <- s.RawRead(drain) }()
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rand.IntN(200))*time.Microsecond)
			defer cancel()
			_, err := s.RecvMmsg(ctx, []Mmsg{{Buffers: [][]byte{make([]byte, 10)}}}, 0, 0)
			if errors.Is(err, context.DeadlineExceeded) {
				err = net.ErrClosed // ended by its context before Close: as good
			}
			done <- err
		}()
		time.Sleep(time.Duration(rand.IntN(100)) * time.Microsecond)
		s.Close()
		for range 4 {
			select {
			case err := <-done:
				if !errors.Is(err, net.ErrClosed) {
					t.Fatalf("round %d: a wait ended with %v, want %v", i, err, net.ErrClosed)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("round %d: a wait still waits 5s after Close", i)
			}
		}
	}
	if after := openFDs(t); after > before {
		t.Errorf("open fds: %d before, %d after: a duplicate leaked", before, after)
	}
}

// TestRawWaitAtFdLimit: with no fd to spare, a raw read whose function
// needs no wait still runs it, as net's does, and one that waits does so
// on the ring.
func TestRawWaitAtFdLimit(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	e := testEngine(t)
	s := netpollUDP(t, e)
	defer s.Close()
	peer, _ := rawUDP(t, unix.AF_INET)
	var sa unix.Sockaddr
	s.Control(func(fd int) (err error) { sa, err = unix.Getsockname(fd); return })

	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	lim := old
	lim.Cur = uint64(openFDs(t) + 16)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("cannot lower RLIMIT_NOFILE: %v", err)
	}
	var held []int
	defer func() {
		for _, fd := range held {
			unix.Close(fd)
		}
		unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	}()
	for {
		fd, err := unix.FcntlInt(uintptr(s.Fd()), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			break
		}
		held = append(held, fd)
	}

	calls := 0
	if err := s.RawRead(func(uintptr) bool { calls++; return true }); err != nil || calls != 1 {
		t.Errorf("RawRead of a function that needs no wait: %v after %d calls, want nil after 1", err, calls)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		unix.Sendto(peer, []byte("x"), 0, sa)
	}()
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := s.RawRead(drain); err != nil {
		t.Errorf("RawRead that waits, with no fd to spare: %v", err)
	}
}

// TestRawIOAfterDeadline: a raw read or write whose deadline has passed
// returns os.ErrDeadlineExceeded without calling its function, as Go
// net's RawConn does (asked in the same test), with its waits on the ring
// or in the netpoller.
func TestRawIOAfterDeadline(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	rc, err := pc.(*net.UDPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Second)
	pc.SetDeadline(past)
	var netCalls int
	count := func(uintptr) bool { netCalls++; return true }
	netRead, netWrite := rc.Read(count), rc.Write(count)

	e := testEngine(t)
	for _, netpoll := range []bool{false, true} {
		s := boundUDP(t, e)
		if netpoll {
			s.RawWaitsInNetpoller()
		}
		s.SetReadDeadline(past)
		s.SetWriteDeadline(past)
		var calls int
		count := func(uintptr) bool { calls++; return true }
		if err := s.RawRead(count); !errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(netRead, os.ErrDeadlineExceeded) {
			t.Errorf("netpoll=%v: RawRead after its deadline: %v; net's: %v", netpoll, err, netRead)
		}
		if err := s.RawWrite(count); !errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(netWrite, os.ErrDeadlineExceeded) {
			t.Errorf("netpoll=%v: RawWrite after its deadline: %v; net's: %v", netpoll, err, netWrite)
		}
		if calls != netCalls {
			t.Errorf("netpoll=%v: the function ran %d times, under net %d", netpoll, calls, netCalls)
		}
	}
}

// TestRawReadWaitsForMore: a raw read whose function wants more than the
// socket holds (a MSG_PEEK for 10 bytes of which 5 came) waits for more,
// as under Go net's RawConn (asked in the same test), rather than call
// the function again and again while the socket stays readable.
func TestRawReadWaitsForMore(t *testing.T) {
	const idle = 100 * time.Millisecond
	// peekFor returns a RawRead function that is done once the socket
	// holds n bytes, and its count of calls.
	peekFor := func(n int) (func(uintptr) bool, *atomic.Int32) {
		calls := new(atomic.Int32)
		return func(fd uintptr) bool {
			calls.Add(1)
			var buf [16]byte
			got, _, err := unix.Recvfrom(int(fd), buf[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
			return err == nil && got >= n
		}, calls
	}
	// measure writes 5 bytes, starts read, writes 5 more after idle and
	// returns how often f ran meanwhile and read's error.
	measure := func(write func([]byte) error, read func(func(uintptr) bool) error) (int32, error) {
		f, calls := peekFor(10)
		if err := write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- read(f) }()
		time.Sleep(idle)
		idleCalls := calls.Load()
		if err := write([]byte("world")); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			return idleCalls, err
		case <-time.After(5 * time.Second):
			t.Fatal("the read still waits 5 s after the bytes it wanted came")
			return 0, nil
		}
	}

	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	nc, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	np, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer np.Close()
	rc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	netCalls, netErr := measure(func(b []byte) error { _, err := np.Write(b); return err }, rc.Read)
	if netErr != nil {
		t.Fatalf("net's RawConn.Read: %v", netErr)
	}

	c, peer := connectedPair(t)
	c.RawWaitsInNetpoller() // at one P, nothing
	calls, err := measure(func(b []byte) error { _, err := peer.Write(b); return err }, c.RawRead)
	if err != nil {
		t.Fatalf("RawRead: %v", err)
	}
	t.Logf("calls of the function in %v with 5 of 10 bytes there: %d (net: %d)", idle, calls, netCalls)
	if calls > netCalls+2 {
		t.Errorf("the function ran %d times in %v while 5 of its 10 bytes were there; under net %d", calls, idle, netCalls)
	}
}
