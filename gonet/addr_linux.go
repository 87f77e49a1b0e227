//go:build linux

package gonet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"

	"github.com/ksocket-go/ksocket/internal/engine"
	"github.com/ksocket-go/ksocket/internal/resolv"
	"golang.org/x/sys/unix"
)

// netKind describes a network name.
type netKind struct {
	family int // AF_INET, AF_INET6, AF_UNSPEC (either) or AF_UNIX
	sotype int // SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET
}

// checkLocal refuses a local address of the wrong type for k, as net's
// dialer does: a *net.UDPAddr for a TCP dial, say.
func (k netKind) checkLocal(la net.Addr) error {
	var ok bool
	switch la.(type) {
	case nil:
		return nil
	case *net.TCPAddr:
		ok = k.family != unix.AF_UNIX && k.sotype == unix.SOCK_STREAM
	case *net.UDPAddr:
		ok = k.family != unix.AF_UNIX && k.sotype == unix.SOCK_DGRAM
	case *net.UnixAddr:
		ok = k.family == unix.AF_UNIX
	default:
		return &net.AddrError{Err: "unexpected address type", Addr: la.String()}
	}
	if !ok {
		return &net.AddrError{Err: "mismatched local address type", Addr: la.String()}
	}
	return nil
}

func parseNetwork(network string) (netKind, error) {
	switch network {
	case "tcp":
		return netKind{unix.AF_UNSPEC, unix.SOCK_STREAM}, nil
	case "tcp4":
		return netKind{unix.AF_INET, unix.SOCK_STREAM}, nil
	case "tcp6":
		return netKind{unix.AF_INET6, unix.SOCK_STREAM}, nil
	case "udp":
		return netKind{unix.AF_UNSPEC, unix.SOCK_DGRAM}, nil
	case "udp4":
		return netKind{unix.AF_INET, unix.SOCK_DGRAM}, nil
	case "udp6":
		return netKind{unix.AF_INET6, unix.SOCK_DGRAM}, nil
	case "unix":
		return netKind{unix.AF_UNIX, unix.SOCK_STREAM}, nil
	case "unixgram":
		return netKind{unix.AF_UNIX, unix.SOCK_DGRAM}, nil
	case "unixpacket":
		return netKind{unix.AF_UNIX, unix.SOCK_SEQPACKET}, nil
	}
	return netKind{}, net.UnknownNetworkError(network)
}

// target is one resolved address to dial or bind.
type target struct {
	family int
	sa     unix.Sockaddr
	addr   net.Addr
}

// resolve turns address into the sockaddrs to try, in order. passive means
// the address is for listening: an empty host is the wildcard.
func resolve(ctx context.Context, k netKind, network, address string, passive bool) ([]target, error) {
	if k.family == unix.AF_UNIX {
		sa := &unix.SockaddrUnix{Name: address}
		return []target{{unix.AF_UNIX, sa, sockaddrToAddr(network, sa)}}, nil
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	if p, err := strconv.ParseUint(port, 10, 64); err == nil && p > 0xFFFF {
		// getaddrinfo would wrap it modulo 65536; net refuses it.
		return nil, &net.AddrError{Err: "invalid port", Addr: address}
	}
	if passive && host == "" && k.family == unix.AF_UNSPEC && supportsDualStack() {
		// One dual-stack socket, as net.Listen(":port") gives.
		p, err := lookupPort(ctx, k, port)
		if err != nil {
			return nil, err
		}
		sa := &unix.SockaddrInet6{Port: p}
		return []target{{unix.AF_INET6, sa, sockaddrToAddr(network, sa)}}, nil
	}
	hints := &resolv.Addrinfo{Family: k.family, Socktype: k.sotype}
	if passive {
		hints.Flags |= resolv.AI_PASSIVE
	}
	res, err := resolv.Lookup(ctx, host, port, hints)
	if err != nil {
		return nil, lookupError(host, port, err)
	}
	out := make([]target, 0, len(res))
	for _, r := range res {
		out = append(out, target{r.Family, r.Addr, sockaddrToAddr(network, r.Addr)})
	}
	return out, nil
}

func lookupPort(ctx context.Context, k netKind, port string) (int, error) {
	if p, err := strconv.Atoi(port); err == nil && p >= 0 && p <= 0xFFFF {
		return p, nil
	}
	res, err := resolv.Lookup(ctx, "", port, &resolv.Addrinfo{Family: unix.AF_INET, Socktype: k.sotype, Flags: resolv.AI_PASSIVE})
	if err != nil {
		return 0, lookupError("", port, err)
	}
	return res[0].Addr.(*unix.SockaddrInet4).Port, nil
}

// lookupError gives a resolver failure net's shape: *net.DNSError for
// hosts, *net.AddrError for ports.
func lookupError(host, port string, err error) error {
	var ae *resolv.AddrinfoError
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.Code {
	case resolv.EAI_SERVICE:
		return &net.AddrError{Err: "unknown port", Addr: port}
	case resolv.EAI_NONAME, resolv.EAI_NODATA:
		if host == "" {
			return &net.AddrError{Err: "unknown port", Addr: port}
		}
		return &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	case resolv.EAI_AGAIN:
		return &net.DNSError{UnwrapErr: ae.Err, Err: ae.Error(), Name: host, IsTemporary: true, IsTimeout: errors.Is(err, context.DeadlineExceeded)}
	}
	return &net.DNSError{UnwrapErr: ae.Err, Err: ae.Error(), Name: host}
}

// supportsDualStack reports whether an IPv6 socket can also carry IPv4
// (IPV6_V6ONLY=0), which a wildcard listen on "tcp" or "udp" uses.
var supportsDualStack = sync.OnceValue(func() bool {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0) == nil
})

