//go:build linux

package gonet

import (
	"context"
	"errors"
	"go/ast"
	"net"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Hostile arguments to gonet's constructors and connections. Each row runs
// on package net and on gonet; gonet must fail where net fails, with an
// error of the same shape (the same type, the same Op, the same errno or
// sentinel underneath), and succeed where net succeeds. Nothing may panic or
// hang.

var longHost = strings.Repeat("a", 300)

// badNetTests are the rows. run makes one call on im and closes whatever it
// opened; it returns the call's error.
var badNetTests = []struct {
	name  string
	run   func(t *testing.T, im impl) error
	loose string // why only failure and Op are compared: a deviation in the error's shape
}{
	{name: "Dial/port 65536", run: dialRow("tcp", "127.0.0.1:65536")},
	{name: "Dial/port -1", run: dialRow("tcp", "127.0.0.1:-1")},
	{name: "Dial/no port", run: dialRow("tcp", "127.0.0.1")},
	{name: "Dial/unknown network", run: dialRow("tcpx", "127.0.0.1:80")},
	{name: "Dial/empty network", run: dialRow("", "127.0.0.1:80")},
	{name: "Dial/unclosed bracket", run: dialRow("tcp", "[::1:80")},
	{name: "Dial/NUL in host", run: dialRow("tcp", "local\x00host:80")},
	{name: "Dial/host of 300 bytes", run: dialRow("tcp", longHost+":80")},
	{name: "Dial/port name unknown", run: dialRow("tcp", "127.0.0.1:nosuchservice"), loose: "gonet: *net.AddrError unknown port; net: *net.DNSError unknown port"},
	{name: "Dial/IPv6 literal on tcp4", run: dialRow("tcp4", "[::1]:80"), loose: "gonet: *net.DNSError (EAI_ADDRFAMILY); net: *net.AddrError no suitable address found"},
	{name: "Dial/IPv4 literal on tcp6", run: dialRow("tcp6", "127.0.0.1:80"), loose: "gonet: *net.DNSError (EAI_ADDRFAMILY); net: *net.AddrError no suitable address found"},
	{name: "Dial/udp port 70000", run: dialRow("udp", "127.0.0.1:70000")},
	{name: "Dial/unix path of 200 bytes", run: dialRow("unix", "/tmp/"+strings.Repeat("p", 200))},
	{name: "Dial/unix, nobody there", run: func(t *testing.T, im impl) error {
		return closeConn(im.dial(context.Background(), "unix", t.TempDir()+"/none"))
	}},
	{name: "Dial/cancelled context", run: func(t *testing.T, im impl) error {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return closeConn(im.dial(ctx, "tcp", "127.0.0.1:9"))
	}},
	{name: "Dial/expired deadline", run: func(t *testing.T, im impl) error {
		ctx, cancel := context.WithDeadline(context.Background(), time.Unix(1, 0))
		defer cancel()
		return closeConn(im.dial(ctx, "tcp", "127.0.0.1:9"))
	}},
	{name: "Dialer/local address of another family", run: func(t *testing.T, im impl) error {
		return closeConn(dialer(im, &net.TCPAddr{IP: net.IPv6loopback}).DialContext(context.Background(), "tcp4", "127.0.0.1:9"))
	}},
	{name: "Dialer/local address of another type", run: func(t *testing.T, im impl) error {
		return closeConn(dialer(im, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}).DialContext(context.Background(), "tcp", "127.0.0.1:9"))
	}},
	{name: "Listen/port 70000", run: listenRow("tcp", "127.0.0.1:70000")},
	{name: "Listen/udp network", run: listenRow("udp", "127.0.0.1:0"), loose: "net resolves the address first and says unexpected address type; gonet says unknown network"},
	{name: "Listen/address not ours", run: listenRow("tcp", "192.0.2.1:0")},
	{name: "Listen/NUL in host", run: listenRow("tcp", "127.0.0.1\x00:0")},
	{name: "Listen/host of 300 bytes", run: listenRow("tcp", longHost+":0")},
	{name: "Listen/unix path of 200 bytes", run: listenRow("unix", "/tmp/"+strings.Repeat("p", 200))},
	{name: "ListenPacket/tcp network", run: listenPacketRow("tcp", "127.0.0.1:0"), loose: "net resolves the address first and says unexpected address type; gonet says unknown network"},
	{name: "ListenPacket/port 99999", run: listenPacketRow("udp", "[::1]:99999")},
	{name: "ListenPacket/garbage address", run: listenPacketRow("udp4", "not an address")},
	{name: "WriteTo/70000 bytes", run: packetRow(func(c net.PacketConn, to net.Addr) error {
		_, err := c.WriteTo(make([]byte, 70000), to)
		return err
	})},
	{name: "WriteTo/nil address", run: packetRow(func(c net.PacketConn, _ net.Addr) error {
		_, err := c.WriteTo([]byte("x"), nil)
		return err
	}), loose: "gonet: missing address; net: EINVAL"},
	{name: "WriteTo/TCP address", run: packetRow(func(c net.PacketConn, _ net.Addr) error {
		_, err := c.WriteTo([]byte("x"), &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9})
		return err
	})},
	{name: "WriteTo/port 0", run: packetRow(func(c net.PacketConn, _ net.Addr) error {
		_, err := c.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		return err
	})},
	{name: "WriteTo/IPv6 address from udp4", run: packetRow(func(c net.PacketConn, _ net.Addr) error {
		_, err := c.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv6loopback, Port: 9})
		return err
	})},
	{name: "ReadFrom/nil buffer, past deadline", run: packetRow(func(c net.PacketConn, _ net.Addr) error {
		c.SetReadDeadline(time.Unix(1, 0))
		_, _, err := c.ReadFrom(nil)
		return err
	})},
	{name: "Read/nil buffer on TCP", run: streamRow(func(c, _ net.Conn) error {
		_, err := c.Read(nil)
		return err
	})},
	{name: "Write/nil buffer on TCP", run: streamRow(func(c, _ net.Conn) error {
		_, err := c.Write(nil)
		return err
	})},
	{name: "Write/after Close", run: streamRow(func(c, _ net.Conn) error {
		c.Close()
		_, err := c.Write([]byte("x"))
		return err
	})},
	{name: "Read/after Close", run: streamRow(func(c, _ net.Conn) error {
		c.Close()
		_, err := c.Read(make([]byte, 8))
		return err
	})},
	{name: "Close/twice", run: streamRow(func(c, _ net.Conn) error {
		c.Close()
		return c.Close()
	})},
	{name: "SetDeadline/after Close", run: streamRow(func(c, _ net.Conn) error {
		c.Close()
		return c.SetDeadline(time.Now())
	})},
	{name: "CloseWrite/twice then Write", run: streamRow(func(c, _ net.Conn) error {
		tc := c.(interface{ CloseWrite() error })
		tc.CloseWrite()
		tc.CloseWrite()
		_, err := c.Write([]byte("x"))
		return err
	})},
	{name: "Read/after the peer reset", run: streamRow(func(c, peer net.Conn) error {
		peer.(interface{ SetLinger(int) error }).SetLinger(0)
		peer.Close()
		time.Sleep(20 * time.Millisecond)
		_, err := c.Read(make([]byte, 8))
		return err
	})},
	{name: "Accept/after Close", run: func(t *testing.T, im impl) error {
		ln, err := im.listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		return closeConn(ln.Accept())
	}},
}

