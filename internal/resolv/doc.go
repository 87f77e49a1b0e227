// Package resolv is ksocket's getaddrinfo: it turns a node and a service into
// socket addresses the way glibc 2.36 does, without cgo and without the net
// package's resolver. The root package's Getaddrinfo calls Lookup; gonet and
// the CLI reach it through there.
//
// Names are resolved from numeric addresses, then from the sources of the
// hosts line in nsswitch.conf: the hosts file, and DNS through a stub
// resolver of the package's own (dns.go) that reads resolv.conf and talks to
// the nameservers over the engine's sockets (UDP datagram sockets, and TCP
// for truncated replies), so that DNS traffic goes through io_uring (or the
// epoll backend) like every other socket of ksocket: never through package
// net, cgo or the Go resolver. LookupDNSFunc is the hook through which Lookup
// calls it; tests may replace it.
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
//  9. Then the sources of the hosts line of nsswitch.conf, the hosts file
//     and DNS, in its order and with its criteria (see below); without such
//     a line, the hosts file then DNS. No source knows the name: EAI_NONAME.
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
//     destination on a host with only ULA IPv6 addresses, and where the two
//     tables differ: IPv4 comes before ULA (fc00::/7) IPv6 here, after it in
//     glibc. For the NULL node
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
// cause (for nsswitch.conf, the source is UNAVAIL: a later source may still
// answer).
//
// # nsswitch.conf
//
// The hosts line of /etc/nsswitch.conf (or of $KSOCKET_NSSWITCH_CONF; the
// package variable nsswitchPath holds the default) orders the sources. Only
// files and dns are known; any other source (mdns4_minimal, myhostname,
// resolve, ...) is skipped together with its criteria, as glibc skips a
// module that is not installed. Criteria such as [NOTFOUND=return] or
// [!UNAVAIL=return] apply to the source before them, with glibc's defaults
// (return on SUCCESS, continue otherwise) and merge acting as continue.
// When the sources run out, the last one consulted gives the result, as in
// glibc ("dns files" with an unreachable nameserver and a name the hosts
// file lacks is EAI_NONAME, "files dns" is EAI_AGAIN). The statuses, as
// measured with glibc 2.36: the hosts file is SUCCESS, NOTFOUND or UNAVAIL
// (unreadable); DNS is SUCCESS, NOTFOUND (NXDOMAIN, no data, and a search
// whose last query got a reply), or UNAVAIL (the last query sent got no
// usable reply: unreachable or silent servers, SERVFAIL, REFUSED; or a
// socket could not be made). A missing or unreadable file, no hosts line,
// or a hosts line with no known source, means "files dns", which is what
// glibc 2.36 does without a hosts line (it crashes on an empty one). The
// file is cached like the hosts file.
//
// # resolv.conf
//
// /etc/resolv.conf (or $KSOCKET_RESOLV_CONF) is read as glibc 2.36's
// res_init reads it, and read again when its identity, size or modification
// time changes (unless it says "options no-reload"). Comments are lines
// starting with '#' or ';'. A keyword must be followed by a blank.
//
//   - nameserver: an IPv4 address as inet_aton reads it, or IPv6 with an
//     optional %zone (an interface name or number, as for numeric nodes);
//     port 53; at most 3, further lines are ignored. None: 127.0.0.1.
//   - search and domain: the last such line gives the search list (domain
//     sets a list of one). None: the domain part of the host name, if any.
//     $LOCALDOMAIN (blank-separated) replaces the file's list.
//   - options, matched by prefix as glibc does, then those of $RES_OPTIONS:
//     ndots:N (default 1, at most 15), timeout:N (seconds, default 5, at
//     most 30), attempts:N (default 2, at most 5; 0 counts as 1, where glibc
//     would send nothing), rotate, edns0, single-request and
//     single-request-reopen (the same here: each query has its own socket
//     anyway), use-vc, no-tld-query, trust-ad, no-aaaa and no-reload. Other
//     options, negative values and sortlist lines are ignored.
//
// # DNS queries
//
//   - Which names are asked, in which order, and which failure is reported,
//     follow glibc's res_search: the name as it is first if it has at least
//     ndots dots or a trailing dot (a trailing dot means that name only);
//     then each search domain (going on after NXDOMAIN, no data and
//     SERVFAIL, stopping after other failures, and giving up at once when no
//     server is reachable); then the name as it is, if not tried yet (unless
//     no-tld-query and it has no dot, or "." was on the search list). The
//     first reply with answer records ends the search. A failed first try
//     is the reported failure; else no data if seen; else SERVFAIL if seen;
//     else the last failure. This was compared with glibc, query by query,
//     from dnsmasq's query log.
//   - Names are checked first as glibc's res_hnok checks them: printable
//     ASCII, backslash escapes decoded, labels of letters, digits, '-' and
//     '_' only, not starting with '-', at most 63 bytes, 255 in all. Other
//     names are EAI_NONAME without a query.
//   - AF_UNSPEC asks for A and AAAA in parallel, each with its own socket;
//     with single-request, A first, and AAAA only if A got a reply (glibc
//     gives up on a server for both when it refuses the first). AF_INET asks
//     for A, AF_INET6 for AAAA.
//   - Each try is a new UDP socket of the engine, bound to port 0 (a random
//     ephemeral port chosen by the kernel) and connected to the server, and
//     a new query ID from crypto/rand, with RD set (and AD with trust-ad,
//     and an OPT record offering 1200 bytes with edns0). A reply is accepted
//     only if it comes from the server's address and port, is a reply (QR),
//     has the query's ID and exactly its question (name, ignoring ASCII
//     case, type and class), and parses. Anything else is dropped and the
//     wait goes on, so a forged or broken datagram cannot end a try.
//   - Tries: attempts rounds over the servers, starting at a random one with
//     rotate. A try waits glibc's time: timeout seconds for the first
//     server, timeout << i / number of servers (at least one second) for
//     server i. SERVFAIL, REFUSED and NOTIMP, silence, and socket errors
//     (ECONNREFUSED from an ICMP port unreachable) move on to the next
//     server; NOERROR, NXDOMAIN and other codes (FORMERR) end the query. A
//     FORMERR to a query with EDNS is asked again without it.
//   - A reply with TC set, or cut by the kernel (MSG_TRUNC), is asked again
//     of the same server over a new TCP connection of the engine, with the
//     two-byte length prefix, checked the same way.
//   - Answers: the CNAME chain from the question's name is followed through
//     the answer section, at most 16 records (longer, or a loop: EAI_FAIL);
//     the addresses are the records of the question's type owned by its
//     end, which is the canonical name (as the server spelled it). Records
//     of other names or types are ignored, as are CNAME targets that are
//     not host names. Addresses are returned A first, then AAAA.
//   - Errors: NXDOMAIN and no data (including a CNAME whose end has no
//     address of the type) are EAI_NONAME; timeouts, SERVFAIL, REFUSED,
//     NOTIMP and unreachable servers EAI_AGAIN; FORMERR and the other final
//     codes, and CNAME chains that are too long, EAI_FAIL; a socket that
//     cannot be made EAI_SYSTEM. The cause names the nameserver and what went wrong,
//     but, as in package net, does not unwrap to an errno or to
//     os.ErrDeadlineExceeded (a refused lookup must not look like a refused
//     connection); a timeout's cause has a Timeout method that reports
//     true. When ctx ends, the lookup stops at once with EAI_AGAIN and
//     ctx.Err() as the cause.
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
//   - /etc/host.conf, /etc/gai.conf and nscd are not used, nor are the
//     hosts sources of nsswitch.conf other than files and dns.
//   - A name that exists without an address of the family is EAI_NONAME;
//     glibc returns EAI_NODATA ("No address associated with hostname") when
//     the reply had no answer records and it is the last source.
//   - The DNS resolver ignores HOSTALIASES, sortlist, "options inet6",
//     "options debug" and the ip6-* options, and treats attempts:0 as 1.
//     A and AAAA are retried independently rather than as a pair, and
//     single-request-reopen is single-request.
//   - The sort is the subset of RFC 6724 described above. One visible case:
//     on a host with no address at all (not even loopback), glibc puts ::
//     before 0.0.0.0 for AI_PASSIVE, by RFC 3484's precedence table; Lookup
//     keeps 0.0.0.0 first, as glibc does on every host with an address.
//   - AI_ADDRCONFIG reads procfs. The local routes in fib_trie exist only for
//     interfaces that are up, so an IPv4 address on a down interface is not
//     seen (netlink would report it). Interface names in zones are read from
//     /sys/class/net, which shows the network namespace sysfs was mounted in.
package resolv
