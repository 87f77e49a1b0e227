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
			b.Run(fmt.Sprintf("impl=%s/conns=%d", im.name, conns), func(b *testing.B) { testenv.PingPong(b, conns, testenv.ConnPairs(im.listen, im.dial)) })
		}
	}
}
