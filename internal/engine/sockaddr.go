//go:build linux

package engine

import (
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Sockaddr encoding. x/sys/unix keeps its own conversions unexported, and the
// ring needs the raw bytes in memory of ours (the op slot's kernel half), so
// the engine encodes and decodes sockaddrs itself.

// Addr is a socket address as the kernel encodes it, held by value. The
// engine passes senders and destinations between its layers as Addrs:
// a unix.Sockaddr is an interface over a pointer, so each one went to the
// heap, an allocation a datagram each way (gonet's UDP ReadFrom and
// WriteTo). The zero Addr is no address.
type Addr struct {
	raw unix.RawSockaddrAny
	n   uint32 // bytes of raw in use; 0: none
}

// SockaddrAddr encodes sa; nil gives the zero Addr. It fails as the
// kernel would on an address it cannot encode: EINVAL or EAFNOSUPPORT.
func SockaddrAddr(sa unix.Sockaddr) (Addr, error) {
	var a Addr
	if sa == nil {
		return a, nil
	}
	n, err := putSockaddr(sa, &a.raw)
	a.n = n
	return a, err
}

// Inet4Addr is the IPv4 address ip, port port.
func Inet4Addr(ip [4]byte, port uint16) Addr {
	var a Addr
	p := (*unix.RawSockaddrInet4)(unsafe.Pointer(&a.raw))
	p.Family = unix.AF_INET
	putPort(&p.Port, int(port))
	p.Addr = ip
	a.n = unix.SizeofSockaddrInet4
	return a
}

// Inet6Addr is the IPv6 address ip, port port, in the scope (interface
// index) scope.
func Inet6Addr(ip [16]byte, port uint16, scope uint32) Addr {
	var a Addr
	p := (*unix.RawSockaddrInet6)(unsafe.Pointer(&a.raw))
	p.Family = unix.AF_INET6
	putPort(&p.Port, int(port))
	p.Scope_id = scope
	p.Addr = ip
	a.n = unix.SizeofSockaddrInet6
	return a
}

// Sockaddr decodes a, allocating; nil for no address or one of an
// unknown family.
func (a *Addr) Sockaddr() unix.Sockaddr { return sockaddrFrom(&a.raw, a.n) }

// SockaddrInto is Sockaddr, decoding into old in place where old is a
// *unix.SockaddrInet4 or *unix.SockaddrInet6 of a's family: a caller that
// keeps one per message allocates nothing.
func (a *Addr) SockaddrInto(old unix.Sockaddr) unix.Sockaddr { return sockaddrInto(old, &a.raw, a.n) }

// Inet returns a as an IP address and port, with its IPv6 scope id,
// without allocating; ok is false for an address of another family, or
// none.
func (a *Addr) Inet() (ap netip.AddrPort, scope uint32, ok bool) {
	switch {
	case a.raw.Addr.Family == unix.AF_INET && a.n >= unix.SizeofSockaddrInet4:
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(&a.raw))
		return netip.AddrPortFrom(netip.AddrFrom4(p.Addr), uint16(getPort(&p.Port))), 0, true
	case a.raw.Addr.Family == unix.AF_INET6 && a.n >= unix.SizeofSockaddrInet6:
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(&a.raw))
		return netip.AddrPortFrom(netip.AddrFrom16(p.Addr), uint16(getPort(&p.Port))), p.Scope_id, true
	}
	return ap, 0, false
}

// putSockaddr encodes sa into raw and returns its length. Ports are stored in
// network byte order, as the kernel expects.
func putSockaddr(sa unix.Sockaddr, raw *unix.RawSockaddrAny) (uint32, error) {
	*raw = unix.RawSockaddrAny{}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		if sa.Port < 0 || sa.Port > 0xFFFF {
			return 0, unix.EINVAL
		}
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
		p.Family = unix.AF_INET
		putPort(&p.Port, sa.Port)
		p.Addr = sa.Addr
		return unix.SizeofSockaddrInet4, nil
	case *unix.SockaddrInet6:
		if sa.Port < 0 || sa.Port > 0xFFFF {
			return 0, unix.EINVAL
		}
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(raw))
		p.Family = unix.AF_INET6
		putPort(&p.Port, sa.Port)
		p.Scope_id = sa.ZoneId
		p.Addr = sa.Addr
		return unix.SizeofSockaddrInet6, nil
	case *unix.SockaddrUnix:
		p := (*unix.RawSockaddrUnix)(unsafe.Pointer(raw))
		n := len(sa.Name)
		if n > len(p.Path) {
			return 0, unix.EINVAL
		}
		if n == len(p.Path) && sa.Name[0] != '@' {
			// No room for the terminating NUL of a pathname socket.
			return 0, unix.EINVAL
		}
		p.Family = unix.AF_UNIX
		for i := 0; i < n; i++ {
			p.Path[i] = int8(sa.Name[i])
		}
		sl := uint32(2) // offsetof(sun_path)
		if n > 0 {
			sl += uint32(n) + 1
		}
		if n > 0 && (sa.Name[0] == '@' || sa.Name[0] == 0) {
			// Abstract socket, spelled with '@' or with the NUL itself, as
			// x/sys/unix and net take both: a leading NUL, and no
			// terminating one.
			p.Path[0] = 0
			sl--
		}
		return sl, nil
	case nil:
		return 0, unix.EINVAL
	}
	return 0, unix.EAFNOSUPPORT
}

