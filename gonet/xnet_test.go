//go:build linux

package gonet

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// TestXNetWrappersWithNet wraps UDP conns in golang.org/x/net's
// ipv4.PacketConn and ipv6.PacketConn, on net and on gonet, and does the
// same things through the wrappers on each: socket options, a multicast
// join on lo, sends with control messages (WriteTo and WriteBatch), and
// ReadBatch with control data parsed by ControlMessage.Parse. What each
// step reports must match net's. It runs with conns made at one P too,
// where a gonet UDPConn on the uring backend receives through a datagram
// queue, which the wrapper's SyscallConn takes it off.
func TestXNetWrappersWithNet(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skipf("no loopback interface: %v", err)
	}
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprintf("procs=%d", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			forUDPFamilies(t, func(t *testing.T, fam udpFamily) {
				scenario := xnet4
				if fam.network == "udp6" {
					scenario = xnet6
				}
				want := scenario(t, lo, net.ListenPacket)
				got := scenario(t, lo, func(network, address string) (net.PacketConn, error) {
					return ListenPacket(network, address)
				})
				if got != want {
					t.Errorf("through x/net's wrappers:\nnet:   %s\ngonet: %s", want, got)
				}
				t.Log(got)
			})
		})
	}
}

type listenPacketFunc func(network, address string) (net.PacketConn, error)

// xnetPair opens a sender on the loopback address and a receiver on the
// wildcard address, which multicast to a group it joined reaches too.
func xnetPair(t *testing.T, listen listenPacketFunc, network string, loopback net.IP) (a, b net.PacketConn, baddr *net.UDPAddr) {
	a, err := listen(network, net.JoinHostPort(loopback.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	b, err = listen(network, ":0")
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	port := b.LocalAddr().(*net.UDPAddr).Port
	return a, b, &net.UDPAddr{IP: loopback, Port: port}
}

// readAll reads n datagrams with ReadBatch and summarises each with
// parse, which reads its control data.
func readAll(rb func([]ipv4.Message, int) (int, error), deadline func(time.Time) error, n int, oobLen int, parse func(oob []byte) string) string {
	deadline(time.Now().Add(5 * time.Second))
	msgs := make([]ipv4.Message, n)
	for i := range msgs {
		msgs[i] = ipv4.Message{Buffers: [][]byte{make([]byte, 64)}, OOB: make([]byte, oobLen)}
	}
	s := ""
	for got := 0; got < n; {
		r, err := rb(msgs[got:], 0)
		if err != nil {
			return s + "; read " + errShape(err)
		}
		for _, m := range msgs[got : got+r] {
			s += fmt.Sprintf("; %q n=%d %s", m.Buffers[0][:m.N], m.N, parse(m.OOB[:m.NN]))
		}
		got += r
	}
	return s
}

func xnet4(t *testing.T, lo *net.Interface, listen listenPacketFunc) string {
	a, b, baddr := xnetPair(t, listen, "udp4", net.IPv4(127, 0, 0, 1))
	pa, pb := ipv4.NewPacketConn(a), ipv4.NewPacketConn(b)
	var s string
	step := func(name string, err error) { s += fmt.Sprintf("%s %s; ", name, errShape(err)) }

	step("SetControlMessage", pb.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true))
	step("SetTOS", pa.SetTOS(0x28))
	tos, err := pa.TOS()
	s += fmt.Sprintf("TOS %#x %s; ", tos, errShape(err))
	step("SetTTL", pa.SetTTL(9))
	ttl, err := pa.TTL()
	s += fmt.Sprintf("TTL %d %s; ", ttl, errShape(err))
	step("SetMulticastTTL", pa.SetMulticastTTL(3))
	step("SetMulticastInterface", pa.SetMulticastInterface(lo))
	step("SetMulticastLoopback", pa.SetMulticastLoopback(true))
	group := &net.UDPAddr{IP: net.IPv4(239, 8, 9, 20), Port: baddr.Port}
	step("JoinGroup", pb.JoinGroup(lo, group))

	_, err = pa.WriteTo([]byte("unicast"), &ipv4.ControlMessage{TTL: 7}, baddr)
	step("WriteTo", err)
	_, err = pa.WriteTo([]byte("multicast"), nil, group)
	step("WriteTo group", err)
	out := []ipv4.Message{
		{Buffers: [][]byte{[]byte("batch"), []byte("-0")}, Addr: baddr},
		{Buffers: [][]byte{[]byte("batch-1")}, Addr: baddr},
	}
	n, err := pa.WriteBatch(out, 0)
	s += fmt.Sprintf("WriteBatch %d %s", n, errShape(err))

	s += readAll(pb.ReadBatch, pb.SetReadDeadline, 4, len(ipv4.NewControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface)),
		func(oob []byte) string {
			var cm ipv4.ControlMessage
			if err := cm.Parse(oob); err != nil {
				return "parse " + err.Error()
			}
			return fmt.Sprintf("ttl=%d dst=%v lo=%v", cm.TTL, cm.Dst, cm.IfIndex == lo.Index)
		})
	step("; LeaveGroup", pb.LeaveGroup(lo, group))
	return s
}

