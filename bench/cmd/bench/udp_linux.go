package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
	"unsafe"

	"github.com/ksocket-go/ksocket"
	"github.com/ksocket-go/ksocket/gonet"
	"github.com/ksocket-go/ksocket/loop"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// The UDP points: an echo of datagrams, each sent back to its sender.

// udpBatch is the batch of the batching servers: 64 datagrams a call.
const udpBatch = 64

// udpServer runs impl's UDP echo on 127.0.0.1 and prints its address.
// Every server reads into 64 KiB buffers, so no datagram is cut.
//
//	net          Go net, one goroutine: ReadFrom, then WriteTo
//	net-mmsg     Go net with x/net's ReadBatch and WriteBatch: recvmmsg and
//	             sendmmsg, 64 a call; the reference floor for a Go server
//	berkeley     ksocket's Recvmmsg and Sendmmsg, 64 a call
//	berkeley-single  ksocket's Recvfrom, then Sendto
//	gonet        gonet, one goroutine: ReadFrom, then WriteTo
//	gonet-batch  gonet's ReadBatch and WriteBatch, 64 a call
//	loop         loop.ListenPacket: a multishot receive, and each batch's
//	             replies submitted together (one loop: GOMAXPROCS is 1)
func udpServer(impl string) {
	const buf = 64 << 10 // room for any datagram, in every server
	switch impl {
	case "net", "gonet":
		listen := net.ListenPacket
		if impl == "gonet" {
			listen = gonet.ListenPacket
		}
		pc, err := listen("udp4", "127.0.0.1:0")
		check(err)
		fmt.Println(pc.LocalAddr().String())
		b := make([]byte, buf)
		for {
			n, from, err := pc.ReadFrom(b)
			check(err)
			pc.WriteTo(b[:n], from) // a datagram that cannot go back is dropped, as UDP drops it
		}
	case "net-mmsg":
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		check(err)
		fmt.Println(c.LocalAddr().String())
		p := ipv4.NewPacketConn(c)
		echoBatches(p.ReadBatch, p.WriteBatch, buf)
	case "gonet-batch":
		c, err := gonet.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		check(err)
		fmt.Println(c.LocalAddr().String())
		echoBatches(c.ReadBatch, c.WriteBatch, buf)
	case "berkeley":
		s := berkeleyUDP()
		in := make([]ksocket.Msg, udpBatch)
		for i := range in {
			in[i].Buffers = [][]byte{make([]byte, buf)}
		}
		out := make([]ksocket.Msg, udpBatch)
		for {
			n, err := ksocket.Recvmmsg(s, in, unix.MSG_WAITFORONE)
			check(err)
			for i, m := range in[:n] {
				out[i] = ksocket.Msg{Buffers: [][]byte{m.Buffers[0][:m.N]}, Addr: m.Addr}
			}
			sendAll(func(msgs []ksocket.Msg) (int, error) { return ksocket.Sendmmsg(s, msgs, 0) }, out[:n])
		}
	case "berkeley-single":
		s := berkeleyUDP()
		b := make([]byte, buf)
		for {
			n, from, err := ksocket.Recvfrom(s, b, 0)
			check(err)
			ksocket.Sendto(s, b[:n], 0, from) // dropped if it cannot go back, as above
		}
	case "loop":
		h := loop.PacketHandlers{Packet: func(pc *loop.PacketConn, data []byte, from netip.AddrPort) {
			pc.WriteTo(data, from)
		}}
		s, err := loop.ListenPacket("udp4", "127.0.0.1:0", h, nil)
		check(err)
		fmt.Println(s.Addr().String())
		check(s.Serve())
	default:
		fatalf("server: -udp: unknown -impl %q: want one of %v", impl, udpServers)
	}
}

// berkeleyUDP opens a Berkeley API datagram socket on 127.0.0.1 and
// prints its address.
func berkeleyUDP() int {
	s, err := ksocket.SocketDatagram(unix.AF_INET, unix.SOCK_DGRAM, 0)
	check(err)
	check(ksocket.Bind(s, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	sa, err := ksocket.Getsockname(s)
	check(err)
	fmt.Printf("127.0.0.1:%d\n", sa.(*unix.SockaddrInet4).Port)
	return s
}

// echoBatches echoes with x/net's batch calls (net-mmsg and gonet-batch).
func echoBatches(read, write func([]ipv4.Message, int) (int, error), buf int) {
	in := make([]ipv4.Message, udpBatch)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, buf)}
	}
	out := make([]ipv4.Message, udpBatch)
	for {
		n, err := read(in, 0)
		check(err)
		for i, m := range in[:n] {
			out[i] = ipv4.Message{Buffers: [][]byte{m.Buffers[0][:m.N]}, Addr: m.Addr}
		}
		sendAll(func(msgs []ipv4.Message) (int, error) { return write(msgs, 0) }, out[:n])
	}
}

