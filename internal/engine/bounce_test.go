//go:build linux && !android

package engine

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The room a plain op's data has in its slot, and a send's to an address
// (ioBuf): copied through the slot at and below it, pinned above.
const (
	plainRoom = int(unsafe.Sizeof(kslot{}) - plainArea)
	toRoom    = int(unsafe.Sizeof(kslot{}) - toArea)
)

// bounceSizes are slice lengths on both sides of each room.
var bounceSizes = []int{1, 7, 64, toRoom - 1, toRoom, toRoom + 1, plainRoom - 1, plainRoom, plainRoom + 1, 300, 4096}

// canaried returns a slice of n bytes whose array runs on past it with
// canary bytes, and a check that the bytes past it are untouched.
func canaried(t *testing.T, n int) ([]byte, func(what string)) {
	buf := bytes.Repeat([]byte{0xA5}, n+64)
	return buf[:n], func(what string) {
		t.Helper()
		for i, b := range buf[n:] {
			if b != 0xA5 {
				t.Fatalf("%s: byte %d past the %d-byte slice was written (%#x)", what, i, n, b)
			}
		}
	}
}

// TestBounceDatagramsAsTheKernel: a datagram received with Recv (a plain
// RECV, into a slice short enough to go through the slot or long enough
// to be pinned) or with RecvFrom (RECVMSG, pinned) gives what recvfrom(2)
// on a raw socket gives for the same datagram, slice and flags (MSG_TRUNC's
// full length among them), and writes nothing past the count it returns
// or past the slice.
func TestBounceDatagramsAsTheKernel(t *testing.T) {
	e := testEngine(t)
	var fds [3]int // 0: the raw receiver, 1: the engine's, 2: the sender
	var addrs [2]unix.Sockaddr
	for i := range fds {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		if err := unix.Bind(fd, loopbackOf(unix.AF_INET)); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			if addrs[i], err = unix.Getsockname(fd); err != nil {
				t.Fatal(err)
			}
			tv := unix.Timeval{Sec: 5}
			if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
				t.Fatal(err)
			}
		}
		fds[i] = fd
	}
	s, err := e.Adopt(fds[1])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, size := range []int{0, 1, 200, 256, 257, 1000} {
		msg := make([]byte, size)
		for i := range msg {
			msg[i] = byte(i*7 + size)
		}
		for _, room := range bounceSizes {
			for i, flags := range []int{0, unix.MSG_TRUNC, unix.MSG_PEEK, 0, unix.MSG_TRUNC, unix.MSG_PEEK} {
				from := i >= 3
				name := fmt.Sprintf("datagram %d, room %d, flags %#x, sender asked %v", size, room, flags, from)
				for _, to := range addrs {
					if err := unix.Sendto(fds[2], msg, 0, to); err != nil {
						t.Fatal(err)
					}
				}
				want, wantCheck := canaried(t, room)
				wn, _, werr := unix.Recvfrom(fds[0], want, flags)
				wantCheck(name + ", kernel")
				got, gotCheck := canaried(t, room)
				gn, _, _, gerr := s.Recv(ctx0, got, flags, from, 5*time.Second)
				gotCheck(name + ", engine")
				if gn != wn || gerr != werr || !bytes.Equal(got, want) {
					t.Fatalf("%s: engine %d, %v, % x; kernel %d, %v, % x", name, gn, gerr, got[:min(room, 16)], wn, werr, want[:min(room, 16)])
				}
				if flags&unix.MSG_PEEK != 0 {
					drain := make([]byte, 2000)
					if _, _, err := unix.Recvfrom(fds[0], drain, 0); err != nil {
						t.Fatal(err)
					}
					if _, _, err := s.RecvFrom(ctx0, drain, 0, 5*time.Second); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
}

// TestBounceSendToAsSent: datagrams sent with SendTo to an address (the
// destination in the slot's sa, the data after it, or pinned) and with
// Send on a connected socket (the data over the whole slot, or pinned)
// arrive as sent, at every size on both sides of each room.
func TestBounceSendToAsSent(t *testing.T) {
	e := testEngine(t)
	rfd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rfd)
	if err := unix.Bind(rfd, loopbackOf(unix.AF_INET)); err != nil {
		t.Fatal(err)
	}
	to, err := unix.Getsockname(rfd)
	if err != nil {
		t.Fatal(err)
	}
	tv := unix.Timeval{Sec: 5}
	if err := unix.SetsockoptTimeval(rfd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	s, err := e.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0, CatDatagram)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := e.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0, CatDatagram)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Connect(ctx0, to, 0); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 5000)
	for _, size := range bounceSizes {
		for _, c := range []struct {
			name string
			send func([]byte) (int, error)
		}{
			{"SendTo", func(b []byte) (int, error) { return s.Send(ctx0, b, 0, to, 0) }},
			{"Send, connected", func(b []byte) (int, error) { return conn.Send(ctx0, b, 0, nil, 0) }},
		} {
			msg := make([]byte, size)
			for i := range msg {
				msg[i] = byte(i*11 + size)
			}
			if n, err := c.send(msg); n != size || err != nil {
				t.Fatalf("%s of %d bytes = %d, %v", c.name, size, n, err)
			}
			n, _, err := unix.Recvfrom(rfd, got, 0)
			if err != nil || !bytes.Equal(got[:n], msg) {
				t.Fatalf("%s of %d bytes: received %d bytes, %v, that differ", c.name, size, n, err)
			}
		}
	}
}

