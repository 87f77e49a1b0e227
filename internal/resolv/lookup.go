//go:build linux

package resolv

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// LookupDNSFunc is the "dns" source of the hosts line in nsswitch.conf:
// Lookup calls it for names that are not numeric, when the sources before it
// did not settle the lookup. It is set during package initialisation to the
// package's stub resolver (see dns.go), which asks the nameservers of
// resolv.conf over the engine's own UDP sockets, with TCP fallback. Tests may
// replace it; nil disables DNS, so that such names fail with EAI_NONAME. It is
// not safe to change while lookups run.
//
// Lookup calls it with the node exactly as given (no trailing dot is added or
// removed) and family AF_UNSPEC, AF_INET or AF_INET6. For AF_INET6 with
// AI_V4MAPPED it calls it with AF_INET6 first and, if that gives no address
// (or with AI_ALL), again with AF_INET, and maps the IPv4 answers to
// ::ffff:a.b.c.d. ctx is Lookup's context.
//
// The hook returns the addresses (IPv4 as 4-byte addresses; zones are
// ignored; addresses of a family other than the one asked for are dropped)
// and the canonical name, with or without a trailing dot ("" means the name
// itself). Errors are reported as follows: an *AddrinfoError is returned to
// the caller unchanged (the stub resolver gives EAI_NONAME for NXDOMAIN and
// for no data, EAI_AGAIN for timeouts, SERVFAIL and unreachable servers,
// EAI_FAIL for FORMERR and the like, EAI_SYSTEM when it cannot make a
// socket); a context error becomes EAI_AGAIN and any other error EAI_FAIL,
// with the error as the cause. No addresses and a nil error mean
// EAI_NODATA. For nsswitch.conf criteria, EAI_SYSTEM, and EAI_AGAIN whose
// cause is the stub resolver's "no usable reply" mark, count as UNAVAIL;
// other errors as NOTFOUND.
var LookupDNSFunc func(ctx context.Context, name string, family int) (addrs []netip.Addr, canonical string, err error)

// Paths of the files Lookup reads. They are variables so that tests can point
// them at fixtures. KSOCKET_HOSTS and KSOCKET_SERVICES, when set and not
// empty, override the first two (resolvConfPath and nsswitchPath, with their
// own variables, are in resolvconf.go and nsswitch.go).
var (
	hostsPath       = "/etc/hosts"
	servicesPath    = "/etc/services"
	ifInet6Path     = "/proc/net/if_inet6"
	fibTriePath     = "/proc/net/fib_trie"
	sysClassNetPath = "/sys/class/net"
)

// config is everything one lookup reads from its environment, fixed when the
// lookup starts. Tests build their own so that they can run in parallel.
type config struct {
	hostsPath, servicesPath  string
	ifInet6Path, fibTriePath string
	sysClassNetPath          string
	// nsswitchPath is the file whose hosts line orders the sources; ""
	// means the default order, files then dns.
	nsswitchPath string
	dns          func(ctx context.Context, name string, family int) ([]netip.Addr, string, error)
}

// currentConfig returns the configuration Lookup uses: the package variables,
// the environment and LookupDNSFunc.
func currentConfig() *config {
	c := &config{
		hostsPath:       hostsPath,
		servicesPath:    servicesPath,
		ifInet6Path:     ifInet6Path,
		fibTriePath:     fibTriePath,
		sysClassNetPath: sysClassNetPath,
		nsswitchPath:    currentNsswitchPath(),
		dns:             LookupDNSFunc,
	}
	if p := os.Getenv("KSOCKET_HOSTS"); p != "" {
		c.hostsPath = p
	}
	if p := os.Getenv("KSOCKET_SERVICES"); p != "" {
		c.servicesPath = p
	}
	return c
}

