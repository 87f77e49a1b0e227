//go:build linux

package loop

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestGroupReplies checks which queued replies share a send: a run of one
// size to one destination, closed by a shorter one, by 64 segments or by
// gsoMaxBytes; zero-length and solo replies alone; other destinations
// apart, however they interleave.
func TestGroupReplies(t *testing.T) {
	a := unix.RawSockaddrInet6{Family: unix.AF_INET6, Port: 1}
	b := unix.RawSockaddrInet6{Family: unix.AF_INET6, Port: 2}
	type q struct {
		to   *unix.RawSockaddrInet6
		n    int
		solo bool
	}
	var in []q
	add := func(to *unix.RawSockaddrInet6, n, times int) {
		for range times {
			in = append(in, q{to: to, n: n})
		}
	}
	add(&a, 100, 2)
	add(&b, 100, 1)
	add(&a, 100, 1)
	add(&a, 40, 1)    // closes a's first group
	add(&a, 100, 1)   // a new one
	add(&b, 100, 1)   // joins b's
	add(&a, 0, 1)     // alone
	add(&a, 200, 1)   // larger: a new group, closed by the next
	add(&a, 10, 70)   // 1 in the last, then 64, then 5
	add(&b, 1500, 45) // 43 fit in gsoMaxBytes, then 2
	in = append(in, q{to: &b, n: 1500, solo: true})

	var g gsoGrouper
	g.init()
	for _, x := range in {
		g.add(x.to, unix.SizeofSockaddrInet6, x.n, x.solo)
	}
	var got []string
	for _, gr := range g.groups {
		var sizes []int
		for i := gr.first; i >= 0; i = g.next[i] {
			sizes = append(sizes, int(i))
		}
		port := in[gr.first].to.Port
		got = append(got, fmt.Sprintf("%d:%dx%d/%d", port, gr.count, gr.seg, len(sizes)))
		if gr.count != len(sizes) || int(gr.last) != sizes[len(sizes)-1] {
			t.Errorf("group %+v: walk gives %v", gr, sizes)
		}
		for _, i := range sizes {
			if in[i].to.Port != port || in[i].n > gr.seg {
				t.Errorf("group %+v holds reply %d (%+v)", gr, i, in[i])
			}
		}
	}
	want := []string{"1:4x100/4", "2:2x100/2", "1:1x100/1", "1:1x0/1", "1:2x200/2", "1:64x10/64", "1:5x10/5", "2:43x1500/43", "2:2x1500/2", "2:1x1500/1"}
	if !slices.Equal(got, want) {
		t.Errorf("groups\n got %v\nwant %v", got, want)
	}

	g.refused(unix.EPERM, 100) // singles get it too: grouping stays
	if g.maxSeg != gsoAll {
		t.Errorf("EPERM: maxSeg %d", g.maxSeg)
	}
	g.refused(unix.EMSGSIZE, 1500)
	if g.maxSeg != 1499 {
		t.Errorf("EMSGSIZE at 1500 bytes: maxSeg %d, want 1499", g.maxSeg)
	}
	g.reset()
	g.add(&a, unix.SizeofSockaddrInet6, 1500, false)
	g.add(&a, unix.SizeofSockaddrInet6, 1500, false)
	g.add(&a, unix.SizeofSockaddrInet6, 1400, false)
	g.add(&a, unix.SizeofSockaddrInet6, 1400, false)
	zero := unix.RawSockaddrInet6{Family: unix.AF_INET6}
	g.add(&zero, unix.SizeofSockaddrInet6, 10, false)
	g.add(&zero, unix.SizeofSockaddrInet6, 10, false)
	if len(g.groups) != 5 {
		t.Errorf("after EMSGSIZE at 1500, 1500 twice, 1400 twice and port 0 twice make %d groups, want 5", len(g.groups))
	}
	for _, err := range []unix.Errno{unix.EIO, unix.EINVAL} {
		g.init()
		g.reset()
		g.refused(err, 10)
		g.add(&a, unix.SizeofSockaddrInet6, 10, false)
		g.add(&a, unix.SizeofSockaddrInet6, 10, false)
		if len(g.groups) != 2 {
			t.Errorf("replies grouped after %v: %d groups", err, len(g.groups))
		}
	}
}