// sockaddrToAddr converts a kernel address to net's type for network.
func sockaddrToAddr(network string, sa unix.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return inetAddr(network, netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)), 0)
	case *unix.SockaddrInet6:
		return inetAddr(network, netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port)), sa.ZoneId)
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: network}
	}
	return nil
}

// inetAddr is an IP address of network's kind (*net.UDPAddr for UDP,
// *net.TCPAddr otherwise), with the zone that scope names.
func inetAddr(network string, ap netip.AddrPort, scope uint32) net.Addr {
	ap = withZone(ap, scope)
	switch network {
	case "udp", "udp4", "udp6":
		return udpAddr(ap)
	}
	return net.TCPAddrFromAddrPort(ap)
}

// udpAddr is net.UDPAddrFromAddrPort in one allocation, not two: the IP's
// bytes share the address's object. A datagram read returns one each.
func udpAddr(ap netip.AddrPort) *net.UDPAddr {
	ip := ap.Addr()
	if !ip.IsValid() {
		return net.UDPAddrFromAddrPort(ap)
	}
	a := new(struct {
		net.UDPAddr
		ip [16]byte
	})
	if ip.Is4() {
		b := ip.As4()
		copy(a.ip[:], b[:])
		a.IP = a.ip[:4:4]
	} else {
		a.ip = ip.As16()
		a.IP = a.ip[:16:16]
	}
	a.Port, a.Zone = int(ap.Port()), ip.Zone()
	return &a.UDPAddr
}

// addrToSockaddr converts a net address for a socket of family.
func addrToSockaddr(family int, a net.Addr) (unix.Sockaddr, error) {
	ea, err := addrToAddr(family, a)
	if err != nil {
		return nil, err
	}
	return ea.Sockaddr(), nil
}

// addrToAddr is addrToSockaddr into an engine.Addr, allocating nothing
// for an IP address: a datagram send converts one each.
func addrToAddr(family int, a net.Addr) (engine.Addr, error) {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UnixAddr:
		return engine.SockaddrAddr(&unix.SockaddrUnix{Name: a.Name})
	case nil:
		return engine.Addr{}, errors.New("missing address")
	default:
		return engine.Addr{}, &net.AddrError{Err: "unexpected address type", Addr: a.String()}
	}
	return addrPortToAddr(family, ap)
}

func addrPortToSockaddr(family int, ap netip.AddrPort) (unix.Sockaddr, error) {
	ea, err := addrPortToAddr(family, ap)
	if err != nil {
		return nil, err
	}
	return ea.Sockaddr(), nil
}

