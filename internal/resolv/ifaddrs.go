//go:build linux

package resolv

import (
	"bufio"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// ifaddrs is what AI_ADDRCONFIG and the destination sort need to know about
// the addresses configured on this host. It is read from procfs, never from
// netlink (glibc's __check_pf uses RTM_GETADDR; net.Interfaces opens netlink
// sockets too, and this package must not create sockets of its own).
type ifaddrs struct {
	// seen4 and seen6 are glibc's __check_pf answers: an IPv4 address other
	// than 127.0.0.1, an IPv6 address other than ::1.
	seen4, seen6 bool

	any4    bool // any local IPv4 address
	loop4   bool // a local address in 127.0.0.0/8
	any6    bool // any IPv6 address
	loop6   bool // ::1
	global6 bool // an IPv6 address that is neither ::1 nor link-local

	idx6 map[uint32]bool // interfaces that have an IPv6 address

	// unknown4 and unknown6 are set when the procfs file could not be read.
	// Like glibc when netlink fails, Lookup is then pessimistic: the family is
	// "seen" and every destination of it is usable.
	unknown4, unknown6 bool
}

// readIfaddrs reads IPv4 addresses from fibTriePath (the "/32 host LOCAL"
// leaves of the local routing table) and IPv6 ones from ifInet6Path. A
// missing if_inet6 means a kernel without IPv6, so no IPv6 addresses.
//
// fib_trie lists every route, so on a host with a full routing table it is
// large; the scan stops as soon as everything it can tell is known.
func readIfaddrs(fibTriePath, ifInet6Path string) *ifaddrs {
	ifs := &ifaddrs{idx6: make(map[uint32]bool)}

	if f, err := os.Open(fibTriePath); err != nil {
		ifs.unknown4 = true
	} else {
		if scanFibTrie(f, ifs) != nil {
			ifs.unknown4 = true
		}
		f.Close()
	}

	if f, err := os.Open(ifInet6Path); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			ifs.unknown6 = true
		}
	} else {
		if scanIfInet6(f, ifs) != nil {
			ifs.unknown6 = true
		}
		f.Close()
	}

	if ifs.unknown4 {
		ifs.seen4, ifs.any4, ifs.loop4 = true, true, true
	}
	if ifs.unknown6 {
		ifs.seen6, ifs.any6, ifs.loop6, ifs.global6 = true, true, true, true
	}
	return ifs
}

// scanFibTrie reads /proc/net/fib_trie, whose leaves look like
//
//	|-- 192.0.2.2
//	   /32 host LOCAL
//
// (net/ipv4/fib_trie.c, fib_trie_seq_show).
func scanFibTrie(r io.Reader, ifs *ifaddrs) error {
	sc := bufio.NewScanner(r)
	var leaf netip.Addr
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "|-- "); ok {
			leaf, _ = netip.ParseAddr(rest)
			continue
		}
		if strings.HasPrefix(line, "+-- ") {
			leaf = netip.Addr{}
			continue
		}
		if !leaf.Is4() {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 || f[1] != "host" || f[2] != "LOCAL" {
			continue
		}
		if leaf.As4()[0] == 127 {
			ifs.loop4 = true
		}
		if f[0] != "/32" {
			continue
		}
		ifs.any4 = true
		if leaf != netip.AddrFrom4([4]byte{127, 0, 0, 1}) {
			ifs.seen4 = true
		}
		if ifs.seen4 && ifs.loop4 {
			return nil
		}
	}
	return sc.Err()
}

// scanIfInet6 reads /proc/net/if_inet6: "address ifindex prefixlen scope flags
// name", the address as 32 hex digits and the numbers in hex
// (net/ipv6/addrconf.c, if6_seq_show).
func scanIfInet6(r io.Reader, ifs *ifaddrs) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || len(f[0]) != 32 {
			continue
		}
		var b [16]byte
		if _, err := hex.Decode(b[:], []byte(f[0])); err != nil {
			continue
		}
		idx, err := strconv.ParseUint(f[1], 16, 32)
		if err != nil {
			continue
		}
		a := netip.AddrFrom16(b)
		ifs.any6 = true
		ifs.idx6[uint32(idx)] = true
		if a == netip.IPv6Loopback() {
			ifs.loop6 = true
			continue
		}
		ifs.seen6 = true
		if !a.IsLinkLocalUnicast() {
			ifs.global6 = true
		}
	}
	return sc.Err()
}

// usable is RFC 6724 rule 1, approximated without asking the kernel for a
// route: whether a source address for dst plausibly exists.
//   - loopback destinations need a loopback address of their family;
//   - wildcard destinations (AI_PASSIVE) need any address of their family;
//   - IPv4 destinations, mapped or not, need a non-127.0.0.1 IPv4 address;
//   - link-scoped IPv6 destinations need a zone whose interface has an IPv6
//     address (Linux refuses to connect to them without one);
//   - other IPv6 destinations need an IPv6 address that is neither loopback
//     nor link-local.
func (ifs *ifaddrs) usable(dst hostAddr) bool {
	ip := dst.ip.Unmap()
	if ip.Is4() {
		switch {
		case ifs.unknown4:
			return true
		case ip.IsLoopback():
			return ifs.loop4
		case ip.IsUnspecified():
			return ifs.any4
		}
		return ifs.seen4
	}
	switch {
	case ifs.unknown6:
		return true
	case ip.IsLoopback():
		return ifs.loop6
	case ip.IsUnspecified():
		return ifs.any6
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast():
		return dst.zone != 0 && ifs.idx6[dst.zone]
	}
	return ifs.global6
}
