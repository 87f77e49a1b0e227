//go:build linux

package gonet

import (
	"fmt"
	"testing"

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
			b.Run(fmt.Sprintf("impl=%s/conns=%d", im.name, conns), func(b *testing.B) { testenv.PingPong(b, conns, connPairs(im)) })
		}
	}
}

// connPairs makes n connections of im's.
func connPairs(im impl) func(b *testing.B, n int) (clients, servers []testenv.Endpoint) {
	return func(b *testing.B, n int) (clients, servers []testenv.Endpoint) {
		ln, err := im.listen("tcp4", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		for range n {
			c, err := im.dial(b.Context(), "tcp4", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			s, err := ln.Accept()
			if err != nil {
				b.Fatal(err)
			}
			clients = append(clients, testenv.ConnEndpoint(c))
			servers = append(servers, testenv.ConnEndpoint(s))
		}
		return clients, servers
	}
}
