//go:build linux

package gonet

import (
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"syscall"

	"github.com/ksocket-go/ksocket/internal/engine"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// UDPConn is a UDP socket on the engine, with *net.UDPConn's methods. It
// is a net.PacketConn, and a net.Conn when dialed.
type UDPConn struct {
	conn
	family int
}

// newPacketConn wraps a datagram socket: a *UDPConn, or a *UnixConn for
// unixgram.
func newPacketConn(s *engine.Socket, network string, family int, raddr net.Addr) net.Conn {
	if family == unix.AF_UNIX {
		return newUnixConn(s, network, raddr)
	}
	return newUDPConn(s, network, family, raddr)
}

func newUDPConn(s *engine.Socket, network string, family int, raddr net.Addr) *UDPConn {
	c := &UDPConn{conn: conn{s: s, netIdx: networkIndex(network), raddr: raddr}, family: family}
	s.QueueDatagrams()      // uring, at GOMAXPROCS=1: plain reads take datagrams from one multishot receive
	s.SendDatagramsNow()    // uring: sends try sendto(2) first, and wait on the ring only for room
	s.ReceiveDatagramsNow() // uring, where it does not queue: receives try recvmsg(2) first
	s.RawWaitsInNetpoller() // uring, at more than one P: ReadBatch, WriteBatch and raw reads wait in the netpoller
	c.laddr = localAddr(s, network)
	return c
}

// SyscallConn returns the raw connection, as net's does. It first takes
// the conn off its datagram queue (see the package doc), so that raw
// reads, which x/net's ipv4.PacketConn and ipv6.PacketConn make, see
// every datagram the queue has not taken already.
func (c *UDPConn) SyscallConn() (syscall.RawConn, error) {
	c.s.LeaveDatagramQueue()
	return c.conn.SyscallConn()
}

// File returns a copy of the socket as an *os.File, as net's does, and
// first takes the conn off its datagram queue, as SyscallConn does: what
// reads the copy then gets every datagram the queue has not taken
// already.
func (c *UDPConn) File() (*os.File, error) {
	c.s.LeaveDatagramQueue()
	return c.conn.File()
}

// ReadFrom reads one datagram into b and returns its sender. A datagram
// larger than b is truncated to len(b), as with net.
func (c *UDPConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, sa, _, err := c.s.Recv(bg, b, 0, true, 0)
	if err != nil {
		return n, nil, c.readErr(err)
	}
	return n, sockaddrToAddr(c.network(), sa), nil
}

// ReadFromUDP is ReadFrom returning a *net.UDPAddr.
func (c *UDPConn) ReadFromUDP(b []byte) (int, *net.UDPAddr, error) {
	n, a, err := c.ReadFrom(b)
	ua, _ := a.(*net.UDPAddr)
	return n, ua, err
}

// ReadFromUDPAddrPort is ReadFrom returning a netip.AddrPort.
func (c *UDPConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	n, ua, err := c.ReadFromUDP(b)
	if ua == nil {
		return n, netip.AddrPort{}, err
	}
	return n, ua.AddrPort(), err
}

// WriteTo sends b as one datagram to addr.
func (c *UDPConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.raddr != nil {
		return 0, &net.OpError{Op: "write", Net: c.network(), Source: c.laddr, Addr: addr, Err: net.ErrWriteToConnected}
	}
	if !destinationType(c.family, addr) {
		// As in net: a UDP socket sends to a *net.UDPAddr, a unixgram
		// socket to a *net.UnixAddr.
		return 0, &net.OpError{Op: "write", Net: c.network(), Source: c.laddr, Addr: addr, Err: syscall.EINVAL}
	}
	sa, err := addrToSockaddr(c.family, addr)
	if err != nil {
		return 0, &net.OpError{Op: "write", Net: c.network(), Source: c.laddr, Addr: addr, Err: err}
	}
	n, err := c.s.Send(bg, b, 0, sa, 0)
	if err != nil {
		return n, opError("write", "sendto", c.network(), c.laddr, addr, err)
	}
	return n, nil
}

// destinationType reports whether addr is of the type a socket of family
// sends to; nil passes, for addrToSockaddr to refuse.
func destinationType(family int, addr net.Addr) bool {
	switch addr.(type) {
	case nil:
		return true
	case *net.UnixAddr:
		return family == unix.AF_UNIX
	case *net.UDPAddr:
		return family != unix.AF_UNIX
	}
	return false
}

// WriteToUDP is WriteTo for a *net.UDPAddr.
func (c *UDPConn) WriteToUDP(b []byte, addr *net.UDPAddr) (int, error) {
	return c.WriteTo(b, addr)
}

// WriteToUDPAddrPort is WriteTo for a netip.AddrPort.
func (c *UDPConn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return c.WriteTo(b, net.UDPAddrFromAddrPort(addr))
}

// ReadMsgUDP reads one datagram into b and its control messages into oob
// (x/net/ipv4 and ipv6 build and parse them), and returns the message's
// MSG_* flags and its sender.
func (c *UDPConn) ReadMsgUDP(b, oob []byte) (n, oobn, flags int, addr *net.UDPAddr, err error) {
	n, oobn, flags, sa, err := c.readMsg(b, oob, 0)
	if a, ok := sockaddrToAddr(c.network(), sa).(*net.UDPAddr); ok {
		addr = a
	}
	return n, oobn, flags, addr, err
}

// ReadMsgUDPAddrPort is ReadMsgUDP returning a netip.AddrPort.
func (c *UDPConn) ReadMsgUDPAddrPort(b, oob []byte) (n, oobn, flags int, addr netip.AddrPort, err error) {
	n, oobn, flags, ua, err := c.ReadMsgUDP(b, oob)
	if ua != nil {
		addr = ua.AddrPort()
	}
	return n, oobn, flags, addr, err
}

// WriteMsgUDP sends b with the control messages in oob, to addr, or to the
// peer of a dialed socket, when addr must be nil.
func (c *UDPConn) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (n, oobn int, err error) {
	if addr == nil {
		return c.writeMsgUDP(b, oob, netip.AddrPort{}, nil)
	}
	return c.writeMsgUDP(b, oob, addr.AddrPort(), addr)
}

// WriteMsgUDPAddrPort is WriteMsgUDP for a netip.AddrPort; the zero value
// is no address.
func (c *UDPConn) WriteMsgUDPAddrPort(b, oob []byte, addr netip.AddrPort) (n, oobn int, err error) {
	var a net.Addr
	if addr.IsValid() {
		a = net.UDPAddrFromAddrPort(addr)
	}
	return c.writeMsgUDP(b, oob, addr, a)
}

// writeMsgUDP checks the destination as net does, then sends. errAddr is
// the address its errors name.
func (c *UDPConn) writeMsgUDP(b, oob []byte, to netip.AddrPort, errAddr net.Addr) (int, int, error) {
	fail := func(err error) (int, int, error) {
		return 0, 0, &net.OpError{Op: "write", Net: c.network(), Source: c.laddr, Addr: errAddr, Err: err}
	}
	var sa unix.Sockaddr
	switch {
	case c.raddr != nil && errAddr != nil:
		return fail(net.ErrWriteToConnected)
	case c.raddr == nil && errAddr == nil:
		return fail(errMissingAddress)
	case errAddr != nil:
		var err error
		if sa, err = addrPortToSockaddr(c.family, to); err != nil {
			return fail(err)
		}
	}
	n, oobn, err := c.writeMsg(b, oob, sa)
	return n, oobn, opError("write", "sendmsg", c.network(), c.laddr, errAddr, err)
}

var _ net.PacketConn = (*UDPConn)(nil)

// ReadBatch reads up to len(ms) datagrams in one recvmmsg(2), waiting
// until at least one is there, as x/net's ipv4.PacketConn.ReadBatch does
// (ipv4.Message and ipv6.Message are one type). For each it sets N, NN,
// Flags and Addr. quic-go finds it, with ReadMsgUDP and WriteMsgUDP, and
// reads in batches.
func (c *UDPConn) ReadBatch(ms []ipv4.Message, flags int) (int, error) {
	sc := readBatches.Get().(*readBatch)
	defer sc.free()
	mm := sc.messages(ms, c.family)
	n, err := c.s.RecvMmsg(bg, mm, flags, 0)
	if err != nil {
		return 0, opError("read", "recvmmsg", c.network(), c.laddr, c.raddr, err)
	}
	for i := range n {
		m := &ms[i]
		m.N, m.NN, m.Flags = mm[i].N, mm[i].OOBN, mm[i].Flags
		m.Addr = sockaddrToAddr(c.network(), mm[i].Addr)
	}
	return n, nil
}

// readBatch is ReadBatch's scratch, pooled: the engine's messages, and
// sender addresses of the conn's family for the engine to fill in place
// (engine.Mmsg), so that a batch allocates only the net.Addr it returns
// for each datagram (measured with quic-go over gonet: 102k against net's
// 55k allocations per 16 MiB moved, before).
type readBatch struct {
	mm  []engine.Mmsg
	sa4 []unix.SockaddrInet4
	sa6 []unix.SockaddrInet6
}

var readBatches = sync.Pool{New: func() any { return new(readBatch) }}

// messages returns the engine's view of ms, for a socket of family.
func (sc *readBatch) messages(ms []ipv4.Message, family int) []engine.Mmsg {
	sc.mm = slices.Grow(sc.mm[:0], len(ms))[:len(ms)]
	for i := range ms {
		sc.mm[i] = engine.Mmsg{Buffers: ms[i].Buffers, OOB: ms[i].OOB}
	}
	switch family {
	case unix.AF_INET:
		sc.sa4 = slices.Grow(sc.sa4[:0], len(ms))[:len(ms)]
		for i := range sc.mm {
			sc.mm[i].Addr = &sc.sa4[i]
		}
	case unix.AF_INET6:
		sc.sa6 = slices.Grow(sc.sa6[:0], len(ms))[:len(ms)]
		for i := range sc.mm {
			sc.mm[i].Addr = &sc.sa6[i]
		}
	}
	return sc.mm
}

// free drops the caller's buffers and pools the scratch.
func (sc *readBatch) free() {
	clear(sc.mm)
	readBatches.Put(sc)
}

// WriteBatch sends ms in one sendmmsg(2), each to its Addr (nil on a
// dialed socket), and returns how many went: fewer than len(ms) when the
// send buffer filled. It sets each sent message's N.
func (c *UDPConn) WriteBatch(ms []ipv4.Message, flags int) (int, error) {
	mm := make([]engine.Mmsg, len(ms))
	for i := range ms {
		mm[i] = engine.Mmsg{Buffers: ms[i].Buffers, OOB: ms[i].OOB}
		if ms[i].Addr != nil {
			sa, err := addrToSockaddr(c.family, ms[i].Addr)
			if err != nil {
				return 0, &net.OpError{Op: "write", Net: c.network(), Source: c.laddr, Addr: ms[i].Addr, Err: err}
			}
			mm[i].Addr = sa
		}
	}
	n, err := c.s.SendMmsg(bg, mm, flags, 0)
	if err != nil {
		return 0, opError("write", "sendmmsg", c.network(), c.laddr, c.raddr, err)
	}
	for i := range n {
		ms[i].N = mm[i].N
	}
	return n, nil
}
