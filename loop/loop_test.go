//go:build linux

package loop

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Config{Name: "loop tests"})
}

// echo is the handler most tests use.
var echo = Handlers{Data: func(c *Conn, data []byte) { c.Write(data) }}

// serve starts a Server and stops it at the end of the test.
func serve(t *testing.T, h Handler, cfg *Config) *Server {
	t.Helper()
	s, err := Listen("tcp4", "127.0.0.1:0", h, cfg)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	run(t, s)
	return s
}

// run checks that server s is on the backend KSOCKET_BACKEND asks for,
// serves it, and closes it at the end of the test.
func run(t *testing.T, s interface {
	Serve() error
	Close() error
	Backend() string
}) {
	t.Helper()
	if want := os.Getenv("KSOCKET_BACKEND"); (want == "uring" || want == "epoll") && s.Backend() != want {
		t.Fatalf("backend %s, want %s", s.Backend(), want)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve() }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		// Serve may start after Close, and return ErrServerClosed.
		if err := <-errc; err != nil && !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
}

func TestEchoManyConnections(t *testing.T) {
	s := serve(t, echo, &Config{Loops: 2})
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", s.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for j := range 50 {
				msg := fmt.Appendf(nil, "conn %d message %d", i, j)
				if _, err := c.Write(msg); err != nil {
					t.Error(err)
					return
				}
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
					t.Errorf("conn %d: echo %q, %v; want %q", i, got, err, msg)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestLargeTransferCountsEveryByte streams more than the socket buffers
// hold, through few receive buffers, so short sends and -ENOBUFS both
// happen; every byte must come back in order.
func TestLargeTransferCountsEveryByte(t *testing.T) {
	s := serve(t, echo, &Config{Loops: 1, Buffers: 8, BufferSize: 1024})
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := make([]byte, 8<<20)
	rand.Read(data)
	go func() {
		c.Write(data)
		c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes back, want %d, equal=%v", len(got), len(data), bytes.Equal(got, data))
	}
}

func TestHandlersSeeOpenDataClose(t *testing.T) {
	var opens, closes atomic.Int32
	closed := make(chan error, 1)
	h := Handlers{
		Open: func(c *Conn) {
			opens.Add(1)
			if c.RemoteAddr() == nil {
				t.Error("RemoteAddr is nil in OnOpen")
			}
			c.SetContext("ctx")
		},
		Data: func(c *Conn, data []byte) {
			if c.Context() != "ctx" {
				t.Errorf("Context = %v", c.Context())
			}
			if string(data) == "bye" {
				c.Write([]byte("closing"))
				c.Close()
			}
		},
		Close: func(c *Conn, err error) { closes.Add(1); closed <- err },
	}
	s := serve(t, h, &Config{Loops: 1})
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("bye"))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "closing" {
		t.Fatalf("read %q, %v; want the last write, then EOF", got, err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("OnClose err = %v after Close; want nil", err)
	}
	if opens.Load() != 1 || closes.Load() != 1 {
		t.Fatalf("opens %d closes %d; want 1 and 1", opens.Load(), closes.Load())
	}
}

// TestOnCloseWritesToAnotherConn: a handler's OnClose, which runs while
// the loop flushes (a Close that has drained), writes to another
// connection, as a chat server tells the others who left. That write
// must go out.
func TestOnCloseWritesToAnotherConn(t *testing.T) {
	var other *Conn
	h := Handlers{
		Data: func(c *Conn, data []byte) {
			switch string(data) {
			case "stay":
				other = c
				c.Write([]byte("ok"))
			case "bye":
				c.Close()
			}
		},
		Close: func(c *Conn, err error) {
			if other != nil && c != other {
				other.Write([]byte("left"))
			}
		},
	}
	s := serve(t, h, &Config{Loops: 1})
	stay, err := net.Dial("tcp4", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stay.Close()
	stay.Write([]byte("stay"))
	buf := make([]byte, 16)
	stay.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := io.ReadFull(stay, buf[:2]); err != nil || string(buf[:n]) != "ok" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	leave, err := net.Dial("tcp4", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer leave.Close()
	leave.Write([]byte("bye"))
	stay.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := io.ReadFull(stay, buf[:4]); err != nil || string(buf[:n]) != "left" {
		t.Fatalf("read %q, %v: a write made in OnClose, during a flush, was lost", buf[:n], err)
	}
}

// TestDoFromAnotherGoroutine hands work off the loop and writes the result
// back with Do.
func TestDoFromAnotherGoroutine(t *testing.T) {
	h := Handlers{Data: func(c *Conn, data []byte) {
		in := string(data)
		go func() {
			time.Sleep(5 * time.Millisecond) // blocking work, off the loop
			c.Do(func(c *Conn) { c.Write([]byte("done: " + in)) })
		}()
	}}
	s := serve(t, h, &Config{Loops: 1})
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("job"))
	buf := make([]byte, 64)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "done: job" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
}

func TestPeerCloseGivesOnCloseNil(t *testing.T) {
	closed := make(chan error, 1)
	s := serve(t, Handlers{Close: func(c *Conn, err error) { closed <- err }}, &Config{Loops: 1})
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("OnClose err = %v; want nil for an orderly close", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no OnClose 5s after the peer closed")
	}
}

func TestServerCloseEndsConnections(t *testing.T) {
	s, err := Listen("tcp4", "127.0.0.1:0", Handlers{}, &Config{Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var errs []error
	var opens atomic.Int64
	s.h = Handlers{
		Open:  func(c *Conn) { opens.Add(1) },
		Close: func(c *Conn, err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() },
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve() }()
	var conns []net.Conn
	for range 10 {
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// Every connection on a loop before Close: one still in the backlog
	// would be reset, with no OnClose. A fixed sleep is too short on a
	// slow machine.
	for wait := time.Now(); opens.Load() < 10; time.Sleep(5 * time.Millisecond) {
		if time.Since(wait) > 10*time.Second {
			t.Fatalf("%d of 10 connections opened on the loops after 10s", opens.Load())
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Serve after Close = %v", err)
	}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Errorf("client read after server Close = %v; want EOF", err)
		}
		c.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 10 {
		t.Fatalf("%d OnClose calls; want 10", len(errs))
	}
	for _, err := range errs {
		if !errors.Is(err, ErrServerClosed) {
			t.Fatalf("OnClose err = %v; want ErrServerClosed", err)
		}
	}
	if err := s.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close = %v; want net.ErrClosed", err)
	}
}

func TestListenErrors(t *testing.T) {
	for _, tc := range []struct{ network, addr string }{
		{"udp", "127.0.0.1:0"},
		{"tcp", "localhost:0"}, // numeric hosts only
		{"tcp", "127.0.0.1:70000"},
		{"tcp", "nonsense"},
		{"tcp6", "127.0.0.1:0"},
	} {
		if s, err := Listen(tc.network, tc.addr, echo, nil); err == nil {
			s.Close()
			t.Errorf("Listen(%q, %q) succeeded", tc.network, tc.addr)
		}
	}
	if _, err := Listen("tcp", "127.0.0.1:0", echo, &Config{Buffers: 1000}); err == nil {
		t.Error("Buffers 1000 (not a power of two) accepted")
	}
}