// rawUDP opens a bound UDP socket on loopback that reads with a timeout.
func rawUDP(t *testing.T, network string) (int, netip.AddrPort) {
	t.Helper()
	family, sa := unix.AF_INET, unix.Sockaddr(&unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	if network == "udp6" {
		family, sa = unix.AF_INET6, &unix.SockaddrInet6{Addr: netip.IPv6Loopback().As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	tv := unix.Timeval{Sec: 5}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if err := unix.Bind(fd, sa); err != nil {
		t.Fatal(err)
	}
	got, _ := unix.Getsockname(fd)
	switch got := got.(type) {
	case *unix.SockaddrInet4:
		return fd, netip.AddrPortFrom(netip.AddrFrom4(got.Addr), uint16(got.Port))
	case *unix.SockaddrInet6:
		return fd, netip.AddrPortFrom(netip.AddrFrom16(got.Addr), uint16(got.Port))
	}
	t.Fatalf("getsockname: %v", got)
	return -1, netip.AddrPort{}
}

// readGRO reads one datagram from fd, and the segment size UDP_GRO reports
// with it (0 if none).
func readGRO(t *testing.T, fd int) ([]byte, int) {
	t.Helper()
	buf, oob := make([]byte, 70000), make([]byte, 64)
	n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, 0)
	if err != nil {
		t.Fatalf("recvmsg: %v", err)
	}
	msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_UDP && m.Header.Type == unix.UDP_GRO && len(m.Data) >= 2 {
			return buf[:n], int(*(*uint16)(unsafe.Pointer(&m.Data[0])))
		}
	}
	return buf[:n], 0
}

// kernelGRO sends four 100-byte segments in one sendmsg with UDP_SEGMENT
// from a socket with SO_NO_CHECK set or not, to a socket with UDP_GRO:
// what the receiver's first read gives, as the oracle for the loop's
// grouped sends.
func kernelGRO(t *testing.T, network string, noCheck bool) (n, seg int, sendErr error) {
	rx, to := rawUDP(t, network)
	unix.SetsockoptInt(rx, unix.SOL_UDP, unix.UDP_GRO, 1)
	tx, _ := rawUDP(t, network)
	if noCheck {
		unix.SetsockoptInt(tx, unix.SOL_SOCKET, unix.SO_NO_CHECK, 1)
	}
	oob := make([]byte, gsoCmsgSpace)
	putSegmentCmsg(oob, 100)
	var sa unix.Sockaddr = &unix.SockaddrInet6{Port: int(to.Port()), Addr: to.Addr().As16()}
	if network == "udp4" {
		sa = &unix.SockaddrInet4{Port: int(to.Port()), Addr: to.Addr().As4()}
	}
	if err := unix.Sendmsg(tx, make([]byte, 400), oob, sa, 0); err != nil {
		// The refused send goes again one datagram at a time, as the
		// loop does.
		for range 4 {
			unix.Sendto(tx, make([]byte, 100), 0, sa)
		}
		sendErr = err
	}
	data, seg := readGRO(t, rx)
	return len(data), seg, sendErr
}

// TestPacketSegmentedReplies has a handler queue, for each request, replies
// to two raw sockets, interleaved, in runs of one size, shorter ones,
// empty ones, and runs longer than a send may carry. Each raw socket reads
// exactly the datagrams queued for it, in order: what single sends give.
// A third socket, with UDP_GRO, reads what the kernel gives it for a
// grouped send made by hand. With SO_NO_CHECK on the loop's socket, the
// kernel refuses grouped sends, and the loop sends the datagrams one by
// one: the same datagrams arrive.
func TestPacketSegmentedReplies(t *testing.T) {
	for _, network := range []string{"udp4", "udp6"} {
		for _, noCheck := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/nocheck=%v", network, noCheck), func(t *testing.T) {
				testSegmentedReplies(t, network, noCheck)
			})
		}
	}
}