func closeConn[T interface{ Close() error }](c T, err error) error {
	if err == nil {
		c.Close()
	}
	return err
}

func dialRow(network, address string) func(*testing.T, impl) error {
	return func(t *testing.T, im impl) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return closeConn(im.dial(ctx, network, address))
	}
}

func listenRow(network, address string) func(*testing.T, impl) error {
	return func(t *testing.T, im impl) error { return closeConn(im.listen(network, address)) }
}

func listenPacketRow(network, address string) func(*testing.T, impl) error {
	return func(t *testing.T, im impl) error { return closeConn(im.listenPacket(network, address)) }
}

// dialer is a Dialer of im with a local address.
func dialer(im impl, local net.Addr) interface {
	DialContext(context.Context, string, string) (net.Conn, error)
} {
	if im.name == "net" {
		return &net.Dialer{LocalAddr: local}
	}
	return &Dialer{LocalAddr: local}
}

// packetRow runs f on a udp4 PacketConn of im, with a second one's address.
func packetRow(f func(c net.PacketConn, to net.Addr) error) func(*testing.T, impl) error {
	return func(t *testing.T, im impl) error {
		c, err := im.listenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		peer, err := im.listenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer peer.Close()
		return f(c, peer.LocalAddr())
	}
}

// streamRow runs f on a TCP connection of im and its peer.
func streamRow(f func(c, peer net.Conn) error) func(*testing.T, impl) error {
	return func(t *testing.T, im impl) error {
		c, peer := connPair(t, im, im, "tcp4", "127.0.0.1:0")
		defer c.Close()
		defer peer.Close()
		return f(c, peer)
	}
}

