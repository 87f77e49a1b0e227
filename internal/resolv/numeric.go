//go:build linux

package resolv

import (
	"math"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// hostAddr is one address of a node before it is combined with the services:
// an IPv4 address (Is4) or an IPv6 address (Is6, possibly IPv4-mapped) with
// its scope ID.
type hostAddr struct {
	ip   netip.Addr
	zone uint32
}

// family returns AF_INET or AF_INET6.
func (a hostAddr) family() int {
	if a.ip.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// isCSpace is isspace in the C locale.
func isCSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// parseServiceNumber reports whether glibc's getaddrinfo takes service as a
// number, and which. glibc does
//
//	num = strtoul(service, &end, 10); if (*end != '\0') num = -1 /* a name */;
//
// with num an int, so "+80" and " 80" are port 80, "99999999999" is truncated
// to 32 bits and then to the 16-bit port (59391), and anything whose low 32
// bits are negative as an int ("-1", "4294967295", overflow) is looked up as a
// name, which fails with EAI_SERVICE. numeric is false when service is not
// entirely a number; num < 0 means "look it up by name" although it was.
func parseServiceNumber(s string) (num int32, numeric bool) {
	v, end := strtoul10(s)
	if end == 0 || end != len(s) {
		return 0, false
	}
	return int32(uint32(v)), true
}

// cSign skips what C's number parsers skip before the digits: C-locale
// white space and one optional sign. It returns the index of the first
// digit, and whether the sign was '-'.
func cSign(s string) (i int, neg bool) {
	for i < len(s) && isCSpace(s[i]) {
		i++
	}
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	return i, neg
}

// strtoul10 is glibc's strtoul(s, &end, 10): leading C-locale white space, an
// optional sign, decimal digits. A minus sign negates in unsigned arithmetic;
// overflow saturates at the maximum whatever the sign. end is the index after
// the number, or 0 if there are no digits (C sets end to s then).
func strtoul10(s string) (v uint64, end int) {
	i, neg := cSign(s)
	start := i
	overflow := false
	for ; i < len(s) && isDigit(s[i]); i++ {
		d := uint64(s[i] - '0')
		if v > (math.MaxUint64-d)/10 {
			overflow = true
		} else {
			v = v*10 + d
		}
	}
	switch {
	case i == start:
		return 0, 0
	case overflow:
		v = math.MaxUint64
	case neg:
		v = -v
	}
	return v, i
}

// strtoulBase0 is glibc's strtoul(s[i:], &end, 0) for an s[i] that is a digit:
// "0x" starts hex, "0" octal, anything else decimal. It returns the value and
// the index of end. ok is false on overflow (ERANGE).
func strtoulBase0(s string, i int) (v uint64, end int, ok bool) {
	base := uint64(10)
	if s[i] == '0' {
		if i+2 < len(s) && (s[i+1] == 'x' || s[i+1] == 'X') && hexVal(s[i+2]) >= 0 {
			base = 16
			i += 2
		} else {
			base = 8
		}
	}
	ok = true
	for ; i < len(s); i++ {
		d := hexVal(s[i])
		if d < 0 || uint64(d) >= base {
			break
		}
		if v > (math.MaxUint64-uint64(d))/base {
			ok = false
		} else {
			v = v*base + uint64(d)
		}
	}
	return v, i, ok
}

func hexVal(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// inetAtonExact is glibc's __inet_aton_exact, which getaddrinfo uses for IPv4
// numeric hosts: inet_aton's forms a.b.c.d, a.b.c (c is 16 bits), a.b (b is 24
// bits) and a (32 bits), each part decimal, octal (leading 0) or hex (leading
// 0x), with nothing after the address.
func inetAtonExact(s string) (netip.Addr, bool) {
	var parts [3]byte
	n := 0
	i := 0
	var val uint64
	for {
		if i >= len(s) || !isDigit(s[i]) {
			return netip.Addr{}, false
		}
		v, end, ok := strtoulBase0(s, i)
		if !ok || v > 0xffffffff {
			return netip.Addr{}, false
		}
		val, i = v, end
		if i < len(s) && s[i] == '.' {
			if n > 2 || val > 0xff {
				return netip.Addr{}, false
			}
			parts[n] = byte(val)
			n++
			i++
			continue
		}
		break
	}
	if i != len(s) {
		return netip.Addr{}, false
	}
	max := [4]uint64{0xffffffff, 0xffffff, 0xffff, 0xff}
	if val > max[n] {
		return netip.Addr{}, false
	}
	u := uint32(val)
	for k := 0; k < n; k++ {
		u |= uint32(parts[k]) << (24 - 8*k)
	}
	return netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)}), true
}