func testSegmentedReplies(t *testing.T, network string, noCheck bool) {
	wantN, wantSeg, kernelErr := kernelGRO(t, network, noCheck)
	t.Logf("kernel: a grouped send of 4x100 bytes (send error %v) reads as %d bytes, segment %d, with UDP_GRO", kernelErr, wantN, wantSeg)
	a, aAddr := rawUDP(t, network)
	b, bAddr := rawUDP(t, network)
	c, cAddr := rawUDP(t, network)
	unix.SetsockoptInt(c, unix.SOL_UDP, unix.UDP_GRO, 1)

	// The script: destination and size of each reply.
	type reply struct {
		to int // 0: a, 1: b
		n  int
	}
	var script []reply
	add := func(to, n, times int) {
		for range times {
			script = append(script, reply{to, n})
		}
	}
	add(0, 100, 3)
	add(1, 100, 2)
	add(0, 100, 2)
	add(0, 40, 1)
	add(1, 100, 1)
	add(0, 100, 3)
	add(0, 0, 1)
	add(0, 200, 2)
	add(1, 16, 70)
	add(0, 1400, 50)
	payload := func(i, n int) []byte {
		p := bytes.Repeat([]byte{byte(i)}, n)
		if n >= 4 {
			binary.BigEndian.PutUint32(p, uint32(i))
		}
		return p
	}

	var server *PacketServer
	h := PacketHandlers{
		Packet: func(pc *PacketConn, data []byte, from netip.AddrPort) {
			if noCheck {
				if err := unix.SetsockoptInt(pc.fd, unix.SOL_SOCKET, unix.SO_NO_CHECK, 1); err != nil {
					t.Errorf("SO_NO_CHECK: %v", err)
				}
			}
			for i, r := range script {
				to := []netip.AddrPort{aAddr, bAddr}[r.to]
				if err := pc.WriteTo(payload(i, r.n), to); err != nil {
					t.Errorf("WriteTo %d: %v", i, err)
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
	addr := "127.0.0.1:0"
	if network == "udp6" {
		addr = "[::1]:0"
	}
	server = servePacket(t, network, addr, h, &Config{Loops: 1})
	conn, err := net.Dial(network, server.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// With SO_NO_CHECK, the refused groups of the first round go again
	// one by one; on io_uring after the replies queued behind them to
	// the same socket. From then on the loop sends one by one, in order.
	rounds := 1
	if noCheck {
		rounds = 2
	}
	for round := range rounds {
		if _, err := conn.Write([]byte("go")); err != nil {
			t.Fatal(err)
		}
		ordered := !noCheck || round > 0
		for _, dest := range []struct {
			fd int
			to int
		}{{a, 0}, {b, 1}} {
			var want, got []string
			for i, r := range script {
				if r.to != dest.to {
					continue
				}
				want = append(want, fmt.Sprintf("%x", payload(i, r.n)))
				data, trunc, _ := recvRaw(t, dest.fd, 70000)
				if trunc {
					t.Fatalf("round %d: socket %d: MSG_TRUNC at 70000 bytes", round, dest.to)
				}
				got = append(got, fmt.Sprintf("%x", data))
			}
			if !ordered {
				slices.Sort(want)
				slices.Sort(got)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("round %d: socket %d: datagram %d (ordered %v) is %.16s... (%d bytes), want %.16s... (%d bytes)", round, dest.to, i, ordered, got[i], len(got[i])/2, want[i], len(want[i])/2)
				}
			}
		}
		// What is left in a and b must be nothing.
		for _, fd := range []int{a, b} {
			if n, _, err := unix.Recvfrom(fd, make([]byte, 1), unix.MSG_DONTWAIT|unix.MSG_TRUNC); err != unix.EAGAIN {
				t.Errorf("round %d: a datagram of %d bytes more than queued (%v)", round, n, err)
			}
		}
		gotData, gotSeg := readGRO(t, c)
		if len(gotData) != wantN || gotSeg != wantSeg {
			t.Errorf("round %d: UDP_GRO socket read %d bytes, segment %d, from the loop; %d and %d from a hand-made grouped send", round, len(gotData), gotSeg, wantN, wantSeg)
		}
		for range 4*100/max(len(gotData), 100) - 1 {
			readGRO(t, c)
		}
	}
}