// addrPortToAddr encodes ap for a socket of family: the unspecified
// address where ap has none, an IPv4-mapped address unmapped for
// AF_INET, a zone as its interface index.
func addrPortToAddr(family int, ap netip.AddrPort) (engine.Addr, error) {
	ip := ap.Addr()
	if !ip.IsValid() {
		ip = netip.IPv6Unspecified()
		if family == unix.AF_INET {
			ip = netip.IPv4Unspecified()
		}
	}
	switch family {
	case unix.AF_INET:
		if ip.Is4In6() {
			ip = ip.Unmap()
		}
		if !ip.Is4() {
			return engine.Addr{}, &net.AddrError{Err: "non-IPv4 address", Addr: ip.String()}
		}
		return engine.Inet4Addr(ip.As4(), ap.Port()), nil
	case unix.AF_INET6:
		var scope uint32
		if z := ip.Zone(); z != "" {
			scope = zoneIndex(z)
		}
		return engine.Inet6Addr(ip.As16(), ap.Port(), scope), nil
	}
	return engine.Addr{}, unix.EAFNOSUPPORT
}

// addrFrom converts a sender to net's type for network, allocating only
// the net.Addr.
func addrFrom(network string, a *engine.Addr) net.Addr {
	if ap, scope, ok := a.Inet(); ok {
		return inetAddr(network, ap, scope)
	}
	return sockaddrToAddr(network, a.Sockaddr())
}

// addrPortFrom is a sender as a netip.AddrPort, with the zone its scope
// id names: no allocation but for a zone.
func addrPortFrom(a *engine.Addr) netip.AddrPort {
	ap, scope, _ := a.Inet()
	return withZone(ap, scope)
}

// withZone gives ap the zone that scope, an interface index, names.
func withZone(ap netip.AddrPort, scope uint32) netip.AddrPort {
	if scope != 0 {
		ap = netip.AddrPortFrom(ap.Addr().WithZone(zoneName(scope)), ap.Port())
	}
	return ap
}

// zoneName and zoneIndex map IPv6 zones through /sys/class/net, not
// net.Interfaces, which opens a netlink socket.
func zoneName(id uint32) string {
	ents, err := os.ReadDir("/sys/class/net")
	if err == nil {
		for _, e := range ents {
			b, err := os.ReadFile("/sys/class/net/" + e.Name() + "/ifindex")
			if err == nil && string(trimNL(b)) == strconv.FormatUint(uint64(id), 10) {
				return e.Name()
			}
		}
	}
	return strconv.FormatUint(uint64(id), 10)
}

func zoneIndex(zone string) uint32 {
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n)
	}
	b, err := os.ReadFile("/sys/class/net/" + zone + "/ifindex")
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(string(trimNL(b)), 10, 32)
	return uint32(n)
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// resolveWith resolves a dial's address with a *net.Resolver, for a
// Dialer whose Resolver is set: the host's addresses of k's family, in
// the resolver's order, on the numeric or named port.
func resolveWith(ctx context.Context, r *net.Resolver, k netKind, network, address string) ([]target, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	proto := "tcp"
	if k.sotype == unix.SOCK_DGRAM {
		proto = "udp"
	}
	p, err := r.LookupPort(ctx, proto, port)
	if err != nil {
		return nil, err
	}
	ipNet := map[int]string{unix.AF_INET: "ip4", unix.AF_INET6: "ip6"}[k.family]
	if ipNet == "" {
		ipNet = "ip"
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = r.LookupNetIP(ctx, ipNet, host); err != nil {
		return nil, err
	}
	var out []target
	for _, ip := range ips {
		family := unix.AF_INET6
		if ip.Is4() || ip.Is4In6() && k.family != unix.AF_INET6 {
			family, ip = unix.AF_INET, ip.Unmap()
		}
		if k.family != unix.AF_UNSPEC && family != k.family {
			continue
		}
		sa, err := addrPortToSockaddr(family, netip.AddrPortFrom(ip, uint16(p)))
		if err != nil {
			return nil, err
		}
		out = append(out, target{family, sa, sockaddrToAddr(network, sa)})
	}
	if len(out) == 0 {
		return nil, &net.AddrError{Err: "no suitable address found", Addr: host}
	}
	return out, nil
}
