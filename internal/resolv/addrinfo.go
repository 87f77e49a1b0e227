//go:build linux

package resolv

import "golang.org/x/sys/unix"

// Flags for Addrinfo.Flags, with the values of glibc's <netdb.h>.
const (
	AI_PASSIVE     = 0x1   // NULL node: return the wildcard address instead of loopback.
	AI_CANONNAME   = 0x2   // Set Canonname on the first result.
	AI_NUMERICHOST = 0x4   // Node must be a numeric address; never consult hosts or DNS.
	AI_V4MAPPED    = 0x8   // With AF_INET6: return IPv4 results as ::ffff:a.b.c.d if there are no IPv6 ones.
	AI_ALL         = 0x10  // With AI_V4MAPPED: return IPv6 results and mapped IPv4 results.
	AI_ADDRCONFIG  = 0x20  // Return only families that have a configured non-loopback address.
	AI_NUMERICSERV = 0x400 // Service must be numeric; never consult the services file.
)

// knownFlags is every flag Lookup accepts. glibc also accepts AI_IDN (0x40),
// AI_CANONIDN (0x80) and the deprecated 0x300 bits; Lookup does not implement IDN
// and rejects them with EAI_BADFLAGS.
const knownFlags = AI_PASSIVE | AI_CANONNAME | AI_NUMERICHOST | AI_V4MAPPED | AI_ALL |
	AI_ADDRCONFIG | AI_NUMERICSERV

// defaultFlags are the flags glibc uses when hints is NULL (AI_DEFAULT).
const defaultFlags = AI_V4MAPPED | AI_ADDRCONFIG

// Error codes for AddrinfoError.Code, with the values of glibc's <netdb.h>.
const (
	EAI_BADFLAGS   = -1  // Invalid value in hints.Flags.
	EAI_NONAME     = -2  // Node or service is not known.
	EAI_AGAIN      = -3  // Temporary failure; the context was done.
	EAI_FAIL       = -4  // Non-recoverable failure in name resolution.
	EAI_NODATA     = -5  // The name exists but has no address of the requested family.
	EAI_FAMILY     = -6  // hints.Family is not supported.
	EAI_SOCKTYPE   = -7  // hints.Socktype is not supported, or does not match hints.Protocol.
	EAI_SERVICE    = -8  // Service is not available for the socket type.
	EAI_ADDRFAMILY = -9  // The numeric node is not of the requested family.
	EAI_MEMORY     = -10 // Memory allocation failure; never returned by Lookup.
	EAI_SYSTEM     = -11 // System error; Err holds it.
	EAI_OVERFLOW   = -12 // Argument buffer too small; never returned by Lookup.
)

// Addrinfo is one result of Lookup, and the hints passed to it. It mirrors C's
// struct addrinfo without ai_addrlen (the Sockaddr knows its size) and without
// ai_next (results are a slice).
type Addrinfo struct {
	// Flags holds AI_* bits. In results it is a copy of the hints' flags, as in glibc.
	Flags int
	// Family is AF_UNSPEC, AF_INET or AF_INET6. Results are never AF_UNSPEC.
	Family int
	// Socktype is 0, SOCK_STREAM or SOCK_DGRAM. Results are never 0.
	Socktype int
	// Protocol is 0, IPPROTO_TCP or IPPROTO_UDP. Results are never 0.
	Protocol int
	// Addr is the socket address of a result: a *unix.SockaddrInet4 or
	// *unix.SockaddrInet6 with Port (and ZoneId for scoped IPv6) set. Every
	// result has its own value, so callers may modify it. Ignored in hints.
	Addr unix.Sockaddr
	// Canonname is set on the first result only, when AI_CANONNAME was
	// requested. Ignored in hints.
	Canonname string
}

// AddrinfoError is the error Lookup returns: an EAI_* code, and the underlying
// cause when there is one.
type AddrinfoError struct {
	Code int   // An EAI_* constant.
	Err  error // The cause, or nil.
}

// Error returns glibc's gai_strerror text for Code, followed by the cause.
func (e *AddrinfoError) Error() string {
	s := gaiStrerror(e.Code)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause, so that errors.Is(err, context.Canceled) works.
func (e *AddrinfoError) Unwrap() error { return e.Err }

// gaiStrerror is glibc 2.36's gai_strerror (sysdeps/posix/gai_strerror-strs.h).
func gaiStrerror(code int) string {
	switch code {
	case EAI_ADDRFAMILY:
		return "Address family for hostname not supported"
	case EAI_AGAIN:
		return "Temporary failure in name resolution"
	case EAI_BADFLAGS:
		return "Bad value for ai_flags"
	case EAI_FAIL:
		return "Non-recoverable failure in name resolution"
	case EAI_FAMILY:
		return "ai_family not supported"
	case EAI_MEMORY:
		return "Memory allocation failure"
	case EAI_NODATA:
		return "No address associated with hostname"
	case EAI_NONAME:
		return "Name or service not known"
	case EAI_SERVICE:
		return "Servname not supported for ai_socktype"
	case EAI_SOCKTYPE:
		return "ai_socktype not supported"
	case EAI_SYSTEM:
		return "System error"
	}
	// glibc's table has no entry for EAI_OVERFLOW either: gai_strerror(-12) is
	// "Unknown error" (checked against glibc 2.36 with ctypes).
	return "Unknown error"
}

// eai returns an *AddrinfoError without a cause.
func eai(code int) *AddrinfoError { return &AddrinfoError{Code: code} }
