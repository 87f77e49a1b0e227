//go:build linux

package ksocket

import (
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/ksocket-go/ksocket/internal/testenv"
	"golang.org/x/sys/unix"
)

// BenchmarkPingPong sends 64-byte messages back and forth over loopback TCP,
// with both ends on the Berkeley API (impl=ksocket) or both on Go's net
// (impl=net). One op is one round trip. Run it at -cpu 1,2: the engine must
// scale with cores as net does. Compare with benchstat; for figures
// with the server and the load on separate CPUs, use bench/ (see README).
func BenchmarkPingPong(b *testing.B) {
	for _, conns := range []int{1, 64} {
		b.Run(fmt.Sprintf("impl=net/conns=%d", conns), func(b *testing.B) {
			testenv.PingPong(b, conns, testenv.ConnPairs(net.Listen, (&net.Dialer{}).DialContext))
		})
		b.Run(fmt.Sprintf("impl=ksocket/conns=%d", conns), func(b *testing.B) { testenv.PingPong(b, conns, ksocketPair) })
	}
}

func ksocketPair(b *testing.B, n int) (clients, servers []testenv.Endpoint) {
	ls, err := SocketListen(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer Closesocket(ls)
	if err := Bind(ls, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		b.Fatal(err)
	}
	if err := Listen(ls, 1024); err != nil {
		b.Fatal(err)
	}
	sa, _ := Getsockname(ls)
	for range n {
		c, err := SocketConnection(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err != nil {
			b.Fatal(err)
		}
		if err := Connect(c, sa); err != nil {
			b.Fatal(err)
		}
		s, _, err := Accept(ls)
		if err != nil {
			b.Fatal(err)
		}
		// Go's net sets TCP_NODELAY on every connection; do the same.
		SetsockoptInt(c, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		SetsockoptInt(s, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		clients = append(clients, ksocketEndpoint(c))
		servers = append(servers, ksocketEndpoint(s))
	}
	return clients, servers
}

func ksocketEndpoint(s int) testenv.Endpoint {
	return testenv.Endpoint{
		Send: func(p []byte) error { _, err := Send(s, p, 0); return err },
		Recv: func(p []byte) error {
			for got := 0; got < len(p); {
				n, err := Recv(s, p[got:], 0)
				if err != nil {
					return err
				}
				if n == 0 {
					return io.EOF
				}
				got += n
			}
			return nil
		},
		Close: func() { Shutdown(s, unix.SHUT_RDWR); Closesocket(s) },
	}
}
