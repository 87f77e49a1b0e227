//go:build linux && !android

package loop

import (
	"net/netip"
	"testing"
)

// TestZeroLengthKeepsOrder: replies to one destination queued in one
// iteration as "a" (1 byte), "" (zero-length), "b" (1 byte) must arrive in
// that order. The grouper puts the zero-length one in a group of its own
// but leaves "a"'s group open, so "b" joins it and leaves before "".
func TestZeroLengthKeepsOrder(t *testing.T) {
	a, aAddr := rawUDP(t, "udp4")
	h := PacketHandlers{
		Packet: func(pc *PacketConn, data []byte, from netip.AddrPort) {
			pc.WriteTo([]byte("a"), aAddr)
			pc.WriteTo(nil, aAddr)
			pc.WriteTo([]byte("b"), aAddr)
		},
	}
	poke(t, servePacket(t, "udp4", "127.0.0.1:0", h, &Config{Loops: 1}))
	var got []string
	for range 3 {
		data, _, _ := recvRaw(t, a, 100)
		got = append(got, string(data))
	}
	if got[0] != "a" || got[1] != "" || got[2] != "b" {
		t.Fatalf("datagrams arrived as %q, want [\"a\" \"\" \"b\"] (WriteTo's order, one destination)", got)
	}
}
