//go:build linux

package engine

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var ctx0 = context.Background()

func testEngine(t testing.TB) *Engine {
	t.Helper()
	e, err := Default()
	if err != nil {
		t.Fatalf("engine: %v", err)
	}
	return e
}

// listenTCP returns a listening socket on 127.0.0.1:0 and its address.
func listenTCP(t testing.TB, e *Engine) (*Socket, *unix.SockaddrInet4) {
	t.Helper()
	ln, err := e.Socket(unix.AF_INET, unix.SOCK_STREAM, 0, CatListen)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	if err := ln.Bind(&unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := ln.Listen(128); err != nil {
		t.Fatal(err)
	}
	var sa unix.Sockaddr
	if err := ln.Control(func(fd int) (err error) { sa, err = unix.Getsockname(fd); return }); err != nil {
		t.Fatal(err)
	}
	return ln, sa.(*unix.SockaddrInet4)
}

// acceptTCP accepts one connection on ln, closed when the test ends.
func acceptTCP(t testing.TB, ln *Socket) *Socket {
	t.Helper()
	s, _, err := ln.Accept(ctx0, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func dialTCP(t testing.TB, e *Engine, sa unix.Sockaddr) *Socket {
	t.Helper()
	c, err := e.Socket(unix.AF_INET, unix.SOCK_STREAM, 0, CatConnection)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Connect(ctx0, sa, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.SetsockoptInt(unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEchoRoundTrip(t *testing.T) {
	e := testEngine(t)
	ln, sa := listenTCP(t, e)
	done := make(chan error, 1)
	go func() {
		c, _, err := ln.Accept(ctx0, 0)
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		c.SetsockoptInt(unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		buf := make([]byte, 4096)
		for {
			n, _, _, err := c.Recv(ctx0, buf, 0, false, 0)
			if err != nil || n == 0 {
				done <- err
				return
			}
			if _, err := c.Send(ctx0, buf[:n], 0, nil, 0); err != nil {
				done <- err
				return
			}
		}
	}()
	c := dialTCP(t, e, sa)
	for i := range 200 {
		msg := bytes.Repeat([]byte{byte(i)}, 1+i*37)
		if n, err := c.Send(ctx0, msg, 0, nil, 0); err != nil || n != len(msg) {
			t.Fatalf("Send = %d, %v", n, err)
		}
		got := make([]byte, 0, len(msg))
		buf := make([]byte, 8192)
		for len(got) < len(msg) {
			n, _, _, err := c.Recv(ctx0, buf, 0, false, 0)
			if err != nil || n == 0 {
				t.Fatalf("Recv = %d, %v", n, err)
			}
			got = append(got, buf[:n]...)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("round %d: echo differs", i)
		}
	}
	c.Shutdown(unix.SHUT_WR)
	if err := <-done; err != nil {
		t.Fatalf("server: %v", err)
	}
}

func TestCloseUnblocksRecv(t *testing.T) {
	e := testEngine(t)
	_, sa := listenTCP(t, e)
	c := dialTCP(t, e, sa)
	errc := make(chan error, 1)
	go func() {
		_, _, _, err := c.Recv(ctx0, make([]byte, 10), 0, false, 0)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Recv after Close = %v; want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Recv still blocked 5s after Close")
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close = %v; want net.ErrClosed", err)
	}
}

func TestDeadlineAndTimeoutAndContext(t *testing.T) {
	e := testEngine(t)
	_, sa := listenTCP(t, e)
	c := dialTCP(t, e, sa)
	buf := make([]byte, 64)

	_, _, _, err := c.Recv(ctx0, buf, 0, false, 30*time.Millisecond)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Recv with timeout = %v; want ErrDeadlineExceeded", err)
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	_, _, _, err = c.Recv(ctx0, buf, 0, false, 0)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Recv past deadline = %v; want ErrDeadlineExceeded", err)
	}
	c.SetReadDeadline(time.Time{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(30 * time.Millisecond); cancel() }()
	_, _, _, err = c.Recv(ctx, buf, 0, false, 0)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Recv with cancelled ctx = %v; want context.Canceled", err)
	}
}

// TestCancelledRecvBufferUntouched checks that a Recv cut short by a timeout
// returns only after the kernel let go of the buffer: data sent afterwards
// must never land in it.
func TestCancelledRecvBufferUntouched(t *testing.T) {
	e := testEngine(t)
	ln, sa := listenTCP(t, e)
	c := dialTCP(t, e, sa)
	peer, _, err := ln.Accept(ctx0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	var wg sync.WaitGroup
	for i := range 50 {
		buf := bytes.Repeat([]byte{0xAA}, 256)
		n, _, _, err := c.Recv(ctx0, buf, 0, false, time.Millisecond)
		if err == nil {
			// Data from an earlier round may still be queued: that is fine.
			_ = n
			continue
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("round %d: Recv = %v", i, err)
		}
		if _, err := peer.Send(ctx0, bytes.Repeat([]byte{0x55}, 256), 0, nil, 0); err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
		for j, v := range buf {
			if v != 0xAA {
				t.Fatalf("round %d: buf[%d] = %#x after the Recv returned; the kernel wrote a buffer it no longer owned", i, j, v)
			}
		}
		// Drain what was sent.
		drain := make([]byte, 256)
		for got := 0; got < 256; {
			n, _, _, err := c.Recv(ctx0, drain, 0, false, 0)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	}
	wg.Wait()
}

// TestCancelledContextLeavesNoKick: a call whose context is already done
// ends at once, and the socket's next call must not inherit its
// cancellation. (On epoll a late context kick once forced the read deadline
// into the past after its call had returned, failing the next Recv.)
func TestCancelledContextLeavesNoKick(t *testing.T) {
	e := testEngine(t)
	ln, sa := listenTCP(t, e)
	c := dialTCP(t, e, sa)
	a, _, err := ln.Accept(ctx0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	done, cancel := context.WithCancel(ctx0)
	cancel()
	buf := make([]byte, 1)
	for i := range 2000 {
		if _, _, _, err := c.Recv(done, buf, 0, false, 0); !errors.Is(err, context.Canceled) {
			t.Fatalf("round %d: Recv under a cancelled context = %v", i, err)
		}
		if _, err := a.Send(ctx0, []byte{byte(i)}, 0, nil, 0); err != nil {
			t.Fatal(err)
		}
		if n, _, _, err := c.Recv(ctx0, buf, 0, false, 0); n != 1 || err != nil || buf[0] != byte(i) {
			t.Fatalf("round %d: Recv after the cancelled one = %d, %v", i, n, err)
		}
	}
}
