//go:build linux

package loop

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ksocket-go/ksocket/internal/engine"
	"golang.org/x/sys/unix"
)

// PacketHandler receives a PacketServer's datagrams. Its methods run on the
// loop's goroutine, one at a time per loop, and must not block.
type PacketHandler interface {
	// OnPacket is called for each datagram received, from the sender
	// from (an IPv4 sender as an IPv4 address, also on a dual-stack
	// socket). data is valid only until OnPacket returns: its buffer goes
	// back to the kernel then.
	OnPacket(pc *PacketConn, data []byte, from netip.AddrPort)
	// OnSendError is called when the kernel refuses a datagram that
	// WriteTo queued for to.
	OnSendError(pc *PacketConn, to netip.AddrPort, err error)
}

// PacketHandlers adapts functions to a PacketHandler; nil functions are
// skipped.
type PacketHandlers struct {
	Packet    func(pc *PacketConn, data []byte, from netip.AddrPort)
	SendError func(pc *PacketConn, to netip.AddrPort, err error)
}

func (h PacketHandlers) OnPacket(pc *PacketConn, data []byte, from netip.AddrPort) {
	if h.Packet != nil {
		h.Packet(pc, data, from)
	}
}

func (h PacketHandlers) OnSendError(pc *PacketConn, to netip.AddrPort, err error) {
	if h.SendError != nil {
		h.SendError(pc, to, err)
	}
}

// PacketServer is a set of loops serving one UDP address. Each loop has its
// own socket on the address (SO_REUSEPORT), and the kernel spreads the
// senders over them by their address and port.
type PacketServer struct {
	h       PacketHandler
	cfg     Config
	addr    *net.UDPAddr
	backend string
	conns   []*PacketConn
	run     runner
}

// packetLoop is one UDP event loop, on either backend. Its socket is the
// server's, closed when every loop is done.
type packetLoop interface {
	eventLoop
	// writeTo queues a copy of b for to, as the socket's family spells it.
	writeTo(b []byte, to *unix.RawSockaddrInet6, tolen uint32) error
}

// UDP defaults: room for any datagram, in a quarter of TCP's buffers. Only
// the pages a datagram touches become resident.
const (
	defaultPacketBufferSize = 64 << 10
	defaultPacketBuffers    = 256
	maxDatagram             = 65535
)

// packetNameLen is the room for a sender: a sockaddr_in6.
const packetNameLen = unix.SizeofSockaddrInet6

// maxQueuedBytes bounds what WriteTo may queue in one loop before the
// kernel has taken it: past it, WriteTo returns ENOBUFS.
const maxQueuedBytes = 64 << 20

// ListenPacket creates a server for network ("udp", "udp4" or "udp6") and
// address. Serve starts it. In cfg, BufferSize is the largest datagram
// received whole (0 means 64 KiB: every datagram), and Buffers the number
// of receive buffers per loop (0 means 256).
func ListenPacket(network, address string, h PacketHandler, cfg *Config) (*PacketServer, error) {
	c, err := cfg.withDefaults(defaultPacketBufferSize, defaultPacketBuffers)
	if err != nil {
		return nil, err
	}
	c.BufferSize = min(c.BufferSize, maxDatagram)
	var tcp string
	switch network {
	case "udp", "udp4", "udp6":
		tcp = "tcp" + network[3:]
	default:
		return nil, &net.OpError{Op: "listen", Net: network, Err: net.UnknownNetworkError(network)}
	}
	e, err := engine.Default()
	if err != nil {
		return nil, err
	}
	family, sa, err := parseAddr(tcp, address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	s := &PacketServer{h: h, cfg: c, backend: e.Backend()}
	var fds []int
	closeAll := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	s.run.after = closeAll
	for i := range c.Loops {
		fd, bound, err := bindReusePort(family, sa, network == "udp6")
		if err != nil {
			closeAll()
			return nil, &net.OpError{Op: "listen", Net: network, Err: err}
		}
		if i == 0 {
			sa = bound
			s.addr = net.UDPAddrFromAddrPort(sockaddrTCP(bound).AddrPort())
		}
		fds = append(fds, fd)
	}
	for _, fd := range fds {
		pc := &PacketConn{fd: fd, family: family, laddr: s.addr}
		if s.backend == "uring" {
			pc.l, err = newURingPacketLoop(s, pc)
		} else {
			pc.l, err = newEpollPacketLoop(s, pc)
		}
		if err != nil {
			for _, pc := range s.conns {
				pc.l.discard()
			}
			closeAll()
			return nil, &net.OpError{Op: "listen", Net: network, Addr: s.addr, Err: err}
		}
		s.conns = append(s.conns, pc)
		s.run.loops = append(s.run.loops, pc.l)
	}
	return s, nil
}

// Addr returns the address the server's sockets are bound to.
func (s *PacketServer) Addr() net.Addr { return s.addr }

// Backend returns "uring" or "epoll".
func (s *PacketServer) Backend() string { return s.backend }

// Serve runs the loops until Close, and returns nil after Close or the first
// loop's error; called after Close, it returns ErrServerClosed at once.
func (s *PacketServer) Serve() error { return s.run.serve() }

// Close stops the loops, closes the sockets, and waits for Serve to
// return. Datagrams queued by WriteTo and not yet sent are dropped.
func (s *PacketServer) Close() error { return s.run.close() }

// runner runs a server's loops, for Serve and Close.
type runner struct {
	loops []eventLoop
	after func() // when the loops are done: frees what the server holds

	mu      sync.Mutex
	serving bool
	closed  bool
	done    chan struct{}
}

func (r *runner) serve() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrServerClosed
	}
	if r.serving {
		r.mu.Unlock()
		return errors.New("loop: Serve called twice")
	}
	r.serving, r.done = true, make(chan struct{})
	r.mu.Unlock()
	errs := make(chan error, len(r.loops))
	for _, l := range r.loops {
		go func() { errs <- l.run() }()
	}
	var first error
	for range r.loops {
		if err := <-errs; err != nil && first == nil {
			first = err
			r.stopAll()
		}
	}
	if r.after != nil {
		r.after()
	}
	close(r.done)
	return first
}

