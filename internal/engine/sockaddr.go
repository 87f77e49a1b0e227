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
// that a caller that reuses its messages allocates nothing.
func sockaddrInto(old unix.Sockaddr, raw *unix.RawSockaddrAny, n uint32) unix.Sockaddr {
	switch old := old.(type) {
	case *unix.SockaddrInet4:
		if n >= unix.SizeofSockaddrInet4 && raw.Addr.Family == unix.AF_INET {
			p := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
			*old = unix.SockaddrInet4{Port: getPort(&p.Port), Addr: p.Addr}
			return old
		}
	case *unix.SockaddrInet6:
		if n >= unix.SizeofSockaddrInet6 && raw.Addr.Family == unix.AF_INET6 {
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
	raw, n, err := sockName(s.fd, peer)
	if err != nil {
		return ap, 0, err
	}
	switch {
	case raw.Addr.Family == unix.AF_INET && n >= unix.SizeofSockaddrInet4:
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(&raw))
		return netip.AddrPortFrom(netip.AddrFrom4(p.Addr), uint16(getPort(&p.Port))), 0, nil
	case raw.Addr.Family == unix.AF_INET6 && n >= unix.SizeofSockaddrInet6:
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(&raw))
		return netip.AddrPortFrom(netip.AddrFrom16(p.Addr), uint16(getPort(&p.Port))), p.Scope_id, nil
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