// parseIPv6 is inet_pton(AF_INET6): an IPv6 address without a zone, possibly
// with a dotted-quad tail.
func parseIPv6(s string) (netip.Addr, bool) {
	if strings.IndexByte(s, '%') >= 0 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() {
		return netip.Addr{}, false
	}
	return a, true
}

// parseIPv4 is inet_pton(AF_INET): exactly four decimal parts without leading
// zeros. The hosts file uses it.
func parseIPv4(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

// numericHost is glibc's text_to_binary_address. ok reports whether node is a
// numeric address; if it is, err may still say why it cannot be used.
func (c *config) numericHost(node string, family, flags int) (a hostAddr, ok bool, err *AddrinfoError) {
	if ip, isV4 := inetAtonExact(node); isV4 {
		switch {
		case family == unix.AF_UNSPEC || family == unix.AF_INET:
			return hostAddr{ip: ip}, true, nil
		case family == unix.AF_INET6 && flags&AI_V4MAPPED != 0:
			return hostAddr{ip: netip.AddrFrom16(ip.As16())}, true, nil
		}
		return hostAddr{}, true, eai(EAI_ADDRFAMILY)
	}

	addrPart, scope, hasScope := strings.Cut(node, "%")
	ip, isV6 := parseIPv6(addrPart)
	if !isV6 {
		return hostAddr{}, false, nil
	}
	// scopeCheck is the in6_addr glibc tests for link-local scope: when it
	// turns ::ffff:a.b.c.d into AF_INET it first overwrites the address's
	// first word with a.b.c.d, and checks the scope afterwards.
	scopeCheck := ip.As16()
	switch {
	case family == unix.AF_UNSPEC || family == unix.AF_INET6:
		a = hostAddr{ip: ip}
	case family == unix.AF_INET && ip.Is4In6():
		a = hostAddr{ip: ip.Unmap()}
		copy(scopeCheck[0:4], scopeCheck[12:16])
	default:
		return hostAddr{}, true, eai(EAI_ADDRFAMILY)
	}
	if hasScope {
		id, good := c.scopeID(scopeCheck, scope)
		if !good {
			return hostAddr{}, true, eai(EAI_NONAME)
		}
		if a.ip.Is6() {
			a.zone = id
		}
	}
	return a, true, nil
}

// scopeID is glibc's __inet6_scopeid_pton: an interface name for link-local
// unicast and link- or interface-local multicast addresses, else (or if no
// such interface exists) a decimal number that fits in 32 bits.
func (c *config) scopeID(addr [16]byte, scope string) (uint32, bool) {
	linkScoped := (addr[0] == 0xfe && addr[1]&0xc0 == 0x80) || // fe80::/10
		(addr[0] == 0xff && (addr[1]&0xf == 1 || addr[1]&0xf == 2)) // ffx1::, ffx2::
	if linkScoped {
		if idx := c.ifNameToIndex(scope); idx != 0 {
			return idx, true
		}
	}
	if scope == "" || !isDigit(scope[0]) {
		return 0, false
	}
	for i := 0; i < len(scope); i++ {
		if !isDigit(scope[i]) {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(scope, 10, 32)
	if err != nil {
		return 0, false
	}
	return uint32(v), true
}

// ifNameToIndex is if_nametoindex(3), read from sysfs
// (/sys/class/net/NAME/ifindex) instead of an ioctl on a socket. It returns 0
// if there is no such interface. Names the kernel would refuse (see
// dev_valid_name in net/core/dev.c) are rejected before they reach the path.
func (c *config) ifNameToIndex(name string) uint32 {
	if name == "" || len(name) >= unix.IFNAMSIZ || name == "." || name == ".." ||
		strings.ContainsAny(name, "/:\x00") {
		return 0
	}
	for i := 0; i < len(name); i++ {
		if isCSpace(name[i]) {
			return 0
		}
	}
	b, err := os.ReadFile(c.sysClassNetPath + "/" + name + "/ifindex")
	if err != nil {
		return 0
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
	if err != nil {
		return 0
	}
	return uint32(v)
}