func (r *runner) stopAll() {
	for _, l := range r.loops {
		l.stop()
	}
}

func (r *runner) close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return net.ErrClosed
	}
	r.closed = true
	serving := r.serving
	r.mu.Unlock()
	if serving {
		r.stopAll()
		<-r.done
		return nil
	}
	for _, l := range r.loops {
		l.discard()
	}
	if r.after != nil {
		r.after()
	}
	return nil
}

// PacketConn is one loop's UDP socket. Its methods, except Do and
// LocalAddr, must be called on the loop's goroutine, that is from a
// PacketHandler method or a Do function.
type PacketConn struct {
	l      packetLoop
	fd     int
	family int
	laddr  *net.UDPAddr
	ctx    any

	truncated bool // the datagram OnPacket is handling was cut short
}

// WriteTo queues a copy of b to be sent to to. The datagrams a loop
// iteration queues go to the kernel together when the iteration ends. It
// fails at once for an address the socket cannot reach (an IPv6 address on
// an IPv4 socket), a datagram larger than UDP allows (EMSGSIZE), or when
// 64 MiB are already queued (ENOBUFS); later failures go to OnSendError.
func (pc *PacketConn) WriteTo(b []byte, to netip.AddrPort) error {
	if len(b) > maxDatagram {
		return &net.OpError{Op: "write", Net: "udp", Addr: net.UDPAddrFromAddrPort(to), Err: unix.EMSGSIZE}
	}
	var raw unix.RawSockaddrInet6
	n, err := putAddrPort(pc.family, to, &raw)
	if err == nil {
		err = pc.l.writeTo(b, &raw, n)
	}
	if err != nil {
		return &net.OpError{Op: "write", Net: "udp", Addr: net.UDPAddrFromAddrPort(to), Err: err}
	}
	return nil
}

// Truncated reports whether the datagram OnPacket is handling was longer
// than Config.BufferSize, so that data holds only its start (MSG_TRUNC).
func (pc *PacketConn) Truncated() bool { return pc.truncated }

// LocalAddr returns the address the socket is bound to.
func (pc *PacketConn) LocalAddr() net.Addr { return pc.laddr }

// SetContext attaches a value of the handler's own to the loop's socket.
func (pc *PacketConn) SetContext(v any) { pc.ctx = v }

// Context returns what SetContext attached.
func (pc *PacketConn) Context() any { return pc.ctx }

// Do runs f on the loop's goroutine. It is safe from any goroutine: hand
// blocking work to another goroutine, then send its result with Do. It
// returns net.ErrClosed if the loop has stopped.
func (pc *PacketConn) Do(f func(pc *PacketConn)) error {
	if !pc.l.post(func() { f(pc) }) {
		return net.ErrClosed
	}
	return nil
}

