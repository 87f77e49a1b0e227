//go:build linux && !android

package engine

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Tests of reading ahead (readahead.go), on either backend: the queue's
// tests run again with sockets that read ahead, and the cases below drive
// the datagrams read ahead when the socket leaves, closes or waits.

// TestReadAheadQueueTests runs the datagram queue's tests with sockets
// that read ahead.
func TestReadAheadQueueTests(t *testing.T) {
	readAheadQueues = true
	defer func() { readAheadQueues = false }()
	for _, c := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"Differential", TestQueuedDgramDifferential},
		{"Refused", TestQueuedDgramRefused},
		{"Burst", TestQueuedDgramBurst},
		{"Readers", TestQueuedDgramReaders},
		{"Deadline", TestQueuedDgramDeadline},
		{"Close", TestQueuedDgramClose},
		{"Leave", TestQueuedDgramLeave},
		{"RecvMmsg", TestQueuedDgramRecvMmsg},
		{"ShutRD", TestQueuedDgramShutRD},
		{"RecvMmsgAddrs", TestQueuedDgramRecvMmsgAddrs},
	} {
		t.Run(c.name, c.f)
	}
}

// aheadUDP returns a UDP socket that reads ahead, and its address, after
// a first read (of a datagram sent before it) has mapped its buffers.
func aheadUDP(t *testing.T, e *Engine, from int) (*Socket, unix.Sockaddr) {
	t.Helper()
	s, sa := udpSocket(t, e, unix.AF_INET, false)
	s.opts.Or(optReadAhead)
	if err := unix.Sendto(from, []byte{0xff}, 0, sa); err != nil {
		t.Fatal(err)
	}
	waitReadable(t, s)
	if n, err := s.Read(make([]byte, 8)); err != nil || n != 1 {
		t.Fatalf("first read: %d, %v", n, err)
	}
	if ra := s.ra.Load(); ra == nil || ra.mem == nil {
		t.Fatal("a read that found a datagram waiting mapped no buffers")
	}
	return s, sa
}

// waitReadable waits until s has a datagram in the kernel's queue.
func waitReadable(t *testing.T, s *Socket) {
	t.Helper()
	pfd := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, 5000); n != 1 || err != nil {
		t.Fatalf("poll: %d, %v", n, err)
	}
}

// held returns how many datagrams s holds read ahead.
func held(s *Socket) int {
	ra := s.ra.Load()
	if ra == nil {
		return 0
	}
	ra.mu.Lock()
	defer ra.mu.Unlock()
	return ra.end - ra.head
}

