//go:build linux

package ksocket

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

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

// BenchmarkUDPPingPong sends 64-byte datagrams back and forth between
// pairs of UDP sockets on loopback, each end receiving with Recvfrom and
// answering with Sendto (impl=ksocket), or with net's ReadFrom and WriteTo
// (impl=net). One op is one round trip on every flow. At one P on the
// uring backend the Berkeley sockets receive through their datagram queue
// (see datagramQueue in ksocket.go).
func BenchmarkUDPPingPong(b *testing.B) {
	for _, flows := range []int{1, 16} {
		b.Run(fmt.Sprintf("impl=net/flows=%d", flows), func(b *testing.B) { udpPingPong(b, flows, netUDP) })
		b.Run(fmt.Sprintf("impl=ksocket/flows=%d", flows), func(b *testing.B) { udpPingPong(b, flows, ksocketUDP) })
	}
}

// udpEnd is one UDP socket of the benchmark, its address of type A.
type udpEnd[A any] struct {
	recv  func(p []byte) (int, A, error) // with a timeout of a second
	send  func(p []byte, to A) error
	addr  A
	close func()
}

func udpPingPong[A any](b *testing.B, flows int, open func(b *testing.B) udpEnd[A]) {
	type pair struct{ a, e udpEnd[A] }
	pairs := make([]pair, flows)
	for i := range pairs {
		pairs[i] = pair{open(b), open(b)}
		defer pairs[i].a.close()
		defer pairs[i].e.close()
	}
	for _, p := range pairs { // the echo ends answer until closed
		go func() {
			buf := make([]byte, 64)
			for {
				n, from, err := p.e.recv(buf)
				if err == unix.EAGAIN || errors.Is(err, os.ErrDeadlineExceeded) {
					continue // the timeout
				}
				if err != nil {
					return
				}
				p.e.send(buf[:n], from)
			}
		}()
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, p := range pairs {
		wg.Go(func() {
			buf := make([]byte, 64)
			for range b.N {
				if err := p.a.send(buf, p.e.addr); err != nil {
					b.Error(err)
					return
				}
				if _, _, err := p.a.recv(buf); err != nil { // a lost datagram ends the run
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func netUDP(b *testing.B) udpEnd[net.Addr] {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return udpEnd[net.Addr]{
		recv: func(p []byte) (int, net.Addr, error) {
			c.SetReadDeadline(time.Now().Add(time.Second))
			return c.ReadFrom(p)
		},
		send:  func(p []byte, to net.Addr) error { _, err := c.WriteTo(p, to); return err },
		addr:  c.LocalAddr(),
		close: func() { c.Close() },
	}
}

func ksocketUDP(b *testing.B) udpEnd[unix.Sockaddr] {
	s, err := SocketDatagram(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		b.Fatal(err)
	}
	tv := unix.Timeval{Sec: 1}
	if err := SetsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		b.Fatal(err)
	}
	if err := Bind(s, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		b.Fatal(err)
	}
	sa, err := Getsockname(s)
	if err != nil {
		b.Fatal(err)
	}
	return udpEnd[unix.Sockaddr]{
		recv:  func(p []byte) (int, unix.Sockaddr, error) { return Recvfrom(s, p, 0) },
		send:  func(p []byte, to unix.Sockaddr) error { _, err := Sendto(s, p, 0, to); return err },
		addr:  sa,
		close: func() { Closesocket(s) },
	}
}