// bindReusePort opens one loop's UDP socket with SO_REUSEPORT, which the
// kernel grants only to sockets of the same user. Not SO_REUSEADDR: on UDP
// it would let a socket of any user bind the same address and take the
// datagrams (net never sets it on UDP either).
func bindReusePort(family int, sa unix.Sockaddr, v6only bool) (int, unix.Sockaddr, error) {
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return -1, nil, err
	}
	fail := func(err error) (int, unix.Sockaddr, error) {
		unix.Close(fd)
		return -1, nil, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return fail(err)
	}
	if family == unix.AF_INET6 {
		setV6Only(fd, v6only)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail(err)
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		return fail(err)
	}
	return fd, bound, nil
}

// putAddrPort writes to as a sockaddr of family into raw and returns its
// length: on an IPv6 socket an IPv4 address becomes IPv4-mapped.
func putAddrPort(family int, to netip.AddrPort, raw *unix.RawSockaddrInet6) (uint32, error) {
	ip := to.Addr()
	if !ip.IsValid() {
		return 0, unix.EDESTADDRREQ
	}
	if family == unix.AF_INET {
		ip = ip.Unmap()
		if !ip.Is4() {
			return 0, unix.EAFNOSUPPORT
		}
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
		*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: ip.As4()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], to.Port())
		return unix.SizeofSockaddrInet4, nil
	}
	*raw = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: ip.As16()}
	if ip.Zone() != "" {
		raw.Scope_id = zones.index(ip.Zone())
	}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&raw.Port))[:], to.Port())
	return unix.SizeofSockaddrInet6, nil
}

// addrPortFrom reads the sender the kernel wrote at raw (n bytes of it); an
// IPv4-mapped sender comes back as IPv4.
func addrPortFrom(raw unsafe.Pointer, n uint32) netip.AddrPort {
	switch {
	case n >= unix.SizeofSockaddrInet4 && (*unix.RawSockaddrInet4)(raw).Family == unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(raw)
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:]))
	case n >= unix.SizeofSockaddrInet6 && (*unix.RawSockaddrInet6)(raw).Family == unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(raw)
		ip := netip.AddrFrom16(sa.Addr).Unmap()
		if sa.Scope_id != 0 && ip.Is6() {
			ip = ip.WithZone(zones.name(sa.Scope_id))
		}
		return netip.AddrPortFrom(ip, binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:]))
	}
	return netip.AddrPort{}
}

// zones maps IPv6 zones to interface indexes and back for the loops, from
// a copy of the interface table, reloaded on a miss (at most once a
// second) and when it is a minute old, as net's own cache is: a lookup per
// datagram would dump the table over netlink each time. Readers take no
// lock; one reloader at a time swaps in a new table. A numeric zone is its
// index, and an index with no interface its number.
var zones zoneCache

type zoneCache struct {
	t         atomic.Pointer[zoneTable]
	reloading atomic.Bool
}

type zoneTable struct {
	byName  map[string]uint32
	byIndex map[uint32]string
	fetched time.Time
}

func (z *zoneCache) index(zone string) uint32 {
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n)
	}
	t := z.t.Load()
	var i uint32
	var ok bool
	if t != nil {
		i, ok = t.byName[zone]
	}
	if nt := z.reload(t, ok); nt != nil {
		i = nt.byName[zone]
	}
	return i
}

func (z *zoneCache) name(index uint32) string {
	t := z.t.Load()
	var n string
	var ok bool
	if t != nil {
		n, ok = t.byIndex[index]
	}
	if nt := z.reload(t, ok); nt != nil {
		n, ok = nt.byIndex[index]
	}
	if !ok {
		return strconv.FormatUint(uint64(index), 10)
	}
	return n
}

// reload swaps in a new table if t is a minute old, or a second old after
// a miss (found is false), unless another goroutine is at it; it returns
// the new table, or nil. A failed read of the interfaces keeps the old
// entries, with the new time.
func (z *zoneCache) reload(t *zoneTable, found bool) *zoneTable {
	if t != nil {
		age := time.Since(t.fetched)
		if age < time.Second || found && age < time.Minute {
			return nil
		}
	}
	if !z.reloading.CompareAndSwap(false, true) {
		return nil
	}
	defer z.reloading.Store(false)
	nt := &zoneTable{byName: map[string]uint32{}, byIndex: map[uint32]string{}, fetched: time.Now()}
	if ifs, err := net.Interfaces(); err == nil {
		for _, ifi := range ifs {
			nt.byName[ifi.Name], nt.byIndex[uint32(ifi.Index)] = uint32(ifi.Index), ifi.Name
		}
	} else if t != nil {
		nt.byName, nt.byIndex = t.byName, t.byIndex
	}
	z.t.Store(nt)
	return nt
}
