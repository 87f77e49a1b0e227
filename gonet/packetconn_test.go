//go:build linux

package gonet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/nettest"
)

// makePacketPair makes two PacketConns that can reach each other at their
// LocalAddr (see packetDest), and a stop that closes both. It is
// nettest.MakePipe for datagrams.
type makePacketPair func() (c1, c2 net.PacketConn, stop func(), err error)

// packetTester is one property of the suite, checked on a fresh pair.
type packetTester func(t *testing.T, c1, c2 net.PacketConn)

// testPacketConn runs the PacketConn conformance suite on pairs made by mp,
// in the shape of nettest.TestConn.
func testPacketConn(t *testing.T, mp makePacketPair) {
	t.Run("BasicIO", func(t *testing.T) { packetWrapper(t, mp, testPacketBasicIO) })
	t.Run("ZeroLength", func(t *testing.T) { packetWrapper(t, mp, testPacketZeroLength) })
	t.Run("PastTimeout", func(t *testing.T) { packetWrapper(t, mp, testPacketPastTimeout) })
	t.Run("PresentTimeout", func(t *testing.T) { packetWrapper(t, mp, testPacketPresentTimeout) })
	t.Run("FutureTimeout", func(t *testing.T) { packetWrapper(t, mp, testPacketFutureTimeout) })
	t.Run("DeadlineExtended", func(t *testing.T) { packetWrapper(t, mp, testPacketDeadlineExtended) })
	t.Run("DeadlineShortened", func(t *testing.T) { packetWrapper(t, mp, testPacketDeadlineShortened) })
	t.Run("DeadlineCleared", func(t *testing.T) { packetWrapper(t, mp, testPacketDeadlineCleared) })
	t.Run("CloseUnblocksReadFrom", func(t *testing.T) { packetWrapper(t, mp, testPacketCloseUnblocksReadFrom) })
	t.Run("ConcurrentUse", func(t *testing.T) { packetWrapper(t, mp, testPacketConcurrentUse) })
	t.Run("Truncation", func(t *testing.T) { packetWrapper(t, mp, testPacketTruncation) })
	t.Run("RacyRead", func(t *testing.T) { packetWrapper(t, mp, testPacketRacyRead) })
	t.Run("TimedOutReadReleasesBuffer", func(t *testing.T) { packetWrapper(t, mp, testPacketTimedOutReadReleasesBuffer) })
	t.Run("WriteToClosed", func(t *testing.T) { packetWrapper(t, mp, testPacketWriteToClosed) })
}

// packetWrapper runs f on a fresh pair and closes the pair if f hangs, as
// nettest's timeoutWrapper does.
func packetWrapper(t *testing.T, mp makePacketPair, f packetTester) {
	t.Helper()
	c1, c2, stop, err := mp()
	if err != nil {
		t.Fatalf("unable to make packet pair: %v", err)
	}
	var once sync.Once
	defer once.Do(stop)
	timer := time.AfterFunc(15*time.Second, func() {
		once.Do(func() {
			t.Error("test timed out; closing the pair")
			stop()
		})
	})
	defer timer.Stop()
	f(t, c1, c2)
}

var packetConnTests = []struct {
	name   string
	n1, a1 string // c1's network and address
	n2, a2 string // c2's
	skip   func() string
}{
	{name: "udp4", n1: "udp4", a1: "127.0.0.1:0", n2: "udp4", a2: "127.0.0.1:0"},
	{name: "udp6", n1: "udp6", a1: "[::1]:0", n2: "udp6", a2: "[::1]:0", skip: noIPv6},
	// A wildcard dual-stack socket, reached from an IPv4 one through
	// 127.0.0.1: it sees its peer as ::ffff:127.0.0.1.
	{name: "dualstack", n1: "udp", a1: ":0", n2: "udp4", a2: "127.0.0.1:0", skip: noDualStack},
	{name: "unixgram", n1: "unixgram", n2: "unixgram"},
}

func noIPv6() string {
	if !nettest.SupportsIPv6() {
		return "no IPv6 on this machine"
	}
	return ""
}

func noDualStack() string {
	if !supportsDualStack() {
		return "no dual-stack sockets on this machine"
	}
	return ""
}

