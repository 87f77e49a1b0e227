//go:build linux && !android

package loop

import (
	"net"
	"testing"

	"github.com/ksocket-go/ksocket/internal/engine"
)

// TestPacketLoopHonoursFeatures: a UDP loop on io_uring receives through a
// multishot recvmsg only where RECVMSG_MULTISHOT is usable, and sends with
// the address in the SQE only where SENDTO is; KSOCKET_FEATURES (5.19,
// -RECVMSG_MULTISHOT, -SENDTO) masks them, and a masked op is not issued.
// TestPacketMatchesKernel and the others check either way's answers.
func TestPacketLoopHonoursFeatures(t *testing.T) {
	s := servePacket(t, "udp4", "127.0.0.1:0", packetEcho, &Config{Loops: 1})
	if s.Backend() != "uring" {
		t.Skipf("backend %s", s.Backend())
	}
	c, err := net.Dial("udp4", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := exchange(t, c, []byte("x")); string(got) != "x" {
		t.Fatalf("echo %q", got)
	}
	l := s.conns[0].l.(*uringPacketLoop)
	if want := !engine.Usable("RECVMSG_MULTISHOT"); l.single != want {
		t.Errorf("single-shot receives: %v; want %v", l.single, want)
	}
	if want := engine.Usable("SENDTO"); l.sendto != want {
		t.Errorf("sends with the address in the SQE: %v; want %v", l.sendto, want)
	}
}
