//go:build linux && !android

package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/internal/uring"
	"golang.org/x/sys/unix"
)

// polledPair returns a connected TCP pair on one ring of a uring engine,
// and that ring; it skips on epoll and where no op can wait polled (the
// netpoller refused the ring's fd, or the kernel orders no mute).
func polledPair(t *testing.T) (c, s *Socket, sh *shard) {
	t.Helper()
	e := testEngine(t)
	b, ok := e.b.(*uringBackend)
	if !ok {
		t.Skip("polled waits are the uring backend's")
	}
	ln, sa := listenTCP(t, e)
	c = dialTCP(t, e, sa)
	s = acceptTCP(t, ln)
	sh = b.shards[c.home]
	if sh.rrc == nil || !b.muteEnters {
		if b.inf.PolledWait == "on" {
			t.Errorf("probe says polled waits are on, but ring %d has none", c.home)
		}
		t.Skip("no polled waits on this kernel")
	}
	if b.inf.PolledWait != "on" {
		t.Errorf("probe says polled waits are %q on a ring that has them", b.inf.PolledWait)
	}
	s.home = c.home // nothing of s's is in flight yet
	return c, s, sh
}

// polls counts the ops that have waited polled on sh.
func (sh *shard) pollCount() int {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.polls
}

// waitUntil waits a little, up to 50 ms, until cond holds on sh under
// its mu.
func (sh *shard) waitUntil(cond func() bool) {
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); runtime.Gosched() {
		sh.mu.Lock()
		ok := cond()
		sh.mu.Unlock()
		if ok {
			return
		}
	}
}

// waitPolling waits until an op waits polled on sh, so that what the
// test sends next arrives while it waits. The read may wait for the
// reaper instead (another goroutine was in io_uring_enter as it started,
// say); then the send goes anyway.
func (sh *shard) waitPolling() { sh.waitUntil(func() bool { return sh.polling }) }

// waitQuiet waits until nobody submits or dispatches on sh: an op
// submitted while the reaper dispatches is left for the reaper to
// submit, and waits for it. At one P that repeats, each wait's wake-up
// coming in the reaper's next dispatch, until something breaks the
// chain.
func (sh *shard) waitQuiet() { sh.waitUntil(func() bool { return sh.reaping == 0 && !sh.entering }) }

// toggleProcs sets GOMAXPROCS to 2, then moves it between 1 and 2 every
// 3 ms while the test runs, so that ops are pending as goroutines move
// between Ps; cleanup stops the toggling, then restores GOMAXPROCS.
func toggleProcs(t *testing.T) {
	old := runtime.GOMAXPROCS(2)
	stop, toggled := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() {
		close(stop)
		<-toggled // before the restore: it must not set GOMAXPROCS after it
		runtime.GOMAXPROCS(old)
	})
	go func() {
		defer close(toggled)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(3 * time.Millisecond):
				runtime.GOMAXPROCS(1 + i%2)
			}
		}
	}()
}

// readWithin runs read on another goroutine and fails the test if it
// has not returned within d: a polled op whose wake-up was lost waits
// for ever, deadline or not.
func readWithin(t *testing.T, d time.Duration, read func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- read() }()
	recvWithin(t, done, d, "the read")
}

// recvWithin waits up to d for what, a call on another goroutine, to
// report its error on ch, and fails the test if it is not nil or does not
// come: a wait whose wake-up was lost lasts for ever.
func recvWithin(t *testing.T, ch <-chan error, d time.Duration, what string) {
	t.Helper()
	select {
	case err := <-ch:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(d):
		t.Fatalf("%s still waits after %v: its wake-up was lost", what, d)
	}
}

// readEndsAtClose closes c while a Read on it waits, polled if it can,
// and checks that the Read ends with net.ErrClosed.
func readEndsAtClose(t *testing.T, c *Socket, sh *shard) {
	t.Helper()
	c.SetReadDeadline(time.Time{})
	go func() {
		sh.waitPolling()
		c.Close()
	}()
	readWithin(t, 10*time.Second, func() error {
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read at Close: %v", err)
		}
		return nil
	})
}

