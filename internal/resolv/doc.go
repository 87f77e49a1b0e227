// Package resolv is ksocket's getaddrinfo: it turns a node and a service into
// socket addresses the way glibc 2.36 does, without cgo and without the net
// package's resolver. The root package's Getaddrinfo calls Lookup; gonet and
// the CLI reach it through there.
//
// This is the non-DNS half. Names are resolved from numeric addresses and the
// hosts file only; LookupDNSFunc is the hook through which a later DNS client
// (over the engine's own UDP sockets) plugs in. While it is nil, a name that
// is not in the hosts file fails with EAI_NONAME.
//
// # What Lookup does, in glibc's order
//
//  1. If ctx is already done: EAI_AGAIN, with ctx.Err() as the cause. The
//     context is otherwise only passed to the DNS hook.
//  2. "" means NULL for node and service, and so does "*" (as in glibc). Both
//     NULL: EAI_NONAME.
//  3. hints nil means Family AF_UNSPEC, Flags AI_V4MAPPED|AI_ADDRCONFIG.
//     Unknown flag bits, or AI_CANONNAME with a NULL node: EAI_BADFLAGS. A
//     Family other than AF_UNSPEC, AF_INET or AF_INET6: EAI_FAMILY.
//  4. AI_ADDRCONFIG follows glibc's __check_pf: IPv4 is "seen" if an IPv4
//     address other than 127.0.0.1 is configured, IPv6 if one other than ::1
//     is. With AF_UNSPEC and exactly one family seen, the lookup is narrowed to
//     it; with AF_INET or AF_INET6 not seen, the result is EAI_NONAME (glibc
//     returns EAI_NONAME here, not EAI_ADDRFAMILY). Addresses come from
//     /proc/net/fib_trie ("/32 host LOCAL" leaves) and /proc/net/if_inet6,
//     never from netlink. If a file cannot be read, its family counts as seen,
//     as glibc does when netlink fails; a missing if_inet6 (kernel without
//     IPv6) means no IPv6.
//  5. A service that is not wholly a number: EAI_NONAME with AI_NUMERICSERV.
//     Numbers are read as glibc reads them (strtoul, base 10, into an int):
//     leading white space and a sign are allowed, values are truncated to 16
//     bits, and values that are negative as a 32-bit int ("-1", "4294967295",
//     overflow) are looked up as names and so fail with EAI_SERVICE.
//  6. Socktype and Protocol are matched against a table of
//     SOCK_STREAM/IPPROTO_TCP and SOCK_DGRAM/IPPROTO_UDP, as glibc matches them
//     against its gaih_inet_typeproto: no match is EAI_SOCKTYPE if Socktype
//     was set, else EAI_SERVICE (so SOCK_DGRAM with IPPROTO_TCP is
//     EAI_SOCKTYPE and Socktype 0 with protocol 99 is EAI_SERVICE). Socktype 0
//     and Protocol 0 give one SOCK_STREAM and one SOCK_DGRAM result per
//     address, in that order.
//  7. A service name is looked up in the services file for each socket type:
//     a service known only for tcp gives only SOCK_STREAM results. Unknown for
//     every requested type: EAI_SERVICE. Names match case-sensitively, as in
//     glibc.
//  8. The node: NULL gives the wildcard (:: and 0.0.0.0) with AI_PASSIVE,
//     else loopback (::1 and 127.0.0.1). Otherwise numeric forms come first:
//     IPv4 as inet_aton reads it ("127.1", "0x7f.0.0.1" and "010.0.0.1",
//     which is 8.0.0.1, are all valid, exactly as in glibc), then IPv6 with an
//     optional %zone. The zone is an interface name (only for link-local
//     unicast and link- or interface-local multicast addresses, read from
//     /sys/class/net/NAME/ifindex) or a decimal number; a bad zone is
//     EAI_NONAME. A numeric address of the wrong family is EAI_ADDRFAMILY,
//     except that IPv4 with AF_INET6 and AI_V4MAPPED becomes ::ffff:a.b.c.d,
//     and ::ffff:a.b.c.d with AF_INET becomes a.b.c.d. With AI_NUMERICHOST
//     any other node is EAI_NONAME.
//  9. Then the hosts file, then the DNS hook (see LookupDNSFunc). Neither
//     knows the name: EAI_NONAME.
//
// # Results
//
//   - They are sorted by a cheap subset of RFC 6724 destination address
//     selection, applied stably when there is more than one address: rule 1
//     (a destination comes last if no source address for it seems to exist,
//     judged from the same procfs data as AI_ADDRCONFIG), then rule 6 (higher
//     precedence in RFC 6724's §2.1 policy table first), then the original
//     order. glibc applies rules 1 to 9 with RFC 3484's table, using the
//     source address the kernel picks for each destination; orders can differ
//     where rules 2 to 5 or 7 to 9 decide, for example a global IPv6
//     destination on a host with only ULA IPv6 addresses. For the NULL node
//     the result is glibc's: ::1 before 127.0.0.1, but 0.0.0.0 before :: with
//     AI_PASSIVE.
//   - Flags is a copy of the hints' flags (the defaults when hints is nil),
//     and Protocol is always set. Canonname is set on the first result only,
//     with AI_CANONNAME: for a numeric node it is the node as given (zone
//     included), for a hosts-file match the first name on the first matching
//     line, for DNS the canonical name without its trailing dot.
//   - Addr is a new *unix.SockaddrInet4 or *unix.SockaddrInet6 for every
//     result, with Port set and ZoneId for scoped IPv6. Nothing is shared
//     between results or calls, so callers may keep or change them.
//   - There is no freeaddrinfo: the garbage collector frees results.
//
// AI_V4MAPPED matters only with AF_INET6: IPv4 answers are returned as
// ::ffff:a.b.c.d when there is no IPv6 answer; with AI_ALL too, both are
// returned, IPv6 first. AI_ALL without AI_V4MAPPED is ignored, as is
// AI_V4MAPPED with AF_UNSPEC.
//
// # The hosts and services files
//
// The hosts file is /etc/hosts, or $KSOCKET_HOSTS when set; the services file
// is /etc/services, or $KSOCKET_SERVICES. Both are parsed as glibc's nss_files
// parses them ('#' comments, C-locale white space, inet_pton addresses, so
// hosts lines with a zone or a malformed address are ignored; services ports
// read by strtoul and truncated to 16 bits) and cached until
// their identity, size or modification time changes. Hosts names match
// case-insensitively, canonical names and aliases alike, with no trailing-dot
// handling ("localhost." does not match "localhost"). Every matching line
// counts, in file order, as with "multi on" in /etc/host.conf (Debian's
// default). With AF_INET, a line for ::1 or ::ffff:a.b.c.d also matches, as
// 127.0.0.1 or a.b.c.d, as in glibc. A missing file is an empty one; a file
// that exists but cannot be read is EAI_SYSTEM with the read error as the
// cause.
//
// # Differences from glibc
//
//   - "" is NULL. For glibc an empty node is a name like any other (so
//     getaddrinfo("", "80", ...) fails, and queries DNS on the way), and
//     AI_CANONNAME with it is allowed.
//   - No SOCK_RAW results: glibc adds a third, SOCK_RAW entry per address when
//     Socktype and Protocol are 0; Lookup does not. SOCK_RAW, SOCK_SEQPACKET
//     and SOCK_DCCP are EAI_SOCKTYPE, as are IPPROTO_SCTP and IPPROTO_UDPLITE
//     with a Socktype (and EAI_SERVICE without one); glibc supports them.
//   - AI_IDN, AI_CANONIDN and the deprecated IDN flags are EAI_BADFLAGS; glibc
//     accepts them.
//   - /etc/host.conf, /etc/gai.conf, nsswitch.conf and nscd are not read:
//     the sources are always numeric, hosts file, DNS hook, in that order.
//   - The sort is the subset of RFC 6724 described above. One visible case:
//     on a host with no address at all (not even loopback), glibc puts ::
//     before 0.0.0.0 for AI_PASSIVE, by RFC 3484's precedence table; Lookup
//     keeps 0.0.0.0 first, as glibc does on every host with an address.
//   - AI_ADDRCONFIG reads procfs. The local routes in fib_trie exist only for
//     interfaces that are up, so an IPv4 address on a down interface is not
//     seen (netlink would report it). Interface names in zones are read from
//     /sys/class/net, which shows the network namespace sysfs was mounted in.
package resolv