// Lookup is getaddrinfo(3): it translates node (a host name or numeric
// address) and service (a service name or port number) into socket
// addresses, following glibc 2.36. An empty node or service stands for C's
// NULL; nil hints stands for {Family: AF_UNSPEC, Flags: AI_V4MAPPED|AI_ADDRCONFIG}.
// Only Flags, Family, Socktype and Protocol of hints are used.
//
// The results are never empty on success. The error is always an
// *AddrinfoError. The package documentation lists the behaviour in detail.
func Lookup(ctx context.Context, node, service string, hints *Addrinfo) ([]Addrinfo, error) {
	res, err := currentConfig().lookup(ctx, node, service, hints)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// request is the part of the hints a lookup uses.
type request struct {
	flags, family, socktype, protocol int
}

// lookup is Lookup with an explicit configuration. It follows the structure of
// glibc's getaddrinfo and gaih_inet (sysdeps/posix/getaddrinfo.c), so that
// errors come out in the same order.
func (c *config) lookup(ctx context.Context, node, service string, hints *Addrinfo) ([]Addrinfo, *AddrinfoError) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return nil, &AddrinfoError{Code: EAI_AGAIN, Err: err}
	}
	// glibc treats "*" as NULL for both.
	if node == "*" {
		node = ""
	}
	if service == "*" {
		service = ""
	}
	if node == "" && service == "" {
		return nil, eai(EAI_NONAME)
	}
	req := request{flags: defaultFlags, family: unix.AF_UNSPEC}
	if hints != nil {
		req = request{flags: hints.Flags, family: hints.Family, socktype: hints.Socktype, protocol: hints.Protocol}
	}
	if req.flags&^knownFlags != 0 {
		return nil, eai(EAI_BADFLAGS)
	}
	if req.flags&AI_CANONNAME != 0 && node == "" {
		return nil, eai(EAI_BADFLAGS)
	}
	if req.family != unix.AF_UNSPEC && req.family != unix.AF_INET && req.family != unix.AF_INET6 {
		return nil, eai(EAI_FAMILY)
	}

	var ifs *ifaddrs
	interfaces := func() *ifaddrs {
		if ifs == nil {
			ifs = readIfaddrs(c.fibTriePath, c.ifInet6Path)
		}
		return ifs
	}
	if req.flags&AI_ADDRCONFIG != 0 {
		// glibc's getaddrinfo, after __check_pf.
		seen4, seen6 := interfaces().seen4, interfaces().seen6
		if req.family == unix.AF_UNSPEC && (seen4 || seen6) {
			if seen4 != seen6 {
				if seen4 {
					req.family = unix.AF_INET
				} else {
					req.family = unix.AF_INET6
				}
			}
		} else if (req.family == unix.AF_INET && !seen4) || (req.family == unix.AF_INET6 && !seen6) {
			return nil, eai(EAI_NONAME)
		}
	}

	var svc *serviceReq
	if service != "" {
		num, numeric := parseServiceNumber(service)
		if !numeric {
			if req.flags&AI_NUMERICSERV != 0 {
				return nil, eai(EAI_NONAME)
			}
			num = -1
		}
		svc = &serviceReq{name: service, num: num}
	}
	servs, err := c.servTuples(req, svc)
	if err != nil {
		return nil, err
	}

	addrs, canon, err := c.hostAddrs(ctx, node, req)
	if err != nil {
		return nil, err
	}
	if len(addrs) > 1 {
		sortAddrs(addrs, interfaces())
	}

	res := make([]Addrinfo, 0, len(addrs)*len(servs))
	for _, a := range addrs {
		for _, st := range servs {
			ai := Addrinfo{
				Flags:    req.flags,
				Family:   a.family(),
				Socktype: st.socktype,
				Protocol: st.protocol,
			}
			// A new Sockaddr for every result: the seed's getaddrinfo handed
			// out pointers into memory it had freed; nothing is shared here.
			if a.ip.Is4() {
				ai.Addr = &unix.SockaddrInet4{Port: int(st.port), Addr: a.ip.As4()}
			} else {
				ai.Addr = &unix.SockaddrInet6{Port: int(st.port), ZoneId: a.zone, Addr: a.ip.As16()}
			}
			res = append(res, ai)
		}
	}
	if len(res) == 0 {
		// Not reachable (hostAddrs and servTuples never succeed empty), but an
		// empty success would break every caller's res[0].
		return nil, eai(EAI_NONAME)
	}
	if req.flags&AI_CANONNAME != 0 {
		res[0].Canonname = canon
	}
	return res, nil
}

// serviceReq is a non-NULL service: num >= 0 is a port number, num < 0 means
// "look name up in the services file".
type serviceReq struct {
	name string
	num  int32
}

// servTuple is one socket type a result is made for, with its port.
type servTuple struct {
	socktype, protocol int
	port               uint16
}

// typeProto is glibc's gaih_inet_typeproto table, cut down to what this
// package supports: no SOCK_RAW, DCCP, UDP-Lite or SCTP.
var typeProto = []struct {
	socktype, protocol int
	name               string // protocol name in the services file
}{
	{unix.SOCK_STREAM, unix.IPPROTO_TCP, "tcp"},
	{unix.SOCK_DGRAM, unix.IPPROTO_UDP, "udp"},
}

