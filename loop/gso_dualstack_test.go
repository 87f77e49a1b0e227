//go:build linux

package loop

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPacketSegmentedRepliesDualStack: on a dual-stack socket, replies to
// an IPv4 peer (v4-mapped destinations) group as well, and arrive as the
// single sends would have.
func TestPacketSegmentedRepliesDualStack(t *testing.T) {
	a, aAddr := rawUDP(t, "udp4")
	c, cAddr := rawUDP(t, "udp4")
	unix.SetsockoptInt(c, unix.SOL_UDP, unix.UDP_GRO, 1)
	var sizes []int
	for i := range 40 {
		sizes = append(sizes, 100)
		if i%13 == 12 {
			sizes = append(sizes, 30, 0)
		}
	}
	payload := func(i, n int) []byte { return bytes.Repeat([]byte{byte(i)}, n) }
	h := PacketHandlers{
		Packet: func(pc *PacketConn, data []byte, from netip.AddrPort) {
			for i, n := range sizes {
				if err := pc.WriteTo(payload(i, n), aAddr); err != nil {
					t.Errorf("WriteTo: %v", err)
				}
			}
			for range 4 {
				pc.WriteTo(make([]byte, 100), cAddr)
			}
		},
		SendError: func(pc *PacketConn, to netip.AddrPort, err error) {
			t.Errorf("OnSendError %v: %v", to, err)
		},
	}
	s, err := ListenPacket("udp", "[::]:0", h, &Config{Loops: 1})
	if err != nil {
		t.Skipf("no dual-stack socket: %v", err)
	}
	run(t, s)
	port := s.Addr().(*net.UDPAddr).Port
	conn, err := net.Dial("udp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("go"))
	for i, n := range sizes {
		data, _, _ := recvRaw(t, a, 70000)
		if !bytes.Equal(data, payload(i, n)) {
			t.Fatalf("datagram %d: %d bytes %.8x, want %d bytes of %02x", i, len(data), data, n, i)
		}
	}
	if _, seg := readGRO(t, c); seg != 100 {
		t.Errorf("UDP_GRO reads segment %d from a v4-mapped group, want 100", seg)
	}
}