// polledRounds makes n rounds of read on c, each ended by a byte that s
// sends while the read waits polled, if it does, and checks that some
// read waited polled.
func polledRounds(t *testing.T, c, s *Socket, sh *shard, n int, read func(i int) error) {
	t.Helper()
	before := sh.pollCount()
	for i := range n {
		go func() {
			sh.waitPolling()
			s.Write([]byte{byte(i)})
		}()
		sh.waitQuiet()
		readWithin(t, 10*time.Second, func() error { return read(i) })
	}
	if sh.pollCount() == before {
		t.Error("no read waited polled")
	}
}

// TestPolledRead: a Read alone on its ring waits in the netpoller on the
// ring's fd (pollAloneLocked), and the peer's Write, on the same ring,
// ends it. At one P the write runs on the thread that submitted the
// receive, so the receive's CQE is posted inside the write's enter,
// whose own reap meets it first: the reap must leave it in the CQ, since
// the ring's fd tells its owner only while the CQ holds it. Before that
// rule, the owner slept on with its op done.
func TestPolledRead(t *testing.T) {
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprint("GOMAXPROCS=", procs), func(t *testing.T) {
			old := runtime.GOMAXPROCS(procs)
			defer runtime.GOMAXPROCS(old)
			c, s, sh := polledPair(t)
			buf := make([]byte, 8)
			polledRounds(t, c, s, sh, 200, func(i int) error {
				n, err := c.Read(buf)
				if err == nil && (n != 1 || buf[0] != byte(i)) {
					t.Errorf("read %d bytes %x, want %x", n, buf[:n], byte(i))
				}
				return err
			})
		})
	}
}

// TestPolledRawRead is TestPolledRead for a raw read, whose wait is a
// POLL_ADD on the ring: the shape in which gonet's SyscallConn test
// first lost a wake-up.
func TestPolledRawRead(t *testing.T) {
	old := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(old)
	c, s, sh := polledPair(t)
	polledRounds(t, c, s, sh, 50, func(int) error {
		return c.RawRead(func(fd uintptr) bool {
			var b [8]byte
			_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_DONTWAIT)
			return err != unix.EAGAIN
		})
	})
}

// TestPolledHandsBack: an op waiting polled hands the ring back to the
// reaper when another op on the ring must wait too, and both end.
func TestPolledHandsBack(t *testing.T) {
	c, s, sh := polledPair(t)
	errs := make(chan error, 2)
	bufs := [2][]byte{make([]byte, 1), make([]byte, 1)}
	go func() { _, err := c.Read(bufs[0]); errs <- err }()
	sh.waitPolling()
	go func() { _, err := s.Read(bufs[1]); errs <- err }()
	time.Sleep(20 * time.Millisecond)
	if _, err := s.Write([]byte{'c'}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte{'s'}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		recvWithin(t, errs, 10*time.Second, "a read")
	}
	if bufs[0][0] != 'c' || bufs[1][0] != 's' {
		t.Errorf("read %q and %q, want c and s", bufs[0], bufs[1])
	}
}

// TestPolledDeadlineAndClose: a polled Read ends at its deadline, and at
// Close, as any Read does.
func TestPolledDeadlineAndClose(t *testing.T) {
	c, _, sh := polledPair(t)
	// A read may wait for the reaper instead, now and then (see
	// waitPolling): a few tries make sure one waited polled.
	before := sh.pollCount()
	for try := 0; try < 20 && sh.pollCount() == before; try++ {
		sh.waitQuiet()
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read past its deadline: %v", err)
		}
	}
	if sh.pollCount() == before {
		t.Fatal("no read waited polled")
	}
	readEndsAtClose(t, c, sh)
}

// TestPolledDeadlinePassed: an op submitted polled whose deadline has
// passed by the time it waits, and whose CQE its owner then reaps in
// handing the ring back, ends at once: no wake-up will come on its
// channel, so await must not wait for one.
func TestPolledDeadlinePassed(t *testing.T) {
	c, s, sh := polledPair(t)
	buf := make([]byte, 1)
	sh.waitQuiet()
	idx, st, pending, err := sh.startIO(c, &readWait, uring.IORING_OP_RECV, buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte{'x'}); err != nil {
		t.Fatal(err)
	}
	if !pending || !st.polled {
		// Rare (see waitQuiet): end the receive as Read would.
		if pending {
			err = sh.await(&c.rdl, idx, st)
		}
		sh.result(c, idx, st, err)
		t.Skip("the receive did not wait polled")
	}
	// The receive's CQE is in the CQ, left there for its owner.
	for deadline := time.Now().Add(5 * time.Second); sh.ring.CQReady() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no CQE for the receive")
		}
		time.Sleep(time.Millisecond)
	}
	c.SetReadDeadline(time.Now().Add(-time.Second))
	readWithin(t, 10*time.Second, func() error {
		n, err := sh.result(c, idx, st, sh.await(&c.rdl, idx, st))
		if err != nil || n != 1 || buf[0] != 'x' {
			t.Errorf("receive: %d bytes %q, %v; want the byte sent", n, buf[:n], err)
		}
		return nil
	})
}

