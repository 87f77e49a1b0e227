//go:build linux

package gonet

import (
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMulticastWithNet joins a group on the loopback interface with net's
// ListenMulticastUDP and with gonet's, on the same port, and sends one
// datagram to the group: what each listener gets, its socket options and
// its address must match. Where the kernel refuses (no IPv6 multicast on
// lo, say), both must be refused alike.
func TestMulticastWithNet(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skipf("no loopback interface: %v", err)
	}
	for _, tc := range []struct {
		network string
		group   net.IP
	}{
		{"udp4", net.IPv4(239, 8, 9, 10)},
		{"udp", net.IPv4(239, 8, 9, 11)},
		{"udp6", net.ParseIP("ff12::8:9")},
	} {
		t.Run(tc.network+"/"+tc.group.String(), func(t *testing.T) {
			probe, err := net.ListenPacket(tc.network, ":0")
			if err != nil {
				t.Skipf("no %s: %v", tc.network, err)
			}
			port := probe.LocalAddr().(*net.UDPAddr).Port
			probe.Close()
			g := &net.UDPAddr{IP: tc.group, Port: port}

			nc, nerr := net.ListenMulticastUDP(tc.network, lo, g)
			gc, gerr := ListenMulticastUDP(tc.network, lo, g)
			if (nerr == nil) != (gerr == nil) {
				t.Fatalf("net: %v; gonet: %v", nerr, gerr)
			}
			if nerr != nil {
				t.Logf("both refused: net %v; gonet %v", nerr, gerr)
				if errShape(nerr) != errShape(gerr) {
					t.Errorf("net refused with %v, gonet with %v", nerr, gerr)
				}
				return
			}
			defer nc.Close()
			defer gc.Close()
			if nc.LocalAddr().String() != gc.LocalAddr().String() {
				t.Errorf("LocalAddr: net %v, gonet %v", nc.LocalAddr(), gc.LocalAddr())
			}
			opts := func(c interface {
				SyscallConn() (syscall.RawConn, error)
			}) string {
				rc, _ := c.SyscallConn()
				var s string
				rc.Control(func(fd uintptr) {
					for _, o := range [][2]int{{unix.SOL_SOCKET, unix.SO_REUSEADDR}, {unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP}, {unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP}, {unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF}} {
						v, err := unix.GetsockoptInt(int(fd), o[0], o[1])
						s += fmt.Sprintf("%d/%d=%d,%v ", o[0], o[1], v, err)
					}
				})
				return s
			}
			if a, b := opts(nc), opts(gc); a != b {
				t.Errorf("socket options: net %s; gonet %s", a, b)
			}

			// A sender on lo with loopback on, as a local peer would be.
			fam := "udp4"
			if tc.group.To4() == nil {
				fam = "udp6"
			}
			snd, err := net.ListenPacket(fam, ":0")
			if err != nil {
				t.Fatal(err)
			}
			defer snd.Close()
			rc, _ := snd.(*net.UDPConn).SyscallConn()
			rc.Control(func(fd uintptr) {
				if fam == "udp4" {
					err = unix.SetsockoptIPMreqn(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(lo.Index)})
				} else {
					err = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, lo.Index)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := snd.WriteTo([]byte("to the group"), g); err != nil {
				// The kernel will not send there (IPv6 multicast on a lo
				// without MULTICAST): the joins above are the comparison.
				t.Logf("no datagram to the group: %v", err)
				return
			}
			var got [2]string
			for i, c := range []net.PacketConn{nc, gc} {
				c.SetReadDeadline(time.Now().Add(time.Second))
				b := make([]byte, 64)
				n, from, err := c.ReadFrom(b)
				got[i] = fmt.Sprintf("%q from sender %v, %s", b[:n], from != nil && from.(*net.UDPAddr).Port == snd.LocalAddr().(*net.UDPAddr).Port, errShape(err))
			}
			t.Logf("net: %s", got[0])
			if got[0] != got[1] {
				t.Errorf("gonet got %s; net %s", got[1], got[0])
			}
		})
	}
}

// TestMulticastRefusals compares ListenMulticastUDP's refusals with net's.
func TestMulticastRefusals(t *testing.T) {
	for _, tc := range []struct {
		network string
		gaddr   *net.UDPAddr
	}{
		{"tcp", &net.UDPAddr{IP: net.IPv4(239, 1, 1, 1), Port: 9}},
		{"udp", nil},
		{"udp4", &net.UDPAddr{Port: 9}},
	} {
		_, nerr := net.ListenMulticastUDP(tc.network, nil, tc.gaddr)
		_, gerr := ListenMulticastUDP(tc.network, nil, tc.gaddr)
		if nerr == nil || gerr == nil || nerr.Error() != gerr.Error() {
			t.Errorf("%s %v: net %v; gonet %v", tc.network, tc.gaddr, nerr, gerr)
		}
	}
	if !strings.Contains(fmt.Sprint(ListenMulticastUDP("udp", nil, nil)), "missing address") {
		t.Error("a nil group is not refused as missing")
	}
}
