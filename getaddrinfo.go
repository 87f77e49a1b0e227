//go:build linux

package ksocket

import (
	"context"
	"errors"

	"github.com/ksocket-go/ksocket/internal/resolv"
)

// Flags for Addrinfo.Flags, with glibc's values from netdb.h.
const (
	AI_PASSIVE     = resolv.AI_PASSIVE     // NULL node: the wildcard address, for Bind
	AI_CANONNAME   = resolv.AI_CANONNAME   // fill Canonname on the first result
	AI_NUMERICHOST = resolv.AI_NUMERICHOST // node must be a numeric address
	AI_V4MAPPED    = resolv.AI_V4MAPPED    // AF_INET6: IPv4 results as ::ffff:a.b.c.d when no IPv6 ones
	AI_ALL         = resolv.AI_ALL         // with AI_V4MAPPED: IPv6 and mapped IPv4 results
	AI_ADDRCONFIG  = resolv.AI_ADDRCONFIG  // only families with a configured non-loopback address
	AI_NUMERICSERV = resolv.AI_NUMERICSERV // service must be a port number
)

// Error codes for AddrinfoError.Code, with glibc's values from netdb.h.
const (
	EAI_BADFLAGS   = resolv.EAI_BADFLAGS
	EAI_NONAME     = resolv.EAI_NONAME
	EAI_AGAIN      = resolv.EAI_AGAIN
	EAI_FAIL       = resolv.EAI_FAIL
	EAI_NODATA     = resolv.EAI_NODATA
	EAI_FAMILY     = resolv.EAI_FAMILY
	EAI_SOCKTYPE   = resolv.EAI_SOCKTYPE
	EAI_SERVICE    = resolv.EAI_SERVICE
	EAI_ADDRFAMILY = resolv.EAI_ADDRFAMILY
	EAI_MEMORY     = resolv.EAI_MEMORY
	EAI_SYSTEM     = resolv.EAI_SYSTEM
	EAI_OVERFLOW   = resolv.EAI_OVERFLOW
)

func (e *AddrinfoError) Error() string {
	return (*resolv.AddrinfoError)(e).Error()
}

// Getaddrinfo resolves node and service to socket addresses, as
// getaddrinfo(3). An empty node or service means NULL; both empty is
// EAI_NONAME. nil hints means {Family: AF_UNSPEC, Flags: AI_V4MAPPED |
// AI_ADDRCONFIG}, as glibc.
//
// Hosts are looked up as numeric addresses, then in the hosts file
// (/etc/hosts, or $KSOCKET_HOSTS); services as port numbers, then in the
// services file (/etc/services, or $KSOCKET_SERVICES). Host names go to the
// hosts file and DNS in the order of the hosts: line of /etc/nsswitch.conf.
// DNS is a stub resolver over ksocket's own UDP sockets (TCP when an answer
// is truncated), configured by /etc/resolv.conf or $KSOCKET_RESOLV_CONF:
// nameservers, search and ndots, timeout, attempts, rotate, edns0 and
// single-request. Socktype 0 gives one
// SOCK_STREAM/IPPROTO_TCP and one SOCK_DGRAM/IPPROTO_UDP result per address;
// glibc also adds a SOCK_RAW one, ksocket does not. Protocol is always set,
// and Canonname only on the first result, without a trailing dot.
//
// There is no Freeaddrinfo: the results are ordinary Go values, each with its
// own Addr, and the garbage collector frees them. (KSOCKET's getaddrinfo
// returned addresses pointing into memory it had already freed.)
func Getaddrinfo(node, service string, hints *Addrinfo) ([]Addrinfo, error) {
	return GetaddrinfoContext(context.Background(), node, service, hints)
}

// GetaddrinfoContext is Getaddrinfo bounded by ctx. When ctx ends first it
// returns &AddrinfoError{Code: EAI_AGAIN, Err: ctx.Err()}.
func GetaddrinfoContext(ctx context.Context, node, service string, hints *Addrinfo) ([]Addrinfo, error) {
	res, err := resolv.Lookup(ctx, node, service, (*resolv.Addrinfo)(hints))
	if err != nil {
		var ae *resolv.AddrinfoError
		if errors.As(err, &ae) {
			return nil, (*AddrinfoError)(ae)
		}
		return nil, &AddrinfoError{Code: EAI_SYSTEM, Err: err}
	}
	out := make([]Addrinfo, len(res))
	for i, r := range res {
		out[i] = Addrinfo(r)
	}
	return out, nil
}
