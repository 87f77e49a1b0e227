//go:build linux && !android

package engine

import (
	"bytes"
	"fmt"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestSendDatagramsNowDifferential sends the same datagrams from a raw
// socket and from an engine socket with SendDatagramsNow: each send's
// count and errno must be the kernel's, and the peer must get the same
// bytes. On uring these sends are sendto(2) and sendmsg(2) first; elsewhere
// SendDatagramsNow does nothing, and the test checks the ordinary path.
func TestSendDatagramsNowDifferential(t *testing.T) {
	e := testEngine(t)
	for _, family := range []int{unix.AF_INET, unix.AF_INET6} {
		peer, peerSA := rawUDP(t, family)
		raw, _ := rawUDP(t, family)
		s, _ := queuedUDP(t, e, family)
		s.SendDatagramsNow()
		max := 65507
		if family == unix.AF_INET6 {
			max = 65527
		}
		// Control data: the traffic class, valid, then with a short
		// length, which the kernel refuses.
		level, typ := unix.IPPROTO_IP, unix.IP_TOS
		if family == unix.AF_INET6 {
			level, typ = unix.IPPROTO_IPV6, unix.IPV6_TCLASS
		}
		tos := cmsgInt(level, typ, 0x10)
		short := bytes.Clone(tos)
		(*unix.Cmsghdr)(unsafe.Pointer(&short[0])).SetLen(unix.CmsgLen(1))
		for _, c := range []struct {
			size int
			oob  []byte
		}{{0, nil}, {1, nil}, {1200, nil}, {max, nil}, {max + 1, nil}, {64, tos}, {64, short}} {
			t.Run(fmt.Sprintf("family%d/%dB/oob%d", family, c.size, len(c.oob)), func(t *testing.T) {
				msg := bytes.Repeat([]byte{byte(c.size)}, c.size)
				want, werr := sendmsgRawTo(raw, msg, c.oob, peerSA)
				var got int
				var err error
				if c.oob == nil {
					got, err = s.Send(ctx0, msg, 0, peerSA, 0)
				} else {
					got, err = s.SendMsg(ctx0, msg, c.oob, 0, peerSA, 0)
				}
				if got != want || err != werr {
					t.Fatalf("engine (%s) sent %d, %v; the kernel %d, %v", e.Backend(), got, err, want, werr)
				}
				if werr != nil {
					return
				}
				for range 2 {
					b := make([]byte, 70000)
					unix.SetsockoptTimeval(peer, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5})
					n, _, err := unix.Recvfrom(peer, b, 0)
					if err != nil || !bytes.Equal(b[:n], msg) {
						t.Fatalf("the peer read %d bytes, %v; want the %d sent", n, err, len(msg))
					}
				}
			})
		}
	}
}

// TestSendDatagramsNowRefused: on a connected socket whose peer is gone,
// the ICMP error comes back from the next send, as the kernel reports it.
func TestSendDatagramsNowRefused(t *testing.T) {
	e := testEngine(t)
	gone, goneSA := rawUDP(t, unix.AF_INET)
	unix.Close(gone)
	raw, _ := rawUDP(t, unix.AF_INET)
	if err := unix.Connect(raw, goneSA); err != nil {
		t.Fatal(err)
	}
	s, _ := queuedUDP(t, e, unix.AF_INET)
	s.SendDatagramsNow()
	if err := s.Connect(ctx0, goneSA, 0); err != nil {
		t.Fatal(err)
	}
	var want, got []error
	for range 3 {
		_, err := unix.Write(raw, []byte("x"))
		want = append(want, err)
		_, err = s.Write([]byte("x"))
		got = append(got, err)
		time.Sleep(50 * time.Millisecond) // for the ICMP error
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("engine (%s) writes: %v; the kernel's: %v", e.Backend(), got, want)
	}
}

// cmsgInt is one control message holding a 32-bit int.
func cmsgInt(level, typ int, v int32) []byte {
	b := make([]byte, unix.CmsgSpace(4))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = int32(level), int32(typ)
	h.SetLen(unix.CmsgLen(4))
	*(*int32)(unsafe.Pointer(&b[unix.CmsgLen(0)])) = v
	return b
}

// sendmsgRawTo is sendmsg(2) on a raw socket, to sa.
func sendmsgRawTo(fd int, p, oob []byte, sa unix.Sockaddr) (int, error) {
	var raw unix.RawSockaddrAny
	n, err := putSockaddr(sa, &raw)
	if err != nil {
		return 0, err
	}
	return sendmsgRaw(fd, p, oob, &raw, n, 0)
}