// TestPolledNotAccept: an Accept that must wait while one other op is in
// flight on its ring does not wait polled (pollAloneLocked): an accept is
// not counted in flight, so the other op made it look alone.
func TestPolledNotAccept(t *testing.T) {
	c, s, sh := polledPair(t)
	ln, sa := listenTCP(t, c.e)
	ln.home = c.home // nothing of ln's is in flight
	sh.waitQuiet()
	// A receive that waits for the reaper: with no mode, it may not poll.
	buf := make([]byte, 1)
	idx, st, pending, err := sh.start(c, &waitSpec{}, false, func(sqe *uring.SQE, st *opState) {
		addr, l := ioBuf(st, buf, true, dataArea(buf, plainArea))
		sqe.PrepRecv(c.fd, addr, l, 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !pending {
		t.Fatal("the receive ended with no data sent")
	}
	before := sh.pollCount()
	accepted := make(chan error, 1)
	go func() {
		a, _, err := ln.Accept(ctx0, 0)
		if err == nil {
			a.Close()
		}
		accepted <- err
	}()
	// Once the accept is in flight and nobody enters, its submitter has
	// decided whether it polls.
	sh.waitUntil(func() bool { return sh.idle > 0 && !sh.entering })
	polled := sh.pollCount() != before
	dialTCP(t, c.e, sa)
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte{'x'}); err != nil {
		t.Fatal(err)
	}
	<-st.ch
	if n, err := sh.result(c, idx, st, nil); n != 1 || err != nil {
		t.Fatalf("receive: %d, %v", n, err)
	}
	if polled {
		t.Error("an accept waited polled with another op in flight")
	}
}

// TestPolledStress: reads that wait polled on one ring while the peer
// writes at random gaps, read deadlines fire at random, and GOMAXPROCS
// moves between 1 and 2, then Close in the middle of a read. The stream
// is sequence-numbered: no byte is lost or repeated, and no read outlives
// a watchdog, whose report carries every goroutine's stack.
func TestPolledStress(t *testing.T) {
	toggleProcs(t)
	c, s, sh := polledPair(t)
	const total = 100000
	before := sh.pollCount()
	writeErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 64)
		for sent, w := 0, 0; sent < total; w++ {
			n := min(1+sent%len(buf), total-sent)
			for j := range n {
				buf[j] = byte((sent + j) % 251)
			}
			if _, err := s.Write(buf[:n]); err != nil {
				writeErr <- err
				return
			}
			sent += n
			if w%3 == 0 {
				time.Sleep(time.Duration(w%300) * time.Microsecond) // let the read wait
			}
		}
		writeErr <- nil
	}()
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 128)
		got, timeouts := 0, 0
		for i := 0; got < total; i++ {
			if i%5 == 0 {
				c.SetReadDeadline(time.Now().Add(time.Duration(i%60) * time.Microsecond))
			} else {
				c.SetReadDeadline(time.Time{})
			}
			n, err := c.Read(buf)
			for j := range n {
				if buf[j] != byte((got+j)%251) {
					done <- fmt.Errorf("byte %d is %d, want %d", got+j, buf[j], (got+j)%251)
					return
				}
			}
			got += n
			if errors.Is(err, os.ErrDeadlineExceeded) {
				timeouts++
				continue
			}
			if err != nil {
				done <- fmt.Errorf("read at byte %d: %v", got, err)
				return
			}
		}
		t.Logf("%d bytes read, %d reads ended at their deadline", got, timeouts)
		if timeouts == 0 {
			done <- errors.New("no read ended at its deadline")
			return
		}
		done <- nil
	}()
	watchdog := time.After(30 * time.Second)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-watchdog:
		stacks := make([]byte, 1<<20)
		t.Fatalf("the stream stalled; goroutines:\n%s", stacks[:runtime.Stack(stacks, true)])
	}
	if err := <-writeErr; err != nil {
		t.Fatal(err)
	}
	// Close while a read waits, polled or not.
	readEndsAtClose(t, c, sh)
	t.Logf("%d reads waited polled", sh.pollCount()-before)
	if sh.pollCount() == before {
		t.Error("no read waited polled")
	}
}