// servTuples is glibc's get_servtuples: it checks Socktype and Protocol
// against the table and resolves the service for each socket type.
func (c *config) servTuples(req request, svc *serviceReq) ([]servTuple, *AddrinfoError) {
	tp := -1
	if req.socktype != 0 || req.protocol != 0 {
		for i, t := range typeProto {
			if (req.socktype == 0 || req.socktype == t.socktype) &&
				(req.protocol == 0 || req.protocol == t.protocol) {
				tp = i
				break
			}
		}
		if tp < 0 {
			if req.socktype != 0 {
				return nil, eai(EAI_SOCKTYPE)
			}
			return nil, eai(EAI_SERVICE)
		}
	}

	if svc == nil || svc.num >= 0 {
		var port uint16
		if svc != nil {
			port = uint16(svc.num) // htons(num) keeps the low 16 bits
		}
		if tp >= 0 {
			return []servTuple{{typeProto[tp].socktype, typeProto[tp].protocol, port}}, nil
		}
		sts := make([]servTuple, len(typeProto))
		for i, t := range typeProto {
			sts[i] = servTuple{t.socktype, t.protocol, port}
		}
		return sts, nil
	}

	db, err := servicesCache.get(c.servicesPath)
	if err != nil {
		return nil, &AddrinfoError{Code: EAI_SYSTEM, Err: err}
	}
	if tp >= 0 {
		t := typeProto[tp]
		port, ok := db.lookup(svc.name, t.name)
		if !ok {
			return nil, eai(EAI_SERVICE)
		}
		return []servTuple{{t.socktype, t.protocol, port}}, nil
	}
	var sts []servTuple
	for _, t := range typeProto {
		if port, ok := db.lookup(svc.name, t.name); ok {
			sts = append(sts, servTuple{t.socktype, t.protocol, port})
		}
	}
	if len(sts) == 0 {
		return nil, eai(EAI_SERVICE)
	}
	return sts, nil
}

// hostAddrs resolves node: the NULL node, a numeric address, then the
// sources of nsswitch.conf's hosts line (the hosts file and the DNS hook),
// in its order. canon is the canonical name for AI_CANONNAME.
func (c *config) hostAddrs(ctx context.Context, node string, req request) (addrs []hostAddr, canon string, err *AddrinfoError) {
	if node == "" {
		return localAddrs(req), "", nil
	}
	a, numeric, err := c.numericHost(node, req.family, req.flags)
	if err != nil {
		return nil, "", err
	}
	if numeric {
		return []hostAddr{a}, node, nil
	}
	if req.flags&AI_NUMERICHOST != 0 {
		return nil, "", eai(EAI_NONAME)
	}

	// As glibc's get_nss_addresses: each source's status picks the action
	// from its criteria, and when the sources run out, the last one
	// consulted gives the result.
	err = eai(EAI_NONAME) // no source consulted
	for _, src := range hostsSources(c.nsswitchPath) {
		var status nssStatus
		switch src.name {
		case "files":
			addrs, canon, err, status = c.filesSource(node, req)
		case "dns":
			if c.dns == nil {
				continue // no DNS: as if the module were not installed
			}
			addrs, canon, err, status = c.dnsSource(ctx, node, req)
			if err != nil && ctx.Err() != nil {
				return nil, "", &AddrinfoError{Code: EAI_AGAIN, Err: ctx.Err()}
			}
		default:
			continue
		}
		if src.actions[status] == nssReturn {
			break
		}
	}
	if err != nil {
		return nil, "", err
	}
	return addrs, canon, nil
}

// filesSource looks node up in the hosts file.
func (c *config) filesSource(node string, req request) ([]hostAddr, string, *AddrinfoError, nssStatus) {
	hosts, rerr := hostsCache.get(c.hostsPath)
	if rerr != nil {
		return nil, "", &AddrinfoError{Code: EAI_SYSTEM, Err: rerr}, nssUnavail
	}
	ips, canon, found := byFamily(req, func(family int) ([]netip.Addr, string, *AddrinfoError) {
		ips, canon := hosts.lookup(node, family)
		return ips, canon, nil
	})
	if !found {
		return nil, "", eai(EAI_NONAME), nssNotFound
	}
	// Like an NSS module that succeeded, the hosts file settles the lookup
	// even if byFamily dropped every address it gave.
	if len(ips) == 0 {
		return nil, "", eai(EAI_NONAME), nssSuccess
	}
	return toHostAddrs(ips), canon, nil, nssSuccess
}

// dnsSource asks the DNS hook.
func (c *config) dnsSource(ctx context.Context, node string, req request) ([]hostAddr, string, *AddrinfoError, nssStatus) {
	var firstErr *AddrinfoError
	ips, canon, found := byFamily(req, func(family int) ([]netip.Addr, string, *AddrinfoError) {
		ips, canon, err := c.callDNS(ctx, node, family)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return ips, canon, err
	})
	switch {
	case len(ips) > 0:
	case found:
		return nil, "", eai(EAI_NONAME), nssSuccess
	case firstErr != nil:
		return nil, "", firstErr, dnsStatus(firstErr)
	default:
		return nil, "", eai(EAI_NODATA), nssNotFound
	}
	canon = strings.TrimSuffix(canon, ".")
	if canon == "" {
		canon = node
	}
	return toHostAddrs(ips), canon, nil, nssSuccess
}

