//go:build linux

package gonet

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/internal/testenv"
)

// BenchmarkPingPong sends 64-byte messages back and forth over loopback TCP,
// with both ends on gonet (impl=gonet) or both on Go's net (impl=net). One
// op is one round trip. Run it at -cpu 1,2: the engine must scale with
// cores as net does. Compare with benchstat; for figures with the server
// and the load on separate CPUs, use bench/ (see README).
func BenchmarkPingPong(b *testing.B) {
	for _, conns := range []int{1, 64} {
		for _, im := range impls {
			b.Run(fmt.Sprintf("impl=%s/conns=%d", im.name, conns), func(b *testing.B) { testenv.PingPong(b, conns, testenv.ConnPairs(im.listen, im.dial)) })
		}
	}
}

// BenchmarkUDPPingPong sends 64-byte datagrams back and forth between
// pairs of UDP sockets on loopback, each end reading with ReadFrom and
// answering with WriteTo, with both ends on gonet or both on net. One op
// is one round trip on every flow.
func BenchmarkUDPPingPong(b *testing.B) {
	for _, flows := range []int{1, 16} {
		for _, im := range impls {
			b.Run(fmt.Sprintf("impl=%s/flows=%d", im.name, flows), func(b *testing.B) { udpPingPong(b, im, flows) })
		}
	}
}

func udpPingPong(b *testing.B, im impl, flows int) {
	type pair struct{ a, b net.PacketConn }
	pairs := make([]pair, flows)
	for i := range pairs {
		a, err := im.listenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		c, err := im.listenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer a.Close()
		defer c.Close()
		pairs[i] = pair{a, c}
	}
	// The echo ends answer until closed.
	for _, p := range pairs {
		go func() {
			buf := make([]byte, 64)
			for {
				n, from, err := p.b.ReadFrom(buf)
				if err != nil {
					return
				}
				p.b.WriteTo(buf[:n], from)
			}
		}()
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, p := range pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64)
			to := p.b.LocalAddr()
			for range b.N {
				if _, err := p.a.WriteTo(buf, to); err != nil {
					b.Error(err)
					return
				}
				p.a.SetReadDeadline(time.Now().Add(time.Second)) // a lost datagram must not hang the run
				if _, _, err := p.a.ReadFrom(buf); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
