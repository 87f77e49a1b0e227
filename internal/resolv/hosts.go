//go:build linux

package resolv

import (
	"bytes"
	"net/netip"

	"golang.org/x/sys/unix"
)

// hostsFile is a parsed hosts(5) file.
type hostsFile struct {
	entries []hostsEntry
	byName  map[string][]int // lower-cased name or alias → indexes into entries, in file order
}

// hostsEntry is one usable line: an address and its names, canonical first.
type hostsEntry struct {
	addr  netip.Addr // Is4, or Is6 without zone
	names []string
}

var hostsCache = fileCache[*hostsFile]{parse: parseHosts}

// parseHosts parses a hosts file the way glibc's nss_files does
// (nss/nss_files/files-hosts.c): text from '#' to the end of the line is a
// comment; fields are separated by C-locale white space; the first field is an
// address as inet_pton reads it (an IPv4 dotted quad, or IPv6 without a zone);
// the second is the canonical name and the rest are aliases. Lines with a bad
// address or no name are ignored. A NUL byte ends a line, as it does a C
// string.
func parseHosts(data []byte) *hostsFile {
	h := &hostsFile{byName: make(map[string][]int)}
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		if i := bytes.IndexByte(line, 0); i >= 0 {
			line = line[:i]
		}
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := cFields(line)
		if len(f) < 2 {
			continue
		}
		addr, ok := parseIPv4(string(f[0]))
		if !ok {
			if addr, ok = parseIPv6(string(f[0])); !ok {
				continue
			}
		}
		e := hostsEntry{addr: addr, names: make([]string, len(f)-1)}
		idx := len(h.entries)
		for i, name := range f[1:] {
			e.names[i] = string(name)
			key := asciiLower(e.names[i])
			if l := h.byName[key]; len(l) == 0 || l[len(l)-1] != idx {
				h.byName[key] = append(l, idx)
			}
		}
		h.entries = append(h.entries, e)
	}
	return h
}

// lookup returns the addresses of name for one family, the way glibc's files
// module returns them with "multi on" (Debian's default /etc/host.conf):
// every matching line in file order, and canon is the first name of the first
// line used. Names match case-insensitively (ASCII), with no trailing-dot
// handling. As in files-hosts.c, family decides which lines count:
//   - AF_UNSPEC: every line, with its own family;
//   - AF_INET: IPv4 lines, plus IPv6 lines holding ::ffff:a.b.c.d (as a.b.c.d)
//     or ::1 (as 127.0.0.1);
//   - AF_INET6: IPv6 lines only.
func (h *hostsFile) lookup(name string, family int) (addrs []netip.Addr, canon string) {
	for _, i := range h.byName[asciiLower(name)] {
		e := &h.entries[i]
		a := e.addr
		switch family {
		case unix.AF_INET:
			switch {
			case a.Is4():
			case a.Is4In6():
				a = a.Unmap()
			case a == netip.IPv6Loopback():
				a = netip.AddrFrom4([4]byte{127, 0, 0, 1})
			default:
				continue
			}
		case unix.AF_INET6:
			if !a.Is6() {
				continue
			}
		}
		if canon == "" {
			canon = e.names[0]
		}
		addrs = append(addrs, a)
	}
	return addrs, canon
}

// cFields splits b at runs of C-locale white space.
func cFields(b []byte) [][]byte {
	var f [][]byte
	for {
		for len(b) > 0 && isCSpace(b[0]) {
			b = b[1:]
		}
		if len(b) == 0 {
			return f
		}
		i := 0
		for i < len(b) && !isCSpace(b[i]) {
			i++
		}
		f = append(f, b[:i])
		b = b[i:]
	}
}

// asciiLower lower-cases ASCII letters only, as strcasecmp does in the C
// locale (strings.ToLower would also fold non-ASCII letters).
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
