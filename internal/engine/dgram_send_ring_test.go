//go:build linux && !android

package engine

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSendToOnRingDifferential sends datagrams with a destination from an
// engine socket that sends on the ring (no SendDatagramsNow: IORING_OP_SEND
// with the address in the SQE where SENDTO is, else SENDMSG) and from a raw
// socket with sendto(2): each send's count and errno must be the kernel's,
// and the peer must get the same bytes from both.
func TestSendToOnRingDifferential(t *testing.T) {
	e := testEngine(t)
	dir := t.TempDir()
	unixPeer := func(name string) (int, unix.Sockaddr) {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		sa := &unix.SockaddrUnix{Name: name}
		if err := unix.Bind(fd, sa); err != nil {
			t.Fatal(err)
		}
		return fd, sa
	}
	v4peer, v4SA := rawUDP(t, unix.AF_INET)
	v6peer, v6SA := rawUDP(t, unix.AF_INET6)
	v4port := v4SA.(*unix.SockaddrInet4).Port
	mapped := &unix.SockaddrInet6{Port: v4port, Addr: [16]byte{10: 0xff, 11: 0xff, 12: 127, 15: 1}}
	pathPeer, pathSA := unixPeer(filepath.Join(dir, "peer"))
	abstractPeer, abstractSA := unixPeer(fmt.Sprintf("@ksocket-sendto-%d", time.Now().UnixNano()))
	for _, c := range []struct {
		name         string
		family, size int
		flags        int
		to           unix.Sockaddr
		peer         int // -1: none (the send fails)
	}{
		{"v4", unix.AF_INET, 64, 0, v4SA, v4peer},
		{"v4/empty", unix.AF_INET, 0, 0, v4SA, v4peer},
		{"v4/max", unix.AF_INET, 65507, 0, v4SA, v4peer},
		{"v4/toolong", unix.AF_INET, 65508, 0, v4SA, -1},
		{"v4/to-v6", unix.AF_INET, 8, 0, v6SA, -1},
		{"v4/port0", unix.AF_INET, 8, 0, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}, -1},
		{"v4/oob", unix.AF_INET, 8, unix.MSG_OOB, v4SA, -1},
		{"v4/confirm", unix.AF_INET, 8, unix.MSG_CONFIRM | unix.MSG_DONTROUTE, v4SA, v4peer},
		{"v6", unix.AF_INET6, 64, 0, v6SA, v6peer},
		{"v6/empty", unix.AF_INET6, 0, 0, v6SA, v6peer},
		{"v6/v4-mapped", unix.AF_INET6, 64, 0, mapped, v4peer},
		{"v6/to-v4", unix.AF_INET6, 64, 0, v4SA, v4peer},
		{"unix/path", unix.AF_UNIX, 64, 0, pathSA, pathPeer},
		{"unix/path/empty", unix.AF_UNIX, 0, 0, pathSA, pathPeer},
		{"unix/abstract", unix.AF_UNIX, 64, 0, abstractSA, abstractPeer},
		{"unix/missing", unix.AF_UNIX, 64, 0, &unix.SockaddrUnix{Name: filepath.Join(dir, "none")}, -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			raw, err := unix.Socket(c.family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(raw)
			s, err := e.Socket(c.family, unix.SOCK_DGRAM, 0, CatDatagram)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			msg := bytes.Repeat([]byte{byte(c.size)}, c.size)
			want, werr := sendtoRaw(raw, msg, rawOf(t, c.to), saLen(t, c.to), c.flags|unix.MSG_NOSIGNAL)
			got, err := s.Send(ctx0, msg, c.flags, c.to, 0)
			if got != want || err != werr {
				t.Fatalf("engine (%s) sent %d, %v; the kernel %d, %v", e.Backend(), got, err, want, werr)
			}
			if c.peer < 0 || werr != nil {
				return
			}
			for i := range 2 {
				b := make([]byte, 65536)
				unix.SetsockoptTimeval(c.peer, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5})
				n, _, err := unix.Recvfrom(c.peer, b, 0)
				if err != nil {
					t.Fatalf("datagram %d: %v", i, err)
				}
				if !bytes.Equal(b[:n], msg) {
					t.Fatalf("datagram %d: %d bytes, want %d", i, n, len(msg))
				}
			}
		})
	}
}

func rawOf(t *testing.T, sa unix.Sockaddr) *unix.RawSockaddrAny {
	var raw unix.RawSockaddrAny
	if _, err := putSockaddr(sa, &raw); err != nil {
		t.Fatal(err)
	}
	return &raw
}

func saLen(t *testing.T, sa unix.Sockaddr) uint32 {
	var raw unix.RawSockaddrAny
	n, err := putSockaddr(sa, &raw)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