// sendSeq sends datagrams first to last, each its number in one byte, to sa.
func sendSeq(t *testing.T, from int, sa unix.Sockaddr, first, last int) {
	t.Helper()
	for i := first; i <= last; i++ {
		if err := unix.Sendto(from, []byte{byte(i)}, 0, sa); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReadAheadLeave: a plain read takes datagram 1 and reads 2 to 10
// ahead; reads with control data then take the socket off reading ahead,
// and get 2 to 10 without control data and with MSG_CTRUNC (the kernel
// had IP_TOS for them), as recvmsg(2) with no room for it gives, then 11
// with it. A raw read sees the kernel's queue: 12.
func TestReadAheadLeave(t *testing.T) {
	e := testEngine(t)
	from, _ := rawUDP(t, unix.AF_INET)
	s, sa := aheadUDP(t, e, from)
	if err := s.SetsockoptInt(unix.IPPROTO_IP, unix.IP_RECVTOS, 1); err != nil {
		t.Fatal(err)
	}
	// The kernel's answer for a read with no room for control data.
	rawFd, rawSA := rawUDP(t, unix.AF_INET)
	if err := unix.SetsockoptInt(rawFd, unix.IPPROTO_IP, unix.IP_RECVTOS, 1); err != nil {
		t.Fatal(err)
	}
	sendSeq(t, from, rawSA, 1, 1)
	want, err := recvmsgRaw(rawFd, make([]byte, 8), nil, 0)
	if err != nil {
		t.Fatal(err)
	}

	sendSeq(t, from, sa, 1, 10)
	buf := make([]byte, 8)
	if n, _, flags, err := s.Recv(ctx0, buf, 0, true, 5*time.Second); err != nil || n != 1 || buf[0] != 1 {
		t.Fatalf("read 1: %d bytes %v, flags %#x, %v", n, buf[:n], flags, err)
	}
	if h := held(s); h != 9 {
		t.Fatalf("%d datagrams read ahead, want 9", h)
	}
	oob := make([]byte, 64)
	for i := 2; i <= 10; i++ {
		n, oobn, flags, _, err := s.RecvMsg(ctx0, buf, oob, 0, 5*time.Second)
		if err != nil || n != 1 || buf[0] != byte(i) {
			t.Fatalf("read %d: %d bytes %v, %v", i, n, buf[:n], err)
		}
		if oobn != 0 || flags != want.flags {
			t.Fatalf("read %d, read ahead: %d bytes of control data, flags %#x; the kernel's recvmsg(2) with no room gives flags %#x", i, oobn, flags, want.flags)
		}
	}
	sendSeq(t, from, sa, 11, 11)
	n, oobn, _, _, err := s.RecvMsg(ctx0, buf, oob, 0, 5*time.Second)
	if err != nil || n != 1 || buf[0] != 11 || oobn == 0 {
		t.Fatalf("read 11: %d bytes %v, %d of control data, %v", n, buf[:n], oobn, err)
	}
	if s.has(optReadAhead) {
		t.Error("still reading ahead after leaving and draining")
	}
	sendSeq(t, from, sa, 12, 12)
	if got, err := rawReadOne(s, buf); err != nil || got != 1 || buf[0] != 12 {
		t.Fatalf("raw read: %d bytes %v, %v", got, buf[:got], err)
	}
}

// TestReadAheadRawRead: a raw read (RawRead, as gonet's SyscallConn gives)
// takes the socket off reading ahead; the datagrams read ahead before
// then come out of the next receives, before the kernel's, and the raw
// read sees only the kernel's.
func TestReadAheadRawRead(t *testing.T) {
	e := testEngine(t)
	from, _ := rawUDP(t, unix.AF_INET)
	s, sa := aheadUDP(t, e, from)
	sendSeq(t, from, sa, 1, 5)
	buf := make([]byte, 8)
	if n, err := s.Read(buf); err != nil || n != 1 || buf[0] != 1 {
		t.Fatalf("read 1: %d, %v", n, err)
	}
	sendSeq(t, from, sa, 6, 6)
	if got, err := rawReadOne(s, buf); err != nil || got != 1 || buf[0] != 6 {
		t.Fatalf("raw read: %d bytes %v, %v; want datagram 6", got, buf[:got], err)
	}
	sendSeq(t, from, sa, 7, 7)
	for i := 2; i <= 7; i++ {
		if i == 6 {
			continue
		}
		if n, err := s.Read(buf); err != nil || n != 1 || buf[0] != byte(i) {
			t.Fatalf("read %d: %d bytes %v, %v", i, n, buf[:n], err)
		}
	}
}

// TestReadAheadPeekTrunc: after leaving, MSG_PEEK leaves a datagram read
// ahead in place and MSG_TRUNC reports its full length, as recvmsg(2)
// does for the kernel's queue.
func TestReadAheadPeekTrunc(t *testing.T) {
	e := testEngine(t)
	from, _ := rawUDP(t, unix.AF_INET)
	s, sa := aheadUDP(t, e, from)
	rawFd, rawSA := rawUDP(t, unix.AF_INET)
	msg := []byte("0123456789")
	for _, to := range []unix.Sockaddr{sa, sa, rawSA} {
		if err := unix.Sendto(from, msg, 0, to); err != nil {
			t.Fatal(err)
		}
	}
	waitReadable(t, s)
	if n, err := s.Read(make([]byte, 16)); err != nil || n != 10 {
		t.Fatalf("read: %d, %v", n, err)
	}
	if held(s) != 1 {
		t.Fatalf("%d read ahead, want 1", held(s))
	}
	for _, flags := range []int{unix.MSG_PEEK, unix.MSG_PEEK | unix.MSG_TRUNC, unix.MSG_TRUNC} {
		want, werr := recvmsgRaw(rawFd, make([]byte, 4), nil, flags)
		got := make([]byte, 4)
		n, _, gflags, err := s.Recv(ctx0, got, flags, false, 5*time.Second)
		if err != werr || n != want.n || gflags != want.flags || string(got) != "0123" {
			t.Fatalf("flags %#x: %d bytes %q, flags %#x, %v; kernel says %d, %#x, %v", flags, n, got, gflags, err, want.n, want.flags, werr)
		}
	}
	if held(s) != 0 {
		t.Fatalf("%d still read ahead after MSG_TRUNC", held(s))
	}
}

// TestReadAheadClose: Close with datagrams read ahead, and with a reader
// waiting for the turn, ends the reader with ErrClosed and unmaps the
// buffers.
func TestReadAheadClose(t *testing.T) {
	e := testEngine(t)
	from, _ := rawUDP(t, unix.AF_INET)
	s, sa := aheadUDP(t, e, from)
	sendSeq(t, from, sa, 1, 5)
	waitReadable(t, s)
	if _, err := s.Read(make([]byte, 8)); err != nil {
		t.Fatal(err)
	}
	if held(s) == 0 {
		t.Fatal("nothing read ahead")
	}
	s.Close()
	if _, err := s.Read(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %v", err)
	}
	if s.ra.Load().mem != nil {
		t.Fatal("buffers still mapped after Close")
	}
	for i, iov := range s.ra.Load().iovs {
		if iov.Base != nil {
			t.Fatalf("iovec %d still points at %p, in the buffers Close unmapped", i, iov.Base)
		}
	}

	// Two readers wait, one holding the turn.
	w, _ := aheadUDP(t, e, from)
	done := make(chan error, 2)
	for range 2 {
		go func() { _, err := w.Read(make([]byte, 8)); done <- err }()
	}
	time.Sleep(50 * time.Millisecond)
	w.Close()
	for range 2 {
		select {
		case err := <-done:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("waiting reader: %v, want ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a reader still waits after Close")
		}
	}
}

// TestReadAheadNoBurstNoMap: a socket whose every read waits for its
// datagram maps no buffers, and reads one datagram a call.
func TestReadAheadNoBurstNoMap(t *testing.T) {
	e := testEngine(t)
	from, _ := rawUDP(t, unix.AF_INET)
	s, sa := udpSocket(t, e, unix.AF_INET, false)
	s.opts.Or(optReadAhead)
	for i := range 3 {
		done := make(chan error, 1)
		go func() {
			n, err := s.Read(make([]byte, 8))
			if err == nil && n != 1 {
				err = fmt.Errorf("%d bytes", n)
			}
			done <- err
		}()
		time.Sleep(20 * time.Millisecond)
		sendSeq(t, from, sa, i, i)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if ra := s.ra.Load(); ra == nil || ra.mem != nil {
		t.Fatal("buffers mapped with no datagram ever waiting")
	}
}

// TestReadAheadDeadlineWaiter: a reader waiting for the turn, while
// another holds it, ends at its own deadline; the turn holder then gets
// the next datagram.
func TestReadAheadDeadlineWaiter(t *testing.T) {
	e := testEngine(t)
	from, _ := rawUDP(t, unix.AF_INET)
	s, sa := aheadUDP(t, e, from)
	holder := make(chan error, 1)
	go func() {
		_, _, _, err := s.Recv(ctx0, make([]byte, 8), 0, true, 5*time.Second)
		holder <- err
	}()
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	_, _, _, err := s.Recv(ctx0, make([]byte, 8), 0, true, 50*time.Millisecond)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("waiter: %v, want its timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("waiter took %v", d)
	}
	sendSeq(t, from, sa, 1, 1)
	if err := <-holder; err != nil {
		t.Fatalf("turn holder: %v", err)
	}
}

// TestReadAheadWaitersTurnFree: two readers wait while the turn is held;
// the turn brings back one datagram ahead. The reader the holder wakes
// takes it, and the turn is then free: the other reader must wake to take
// the turn and read the next datagram, not wait for a nudge that nobody
// will give. The test holds the turn itself (aheadTurn), so that the
// holder's recvmmsg(2) finds both datagrams, whenever the readers run.
func TestReadAheadWaitersTurnFree(t *testing.T) {
	e := testEngine(t)
	from, _ := rawUDP(t, unix.AF_INET)
	s, sa := aheadUDP(t, e, from)
	ra := s.ra.Load()
	ra.mu.Lock()
	ra.busy = true
	ra.mu.Unlock()
	got := make(chan string, 2)
	for range 2 {
		go func() {
			buf := make([]byte, 8)
			n, err := s.Read(buf)
			got <- fmt.Sprintf("%x %v", buf[:n], err)
		}()
	}
	time.Sleep(50 * time.Millisecond) // both wait for the turn
	sendSeq(t, from, sa, 1, 2)
	waitReadable(t, s)
	w := readWait
	buf := make([]byte, 8)
	if r, err := s.aheadTurn(ra, buf, false, &w); err != nil || r.n != 1 || buf[0] != 1 {
		t.Fatalf("turn: %d bytes %x, %v", r.n, buf[:r.n], err)
	}
	if first := <-got; first != "02 <nil>" {
		t.Fatalf("first waiter got %s, want datagram 2", first)
	}
	sendSeq(t, from, sa, 3, 3)
	select {
	case second := <-got:
		if second != "03 <nil>" {
			t.Fatalf("second waiter got %s, want datagram 3", second)
		}
	case <-time.After(5 * time.Second):
		s.Close()
		<-got
		t.Fatal("the second waiter still waits with the turn free and datagram 3 in the kernel's queue")
	}
}

// TestReadAheadBatchScatter: a RecvMmsg batch whose messages have more
// than one buffer, after a plain read has read datagrams ahead, scatters
// each datagram over its buffers, as the kernel's recvmmsg(2) does, and
// as the multishot queue's batch does: not only into the first buffer,
// cut short with MSG_TRUNC.
func TestReadAheadBatchScatter(t *testing.T) {
	e := testEngine(t)
	from, _ := rawUDP(t, unix.AF_INET)
	s, sa := aheadUDP(t, e, from)
	rawFd, rawSA := rawUDP(t, unix.AF_INET)
	msg := []byte("0123456789")
	for range 3 {
		for _, to := range []unix.Sockaddr{sa, rawSA} {
			if err := unix.Sendto(from, msg, 0, to); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitReadable(t, s)
	if n, err := s.Read(make([]byte, 16)); err != nil || n != 10 {
		t.Fatalf("read: %d, %v", n, err)
	}
	if _, err := recvmsgRaw(rawFd, make([]byte, 16), nil, 0); err != nil {
		t.Fatal(err)
	}
	if held(s) != 2 {
		t.Fatalf("%d read ahead, want 2", held(s))
	}
	mk := func() []Mmsg {
		m := make([]Mmsg, 2)
		for i := range m {
			m[i].Buffers = [][]byte{make([]byte, 4), make([]byte, 16)}
		}
		return m
	}
	want := mk()
	b, err := newMmsgBatch(want, false)
	if err != nil {
		t.Fatal(err)
	}
	wn, werr := b.call(uintptr(rawFd), unix.SYS_RECVMMSG, unix.MSG_DONTWAIT)
	b.results(want[:max(wn, 0)], true)
	b.free()
	got := mk()
	n, err := s.RecvMmsg(ctx0, got, 0, 5*time.Second)
	if n != wn || (err == nil) != (werr == 0) {
		t.Fatalf("RecvMmsg: %d, %v; the kernel's recvmmsg(2): %d, %v", n, err, wn, werr)
	}
	for i := range n {
		g, w := got[i], want[i]
		gd := string(g.Buffers[0]) + string(g.Buffers[1][:max(g.N-4, 0)])
		wd := string(w.Buffers[0]) + string(w.Buffers[1][:max(w.N-4, 0)])
		if g.N != w.N || g.Flags != w.Flags || gd != wd {
			t.Fatalf("message %d: %d bytes %q, flags %#x; the kernel's: %d bytes %q, flags %#x", i, g.N, gd, g.Flags, w.N, wd, w.Flags)
		}
	}
}

// TestReadAheadErrQueue: a receive from the error queue, single or batch,
// leaves the socket reading ahead, as it leaves the datagrams read ahead:
// it reads another queue.
func TestReadAheadErrQueue(t *testing.T) {
	e := testEngine(t)
	from, _ := rawUDP(t, unix.AF_INET)
	s, _ := aheadUDP(t, e, from)
	if _, _, _, err := s.Recv(ctx0, make([]byte, 8), unix.MSG_ERRQUEUE, false, 0); err != unix.EAGAIN {
		t.Fatalf("single receive from the empty error queue: %v, want EAGAIN", err)
	}
	msgs := []Mmsg{{Buffers: [][]byte{make([]byte, 8)}}}
	if _, err := s.RecvMmsg(ctx0, msgs, unix.MSG_ERRQUEUE, 0); err != unix.EAGAIN {
		t.Fatalf("batch from the empty error queue: %v, want EAGAIN", err)
	}
	if !s.has(optReadAhead) || s.ra.Load().off {
		t.Fatal("a receive from the error queue took the socket off reading ahead")
	}
}

// TestReadAheadQuietTurns: on a backend whose turns wait on the ring, a
// turn whose recvmmsg(2) found nothing makes the next turn skip its try
// and take one datagram in a ring receive, leaving the rest in the
// kernel; the turn after tries again and reads the rest ahead. Elsewhere
// every turn tries first, and the first read after the wait reads ahead.
// Either way the datagrams come out once each, in order.
func TestReadAheadQuietTurns(t *testing.T) {
	e := testEngine(t)
	from, _ := rawUDP(t, unix.AF_INET)
	s, sa := aheadUDP(t, e, from)
	tr, ok := e.b.(turnOnRing)
	onRing := ok && tr.ringTurn(s)

	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 8)
		n, err := s.Read(buf)
		if err == nil && (n != 1 || buf[0] != 1) {
			err = fmt.Errorf("read %d bytes %v; want [1]", n, buf[:n])
		}
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // the read finds nothing, and waits
	sendSeq(t, from, sa, 1, 1)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	sendSeq(t, from, sa, 2, 6)
	want := []int{0, 3, 2, 1, 0} // held after each read, on the ring
	if !onRing {
		want = []int{4, 3, 2, 1, 0}
	}
	for i, h := range want {
		buf := make([]byte, 8)
		n, err := s.Read(buf)
		if err != nil || n != 1 || buf[0] != byte(i+2) {
			t.Fatalf("read %d: %v, %v; want [%d]", i, buf[:n], err, i+2)
		}
		if got := held(s); got != h {
			t.Fatalf("after read %d (datagram %d) the socket holds %d read ahead; want %d (turns on the ring: %v)", i, i+2, got, h, onRing)
		}
	}
	if inq, err := unix.IoctlGetInt(s.fd, unix.SIOCINQ); inq != 0 || err != nil {
		t.Fatalf("SIOCINQ: %d, %v; the kernel should hold nothing", inq, err)
	}
}

// TestQueueDatagramsChoice: QueueDatagrams gives the ring's multishot
// queue only to a socket at one P whose receives try a syscall first
// (ReceiveDatagramsNow, called before: gonet's conns), where the ring has
// its buffers; every other UDP socket reads ahead.
func TestQueueDatagramsChoice(t *testing.T) {
	e := testEngine(t)
	for _, c := range []struct {
		procs int
		now   bool
	}{{1, false}, {1, true}, {2, false}, {2, true}} {
		t.Run(fmt.Sprintf("P=%d/now=%v", c.procs, c.now), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(c.procs))
			s, _ := udpSocket(t, e, unix.AF_INET, false)
			if c.now {
				s.ReceiveDatagramsNow()
			}
			s.QueueDatagrams()
			multishot := c.procs == 1 && c.now && multishotDgrams(s)
			if s.has(optQueueDgrams) != multishot || s.has(optReadAhead) == multishot {
				t.Fatalf("multishot queue %v, reading ahead %v; want the multishot %v",
					s.has(optQueueDgrams), s.has(optReadAhead), multishot)
			}
		})
	}
}
