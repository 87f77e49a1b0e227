//go:build linux

package gonet

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
)

// BenchmarkPingPong sends 64-byte messages back and forth over loopback TCP,
// with both ends on gonet (impl=gonet) or both on Go's net (impl=net). One
// op is one round trip. Run it at -cpu 1,2: the engine must scale with
// cores as net does. Compare with benchstat; for figures with the server
// and the load on separate CPUs, use bench/ (see README).
func BenchmarkPingPong(b *testing.B) {
	for _, conns := range []int{1, 64} {
		for _, im := range impls {
			b.Run(fmt.Sprintf("impl=%s/conns=%d", im.name, conns), func(b *testing.B) { pingPong(b, im, conns) })
		}
	}
}

func pingPong(b *testing.B, im impl, conns int) {
	ln, err := im.listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	var clients, servers []net.Conn
	for range conns {
		c, err := im.dial(b.Context(), "tcp4", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		clients, servers = append(clients, c), append(servers, s)
	}
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() {
			buf := make([]byte, 64)
			for {
				if _, err := io.ReadFull(s, buf); err != nil {
					return
				}
				if _, err := s.Write(buf); err != nil {
					return
				}
			}
		})
	}
	b.ReportAllocs()
	b.SetBytes(64)
	b.ResetTimer()
	var cw sync.WaitGroup
	per := b.N / conns
	for i, c := range clients {
		n := per
		if i == 0 {
			n += b.N % conns
		}
		cw.Go(func() {
			buf := make([]byte, 64)
			for range n {
				if _, err := c.Write(buf); err != nil {
					b.Error(err)
					return
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	cw.Wait()
	b.StopTimer()
	for _, c := range clients {
		c.Close()
	}
	wg.Wait()
	for _, s := range servers {
		s.Close()
	}
}
