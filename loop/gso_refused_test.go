//go:build linux

package loop

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPacketRefusedGroupVerdicts queues runs of replies to a broadcast
// address, which the kernel refuses (EACCES: no SO_BROADCAST) grouped or
// not, interleaved with replies to a raw socket. Every refused datagram
// gets exactly one OnSendError, every other arrives once, in order, and
// grouping stays on (EACCES is the destination's, not the socket's).
func TestPacketRefusedGroupVerdicts(t *testing.T) {
	a, aAddr := rawUDP(t, "udp4")
	bcast := netip.MustParseAddrPort("127.255.255.255:9")
	type reply struct {
		bcast bool
		n     int
	}
	var script []reply
	for round := range 40 {
		for range 5 {
			script = append(script, reply{true, 100})
		}
		script = append(script, reply{false, 100}, reply{false, 100})
		script = append(script, reply{true, 50 + round}) // closes the group
	}
	wantErrs := 0
	for _, r := range script {
		if r.bcast {
			wantErrs++
		}
	}
	var gotErrs int
	var badErrs []string
	h := PacketHandlers{
		Packet: func(pc *PacketConn, data []byte, from netip.AddrPort) {
			for i, r := range script {
				to := aAddr
				if r.bcast {
					to = bcast
				}
				if err := pc.WriteTo(bytes.Repeat([]byte{byte(i)}, r.n), to); err != nil {
					t.Errorf("WriteTo %d: %v", i, err)
				}
			}
		},
		SendError: func(pc *PacketConn, to netip.AddrPort, err error) {
			gotErrs++
			if to != bcast || err != unix.EACCES {
				badErrs = append(badErrs, fmt.Sprintf("%v: %v", to, err))
			}
		},
	}
	s := servePacket(t, "udp4", "127.0.0.1:0", h, &Config{Loops: 1})
	poke(t, s)
	for i, r := range script {
		if r.bcast {
			continue
		}
		data, _, _ := recvRaw(t, a, 70000)
		if !bytes.Equal(data, bytes.Repeat([]byte{byte(i)}, r.n)) {
			t.Fatalf("datagram %d: %d bytes of %x..., want %d of %02x", i, len(data), data[:1], r.n, i)
		}
	}
	if n, _, err := unix.Recvfrom(a, make([]byte, 1), unix.MSG_DONTWAIT|unix.MSG_TRUNC); err != unix.EAGAIN {
		t.Errorf("a datagram of %d bytes more than queued (%v)", n, err)
	}
	// The errors are counted on the loop's goroutine: read them there.
	done := make(chan [2]int, 1)
	var bad []string
	s.conns[0].Do(func(*PacketConn) {
		bad = badErrs
		done <- [2]int{gotErrs, s.conns[0].l.(interface{ maxSegForTest() int }).maxSegForTest()}
	})
	got := <-done
	if got[0] != wantErrs || len(bad) > 0 {
		t.Errorf("%d OnSendErrors (unexpected: %v), want %d", got[0], bad, wantErrs)
	}
	if got[1] != gsoAll {
		t.Errorf("after EACCES, maxSeg is %d, want gsoAll", got[1])
	}
}

// TestPacketReplyFromSendError: a reply that OnSendError queues leaves
// without waiting for another event, also when the refused send was a
// group.
func TestPacketReplyFromSendError(t *testing.T) {
	a, aAddr := rawUDP(t, "udp4")
	bcast := netip.MustParseAddrPort("127.255.255.255:9")
	h := PacketHandlers{
		Packet: func(pc *PacketConn, data []byte, from netip.AddrPort) {
			for range 3 {
				pc.WriteTo(make([]byte, 100), bcast)
			}
		},
		SendError: func(pc *PacketConn, to netip.AddrPort, err error) {
			pc.WriteTo([]byte("from OnSendError"), aAddr)
		},
	}
	poke(t, servePacket(t, "udp4", "127.0.0.1:0", h, &Config{Loops: 1}))
	for range 3 {
		if data, _, _ := recvRaw(t, a, 100); string(data) != "from OnSendError" {
			t.Fatalf("got %q", data)
		}
	}
}

func (l *epollPacketLoop) maxSegForTest() int { return l.gso.maxSeg }