// polledQueue returns a UDP socket that queues datagrams on a ring where
// its reads may wait polled, that ring, and a raw socket to send from; it
// skips where there is no such ring.
func polledQueue(t *testing.T) (s *Socket, sa unix.Sockaddr, sh *shard, from int) {
	t.Helper()
	e := testEngine(t)
	b, ok := e.b.(*uringBackend)
	if !ok {
		t.Skip("polled waits are the uring backend's")
	}
	s, sa = queuedUDP(t, e, unix.AF_INET)
	sh, ok = queueOf(e, s)
	if !ok {
		t.Skip("no multishot datagram queue on this kernel")
	}
	if sh.rrc == nil || !b.muteEnters {
		t.Skip("no polled waits on this kernel")
	}
	from, _ = rawUDP(t, unix.AF_INET)
	return s, sa, sh, from
}

// TestPolledQueueRead: a read that finds its socket's datagram queue
// empty waits polled on the ring's fd, where nothing else is in flight,
// and every datagram sent while it waits comes out once, in order. The
// ring starts with the count an earlier reap left that woke two waiters,
// as earlier tests' ops may leave it: the reaper's passes over the
// multishot's CQEs, which wake nobody, must clear it.
func TestPolledQueueRead(t *testing.T) {
	s, sa, sh, from := polledQueue(t)
	sh.mu.Lock()
	sh.batch = 2
	sh.mu.Unlock()
	before := sh.pollCount()
	buf := make([]byte, 16)
	for i := range 50 {
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			sh.waitPolling()
			unix.Sendto(from, []byte{byte(i), 1, 2}, 0, sa)
		}()
		readWithin(t, 10*time.Second, func() error {
			if n, err := s.Read(buf); err != nil || n != 3 || buf[0] != byte(i) {
				return fmt.Errorf("read %d: %d bytes %v, %v", i, n, buf[:max(n, 0)], err)
			}
			return nil
		})
		<-sent // Sendto writes into sa
	}
	if sh.pollCount() == before {
		t.Error("no read waited polled")
	}
}

// TestPolledQueueDeadline: the socket's read deadline ends a queue read
// that waits polled (it has no op for the deadline to cancel), whether it
// passes or is moved into the past while the read waits; and a wait after
// it is not cut short by what ended that one.
func TestPolledQueueDeadline(t *testing.T) {
	s, sa, sh, from := polledQueue(t)
	buf := make([]byte, 16)
	before := sh.pollCount()
	start := time.Now()
	s.SetReadDeadline(start.Add(50 * time.Millisecond))
	readWithin(t, 10*time.Second, func() error {
		if _, err := s.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("read past its deadline: %v", err)
		}
		if took := time.Since(start); took < 50*time.Millisecond {
			return fmt.Errorf("read ended %v after it began, before its deadline", took)
		}
		return nil
	})
	s.SetReadDeadline(time.Now().Add(time.Hour))
	go func() {
		sh.waitPolling()
		s.SetReadDeadline(time.Now())
	}()
	readWithin(t, 10*time.Second, func() error {
		if _, err := s.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("read whose deadline moved into the past: %v", err)
		}
		return nil
	})
	if sh.pollCount() == before {
		t.Skip("no read waited polled: another goroutine held the ring")
	}
	// The next wait must not end at once on what ended the last: it
	// would then poll again and again until the datagram came.
	s.SetReadDeadline(time.Time{})
	before = sh.pollCount()
	go func() {
		time.Sleep(100 * time.Millisecond)
		unix.Sendto(from, []byte{7}, 0, sa)
	}()
	readWithin(t, 10*time.Second, func() error {
		if n, err := s.Read(buf); err != nil || n != 1 || buf[0] != 7 {
			return fmt.Errorf("read after the deadlines: %d bytes, %v", n, err)
		}
		return nil
	})
	if n := sh.pollCount() - before; n > 3 {
		t.Errorf("one read waited polled %d times for one datagram: a wait ends at once", n)
	}
}

