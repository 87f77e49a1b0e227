//go:build linux

package gonet_test

import (
	"net"
	"net/netip"
	"testing"

	"github.com/ksocket-go/ksocket/gonet"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/nettest"
)

// TestUDPSenderAllocations holds a datagram's sender and destination to no
// heap allocation on their way through the engine: the AddrPort forms of
// the calls make none, and ReadFrom makes only the *net.UDPAddr it returns
// (net's makes two), WriteBatch none and ReadBatch one a datagram, its
// sender. Each round also checks that the sender is the
// sending socket's address, as the kernel gave it.
func TestUDPSenderAllocations(t *testing.T) {
	for _, tt := range []struct{ network, addr string }{{"udp4", "127.0.0.1:0"}, {"udp6", "[::1]:0"}} {
		t.Run(tt.network, func(t *testing.T) {
			if tt.network == "udp6" && !nettest.SupportsIPv6() {
				t.Skip("no IPv6")
			}
			conn := func() *gonet.UDPConn {
				c, err := gonet.ListenUDP(tt.network, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tt.addr)))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
			a, b := conn(), conn()
			aAddr, bAddr := a.LocalAddr().(*net.UDPAddr), b.LocalAddr().(*net.UDPAddr)
			aAP, bAP := aAddr.AddrPort(), bAddr.AddrPort()
			msg, buf := []byte("ping"), make([]byte, 16)
			var batch, in [4]ipv4.Message
			for i := range batch {
				batch[i] = ipv4.Message{Buffers: [][]byte{msg}, Addr: bAddr}
				in[i].Buffers = [][]byte{make([]byte, 16)}
			}
			check := func(call string, n int, from netip.AddrPort, err error) {
				if err != nil || n != len(msg) || from != aAP {
					t.Fatalf("%s = %d, %v, %v; want %d, %v, nil", call, n, from, err, len(msg), aAP)
				}
			}
			for _, c := range []struct {
				name   string
				want   float64
				pooled bool // the race detector's sync.Pool drops a share of what it is given
				round  func()
			}{
				{"WriteToUDPAddrPort, ReadFromUDPAddrPort", 0, false, func() {
					if _, err := a.WriteToUDPAddrPort(msg, bAP); err != nil {
						t.Fatal(err)
					}
					n, from, err := b.ReadFromUDPAddrPort(buf)
					check("ReadFromUDPAddrPort", n, from, err)
				}},
				{"WriteMsgUDPAddrPort, ReadMsgUDPAddrPort", 0, false, func() {
					if _, _, err := a.WriteMsgUDPAddrPort(msg, nil, bAP); err != nil {
						t.Fatal(err)
					}
					n, _, _, from, err := b.ReadMsgUDPAddrPort(buf, nil)
					check("ReadMsgUDPAddrPort", n, from, err)
				}},
				{"WriteBatch of 4, ReadFromUDPAddrPort", 0, true, func() {
					ms := batch[:]
					for len(ms) > 0 {
						n, err := a.WriteBatch(ms, 0)
						if err != nil {
							t.Fatal(err)
						}
						ms = ms[n:]
					}
					for range batch {
						n, from, err := b.ReadFromUDPAddrPort(buf)
						check("ReadFromUDPAddrPort", n, from, err)
					}
				}},
				{"WriteTo, ReadFrom", 1, false, func() {
					if _, err := a.WriteTo(msg, bAddr); err != nil {
						t.Fatal(err)
					}
					n, from, err := b.ReadFrom(buf)
					ua, _ := from.(*net.UDPAddr)
					if ua == nil {
						t.Fatalf("ReadFrom's sender is %T, want *net.UDPAddr", from)
					}
					check("ReadFrom", n, ua.AddrPort(), err)
				}},
				// Last: a batch read takes the socket off its datagram
				// queue (at one P) for good.
				{"WriteBatch of 4, ReadBatch", 4, true, func() {
					if n, err := a.WriteBatch(batch[:], 0); err != nil || n != len(batch) {
						t.Fatalf("WriteBatch = %d, %v", n, err)
					}
					for got := 0; got < len(batch); {
						n, err := b.ReadBatch(in[:len(batch)-got], 0)
						if err != nil {
							t.Fatal(err)
						}
						for _, m := range in[:n] {
							ua, _ := m.Addr.(*net.UDPAddr)
							if ua == nil {
								t.Fatalf("ReadBatch's sender is %T, want *net.UDPAddr", m.Addr)
							}
							check("ReadBatch", m.N, ua.AddrPort(), nil)
						}
						got += n
					}
				}},
			} {
				if c.pooled && raceEnabled {
					c.round() // still checks the senders
					continue
				}
				if got := testing.AllocsPerRun(200, c.round); got != c.want {
					t.Errorf("%s: %v allocations a round, want %v", c.name, got, c.want)
				}
			}
		})
	}
}
