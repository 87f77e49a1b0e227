//go:build linux && !android

package loop

import (
	"net/netip"
	"testing"
)

// TestPacketZeroLengthAtSlabEnd queues, in one iteration, replies whose
// send records fill a fresh send slab up to exactly the room of a
// zero-length record, then a zero-length reply: its record ends where the
// slab ends. The zero-length datagram must arrive (on io_uring, prepSend
// took &rec[sendRecHdr] of a slice that ends there: a panic on 64-bit).
func TestPacketZeroLengthAtSlabEnd(t *testing.T) {
	zero := (sendRecHdr + 7) &^ 7
	var sizes []int
	for r := sendSlabSize - zero; r > 0; {
		need := r
		if need > 60000 {
			need = 60000
			if r-need < zero {
				need = r - zero
			}
		}
		sizes = append(sizes, need-sendRecHdr)
		r -= need
	}
	_, sinkAddr := rawUDP(t, "udp4")
	a, aAddr := rawUDP(t, "udp4")
	h := PacketHandlers{
		Packet: func(pc *PacketConn, data []byte, from netip.AddrPort) {
			for _, n := range sizes {
				if err := pc.WriteTo(make([]byte, n), sinkAddr); err != nil {
					t.Errorf("WriteTo %d bytes: %v", n, err)
				}
			}
			if err := pc.WriteTo(nil, aAddr); err != nil {
				t.Errorf("WriteTo 0 bytes: %v", err)
			}
			pc.WriteTo([]byte("after"), aAddr)
		},
		SendError: func(pc *PacketConn, to netip.AddrPort, err error) {
			t.Errorf("OnSendError %v: %v", to, err)
		},
	}
	poke(t, servePacket(t, "udp4", "127.0.0.1:0", h, &Config{Loops: 1}))
	if data, _, _ := recvRaw(t, a, 100); len(data) != 0 {
		t.Fatalf("first datagram: %q, want an empty one", data)
	}
	if data, _, _ := recvRaw(t, a, 100); string(data) != "after" {
		t.Fatalf("second datagram: %q, want \"after\"", data)
	}
}

// maxSegForTest tells the refusal tests what the grouper allows now.
func (l *uringPacketLoop) maxSegForTest() int { return l.gso.maxSeg }