// sockaddrInto is sockaddrFrom, filling old in place when it is a
// *unix.SockaddrInet4 or *unix.SockaddrInet6 of the address's family, so
// that a caller that reuses its messages allocates nothing. A nil pointer
// of either type is replaced, as any other old is.
func sockaddrInto(old unix.Sockaddr, raw *unix.RawSockaddrAny, n uint32) unix.Sockaddr {
	switch old := old.(type) {
	case *unix.SockaddrInet4:
		if old != nil && n >= unix.SizeofSockaddrInet4 && raw.Addr.Family == unix.AF_INET {
			p := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
			*old = unix.SockaddrInet4{Port: getPort(&p.Port), Addr: p.Addr}
			return old
		}
	case *unix.SockaddrInet6:
		if old != nil && n >= unix.SizeofSockaddrInet6 && raw.Addr.Family == unix.AF_INET6 {
			p := (*unix.RawSockaddrInet6)(unsafe.Pointer(raw))
			*old = unix.SockaddrInet6{Port: getPort(&p.Port), ZoneId: p.Scope_id, Addr: p.Addr}
			return old
		}
	}
	return sockaddrFrom(raw, n)
}

// sockaddrFrom decodes the first n bytes of raw. It returns nil for an empty
// or unknown address, as recvfrom on a connected stream socket gives.
func sockaddrFrom(raw *unix.RawSockaddrAny, n uint32) unix.Sockaddr {
	if n < 2 {
		return nil
	}
	switch raw.Addr.Family {
	case unix.AF_INET:
		if n < unix.SizeofSockaddrInet4 {
			return nil
		}
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
		return &unix.SockaddrInet4{Port: getPort(&p.Port), Addr: p.Addr}
	case unix.AF_INET6:
		if n < unix.SizeofSockaddrInet6 {
			return nil
		}
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(raw))
		return &unix.SockaddrInet6{Port: getPort(&p.Port), ZoneId: p.Scope_id, Addr: p.Addr}
	case unix.AF_UNIX:
		p := (*unix.RawSockaddrUnix)(unsafe.Pointer(raw))
		l := int(n) - 2
		l = min(l, len(p.Path))
		if l <= 0 {
			return &unix.SockaddrUnix{}
		}
		b := make([]byte, 0, l)
		if p.Path[0] == 0 {
			// Abstract: keep x/sys/unix's spelling with a leading '@'.
			b = append(b, '@')
			for _, c := range p.Path[1:l] {
				b = append(b, byte(c))
			}
		} else {
			for _, c := range p.Path[:l] {
				if c == 0 {
					break
				}
				b = append(b, byte(c))
			}
		}
		return &unix.SockaddrUnix{Name: string(b)}
	}
	return nil
}

// putPort and getPort store a port in network byte order on any host.
func putPort(field *uint16, port int) {
	b := (*[2]byte)(unsafe.Pointer(field))
	b[0], b[1] = byte(port>>8), byte(port)
}

func getPort(field *uint16) int {
	b := (*[2]byte)(unsafe.Pointer(field))
	return int(b[0])<<8 | int(b[1])
}

// InetName returns an IP socket's own address (getsockname(2)), or with
// peer its peer's (getpeername(2)), and the address's IPv6 scope id,
// without allocating: gonet names every connection it accepts. It fails
// with EAFNOSUPPORT on a socket of another family.
func (s *Socket) InetName(peer bool) (ap netip.AddrPort, scope uint32, err error) {
	if s.domain != unix.AF_INET && s.domain != unix.AF_INET6 {
		return ap, 0, unix.EAFNOSUPPORT
	}
	if !s.acquire() {
		return ap, 0, net.ErrClosed
	}
	defer s.release()
	var a Addr
	a.raw, a.n, err = sockName(s.fd, peer)
	if err != nil {
		return ap, 0, err
	}
	if ap, scope, ok := a.Inet(); ok {
		return ap, scope, nil
	}
	return ap, 0, unix.EAFNOSUPPORT
}

// sockName is getsockname(2), or with peer getpeername(2), into a buffer
// on the caller's stack: x/sys's puts its buffer on the heap.
func sockName(fd int, peer bool) (raw unix.RawSockaddrAny, n uint32, err error) {
	call := uintptr(unix.SYS_GETSOCKNAME)
	if peer {
		call = unix.SYS_GETPEERNAME
	}
	n = unix.SizeofSockaddrAny
	if _, _, e := unix.RawSyscall(call, uintptr(fd), uintptr(unsafe.Pointer(&raw)), uintptr(unsafe.Pointer(&n))); e != 0 {
		return raw, 0, e
	}
	return raw, n, nil
}