// sendAll sends every message of msgs, skipping one that fails (its
// sender gone: UDP drops it), with as few calls as the kernel allows.
func sendAll[M any](send func([]M) (int, error), msgs []M) {
	for len(msgs) > 0 {
		n, err := send(msgs)
		if err != nil {
			n = 1
		}
		msgs = msgs[max(n, 1):]
	}
}

// udpFlowTimeout is how long a flow waits for an echo before it counts its
// datagrams in flight as lost and sends new ones.
const udpFlowTimeout = 50 * time.Millisecond

// udp runs flow i: a connected UDP socket that keeps depth datagrams in
// flight, received in batches (recvmmsg through x/net) and sent in one
// sendmsg with UDP_SEGMENT, which the kernel cuts into the same datagrams
// (sendmmsg where it refuses that), so that the load costs little per
// datagram: the server is what limits the rate. The server reads separate
// datagrams either way; on loopback a segmented send of eight costs its
// sender about two thirds of sendmmsg's CPU. Each datagram
// carries its send time and the flow's epoch. When nothing comes back for
// udpFlowTimeout, the datagrams in flight count as lost, the epoch moves
// on (late echoes of an older one are dropped), and depth new ones go out.
func (l *loadGen) udp(i int, c *net.UDPConn) {
	p := ipv4.NewPacketConn(c)
	in := make([]ipv4.Message, l.depth)
	for k := range in {
		in[k].Buffers = [][]byte{make([]byte, max(l.size, 2048))}
	}
	out := make([]ipv4.Message, l.depth)
	for k := range out {
		out[k].Buffers = [][]byte{make([]byte, l.size)}
	}
	var epoch uint64
	// One buffer of depth datagrams for the segmented send, and its
	// UDP_SEGMENT control message.
	seg, gso := make([]byte, l.depth*l.size), l.depth > 1 && l.depth*l.size <= 65000
	oob := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&oob[unix.CmsgLen(0)])) = uint16(l.size)
	send := func(n int) error {
		now := uint64(time.Now().UnixNano())
		if gso && n > 1 {
			for k := range n {
				binary.LittleEndian.PutUint64(seg[k*l.size:], now)
				binary.LittleEndian.PutUint64(seg[k*l.size+8:], epoch)
			}
			_, _, err := c.WriteMsgUDP(seg[:n*l.size], oob, nil)
			if !errors.Is(err, unix.EIO) && !errors.Is(err, unix.EINVAL) {
				return err
			}
			gso = false // refused (no checksum offload on the route): sendmmsg from now on
		}
		for k := range out[:n] {
			binary.LittleEndian.PutUint64(out[k].Buffers[0][0:], now)
			binary.LittleEndian.PutUint64(out[k].Buffers[0][8:], epoch)
		}
		for msgs := out[:n]; len(msgs) > 0; {
			k, err := p.WriteBatch(msgs, 0)
			if err != nil {
				return err
			}
			msgs = msgs[k:]
		}
		return nil
	}
	if err := send(l.depth); err != nil {
		l.fail(err)
		return
	}
	inflight := l.depth
	for {
		c.SetReadDeadline(time.Now().Add(udpFlowTimeout))
		n, err := p.ReadBatch(in, 0)
		if isTimeout(err) {
			l.lost.Add(int64(inflight))
			epoch++
			if err := send(l.depth); err != nil {
				l.fail(err)
				return
			}
			inflight = l.depth
			continue
		}
		if err != nil {
			l.fail(err)
			return
		}
		now := time.Now()
		back := 0
		for _, m := range in[:n] {
			b := m.Buffers[0][:m.N]
			if m.N != l.size || binary.LittleEndian.Uint64(b[8:]) != epoch {
				continue // an echo from before a timeout, already counted lost
			}
			back++
			if l.measuring.Load() {
				s := &l.lat[i]
				s.mu.Lock()
				s.d = append(s.d, now.Sub(time.Unix(0, int64(binary.LittleEndian.Uint64(b)))))
				s.mu.Unlock()
			}
		}
		l.ops.Add(int64(back))
		if back > 0 {
			if err := send(back); err != nil {
				l.fail(err)
				return
			}
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// dialUDP opens n connected flows to addr, each proved with one echo.
func dialUDP(addr string, n, size int) ([]*net.UDPConn, error) {
	raddr, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return nil, err
	}
	var out []*net.UDPConn
	for range n {
		c, err := net.DialUDP("udp4", nil, raddr)
		if err != nil {
			return nil, err
		}
		if err := proveUDP(c, size); err != nil {
			return nil, fmt.Errorf("flow %d: %w", len(out), err)
		}
		out = append(out, c)
	}
	return out, nil
}

// proveUDP sends one datagram until its echo comes back: five tries.
func proveUDP(c *net.UDPConn, size int) error {
	msg, back := make([]byte, size), make([]byte, max(size, 2048))
	for range 5 {
		if _, err := c.Write(msg); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		if n, err := c.Read(back); err == nil && n == size {
			return nil
		}
	}
	return errors.New("no echo of a datagram in 5 tries")
}