// TestBounceStream: on TCP, Send, Write, Recv and Read with slices on both
// sides of the bounce area's size carry every byte in order, and a
// receive writes nothing past its count: the slot's area is reused by the
// next op, and what an earlier, longer receive left there must not show.
func TestBounceStream(t *testing.T) {
	c, p := connectedPair(t)
	defer c.Close()
	var sent, got bytes.Buffer
	seq := byte(0)
	next := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seq
			seq = seq*13 + 1
		}
		sent.Write(b)
		return b
	}
	for i, n := range append(bounceSizes, bounceSizes...) {
		var err error
		if i%2 == 0 {
			_, err = c.Send(ctx0, next(n), 0, nil, 0)
		} else {
			_, err = c.Write(next(n))
		}
		if err != nil {
			t.Fatal(err)
		}
		// Receive the n bytes in pieces of every size, each into a
		// canaried slice: a piece may come back short.
		for want := n; want > 0; {
			room := bounceSizes[(i+want)%len(bounceSizes)]
			b, check := canaried(t, room)
			copy(b, bytes.Repeat([]byte{0x5A}, room))
			var k int
			if want%2 == 0 {
				k, _, _, err = p.Recv(ctx0, b, 0, false, 5*time.Second)
			} else {
				k, err = p.Read(b)
			}
			if err != nil {
				t.Fatal(err)
			}
			if k == 0 {
				t.Fatal(io.ErrUnexpectedEOF)
			}
			check(fmt.Sprintf("a receive of %d into %d", k, room))
			for j, v := range b[k:] {
				if v != 0x5A {
					t.Fatalf("a receive of %d bytes into %d wrote byte %d past its count (%#x)", k, room, k+j, v)
				}
			}
			got.Write(b[:k])
			want -= min(k, want)
		}
	}
	if !bytes.Equal(got.Bytes(), sent.Bytes()) {
		t.Fatalf("received %d bytes that differ from the %d sent", got.Len(), sent.Len())
	}
}

// TestBounceStreamTruncWritesNothing: on TCP, MSG_TRUNC makes the kernel
// discard the bytes it counts, leaving the caller's buffer untouched
// (tcp_recvmsg_locked copies nothing with MSG_TRUNC). A receive of at most
// bounceMax bytes through the slot's bounce area must not then copy the
// area's stale contents, another op's data, into the buffer.
func TestBounceStreamTruncWritesNothing(t *testing.T) {
	c, p := connectedPair(t)
	defer c.Close()

	const n = 64
	// The kernel's own answer, on the same stream, as reference.
	if _, err := c.Write(bytes.Repeat([]byte{'k'}, n)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	ref := bytes.Repeat([]byte{0x5A}, n)
	var kn int
	var kerr error
	p.Control(func(fd int) error { kn, _, kerr = unix.Recvfrom(fd, ref, unix.MSG_TRUNC); return nil })
	if kerr != nil || kn != n || !bytes.Equal(ref, bytes.Repeat([]byte{0x5A}, n)) {
		t.Fatalf("kernel: recv(MSG_TRUNC) = %d, %v, buffer % x", kn, kerr, ref[:8])
	}

	for round := range 20 {
		// A receive that leaves a "secret" in the slot's bounce area.
		if _, err := c.Write(bytes.Repeat([]byte{'S'}, n)); err != nil {
			t.Fatal(err)
		}
		secret := make([]byte, n)
		if k, _, _, err := p.Recv(ctx0, secret, 0, false, 5*time.Second); err != nil || k != n {
			t.Fatalf("round %d: Recv = %d, %v", round, k, err)
		}
		if _, err := c.Write(bytes.Repeat([]byte{'x'}, n)); err != nil {
			t.Fatal(err)
		}
		buf := bytes.Repeat([]byte{0x5A}, n)
		k, _, _, err := p.Recv(ctx0, buf, unix.MSG_TRUNC, false, 5*time.Second)
		if err != nil || k != n {
			t.Fatalf("round %d: Recv(MSG_TRUNC) = %d, %v", round, k, err)
		}
		if !bytes.Equal(buf, bytes.Repeat([]byte{0x5A}, n)) {
			t.Fatalf("round %d: Recv(MSG_TRUNC) on TCP wrote into the buffer, which the kernel leaves alone: % x", round, buf[:16])
		}
	}
}