func TestPacketConn(t *testing.T) {
	for _, tt := range packetConnTests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skip != nil {
				if why := tt.skip(); why != "" {
					t.Skip(why)
				}
			}
			t.Parallel()
			testPacketConn(t, func() (c1, c2 net.PacketConn, stop func(), err error) {
				a1, a2 := tt.a1, tt.a2
				if tt.n1 == "unixgram" {
					// Both ends bind a path: a unixgram client needs
					// a name of its own to receive replies.
					dir := t.TempDir()
					a1, a2 = filepath.Join(dir, "c1"), filepath.Join(dir, "c2")
				}
				c1, err = ListenPacket(tt.n1, a1)
				if err != nil {
					return nil, nil, nil, err
				}
				c2, err = ListenPacket(tt.n2, a2)
				if err != nil {
					c1.Close()
					return nil, nil, nil, err
				}
				return c1, c2, func() { c1.Close(); c2.Close() }, nil
			})
		})
	}
}

// packetDest is where a peer sends to reach c: its LocalAddr, with a
// wildcard IP replaced by 127.0.0.1 (which reaches a dual-stack socket too).
func packetDest(c net.PacketConn) net.Addr {
	a, ok := c.LocalAddr().(*net.UDPAddr)
	if !ok || !a.IP.IsUnspecified() {
		return c.LocalAddr()
	}
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: a.Port}
}

// sameAddr reports whether a and b name the same endpoint: equal IPs (an
// IPv4-mapped IPv6 address equals its IPv4 form) and ports, or equal unix
// paths. The types must match too.
func sameAddr(a, b net.Addr) bool {
	unmap := func(ap netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) }
	switch a := a.(type) {
	case *net.UDPAddr:
		b, ok := b.(*net.UDPAddr)
		return ok && a != nil && b != nil && unmap(a.AddrPort()) == unmap(b.AddrPort())
	case *net.TCPAddr:
		b, ok := b.(*net.TCPAddr)
		return ok && a != nil && b != nil && unmap(a.AddrPort()) == unmap(b.AddrPort())
	case *net.UnixAddr:
		b, ok := b.(*net.UnixAddr)
		return ok && a != nil && b != nil && a.Name == b.Name
	}
	return false
}

// datagram builds a self-checking datagram of size bytes (at least 8): a
// sequence number, the CRC-32 of the rest, and random bytes.
func datagram(rng *rand.Rand, seq uint32, size int) []byte {
	b := make([]byte, size)
	for i := 8; i < size; i++ {
		b[i] = byte(rng.Uint32())
	}
	binary.BigEndian.PutUint32(b[0:], seq)
	binary.BigEndian.PutUint32(b[4:], crc32.ChecksumIEEE(b[8:]))
	return b
}

// checkDatagram reports what is wrong with b, a datagram that should be
// number seq.
func checkDatagram(b []byte, seq uint32) error {
	if len(b) < 8 {
		return fmt.Errorf("datagram of %d bytes, want at least 8", len(b))
	}
	if got := binary.BigEndian.Uint32(b); got != seq {
		return fmt.Errorf("datagram %d arrived, want %d", got, seq)
	}
	if got, want := crc32.ChecksumIEEE(b[8:]), binary.BigEndian.Uint32(b[4:]); got != want {
		return fmt.Errorf("datagram %d (%d bytes): CRC-32 %#x, want %#x", seq, len(b), got, want)
	}
	return nil
}

// testPacketBasicIO checks that datagrams of many sizes cross intact both
// ways, and that ReadFrom names the sender: the reply goes to the address
// ReadFrom returned.
func testPacketBasicIO(t *testing.T, c1, c2 net.PacketConn) {
	rng := rand.New(rand.NewPCG(1, 2))
	size := func(i int) int {
		if i%25 == 0 {
			return 60000 // near UDP's limit
		}
		return 8 + rng.IntN(8192)
	}
	c1.SetReadDeadline(time.Now().Add(10 * time.Second))
	c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64<<10)
	// exchange sends a datagram from src to dst at to and checks what dst
	// receives; it returns the sender's address as dst saw it.
	exchange := func(src, dst net.PacketConn, to net.Addr, seq uint32) net.Addr {
		t.Helper()
		msg := datagram(rng, seq, size(int(seq)))
		if n, err := src.WriteTo(msg, to); err != nil || n != len(msg) {
			t.Fatalf("WriteTo(%d bytes, %v) = %d, %v", len(msg), to, n, err)
		}
		n, from, err := dst.ReadFrom(buf)
		if err != nil {
			t.Fatalf("ReadFrom datagram %d: %v", seq, err)
		}
		if err := checkDatagram(buf[:n], seq); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:n], msg) {
			t.Fatalf("datagram %d: got %d bytes, sent %d", seq, n, len(msg))
		}
		if !sameAddr(from, packetDest(src)) {
			t.Fatalf("ReadFrom datagram %d: sender %#v, want %v", seq, from, packetDest(src))
		}
		return from
	}
	for i := range 100 {
		from := exchange(c1, c2, packetDest(c2), uint32(2*i))
		exchange(c2, c1, from, uint32(2*i+1))
	}
}