// TestPolledQueueClose: Close ends a queue read that waits polled.
func TestPolledQueueClose(t *testing.T) {
	s, _, sh, _ := polledQueue(t)
	before := sh.pollCount()
	readEndsAtClose(t, s, sh)
	if sh.pollCount() == before {
		t.Skip("no read waited polled: another goroutine held the ring")
	}
}

// TestPolledQueueReapsForOthers: while a queue read waits polled, a
// receive on another socket of the same ring starts, waits, and ends; its
// completion comes while the eventfd is muted, so the polled reader must
// reap it and wake its reader (or, if the receive started the wait over,
// the reaper must), and each read gets its own data.
func TestPolledQueueReapsForOthers(t *testing.T) {
	c, peer, sh := polledPair(t)
	e := testEngine(t)
	u, sa := udpSocket(t, e, unix.AF_INET, false)
	u.home = c.home // nothing of u's is in flight yet
	queueOn(u)
	if _, ok := queueOf(e, u); !ok {
		t.Skip("no multishot datagram queue on this kernel")
	}
	from, _ := rawUDP(t, unix.AF_INET)
	// readByte reads s on another goroutine, and checks that it got byte i.
	readByte := func(s *Socket, i int) chan error {
		done := make(chan error, 1)
		go func() {
			buf := make([]byte, 4)
			n, err := s.Read(buf)
			if err == nil && (n != 1 || buf[0] != byte(i)) {
				err = fmt.Errorf("read %d: %d bytes %v", i, n, buf[:n])
			}
			done <- err
		}()
		return done
	}
	for i := range 20 {
		dgram := readByte(u, i)
		sh.waitPolling()
		stream := readByte(c, i)
		time.Sleep(time.Millisecond)
		if _, err := peer.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		for _, ch := range []chan error{stream, nil} {
			if ch == nil {
				unix.Sendto(from, []byte{byte(i)}, 0, sa)
				ch = dgram
			}
			recvWithin(t, ch, 10*time.Second, fmt.Sprintf("round %d: a read", i))
		}
	}
}

// TestPolledQueueOtherQueueFull: while a queue read waits polled, the
// queue of another socket of the ring reaches dgramQueueMax; the cancel
// its multishot's CQE then queues must reach the kernel, as the reaper's
// dispatch would submit it, so that the queue stops at its bound and does
// not take every buffer of the ring.
func TestPolledQueueOtherQueueFull(t *testing.T) {
	s, sa, sh, from := polledQueue(t)
	e := testEngine(t)
	u, usa := udpSocket(t, e, unix.AF_INET, true)
	u.home = s.home // nothing of u's is in flight yet
	unix.Sendto(from, []byte{0}, 0, usa)
	if _, err := u.Read(make([]byte, 4)); err != nil { // arms u's multishot
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Read(make([]byte, 4))
		done <- err
	}()
	sh.waitPolling()
	sh.mu.Lock()
	polled := sh.polling && sh.polledSock == s
	sh.mu.Unlock()
	if !polled {
		unix.Sendto(from, []byte{1}, 0, sa)
		<-done
		t.Skip("the read did not wait polled: another goroutine held the ring")
	}
	for i := range 2 * dgramQueueMax {
		unix.Sendto(from, []byte{byte(i)}, 0, usa)
		if i%8 == 0 {
			time.Sleep(200 * time.Microsecond) // a reap every few
		}
	}
	time.Sleep(50 * time.Millisecond)
	sh.mu.Lock()
	n, pending := len(u.dq.ready), sh.ring.SQPending()
	sh.mu.Unlock()
	if n > dgramQueueMax+16 || pending > 0 {
		t.Errorf("u's queue holds %d datagrams (bound %d), %d SQEs unsubmitted: the cancel queued at the bound did not go", n, dgramQueueMax, pending)
	}
	unix.Sendto(from, []byte{1}, 0, sa)
	recvWithin(t, done, 10*time.Second, "the polled read")
}

