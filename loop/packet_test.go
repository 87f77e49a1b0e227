//go:build linux

package loop

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// packetEcho sends every datagram back to its sender.
var packetEcho = PacketHandlers{Packet: func(pc *PacketConn, data []byte, from netip.AddrPort) {
	pc.WriteTo(data, from)
}}

// servePacket starts a PacketServer and stops it at the end of the test.
// poke sends one datagram ("go") from a fresh UDP socket to s, which
// makes its handler run; the socket is closed at cleanup.
func poke(t *testing.T, s *PacketServer) {
	t.Helper()
	conn, err := net.Dial("udp4", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write([]byte("go")); err != nil {
		t.Fatal(err)
	}
}

func servePacket(t *testing.T, network, addr string, h PacketHandler, cfg *Config) *PacketServer {
	t.Helper()
	s, err := ListenPacket(network, addr, h, cfg)
	if err != nil {
		t.Fatalf("ListenPacket: %v", err)
	}
	run(t, s)
	return s
}

// exchange sends msg on c and returns the answer, sending again (up to 5
// times) if none comes within a second: UDP may drop.
func exchange(t *testing.T, c net.Conn, msg []byte) []byte {
	t.Helper()
	buf := make([]byte, 70000)
	for range 5 {
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("write: %v", err)
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		if err == nil {
			return buf[:n]
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read: %v", err)
		}
	}
	t.Fatalf("no answer to a %d-byte datagram in 5 tries", len(msg))
	return nil
}

// TestPacketEchoSequencedFlows runs 16 flows with 8 datagrams in flight
// over two loops: every datagram comes back once, intact.
func TestPacketEchoSequencedFlows(t *testing.T) {
	s := servePacket(t, "udp4", "127.0.0.1:0", packetEcho, &Config{Loops: 2})
	const flows, inFlight, rounds = 16, 8, 40
	var wg sync.WaitGroup
	for f := range flows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("udp4", s.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			seen := make(map[uint64]bool)
			buf := make([]byte, 2048)
			for r := range rounds {
				for k := range inFlight {
					msg := binary.BigEndian.AppendUint64(nil, uint64(f)<<32|uint64(r*inFlight+k))
					msg = append(msg, bytes.Repeat([]byte{byte(k)}, 100*k)...)
					c.Write(msg)
				}
				for range inFlight {
					c.SetReadDeadline(time.Now().Add(5 * time.Second))
					n, err := c.Read(buf)
					if err != nil {
						t.Errorf("flow %d round %d: %v", f, r, err)
						return
					}
					seq := binary.BigEndian.Uint64(buf)
					k := int(seq) % inFlight
					if seq>>32 != uint64(f) || n != 8+100*k || !bytes.Equal(buf[8:n], bytes.Repeat([]byte{byte(k)}, 100*k)) {
						t.Errorf("flow %d: datagram %x of %d bytes is not one this flow sent", f, seq, n)
						return
					}
					if seen[seq] {
						t.Errorf("flow %d: datagram %x came back twice", f, seq)
						return
					}
					seen[seq] = true
				}
			}
		}()
	}
	wg.Wait()
}

// recvRaw reads one datagram with recvfrom(2) on a raw socket into a buffer
// of room bytes, as the oracle: its length, MSG_TRUNC, and its sender.
func recvRaw(t *testing.T, fd, room int) (data []byte, trunc bool, from netip.AddrPort) {
	t.Helper()
	buf := make([]byte, room)
	tv := unix.Timeval{Sec: 5}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	n, _, flags, sa, err := unix.Recvmsg(fd, buf, nil, 0)
	for err == unix.EINTR { // the runtime's preemption signal
		n, _, flags, sa, err = unix.Recvmsg(fd, buf, nil, 0)
	}
	if err != nil {
		t.Fatalf("raw recvmsg: %v", err)
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		from = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		from = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port))
	}
	return buf[:n], flags&unix.MSG_TRUNC != 0, from
}

type seenPacket struct {
	data  []byte
	trunc bool
	from  netip.AddrPort
}