// testPacketZeroLength checks that an empty datagram arrives as a ReadFrom
// of zero bytes that names its sender, and is not skipped.
func testPacketZeroLength(t *testing.T, c1, c2 net.PacketConn) {
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c1.WriteTo(nil, packetDest(c2)); err != nil {
		t.Fatalf("WriteTo(empty): %v", err)
	}
	if _, err := c1.WriteTo([]byte("next"), packetDest(c2)); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	buf := make([]byte, 16)
	n, from, err := c2.ReadFrom(buf)
	if n != 0 || err != nil || !sameAddr(from, packetDest(c1)) {
		t.Fatalf("ReadFrom = %d, %v, %v; want 0, %v, nil", n, from, err, packetDest(c1))
	}
	n, _, err = c2.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "next" {
		t.Fatalf("second ReadFrom = %q, %v; want \"next\"", buf[:n], err)
	}
}

// checkTimeout checks that err is a read timeout in net's shape.
func checkTimeout(t *testing.T, c net.PacketConn, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("ReadFrom succeeded, want a timeout")
	}
	checkOpError(t, err, "read", os.ErrDeadlineExceeded)
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Errorf("ReadFrom error %v: not a net.Error with Timeout() true", err)
	}
	if oe, ok := err.(*net.OpError); ok && !sameAddr(oe.Source, c.LocalAddr()) && oe.Source != c.LocalAddr() {
		t.Errorf("OpError.Source = %v, want LocalAddr %v", oe.Source, c.LocalAddr())
	}
}

