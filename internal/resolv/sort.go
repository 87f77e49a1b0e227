//go:build linux

package resolv

import (
	"net/netip"
	"slices"
)

// policy is one row of the RFC 6724 §2.1 policy table (precedence only).
type policy struct {
	prefix     netip.Prefix
	precedence int
}

// policyTable is RFC 6724's default policy table, longest prefix first.
// glibc 2.36 still uses RFC 3484's table (::ffff:0:0/96 has 10, ::/96 has 20,
// no rows for 2001::/32, fc00::/7, fec0::/10 or 3ffe::/16).
var policyTable = []policy{
	{netip.MustParsePrefix("::1/128"), 50},
	{netip.MustParsePrefix("::ffff:0:0/96"), 35},
	{netip.MustParsePrefix("::/96"), 1},
	{netip.MustParsePrefix("2001::/32"), 5},
	{netip.MustParsePrefix("2002::/16"), 30},
	{netip.MustParsePrefix("3ffe::/16"), 1},
	{netip.MustParsePrefix("fec0::/10"), 1},
	{netip.MustParsePrefix("fc00::/7"), 3},
	{netip.MustParsePrefix("::/0"), 40},
}

// precedence returns the RFC 6724 precedence of ip; IPv4 addresses are
// looked up as ::ffff:a.b.c.d.
func precedence(ip netip.Addr) int {
	ip = netip.AddrFrom16(ip.As16())
	for _, p := range policyTable {
		if p.prefix.Contains(ip) {
			return p.precedence
		}
	}
	return 0
}

// sortAddrs orders destinations with a cheap subset of RFC 6724 §6, stably:
// rule 1 (avoid unusable destinations, see ifaddrs.usable), then rule 6
// (higher precedence first), then the original order. Rules 2-5 and 7-9 need
// the source address the kernel would pick for each destination, which glibc
// gets by connecting a UDP socket per destination; this package does not
// create sockets, so it skips them.
func sortAddrs(addrs []hostAddr, ifs *ifaddrs) {
	type key struct {
		usable     bool
		precedence int
	}
	keys := make(map[hostAddr]key, len(addrs))
	for _, a := range addrs {
		if _, ok := keys[a]; !ok {
			keys[a] = key{usable: ifs.usable(a), precedence: precedence(a.ip)}
		}
	}
	slices.SortStableFunc(addrs, func(a, b hostAddr) int {
		ka, kb := keys[a], keys[b]
		if ka.usable != kb.usable {
			if ka.usable {
				return -1
			}
			return 1
		}
		return kb.precedence - ka.precedence
	})
}