// TestPacketMatchesKernel sends the same datagrams from one socket to a
// loop and to a raw socket with the same room: the handler sees what
// recvmsg(2) gives, cut short with MSG_TRUNC alike, from the same sender.
func TestPacketMatchesKernel(t *testing.T) {
	for _, tc := range []struct {
		network, addr, raw string
		room               int
	}{
		{"udp4", "127.0.0.1:0", "127.0.0.1:0", 0},
		{"udp4", "127.0.0.1:0", "127.0.0.1:0", 1000},
		{"udp6", "[::1]:0", "[::1]:0", 0},
		{"udp", ":0", "127.0.0.1:0", 0}, // dual stack: an IPv4 sender
	} {
		t.Run(fmt.Sprintf("%s/%s/room=%d", tc.network, tc.addr, tc.room), func(t *testing.T) {
			got := make(chan seenPacket, 16)
			h := PacketHandlers{Packet: func(pc *PacketConn, data []byte, from netip.AddrPort) {
				got <- seenPacket{bytes.Clone(data), pc.Truncated(), from}
			}}
			s := servePacket(t, tc.network, tc.addr, h, &Config{Loops: 1, BufferSize: tc.room})
			room := tc.room
			if room == 0 {
				room = 64 << 10
			}
			rawConn, err := net.ListenPacket(tc.network, tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			defer rawConn.Close()
			rawFile, _ := rawConn.(*net.UDPConn).File()
			defer rawFile.Close()
			unix.SetNonblock(int(rawFile.Fd()), false)
			loopAddr := s.Addr().(*net.UDPAddr).AddrPort()
			if tc.network == "udp" {
				loopAddr = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), loopAddr.Port())
			}
			sender, err := net.ListenUDP(map[bool]string{true: "udp6", false: "udp4"}[loopAddr.Addr().Is6()], nil)
			if err != nil {
				t.Fatal(err)
			}
			defer sender.Close()
			for _, size := range []int{0, 1, 999, 1000, 1001, 1200, 9000, 65507} {
				if loopAddr.Addr().Is6() && size == 65507 {
					size = 65527
				}
				msg := bytes.Repeat([]byte{byte(size)}, size)
				for _, to := range []netip.AddrPort{loopAddr, rawConn.LocalAddr().(*net.UDPAddr).AddrPort()} {
					if _, err := sender.WriteToUDPAddrPort(msg, to); err != nil {
						t.Fatalf("send %d bytes: %v", size, err)
					}
				}
				var p seenPacket
				select {
				case p = <-got:
				case <-time.After(5 * time.Second):
					t.Fatalf("%d bytes: no OnPacket in 5s", size)
				}
				want, trunc, from := recvRaw(t, int(rawFile.Fd()), room)
				if !bytes.Equal(p.data, want) || p.trunc != trunc || p.from != from {
					t.Errorf("%d bytes: handler saw %d bytes, truncated %v, from %v; recvmsg gives %d, %v, %v",
						size, len(p.data), p.trunc, p.from, len(want), trunc, from)
				}
			}
		})
	}
}