// testPacketPastTimeout checks that a deadline in the past fails ReadFrom at
// once, even with a datagram waiting, and that the datagram is still there
// once the deadline is cleared.
func testPacketPastTimeout(t *testing.T, c1, c2 net.PacketConn) {
	if _, err := c1.WriteTo([]byte("queued"), packetDest(c2)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // let it land in c2's queue
	c2.SetReadDeadline(time.Now().Add(-time.Hour))
	buf := make([]byte, 64)
	for range 3 {
		n, from, err := c2.ReadFrom(buf)
		checkTimeout(t, c2, err)
		if n != 0 || from != nil {
			t.Errorf("timed-out ReadFrom = %d, %v; want 0, nil", n, from)
		}
	}
	c2.SetReadDeadline(time.Time{})
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := c2.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "queued" {
		t.Fatalf("ReadFrom after clearing the deadline = %q, %v; want \"queued\"", buf[:n], err)
	}
}

// testPacketPresentTimeout checks that a deadline of now fails ReadFrom at
// once.
func testPacketPresentTimeout(t *testing.T, c1, c2 net.PacketConn) {
	buf := make([]byte, 64)
	for range 3 {
		c1.SetReadDeadline(time.Now())
		start := time.Now()
		n, from, err := c1.ReadFrom(buf)
		checkTimeout(t, c1, err)
		if n != 0 || from != nil {
			t.Errorf("timed-out ReadFrom = %d, %v; want 0, nil", n, from)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("ReadFrom with a present deadline took %v", d)
		}
	}
}

// testPacketFutureTimeout checks that ReadFrom waits until its deadline,
// not less, and that a datagram arriving before the deadline is read.
func testPacketFutureTimeout(t *testing.T, c1, c2 net.PacketConn) {
	const d = 100 * time.Millisecond
	buf := make([]byte, 64)
	start := time.Now()
	c1.SetReadDeadline(start.Add(d))
	_, _, err := c1.ReadFrom(buf)
	elapsed := time.Since(start)
	checkTimeout(t, c1, err)
	if elapsed < d {
		t.Errorf("ReadFrom timed out after %v, before its deadline of %v", elapsed, d)
	}
	if elapsed > d+3*time.Second {
		t.Errorf("ReadFrom timed out after %v, deadline was %v", elapsed, d)
	}

	c1.SetReadDeadline(time.Now().Add(5 * time.Second))
	go func() {
		time.Sleep(20 * time.Millisecond)
		c2.WriteTo([]byte("in time"), packetDest(c1))
	}()
	n, _, err := c1.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "in time" {
		t.Fatalf("ReadFrom before the deadline = %q, %v; want \"in time\"", buf[:n], err)
	}
}

type readResult struct {
	n    int
	from net.Addr
	err  error
	at   time.Time
}

// pendingReadFrom starts a ReadFrom on c and returns where its result
// arrives.
func pendingReadFrom(c net.PacketConn, buf []byte) <-chan readResult {
	ch := make(chan readResult, 1)
	go func() {
		n, from, err := c.ReadFrom(buf)
		ch <- readResult{n, from, err, time.Now()}
	}()
	return ch
}

// testPacketDeadlineExtended checks that a pending ReadFrom sees its
// deadline pushed later: it times out at the new deadline, not the old.
func testPacketDeadlineExtended(t *testing.T, c1, c2 net.PacketConn) {
	buf := make([]byte, 64)
	for try := 0; ; try++ {
		start := time.Now()
		first, second := start.Add(200*time.Millisecond), start.Add(600*time.Millisecond)
		c1.SetReadDeadline(first)
		ch := pendingReadFrom(c1, buf)
		time.Sleep(50 * time.Millisecond)
		c1.SetReadDeadline(second)
		moved := time.Now()
		r := <-ch
		if moved.After(first) && try < 3 {
			continue // the machine stalled past the first deadline: retry
		}
		checkTimeout(t, c1, r.err)
		if r.at.Before(second) {
			t.Errorf("ReadFrom returned %v after start, before its extended deadline (%v); the first was %v",
				r.at.Sub(start), second.Sub(start), first.Sub(start))
		}
		if r.at.After(second.Add(3 * time.Second)) {
			t.Errorf("ReadFrom returned %v after start, deadline was %v", r.at.Sub(start), second.Sub(start))
		}
		return
	}
}

// testPacketDeadlineShortened checks that a pending ReadFrom sees its
// deadline brought nearer, and then moved into the past.
func testPacketDeadlineShortened(t *testing.T, c1, c2 net.PacketConn) {
	buf := make([]byte, 64)
	c1.SetReadDeadline(time.Now().Add(time.Hour))
	ch := pendingReadFrom(c1, buf)
	time.Sleep(50 * time.Millisecond)
	moved := time.Now()
	c1.SetReadDeadline(moved.Add(100 * time.Millisecond))
	select {
	case r := <-ch:
		checkTimeout(t, c1, r.err)
		if d := r.at.Sub(moved); d < 100*time.Millisecond {
			t.Errorf("ReadFrom returned %v after the move, before its new deadline", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadFrom still pending 5s after its deadline was shortened to 100ms")
	}

	c1.SetReadDeadline(time.Now().Add(time.Hour))
	ch = pendingReadFrom(c1, buf)
	time.Sleep(50 * time.Millisecond)
	c1.SetReadDeadline(time.Now().Add(-time.Second))
	select {
	case r := <-ch:
		checkTimeout(t, c1, r.err)
	case <-time.After(5 * time.Second):
		t.Fatal("ReadFrom still pending 5s after its deadline was moved into the past")
	}
}

// testPacketDeadlineCleared checks that a pending ReadFrom whose deadline is
// removed waits on, and gets the datagram sent after the old deadline.
func testPacketDeadlineCleared(t *testing.T, c1, c2 net.PacketConn) {
	buf := make([]byte, 64)
	start := time.Now()
	c1.SetReadDeadline(start.Add(time.Second))
	ch := pendingReadFrom(c1, buf)
	time.Sleep(20 * time.Millisecond)
	c1.SetReadDeadline(time.Time{})
	if time.Since(start) > 800*time.Millisecond {
		t.Skip("the machine is too loaded: the deadline may have passed before it was cleared")
	}
	time.Sleep(time.Until(start.Add(1200 * time.Millisecond))) // past the old deadline
	if _, err := c2.WriteTo([]byte("late"), packetDest(c1)); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-ch:
		if r.err != nil || string(buf[:r.n]) != "late" {
			t.Fatalf("ReadFrom = %q, %v; want \"late\" (its deadline was cleared)", buf[:r.n], r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadFrom did not return the datagram")
	}
}

// testPacketCloseUnblocksReadFrom checks that Close ends a pending ReadFrom
// promptly with net.ErrClosed, and that a second Close fails.
func testPacketCloseUnblocksReadFrom(t *testing.T, c1, c2 net.PacketConn) {
	buf := make([]byte, 64)
	ch := pendingReadFrom(c1, buf)
	time.Sleep(50 * time.Millisecond)
	closed := time.Now()
	if err := c1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case r := <-ch:
		if d := r.at.Sub(closed); d > time.Second {
			t.Errorf("ReadFrom returned %v after Close", d)
		}
		if !errors.Is(r.err, net.ErrClosed) {
			t.Fatalf("ReadFrom after Close: %v, want net.ErrClosed", r.err)
		}
		checkOpError(t, r.err, "read", net.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("ReadFrom still pending 5s after Close")
	}
	checkOpError(t, c1.Close(), "close", net.ErrClosed)
}

// testPacketConcurrentUse checks that many goroutines can ReadFrom and
// WriteTo on both conns at once: every datagram arrives once and intact.
func testPacketConcurrentUse(t *testing.T, c1, c2 net.PacketConn) {
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i, p := range [][2]net.PacketConn{{c1, c2}, {c2, c1}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := concurrentFlow(p[0], p[1], uint64(i)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// concurrentFlow sends datagrams from src to dst with several writers and
// reads them with several readers, all at once. A window bounds the
// datagrams in flight, so none is dropped for want of buffer space.
func concurrentFlow(src, dst net.PacketConn, seed uint64) error {
	const (
		writers   = 4
		readers   = 4
		perWriter = 100
		window    = 32
		total     = writers * perWriter
	)
	credit := make(chan struct{}, window)
	quit := make(chan struct{})
	var quitOnce sync.Once
	stop := func() { quitOnce.Do(func() { close(quit) }) }
	dst.SetReadDeadline(time.Now().Add(10 * time.Second))

	var mu sync.Mutex
	seen := make(map[uint32]bool)
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		stop()
		dst.SetReadDeadline(time.Now()) // wake the readers
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for i := range perWriter {
				select {
				case credit <- struct{}{}:
				case <-quit:
					return
				}
				msg := datagram(rng, uint32(w*perWriter+i), 8+rng.IntN(256))
				if _, err := src.WriteTo(msg, packetDest(dst)); err != nil {
					fail(fmt.Errorf("WriteTo: %v", err))
					return
				}
			}
		}()
	}
	var received atomic.Int32
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1024)
			for {
				n, from, err := dst.ReadFrom(buf)
				if err != nil {
					select {
					case <-quit:
						if received.Load() == total {
							return // woken by the last reader
						}
					default:
					}
					fail(fmt.Errorf("ReadFrom after %d of %d datagrams: %v", received.Load(), total, err))
					return
				}
				if n < 8 {
					fail(fmt.Errorf("ReadFrom: %d-byte datagram", n))
					return
				}
				seq := binary.BigEndian.Uint32(buf)
				if err := checkDatagram(buf[:n], seq); err != nil {
					fail(err)
					return
				}
				if !sameAddr(from, packetDest(src)) {
					fail(fmt.Errorf("ReadFrom: sender %v, want %v", from, packetDest(src)))
					return
				}
				mu.Lock()
				dup := seen[seq]
				seen[seq] = true
				mu.Unlock()
				if dup {
					fail(fmt.Errorf("datagram %d arrived twice", seq))
					return
				}
				<-credit
				if received.Add(1) == total {
					stop()
					dst.SetReadDeadline(time.Now()) // wake the other readers
					return
				}
			}
		}()
	}
	wg.Wait()
	dst.SetReadDeadline(time.Time{})
	return firstErr
}

// testPacketTruncation checks that ReadFrom into a short buffer returns the
// first len(b) bytes of an oversize datagram, writes nothing past b, drops
// the rest, and leaves the next datagram whole.
func testPacketTruncation(t *testing.T, c1, c2 net.PacketConn) {
	rng := rand.New(rand.NewPCG(3, 4))
	big := datagram(rng, 1, 1000)
	for _, msg := range [][]byte{big, []byte("next")} {
		if _, err := c1.WriteTo(msg, packetDest(c2)); err != nil {
			t.Fatal(err)
		}
	}
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	backing := bytes.Repeat([]byte{0xEE}, 200)
	n, from, err := c2.ReadFrom(backing[:100])
	if err != nil {
		t.Fatalf("ReadFrom of a 1000-byte datagram into 100 bytes: %v", err)
	}
	if n != 100 || !bytes.Equal(backing[:100], big[:100]) {
		t.Errorf("ReadFrom = %d bytes, want the datagram's first 100", n)
	}
	if !bytes.Equal(backing[100:], bytes.Repeat([]byte{0xEE}, 100)) {
		t.Errorf("ReadFrom wrote past the end of its buffer")
	}
	if !sameAddr(from, packetDest(c1)) {
		t.Errorf("ReadFrom: sender %v, want %v", from, packetDest(c1))
	}
	n, _, err = c2.ReadFrom(backing)
	if err != nil || string(backing[:n]) != "next" {
		t.Fatalf("ReadFrom after a truncated datagram = %q, %v; want \"next\"", backing[:n], err)
	}
}

// testPacketRacyRead checks, like nettest's RacyRead, that ReadFroms timing
// out on many goroutines while datagrams arrive leave their buffers to the
// caller: each goroutine scribbles on its buffer after every return, which
// the race detector checks against the engine's own accesses.
func testPacketRacyRead(t *testing.T, c1, c2 net.PacketConn) {
	done := make(chan struct{})
	var writer sync.WaitGroup
	writer.Add(1)
	go func() {
		defer writer.Done()
		rng := rand.New(rand.NewPCG(5, 6))
		for i := uint32(0); ; i++ {
			select {
			case <-done:
				return
			default:
			}
			// A unixgram send blocks while c1's queue is full, so bound it.
			c2.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
			c2.WriteTo(datagram(rng, i, 8+rng.IntN(1024-8)), packetDest(c1))
		}
	}()
	c1.SetReadDeadline(time.Now().Add(time.Millisecond))
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b1 := make([]byte, 1024)
			b2 := make([]byte, 1024)
			for range 100 {
				n, _, err := c1.ReadFrom(b1)
				if err == nil {
					if e := checkDatagram(b1[:n], binary.BigEndian.Uint32(b1)); e != nil {
						t.Error(e)
					}
				}
				copy(b1, b2) // mutate b1 to trigger a potential race
				if err != nil {
					if !isTimeout(err) {
						t.Errorf("ReadFrom: %v, want a timeout or data", err)
						return
					}
					c1.SetReadDeadline(time.Now().Add(time.Millisecond))
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	writer.Wait()
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout() && errors.Is(err, os.ErrDeadlineExceeded)
}

// testPacketTimedOutReadReleasesBuffer checks the memory property: once a
// ReadFrom has timed out, the kernel no longer writes its buffer, and the
// datagram sent next goes to the next ReadFrom, not to the abandoned one.
func testPacketTimedOutReadReleasesBuffer(t *testing.T, c1, c2 net.PacketConn) {
	for i := range 50 {
		old := make([]byte, 512)
		c2.SetReadDeadline(time.Now().Add(time.Duration(i%5) * time.Millisecond))
		if _, _, err := c2.ReadFrom(old); !isTimeout(err) {
			t.Fatalf("round %d: ReadFrom with nothing sent: %v, want a timeout", i, err)
		}
		for j := range old {
			old[j] = 0xAA
		}
		msg := bytes.Repeat([]byte{0x55}, 512)
		binary.BigEndian.PutUint32(msg, uint32(i))
		if _, err := c1.WriteTo(msg, packetDest(c2)); err != nil {
			t.Fatal(err)
		}
		c2.SetReadDeadline(time.Now().Add(2 * time.Second))
		next := make([]byte, 512)
		n, _, err := c2.ReadFrom(next)
		if err != nil || !bytes.Equal(next[:n], msg) {
			t.Fatalf("round %d: ReadFrom after a timed-out one = %d bytes, %v; want the datagram just sent (was it taken by the abandoned read?)", i, n, err)
		}
		if !bytes.Equal(old, bytes.Repeat([]byte{0xAA}, 512)) {
			t.Fatalf("round %d: the buffer of a timed-out ReadFrom changed after it returned", i)
		}
	}
}

// testPacketWriteToClosed checks that WriteTo, ReadFrom and SetDeadline on a
// closed conn fail with net.ErrClosed in net's shape.
func testPacketWriteToClosed(t *testing.T, c1, c2 net.PacketConn) {
	if err := c1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err := c1.WriteTo([]byte("x"), packetDest(c2))
	checkOpError(t, err, "write", net.ErrClosed)
	if oe, ok := err.(*net.OpError); ok && !sameAddr(oe.Addr, packetDest(c2)) {
		t.Errorf("WriteTo error: Addr = %v, want the destination %v", oe.Addr, packetDest(c2))
	}
	_, from, err := c1.ReadFrom(make([]byte, 8))
	checkOpError(t, err, "read", net.ErrClosed)
	if from != nil {
		t.Errorf("ReadFrom on a closed conn: from = %v, want nil", from)
	}
	if err := c1.SetReadDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SetReadDeadline on a closed conn: %v, want net.ErrClosed", err)
	}
}

// closedUDPPort returns an address on network with nothing listening: a
// port just bound and released.
func closedUDPPort(t *testing.T, network, host string) string {
	t.Helper()
	c, err := ListenPacket(network, net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	addr := c.LocalAddr().String()
	c.Close()
	return addr
}

// TestUDPConnectedRefused checks that the ICMP port-unreachable a connected
// UDP socket gets for a closed port comes back as ECONNREFUSED on a later
// Read, as *net.OpError around *os.SyscallError. It runs net alongside as
// the reference.
func TestUDPConnectedRefused(t *testing.T) {
	for _, tt := range []struct{ network, host string }{{"udp4", "127.0.0.1"}, {"udp6", "::1"}} {
		for _, impl := range impls {
			t.Run(tt.network+"/impl="+impl.name, func(t *testing.T) {
				if tt.network == "udp6" && !nettest.SupportsIPv6() {
					t.Skip("no IPv6")
				}
				// A released port can be taken by another process before
				// the datagram arrives (other test binaries run beside
				// this one), and then no refusal comes: try a fresh port.
				// Loopback answers within microseconds, so a second is
				// a lost race, not a slow kernel.
				var err error
				for attempt := 1; ; attempt++ {
					addr := closedUDPPort(t, tt.network, tt.host)
					c, derr := impl.dial(t.Context(), tt.network, addr)
					if derr != nil {
						t.Fatal(derr)
					}
					c.SetDeadline(time.Now().Add(time.Second))
					if _, werr := c.Write([]byte("anyone?")); werr != nil {
						c.Close()
						t.Fatalf("first Write: %v", werr)
					}
					_, err = c.Read(make([]byte, 16))
					c.Close()
					if !isTimeout(err) || attempt == 5 {
						break
					}
					t.Logf("attempt %d: no refusal from %s within 1 s (the port was taken?); another port", attempt, addr)
				}
				checkSyscallOpError(t, err, "read", "", syscall.ECONNREFUSED)
			})
		}
	}
}

// TestUDPWriteToConnected checks that WriteTo on a dialed UDP conn fails
// with net.ErrWriteToConnected, and that Read, Write and ReadFrom work and
// name the remote end.
func TestUDPWriteToConnected(t *testing.T) {
	srv, err := ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := Dial("udp4", srv.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc := c.(net.PacketConn)
	_, err = pc.WriteTo([]byte("x"), srv.LocalAddr())
	if !errors.Is(err, net.ErrWriteToConnected) {
		t.Errorf("WriteTo on a dialed conn: %v, want net.ErrWriteToConnected", err)
	}
	if oe, ok := err.(*net.OpError); !ok || oe.Op != "write" {
		t.Errorf("WriteTo on a dialed conn: %#v, want *net.OpError with Op \"write\"", err)
	}

	c.SetDeadline(time.Now().Add(5 * time.Second))
	srv.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, from, err := srv.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "ping" || !sameAddr(from, c.LocalAddr()) {
		t.Fatalf("server ReadFrom = %q, %v, %v; want \"ping\" from %v", buf[:n], from, err, c.LocalAddr())
	}
	if _, err := srv.WriteTo([]byte("pong"), from); err != nil {
		t.Fatal(err)
	}
	n, from, err = pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "pong" || !sameAddr(from, srv.LocalAddr()) {
		t.Fatalf("client ReadFrom = %q, %v, %v; want \"pong\" from %v", buf[:n], from, err, srv.LocalAddr())
	}
}

// TestUnixgramWriteToFullQueue checks that a unixgram WriteTo to a peer
// whose queue is full waits for room and then sends the whole datagram:
// every WriteTo reports its full length and every datagram arrives intact.
func TestUnixgramWriteToFullQueue(t *testing.T) {
	dir := t.TempDir()
	r, err := ListenPacket("unixgram", filepath.Join(dir, "r"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := ListenPacket("unixgram", filepath.Join(dir, "w"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	const count = 300 // far more than the peer's queue holds
	rng := rand.New(rand.NewPCG(7, 8))
	sent := make([][]byte, count)
	for i := range sent {
		sent[i] = datagram(rng, uint32(i), 1000)
	}
	werr := make(chan error, 1)
	go func() {
		w.SetWriteDeadline(time.Now().Add(10 * time.Second))
		for i, msg := range sent {
			if n, err := w.WriteTo(msg, r.LocalAddr()); err != nil || n != len(msg) {
				werr <- fmt.Errorf("WriteTo datagram %d = %d, %v; want %d, nil", i, n, err, len(msg))
				return
			}
		}
		werr <- nil
	}()
	time.Sleep(100 * time.Millisecond) // let the queue fill and WriteTo wait
	r.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2048)
	for i := range count {
		n, _, err := r.ReadFrom(buf)
		if err != nil {
			t.Fatalf("ReadFrom datagram %d: %v", i, err)
		}
		if err := checkDatagram(buf[:n], uint32(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
}

// TestUnixgramWriteToFullQueueEndsAtDeadline: with the destination's queue
// full and nobody reading, WriteTo from an unbound-peer unixgram socket
// ends at its deadline. On uring, POLLOUT there speaks of the sender's own
// buffer only, so the send loop once retried forever (found as a rare hang
// of the RacyRead test).
func TestUnixgramWriteToFullQueueEndsAtDeadline(t *testing.T) {
	dir := t.TempDir()
	r, err := ListenPacket("unixgram", dir+"/r")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := ListenPacket("unixgram", dir+"/w")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	start := time.Now()
	w.SetWriteDeadline(start.Add(200 * time.Millisecond))
	sent := 0
	for {
		_, err := w.WriteTo(make([]byte, 100), r.LocalAddr())
		if err != nil {
			if !isTimeout(err) {
				t.Fatalf("WriteTo after %d datagrams: %v, want a timeout", sent, err)
			}
			break
		}
		sent++
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%d datagrams sent in 10s and the queue is still not full", sent)
		}
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("WriteTo to a full queue ended %v after a 200ms deadline", took)
	}
	t.Logf("%d datagrams queued, then WriteTo timed out after %v", sent, time.Since(start).Round(time.Millisecond))
}

// TestUDPWriteToNoAddrPort checks that WriteToUDPAddrPort with the zero
// netip.AddrPort fails as net's does, with "missing address", open or
// closed, rather than sending to the unspecified address, whose EINVAL
// (or, closed, net.ErrClosed) net does not give. (Found in review.)
func TestUDPWriteToNoAddrPort(t *testing.T) {
	for _, network := range []string{"udp4", "udp6"} {
		if network == "udp6" && !nettest.SupportsIPv6() {
			continue
		}
		addr := "127.0.0.1:0"
		if network == "udp6" {
			addr = "[::1]:0"
		}
		ua, err := net.ResolveUDPAddr(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		ours, err := ListenUDP(network, ua)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := net.ListenUDP(network, ua)
		if err != nil {
			t.Fatal(err)
		}
		for _, closed := range []bool{false, true} {
			if closed {
				ours.Close()
				theirs.Close()
			}
			_, got := ours.WriteToUDPAddrPort([]byte("x"), netip.AddrPort{})
			_, want := theirs.WriteToUDPAddrPort([]byte("x"), netip.AddrPort{})
			goe, ok := got.(*net.OpError)
			woe := want.(*net.OpError)
			if !ok || goe.Op != woe.Op || goe.Err.Error() != woe.Err.Error() {
				t.Errorf("%s, closed %v: WriteToUDPAddrPort of no address: %v; net says %v", network, closed, got, want)
			}
		}
	}
}