// TestPolledQueueStress: three queued UDP sockets on one ring, each read
// by two goroutines, take sequence-numbered datagrams sent at random gaps
// and in bursts that fill a queue to its bound, with a zero-length
// datagram (which ends the multishot) every 64, and a read deadline of
// 0-59 µs on every fifth read, while GOMAXPROCS moves between 1 and 2. Every datagram must come out once,
// some reads must wait polled and some end at their deadline, and nothing
// may outlive a 30 s watchdog. Then Close ends a waiting read.
func TestPolledQueueStress(t *testing.T) {
	toggleProcs(t)
	first, firstSA, sh, _ := polledQueue(t)
	e := testEngine(t)
	const socks, per = 3, 3000
	type sock struct {
		s    *Socket
		sa   unix.Sockaddr
		seen [per]atomic.Bool
		got  atomic.Int32
	}
	ss := make([]*sock, socks)
	for i := range ss {
		ss[i] = &sock{s: first, sa: firstSA}
		if i > 0 {
			u, usa := udpSocket(t, e, unix.AF_INET, false)
			u.home = first.home // nothing of u's is in flight yet
			queueOn(u)
			ss[i].s, ss[i].sa = u, usa
		}
	}
	before := sh.pollCount()
	errs := make(chan error, 3*socks)
	var readers sync.WaitGroup
	var timeouts atomic.Int32
	var finished atomic.Bool
	for _, k := range ss {
		from, _ := rawUDP(t, unix.AF_INET)
		to := *k.sa.(*unix.SockaddrInet4) // Sendto writes into it: this goroutine's own
		go func() {
			var b [4]byte
			for i := range per {
				if i%64 == 0 {
					// A zero-length datagram ends the multishot, and
					// the read that takes it arms it again.
					if err := unix.Sendto(from, nil, 0, &to); err != nil {
						errs <- fmt.Errorf("send: %v", err)
						return
					}
				}
				binary.LittleEndian.PutUint32(b[:], uint32(i))
				if err := unix.Sendto(from, b[:], 0, &to); err != nil {
					errs <- fmt.Errorf("send %d: %v", i, err)
					return
				}
				// Gaps let the reads wait; every 1000 datagrams, a
				// burst of 200 fills the queue to its bound.
				if i%3 == 0 && i%1000 >= 200 {
					time.Sleep(time.Duration(i%200) * time.Microsecond)
				}
			}
		}()
		for r := range 2 {
			readers.Add(1)
			go func() {
				defer readers.Done()
				buf := make([]byte, 16)
				for i := 0; !finished.Load(); i++ {
					if (i+r)%5 == 0 {
						k.s.SetReadDeadline(time.Now().Add(time.Duration(i%60) * time.Microsecond))
					} else {
						k.s.SetReadDeadline(time.Time{})
					}
					n, err := k.s.Read(buf)
					if errors.Is(err, os.ErrDeadlineExceeded) {
						timeouts.Add(1)
						continue
					}
					if err == nil && n == 0 {
						continue // a zero-length datagram
					}
					if err != nil || n != 4 {
						errs <- fmt.Errorf("read: %d bytes, %v", n, err)
						return
					}
					seq := binary.LittleEndian.Uint32(buf)
					if seq >= per || k.seen[seq].Swap(true) {
						errs <- fmt.Errorf("datagram %d came out twice", seq)
						return
					}
					k.got.Add(1)
				}
			}()
		}
	}
	watchdog := time.After(30 * time.Second)
	for all := false; !all; {
		select {
		case err := <-errs:
			t.Fatal(err)
		case <-watchdog:
			stacks := make([]byte, 1<<20)
			t.Fatalf("the datagrams stalled; goroutines:\n%s", stacks[:runtime.Stack(stacks, true)])
		case <-time.After(time.Millisecond):
		}
		all = true
		for _, k := range ss {
			all = all && k.got.Load() == per
		}
	}
	// The readers left waiting end at a deadline in the past, which each
	// of them may have moved on meanwhile: set it until they are gone.
	finished.Store(true)
	gone := make(chan struct{})
	go func() { readers.Wait(); close(gone) }()
	for wait := true; wait; {
		for _, k := range ss {
			k.s.SetReadDeadline(time.Now())
		}
		select {
		case <-gone:
			wait = false
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Logf("%d datagrams on each of %d sockets; %d reads ended at their deadline, %d waits polled",
		per, socks, timeouts.Load(), sh.pollCount()-before)
	if timeouts.Load() == 0 {
		t.Error("no read ended at its deadline")
	}
	if sh.pollCount() == before {
		t.Error("no read waited polled")
	}
	ss[1].s.SetReadDeadline(time.Time{})
	readEndsAtClose(t, ss[1].s, sh)
}