func xnet6(t *testing.T, lo *net.Interface, listen listenPacketFunc) string {
	a, b, baddr := xnetPair(t, listen, "udp6", net.IPv6loopback)
	pa, pb := ipv6.NewPacketConn(a), ipv6.NewPacketConn(b)
	var s string
	step := func(name string, err error) { s += fmt.Sprintf("%s %s; ", name, errShape(err)) }

	flags := ipv6.FlagTrafficClass | ipv6.FlagHopLimit | ipv6.FlagDst | ipv6.FlagInterface
	step("SetControlMessage", pb.SetControlMessage(flags, true))
	step("SetTrafficClass", pa.SetTrafficClass(0x28))
	tc, err := pa.TrafficClass()
	s += fmt.Sprintf("TrafficClass %#x %s; ", tc, errShape(err))
	step("SetHopLimit", pa.SetHopLimit(9))
	hl, err := pa.HopLimit()
	s += fmt.Sprintf("HopLimit %d %s; ", hl, errShape(err))
	step("SetMulticastHopLimit", pa.SetMulticastHopLimit(3))
	step("SetMulticastInterface", pa.SetMulticastInterface(lo))
	step("SetMulticastLoopback", pa.SetMulticastLoopback(true))
	group := &net.UDPAddr{IP: net.ParseIP("ff12::8:20"), Port: baddr.Port}
	step("JoinGroup", pb.JoinGroup(lo, group))

	_, err = pa.WriteTo([]byte("unicast"), &ipv6.ControlMessage{HopLimit: 7, TrafficClass: 0x48}, baddr)
	step("WriteTo", err)
	out := []ipv6.Message{
		{Buffers: [][]byte{[]byte("batch"), []byte("-0")}, Addr: baddr},
		{Buffers: [][]byte{[]byte("batch-1")}, Addr: baddr},
	}
	n, err := pa.WriteBatch(out, 0)
	s += fmt.Sprintf("WriteBatch %d %s", n, errShape(err))

	// No datagram to the group: lo here has no IPv6 multicast route.
	s += readAll(pb.ReadBatch, pb.SetReadDeadline, 3, len(ipv6.NewControlMessage(flags)),
		func(oob []byte) string {
			var cm ipv6.ControlMessage
			if err := cm.Parse(oob); err != nil {
				return "parse " + err.Error()
			}
			return fmt.Sprintf("class=%#x hops=%d dst=%v lo=%v", cm.TrafficClass, cm.HopLimit, cm.Dst, cm.IfIndex == lo.Index)
		})
	step("; LeaveGroup", pb.LeaveGroup(lo, group))
	return s
}

// TestRawReadsAfterQueuedReads reads datagrams with ReadFrom, which on
// the uring backend at one P arms the datagram queue, then wraps the conn
// in x/net's ipv4.PacketConn, whose ReadBatch reads raw through
// SyscallConn, and reads the rest with both. Every datagram comes out
// once: those the queue took before the wrap from the next ReadFrom, the
// rest from ReadBatch.
func TestRawReadsAfterQueuedReads(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	a, err := ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	send := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := a.WriteTo([]byte(fmt.Sprint(i)), b.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
	}
	buf := make([]byte, 64)
	send(0, 1)
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := b.ReadFrom(buf); err != nil || string(buf[:n]) != "0" {
		t.Fatalf("ReadFrom: %q, %v", buf[:n], err)
	}
	send(1, 4) // the queue may take these before the wrap
	p := ipv4.NewPacketConn(b)
	send(4, 8)

	var got []string
	msgs := make([]ipv4.Message, 8)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 64)}
	}
	p.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	for {
		n, err := p.ReadBatch(msgs, 0)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatalf("ReadBatch: %v", err)
		}
		for _, m := range msgs[:n] {
			got = append(got, string(m.Buffers[0][:m.N]))
		}
	}
	fromBatch := len(got)
	b.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	for {
		n, _, err := b.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatalf("ReadFrom: %v", err)
		}
		got = append(got, string(buf[:n]))
	}
	t.Logf("ReadBatch took %d, ReadFrom %d: %v", fromBatch, len(got)-fromBatch, got)
	slices.Sort(got)
	if want := []string{"1", "2", "3", "4", "5", "6", "7"}; !slices.Equal(got, want) {
		t.Errorf("datagrams read: %v, want each of %v once", got, want)
	}
	// Datagrams sent after the wrap are the raw reads' alone.
	if fromBatch < 4 {
		t.Errorf("ReadBatch took %d datagrams; the 4 sent after the wrap at least", fromBatch)
	}
}

// TestFileAfterQueuedReads reads a datagram with ReadFrom, which on the
// uring backend at one P arms the datagram queue, then takes the socket's
// File and reads its fd directly: every datagram sent after File must
// reach that fd, none left in the engine's queue.
func TestFileAfterQueuedReads(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	a, err := ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := a.WriteTo([]byte("first"), b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	if n, _, err := b.ReadFrom(buf); err != nil || string(buf[:n]) != "first" {
		t.Fatalf("ReadFrom: %q, %v", buf[:n], err)
	}
	f, err := b.File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := range 3 {
		if _, err := a.WriteTo([]byte(fmt.Sprint(i)), b.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	rc, err := f.SyscallConn() // not Fd, which would make the shared open file blocking
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for end := time.Now().Add(2 * time.Second); len(got) < 3 && time.Now().Before(end); {
		var n int
		rc.Control(func(fd uintptr) { n, _, err = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT) })
		if err == unix.EAGAIN {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(buf[:n]))
	}
	if !slices.Equal(got, []string{"0", "1", "2"}) {
		t.Errorf("read from File's fd: %q, want the 3 datagrams sent after File", got)
	}
}
