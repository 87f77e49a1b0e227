//go:build linux

package gonet

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/internal/engine"
	"golang.org/x/sys/unix"
)

// blackhole listens on sa with a full accept queue, so that the kernel
// drops every further SYN and a connect to it hangs until its deadline,
// as to a host that does not answer. It returns the port.
func blackhole(t *testing.T, sa unix.Sockaddr) int {
	t.Helper()
	family := unix.AF_INET
	if _, ok := sa.(*unix.SockaddrInet6); ok {
		family = unix.AF_INET6
	}
	l, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(l) })
	if family == unix.AF_INET6 {
		unix.SetsockoptInt(l, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
	}
	if err := unix.Bind(l, sa); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(l, 0); err != nil {
		t.Fatal(err)
	}
	bound, err := unix.Getsockname(l)
	if err != nil {
		t.Fatal(err)
	}
	// Backlog 0 holds one connection; fill it and leave it unaccepted.
	c, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(c) })
	if err := unix.Connect(c, bound); err != nil {
		t.Fatal(err)
	}
	switch b := bound.(type) {
	case *unix.SockaddrInet4:
		return b.Port
	case *unix.SockaddrInet6:
		return b.Port
	}
	return 0
}

// acceptAndClose accepts connections and closes them until ln is closed.
func acceptAndClose(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// loopbackOf returns the loopback address of family as a sockaddr with
// port.
func loopbackOf(family, port int) unix.Sockaddr {
	if family == unix.AF_INET6 {
		return &unix.SockaddrInet6{Addr: [16]byte{15: 1}, Port: port}
	}
	return &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port}
}

// waitSlots waits up to 2 s for the engine's op slots in use to fall back
// to slots: a losing connect is cancelled on the ring, not left to time
// out.
func waitSlots(t *testing.T, e *engine.Engine, slots int) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if now, _ := e.Slots(); now <= slots {
			return
		}
		if time.Now().After(deadline) {
			now, _ := e.Slots()
			t.Fatalf("op slots in use: %d before the dial, %d 2 s after it", slots, now)
		}
	}
}

// TestHappyEyeballs dials "localhost", which resolves to both loopback
// addresses, where the first family's address never answers: the dial
// connects through the other family once FallbackDelay has passed, and
// the hung attempt is cancelled on the ring. With FallbackDelay negative
// the addresses go one by one, and the first takes the whole timeout.
func TestHappyEyeballs(t *testing.T) {
	if !supportsDualStack() {
		t.Skip("no IPv6")
	}
	k, _ := parseNetwork("tcp")
	targets, err := resolve(context.Background(), k, "tcp", "localhost:1", false)
	if err != nil || len(targets) < 2 || targets[0].family == targets[len(targets)-1].family {
		t.Skipf("localhost resolves to %v, %v: not both families", targets, err)
	}
	first, second := targets[0].family, targets[len(targets)-1].family
	port := blackhole(t, loopbackOf(first, 0))
	ln, err := Listen(map[int]string{unix.AF_INET: "tcp4", unix.AF_INET6: "tcp6"}[second], net.JoinHostPort(map[int]string{unix.AF_INET: "127.0.0.1", unix.AF_INET6: "::1"}[second], strconv.Itoa(port)))
	if err != nil {
		t.Skipf("the other family's port is taken: %v", err)
	}
	defer ln.Close()
	go acceptAndClose(ln)
	// A first connection arms the listener's accept, which holds a slot
	// for as long as it listens.
	if c, err := Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
	}
	time.Sleep(10 * time.Millisecond)
	e, _ := engine.Default()
	slots, _ := e.Slots()

	address := net.JoinHostPort("localhost", strconv.Itoa(port))
	start := time.Now()
	d := Dialer{Timeout: 10 * time.Second, FallbackDelay: 100 * time.Millisecond}
	c, err := d.Dial("tcp", address)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("Dial %s with Happy Eyeballs: %v", address, err)
	}
	raddr := c.RemoteAddr().(*net.TCPAddr)
	c.Close()
	if (raddr.IP.To4() != nil) != (second == unix.AF_INET) {
		t.Errorf("connected to %v, want the second family", raddr)
	}
	if took < 100*time.Millisecond || took > 5*time.Second {
		t.Errorf("the dial took %v; the fallback was due after 100ms", took)
	}
	// The losing connect is cancelled on the ring, not left to time out.
	waitSlots(t, e, slots)

	// One by one: the first address takes the whole timeout.
	d = Dialer{Timeout: 300 * time.Millisecond, FallbackDelay: -1}
	_, err = d.Dial("tcp", address)
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Errorf("a serial dial whose first address hangs: %v, want a timeout", err)
	}
}

// TestPartialDeadline checks the share of time each attempt gets, as
// net's: the time left split evenly, at least 2 s where there is that
// much.
func TestPartialDeadline(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		left time.Duration
		n    int
		want time.Duration
	}{
		{10 * time.Second, 2, 5 * time.Second},
		{10 * time.Second, 10, 2 * time.Second},
		{time.Second, 3, time.Second},
		{3 * time.Second, 3, 2 * time.Second},
		{time.Minute, 1, time.Minute},
	} {
		got, err := partialDeadline(now, now.Add(tc.left), tc.n)
		if err != nil || got.Sub(now) != tc.want {
			t.Errorf("%v left for %d: %v, %v; want %v", tc.left, tc.n, got.Sub(now), err, tc.want)
		}
	}
	if _, err := partialDeadline(now, now, 1); err == nil {
		t.Error("no time left, yet a deadline")
	}
}

// TestDialerFields checks ControlContext (preferred over Control), the
// deprecated Cancel channel, and Resolver.
func TestDialerFields(t *testing.T) {
	ln, err := Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go acceptAndClose(ln)
	type key struct{}
	var sawCtx, sawControl atomic.Bool
	d := Dialer{
		ControlContext: func(ctx context.Context, network, address string, c syscall.RawConn) error {
			sawCtx.Store(ctx.Value(key{}) == "here" && network == "tcp4" && address == ln.Addr().String())
			return nil
		},
		Control: func(string, string, syscall.RawConn) error { sawControl.Store(true); return nil },
	}
	c, err := d.DialContext(context.WithValue(context.Background(), key{}, "here"), "tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if !sawCtx.Load() || sawControl.Load() {
		t.Errorf("ControlContext saw the dial's context: %v; Control called too: %v", sawCtx.Load(), sawControl.Load())
	}

	// Cancel ends a dial that would otherwise hang.
	port := blackhole(t, loopbackOf(unix.AF_INET, 0))
	cancel := make(chan struct{})
	time.AfterFunc(50*time.Millisecond, func() { close(cancel) })
	d = Dialer{Cancel: cancel, Timeout: 10 * time.Second}
	start := time.Now()
	_, err = d.Dial("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Errorf("a dial whose Cancel closed after 50ms: %v after %v", err, time.Since(start))
	}

	// A Resolver resolves names: this one's DNS is a dial that fails,
	// and its lookups are counted.
	var lookups atomic.Int32
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		lookups.Add(1)
		return nil, errors.New("no DNS in this test")
	}}
	d = Dialer{Resolver: r}
	if _, err := d.Dial("tcp", "name.invalid-tld-for-ksocket:80"); err == nil || lookups.Load() == 0 {
		t.Errorf("dial through a Resolver that cannot answer: %v, %d lookups", err, lookups.Load())
	}
	c, err = d.Dial("tcp", ln.Addr().String()) // numeric: no lookup
	if err != nil {
		t.Fatalf("numeric dial with a Resolver: %v", err)
	}
	c.Close()
}