// TestBadInput runs every row on net and gonet and compares.
func TestBadInput(t *testing.T) {
	t.Parallel()
	for _, tt := range badNetTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var errs [2]error
			for i, im := range []impl{netImpl, gonetImpl} {
				done := make(chan struct{})
				var panicked any
				go func() {
					defer close(done)
					defer func() { panicked = recover() }()
					errs[i] = tt.run(t, im)
				}()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					t.Fatalf("%s: did not return within 10s", im.name)
				}
				if panicked != nil {
					t.Fatalf("%s panicked: %v", im.name, panicked)
				}
			}
			compareNetErrors(t, errs[0], errs[1], tt.loose)
		})
	}
}

// unexportedNetType reports whether err's type is one of package net's
// unexported ones.
func unexportedNetType(err error) bool {
	typ := reflect.TypeOf(err)
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	return typ.PkgPath() == "net" && !ast.IsExported(typ.Name())
}

// compareNetErrors checks that gonet's error has net's shape.
// With loose set, only failure and Op are compared, and loose says why.
func compareNetErrors(t *testing.T, want, got error, loose string) {
	t.Helper()
	t.Logf("net: %v\ngonet: %v", want, got)
	if (want == nil) != (got == nil) {
		t.Fatalf("net says %v, gonet %v", want, got)
	}
	if want == nil {
		return
	}
	if reflect.TypeOf(want) != reflect.TypeOf(got) {
		t.Errorf("net returns %T, gonet %T", want, got)
	}
	var wo, gop *net.OpError
	if errors.As(want, &wo) && errors.As(got, &gop) && wo.Op != gop.Op {
		t.Errorf("Op: net %q, gonet %q", wo.Op, gop.Op)
	}
	if loose != "" {
		t.Logf("shape compared loosely: %s", loose)
		return
	}
	// net's unexported sentinels (timeoutError, canceledError) have
	// gonet twins of their own; errors.Is compares them below.
	if wo != nil && gop != nil && reflect.TypeOf(wo.Err) != reflect.TypeOf(gop.Err) && !unexportedNetType(wo.Err) {
		t.Errorf("OpError.Err: net %T, gonet %T", wo.Err, gop.Err)
	}
	var we syscall.Errno
	if errors.As(want, &we) && !errors.Is(got, we) {
		t.Errorf("net's error wraps %v (%d); gonet's does not", we, int(we))
	}
	for _, sentinel := range []error{net.ErrClosed, os.ErrDeadlineExceeded, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(want, sentinel) != errors.Is(got, sentinel) {
			t.Errorf("errors.Is(_, %v): net %v, gonet %v", sentinel, errors.Is(want, sentinel), errors.Is(got, sentinel))
		}
	}
	var wa, ga *net.AddrError
	if errors.As(want, &wa) != errors.As(got, &ga) {
		t.Errorf("*net.AddrError: net %v, gonet %v", wa != nil, ga != nil)
	}
	var wu, gu net.UnknownNetworkError
	if errors.As(want, &wu) != errors.As(got, &gu) {
		t.Errorf("net.UnknownNetworkError: net %v, gonet %v", wu != "", gu != "")
	}
	var wd, gd *net.DNSError
	if errors.As(want, &wd) != errors.As(got, &gd) {
		t.Errorf("*net.DNSError: net %v, gonet %v", wd != nil, gd != nil)
	}
}