// dnsStatus is the NSS status glibc's DNS module reports with a failure:
// UNAVAIL when a socket could not be made, or when the last query sent got
// no usable reply (the stub resolver marks those with unavailError: glibc
// goes by the errno of its last res_send, ETIMEDOUT or ECONNREFUSED, which
// SERVFAIL and REFUSED replies leave behind too), NOTFOUND otherwise.
func dnsStatus(err *AddrinfoError) nssStatus {
	var ue *unavailError
	if err.Code == EAI_SYSTEM || errors.As(err.Err, &ue) {
		return nssUnavail
	}
	return nssNotFound
}

// byFamily runs one name-service query per family the request needs, the way
// glibc's get_nss_addresses calls a module's gethostbyname3_r: for AF_INET6
// with AI_V4MAPPED it asks for IPv6 and then, if there was none (or with
// AI_ALL), for IPv4, which it maps to ::ffff:a.b.c.d. When IPv6 answers were
// found and AI_ALL is not set, mapped addresses among them are dropped too,
// as glibc's generate_addrinfo does (and mapped addresses can then appear
// twice, once from an IPv6 line and once from the IPv4 query, as in glibc).
// canon comes from the first query that gave one; found reports whether any
// query gave addresses, before mapped ones were dropped.
func byFamily(req request, query func(family int) ([]netip.Addr, string, *AddrinfoError)) (ips []netip.Addr, canon string, found bool) {
	if req.family != unix.AF_INET6 || req.flags&AI_V4MAPPED == 0 {
		ips, canon, _ := query(req.family)
		return ips, canon, len(ips) > 0
	}
	ips, canon, _ = query(unix.AF_INET6)
	got6 := len(ips) > 0
	found = got6
	if req.flags&AI_ALL != 0 || !got6 {
		v4, canon4, _ := query(unix.AF_INET)
		found = found || len(v4) > 0
		for _, a := range v4 {
			ips = append(ips, netip.AddrFrom16(a.As16()))
		}
		if canon == "" {
			canon = canon4
		}
	}
	if got6 && req.flags&AI_ALL == 0 {
		ips = slices.DeleteFunc(ips, netip.Addr.Is4In6)
	}
	return ips, canon, found
}

// callDNS calls the DNS hook for one family and normalises its answer.
func (c *config) callDNS(ctx context.Context, name string, family int) ([]netip.Addr, string, *AddrinfoError) {
	ips, canon, err := c.dns(ctx, name, family)
	if err != nil {
		var ae *AddrinfoError
		switch {
		case errors.As(err, &ae):
			return nil, "", ae
		case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
			return nil, "", &AddrinfoError{Code: EAI_AGAIN, Err: err}
		}
		return nil, "", &AddrinfoError{Code: EAI_FAIL, Err: err}
	}
	out := make([]netip.Addr, 0, len(ips))
	for _, ip := range ips {
		ip = ip.WithZone("")
		switch {
		case family == unix.AF_INET && ip.Unmap().Is4():
			out = append(out, ip.Unmap())
		case family == unix.AF_INET6 && ip.Is6():
			out = append(out, ip)
		case family == unix.AF_UNSPEC && ip.IsValid():
			out = append(out, ip)
		}
	}
	return out, canon, nil
}

func toHostAddrs(ips []netip.Addr) []hostAddr {
	out := make([]hostAddr, len(ips))
	for i, ip := range ips {
		out[i] = hostAddr{ip: ip}
	}
	return out
}

// localAddrs is glibc's get_local_addresses for the NULL node: the wildcard
// with AI_PASSIVE, else loopback; IPv6 before IPv4 (the sort then puts
// 0.0.0.0 before ::, whose precedence is 1, as glibc's order comes out).
func localAddrs(req request) []hostAddr {
	passive := req.flags&AI_PASSIVE != 0
	var out []hostAddr
	if req.family == unix.AF_UNSPEC || req.family == unix.AF_INET6 {
		ip := netip.IPv6Loopback()
		if passive {
			ip = netip.IPv6Unspecified()
		}
		out = append(out, hostAddr{ip: ip})
	}
	if req.family == unix.AF_UNSPEC || req.family == unix.AF_INET {
		ip := netip.AddrFrom4([4]byte{127, 0, 0, 1})
		if passive {
			ip = netip.IPv4Unspecified()
		}
		out = append(out, hostAddr{ip: ip})
	}
	return out
}