// TestPacketSendErrorMatchesKernel: a reply the kernel refuses (to the
// broadcast address without SO_BROADCAST) reaches OnSendError with the
// errno that sendto(2) gives for it.
func TestPacketSendErrorMatchesKernel(t *testing.T) {
	bcast := netip.MustParseAddrPort("255.255.255.255:9")
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	rawErr := unix.Sendto(fd, []byte("x"), 0, &unix.SockaddrInet4{Port: 9, Addr: bcast.Addr().As4()})
	unix.Close(fd)
	if rawErr == nil {
		t.Skip("the kernel sends to 255.255.255.255 without SO_BROADCAST here")
	}
	errc := make(chan error, 1)
	h := PacketHandlers{
		Packet: func(pc *PacketConn, data []byte, from netip.AddrPort) {
			if err := pc.WriteTo(data, bcast); err != nil {
				errc <- fmt.Errorf("WriteTo failed at once: %w", err)
			}
			pc.WriteTo(data, from)
		},
		SendError: func(pc *PacketConn, to netip.AddrPort, err error) {
			if to != bcast {
				err = fmt.Errorf("OnSendError for %v, want %v: %w", to, bcast, err)
			}
			errc <- err
		},
	}
	s := servePacket(t, "udp4", "127.0.0.1:0", h, &Config{Loops: 1})
	c, err := net.Dial("udp4", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := exchange(t, c, []byte("hello")); string(got) != "hello" {
		t.Fatalf("echo %q", got)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, rawErr) {
			t.Fatalf("OnSendError got %v; sendto(2) gives %v", err, rawErr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no OnSendError in 5s")
	}
}

func TestPacketWriteToBadInput(t *testing.T) {
	results := make(chan []error, 1)
	h := PacketHandlers{Packet: func(pc *PacketConn, data []byte, from netip.AddrPort) {
		results <- []error{
			pc.WriteTo(make([]byte, 70000), from),
			pc.WriteTo(data, netip.MustParseAddrPort("[::1]:9")),
			pc.WriteTo(data, netip.AddrPort{}),
		}
		pc.WriteTo(data, from)
	}}
	s := servePacket(t, "udp4", "127.0.0.1:0", h, &Config{Loops: 1})
	c, err := net.Dial("udp4", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exchange(t, c, []byte("x"))
	errs := <-results
	for i, want := range []error{unix.EMSGSIZE, unix.EAFNOSUPPORT, unix.EDESTADDRREQ} {
		var op *net.OpError
		if !errors.Is(errs[i], want) || !errors.As(errs[i], &op) {
			t.Errorf("case %d: WriteTo = %v; want a *net.OpError wrapping %v", i, errs[i], want)
		}
	}
}

// TestPacketBurstBeyondBuffers sends bursts larger than the loop's eight
// receive buffers, so the multishot receive runs out (ENOBUFS) and is
// re-armed: every datagram is seen once.
func TestPacketBurstBeyondBuffers(t *testing.T) {
	var mu sync.Mutex
	seen := map[uint32]int{}
	h := PacketHandlers{Packet: func(pc *PacketConn, data []byte, from netip.AddrPort) {
		mu.Lock()
		seen[binary.BigEndian.Uint32(data)]++
		mu.Unlock()
		pc.WriteTo(data[:4], from)
	}}
	s := servePacket(t, "udp4", "127.0.0.1:0", h, &Config{Loops: 1, Buffers: 8, BufferSize: 2048})
	c, err := net.Dial("udp4", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const bursts, burst = 20, 64
	buf := make([]byte, 64)
	for b := range bursts {
		for k := range burst {
			msg := binary.BigEndian.AppendUint32(nil, uint32(b*burst+k))
			c.Write(append(msg, make([]byte, 500)...))
		}
		for range burst {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Read(buf); err != nil {
				t.Fatalf("burst %d: %v", b, err)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range uint32(bursts * burst) {
		if seen[i] != 1 {
			t.Fatalf("datagram %d seen %d times", i, seen[i])
		}
	}
}

func TestPacketDoFromAnotherGoroutine(t *testing.T) {
	h := PacketHandlers{Packet: func(pc *PacketConn, data []byte, from netip.AddrPort) {
		in := string(data)
		go func() {
			time.Sleep(5 * time.Millisecond)
			pc.Do(func(pc *PacketConn) { pc.WriteTo([]byte("done: "+in), from) })
		}()
	}}
	s := servePacket(t, "udp4", "127.0.0.1:0", h, &Config{Loops: 1})
	c, err := net.Dial("udp4", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := exchange(t, c, []byte("job")); string(got) != "done: job" {
		t.Fatalf("got %q", got)
	}
}

// TestPacketCloseUnderLoad closes the server while a client floods it and
// the handler queues replies: Close returns, Serve returns nil, Do after
// Close reports net.ErrClosed, and the port is free again.
func TestPacketCloseUnderLoad(t *testing.T) {
	var pcs sync.Map
	var packets atomic.Int64
	h := PacketHandlers{Packet: func(pc *PacketConn, data []byte, from netip.AddrPort) {
		pcs.Store(pc, true)
		packets.Add(1)
		for range 4 {
			pc.WriteTo(data, from)
		}
	}}
	s, err := ListenPacket("udp4", "127.0.0.1:0", h, &Config{Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve() }()
	c, err := net.Dial("udp4", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		msg := make([]byte, 1200)
		for i := 0; i < 200000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			c.Write(msg)
		}
	}()
	for deadline := time.Now().Add(5 * time.Second); packets.Load() < 100 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if err := <-errc; err != nil {
		t.Fatalf("Serve = %v", err)
	}
	pcs.Range(func(k, _ any) bool {
		if err := k.(*PacketConn).Do(func(*PacketConn) {}); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Do after Close = %v; want net.ErrClosed", err)
		}
		return true
	})
	l, err := net.ListenPacket("udp4", s.Addr().String())
	if err != nil {
		t.Fatalf("the port is still held after Close: %v", err)
	}
	l.Close()
}

// TestPacketCloseWithoutServe frees the sockets of a server never served.
func TestPacketCloseWithoutServe(t *testing.T) {
	s, err := ListenPacket("udp4", "127.0.0.1:0", packetEcho, &Config{Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := net.ListenPacket("udp4", s.Addr().String())
	if err != nil {
		t.Fatalf("the port is still held after Close: %v", err)
	}
	l.Close()
	if err := s.Serve(); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Close = %v; want ErrServerClosed", err)
	}
}

func TestListenPacketErrors(t *testing.T) {
	for _, tc := range []struct{ network, addr string }{
		{"tcp", "127.0.0.1:0"},
		{"udp", "localhost:0"},
		{"udp4", "[::1]:0"},
		{"udp6", "127.0.0.1:0"},
		{"udp", "127.0.0.1:70000"},
	} {
		if s, err := ListenPacket(tc.network, tc.addr, packetEcho, nil); err == nil {
			s.Close()
			t.Errorf("ListenPacket(%q, %q) succeeded", tc.network, tc.addr)
		}
	}
	if _, err := ListenPacket("udp", "127.0.0.1:0", packetEcho, &Config{Buffers: 1000}); err == nil {
		t.Error("Buffers 1000 (not a power of two) accepted")
	}
}

// TestPacketPortNotShared: another socket cannot bind the server's port
// with SO_REUSEADDR and take its datagrams, as it could if the loops set
// SO_REUSEADDR on UDP.
func TestPacketPortNotShared(t *testing.T) {
	s := servePacket(t, "udp4", "127.0.0.1:0", packetEcho, &Config{Loops: 1})
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	port := s.Addr().(*net.UDPAddr).Port
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); !errors.Is(err, unix.EADDRINUSE) {
		t.Fatalf("a SO_REUSEADDR socket binding the server's port: %v; want EADDRINUSE", err)
	}
}

// TestPacketV6OnlyMatchesNet: "udp6" is IPv6-only and "udp" dual-stack,
// whatever the system default, as net makes them.
func TestPacketV6OnlyMatchesNet(t *testing.T) {
	for _, network := range []string{"udp", "udp6"} {
		s := servePacket(t, network, "[::]:0", packetEcho, &Config{Loops: 1})
		got, err := unix.GetsockoptInt(s.conns[0].fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY)
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.ListenPacket(network, "[::]:0")
		if err != nil {
			t.Fatal(err)
		}
		f, _ := c.(*net.UDPConn).File()
		want, err := unix.GetsockoptInt(int(f.Fd()), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY)
		f.Close()
		c.Close()
		if err != nil || got != want {
			t.Errorf("%s: IPV6_V6ONLY %d; net's is %d (%v)", network, got, want, err)
		}
	}
}

// TestPacketZones: IPv6 zones map to interface indexes and back as net
// maps them: by name or number, and a scope with no interface as its
// number.
func TestPacketZones(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skipf("no lo interface: %v", err)
	}
	for _, zone := range []string{"lo", fmt.Sprint(lo.Index)} {
		var raw unix.RawSockaddrInet6
		if _, err := putAddrPort(unix.AF_INET6, netip.MustParseAddrPort("[fe80::1%"+zone+"]:9"), &raw); err != nil {
			t.Fatal(err)
		}
		if raw.Scope_id != uint32(lo.Index) {
			t.Errorf("zone %q: scope %d; want lo's index %d", zone, raw.Scope_id, lo.Index)
		}
		if got := addrPortFrom(unsafe.Pointer(&raw), unix.SizeofSockaddrInet6).Addr().Zone(); got != "lo" {
			t.Errorf("scope %d: zone %q; want lo", raw.Scope_id, got)
		}
	}
	raw := unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: netip.MustParseAddr("fe80::1").As16(), Scope_id: 1 << 30}
	if got := addrPortFrom(unsafe.Pointer(&raw), unix.SizeofSockaddrInet6).Addr().Zone(); got != fmt.Sprint(1<<30) {
		t.Errorf("a scope with no interface: zone %q; want its number", got)
	}
}
