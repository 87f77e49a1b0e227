//go:build unix && !linux

package ksocket

import (
	"context"

	"golang.org/x/sys/unix"
)

// Outside Linux there is neither io_uring nor the epoll backend, but a
// cross-platform program that imports ksocket must still build: every
// Berkeley call exists and fails with ENOSYS, Getaddrinfo with EAI_SYSTEM
// wrapping ENOSYS, and Probe says why. The declarations mirror the Linux
// files one for one; TestOtherSystemsAPIMatches (on Linux) checks that they
// do.

// Flags for Addrinfo.Flags, with glibc's values from netdb.h.
const (
	AI_PASSIVE     = 0x1   // NULL node: the wildcard address, for Bind
	AI_CANONNAME   = 0x2   // fill Canonname on the first result
	AI_NUMERICHOST = 0x4   // node must be a numeric address
	AI_V4MAPPED    = 0x8   // AF_INET6: IPv4 results as ::ffff:a.b.c.d when no IPv6 ones
	AI_ALL         = 0x10  // with AI_V4MAPPED: IPv6 and mapped IPv4 results
	AI_ADDRCONFIG  = 0x20  // only families with a configured non-loopback address
	AI_NUMERICSERV = 0x400 // service must be a port number
)

// Error codes for AddrinfoError.Code, with glibc's values from netdb.h.
const (
	EAI_BADFLAGS   = -1
	EAI_NONAME     = -2
	EAI_AGAIN      = -3
	EAI_FAIL       = -4
	EAI_NODATA     = -5
	EAI_FAMILY     = -6
	EAI_SOCKTYPE   = -7
	EAI_SERVICE    = -8
	EAI_ADDRFAMILY = -9
	EAI_MEMORY     = -10
	EAI_SYSTEM     = -11
	EAI_OVERFLOW   = -12
)

func (e *AddrinfoError) Error() string {
	s := "Unknown error"
	switch e.Code {
	case EAI_SYSTEM:
		s = "System error"
	case EAI_AGAIN:
		s = "Temporary failure in name resolution"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Getaddrinfo needs Linux: it returns EAI_SYSTEM wrapping ENOSYS.
func Getaddrinfo(node, service string, hints *Addrinfo) ([]Addrinfo, error) {
	return GetaddrinfoContext(context.Background(), node, service, hints)
}

// GetaddrinfoContext needs Linux: it returns EAI_SYSTEM wrapping ENOSYS.
func GetaddrinfoContext(ctx context.Context, node, service string, hints *Addrinfo) ([]Addrinfo, error) {
	return nil, &AddrinfoError{Code: EAI_SYSTEM, Err: unix.ENOSYS}
}

// SocketConnection needs Linux: it returns ENOSYS.
func SocketConnection(domain, typ, proto int) (int, error) { return -1, unix.ENOSYS }

// SocketListen needs Linux: it returns ENOSYS.
func SocketListen(domain, typ, proto int) (int, error) { return -1, unix.ENOSYS }

// SocketDatagram needs Linux: it returns ENOSYS.
func SocketDatagram(domain, typ, proto int) (int, error) { return -1, unix.ENOSYS }

// Socket needs Linux: it returns ENOSYS.
func Socket(domain, typ, proto int) (int, error) { return -1, unix.ENOSYS }

// Connect needs Linux: it returns ENOSYS.
func Connect(s int, sa unix.Sockaddr) error { return unix.ENOSYS }

// ConnectContext needs Linux: it returns ENOSYS.
func ConnectContext(ctx context.Context, s int, sa unix.Sockaddr) error { return unix.ENOSYS }

// Bind needs Linux: it returns ENOSYS.
func Bind(s int, sa unix.Sockaddr) error { return unix.ENOSYS }

// Listen needs Linux: it returns ENOSYS.
func Listen(s int, backlog int) error { return unix.ENOSYS }

// Accept needs Linux: it returns ENOSYS.
func Accept(s int) (int, unix.Sockaddr, error) { return -1, nil, unix.ENOSYS }

// AcceptContext needs Linux: it returns ENOSYS.
func AcceptContext(ctx context.Context, s int) (int, unix.Sockaddr, error) {
	return -1, nil, unix.ENOSYS
}

// Send needs Linux: it returns ENOSYS.
func Send(s int, buf []byte, flags int) (int, error) { return 0, unix.ENOSYS }

// SendContext needs Linux: it returns ENOSYS.
func SendContext(ctx context.Context, s int, buf []byte, flags int) (int, error) {
	return 0, unix.ENOSYS
}

// Sendto needs Linux: it returns ENOSYS.
func Sendto(s int, buf []byte, flags int, to unix.Sockaddr) (int, error) { return 0, unix.ENOSYS }

// SendtoContext needs Linux: it returns ENOSYS.
func SendtoContext(ctx context.Context, s int, buf []byte, flags int, to unix.Sockaddr) (int, error) {
	return 0, unix.ENOSYS
}

// Recv needs Linux: it returns ENOSYS.
func Recv(s int, buf []byte, flags int) (int, error) { return 0, unix.ENOSYS }

// RecvContext needs Linux: it returns ENOSYS.
func RecvContext(ctx context.Context, s int, buf []byte, flags int) (int, error) {
	return 0, unix.ENOSYS
}

// Recvfrom needs Linux: it returns ENOSYS.
func Recvfrom(s int, buf []byte, flags int) (int, unix.Sockaddr, error) {
	return 0, nil, unix.ENOSYS
}

// RecvfromContext needs Linux: it returns ENOSYS.
func RecvfromContext(ctx context.Context, s int, buf []byte, flags int) (int, unix.Sockaddr, error) {
	return 0, nil, unix.ENOSYS
}

// Sendmsg needs Linux: it returns ENOSYS.
func Sendmsg(s int, buf, oob []byte, flags int, to unix.Sockaddr) (int, error) {
	return 0, unix.ENOSYS
}

// SendmsgContext needs Linux: it returns ENOSYS.
func SendmsgContext(ctx context.Context, s int, buf, oob []byte, flags int, to unix.Sockaddr) (int, error) {
	return 0, unix.ENOSYS
}

// Recvmsg needs Linux: it returns ENOSYS.
func Recvmsg(s int, buf, oob []byte, flags int) (n, oobn, recvflags int, from unix.Sockaddr, err error) {
	return 0, 0, 0, nil, unix.ENOSYS
}

// RecvmsgContext needs Linux: it returns ENOSYS.
func RecvmsgContext(ctx context.Context, s int, buf, oob []byte, flags int) (n, oobn, recvflags int, from unix.Sockaddr, err error) {
	return 0, 0, 0, nil, unix.ENOSYS
}

// Sendmmsg needs Linux: it returns ENOSYS.
func Sendmmsg(s int, msgs []Msg, flags int) (int, error) { return 0, unix.ENOSYS }

// SendmmsgContext needs Linux: it returns ENOSYS.
func SendmmsgContext(ctx context.Context, s int, msgs []Msg, flags int) (int, error) {
	return 0, unix.ENOSYS
}

// Recvmmsg needs Linux: it returns ENOSYS.
func Recvmmsg(s int, msgs []Msg, flags int) (int, error) { return 0, unix.ENOSYS }

// RecvmmsgContext needs Linux: it returns ENOSYS.
func RecvmmsgContext(ctx context.Context, s int, msgs []Msg, flags int) (int, error) {
	return 0, unix.ENOSYS
}

// Closesocket needs Linux: it returns ENOSYS.
func Closesocket(s int) error { return unix.ENOSYS }

// Shutdown needs Linux: it returns ENOSYS.
func Shutdown(s int, how int) error { return unix.ENOSYS }

// Getsockname needs Linux: it returns ENOSYS.
func Getsockname(s int) (unix.Sockaddr, error) { return nil, unix.ENOSYS }

// Getpeername needs Linux: it returns ENOSYS.
func Getpeername(s int) (unix.Sockaddr, error) { return nil, unix.ENOSYS }

// SetsockoptInt needs Linux: it returns ENOSYS.
func SetsockoptInt(s, level, opt, value int) error { return unix.ENOSYS }

// GetsockoptInt needs Linux: it returns ENOSYS.
func GetsockoptInt(s, level, opt int) (int, error) { return 0, unix.ENOSYS }

// SetsockoptTimeval needs Linux: it returns ENOSYS.
func SetsockoptTimeval(s, level, opt int, tv *unix.Timeval) error { return unix.ENOSYS }

// GetsockoptTimeval needs Linux: it returns ENOSYS.
func GetsockoptTimeval(s, level, opt int) (*unix.Timeval, error) { return nil, unix.ENOSYS }

// Probe reports that there is no backend outside Linux, with ENOSYS.
func Probe() (Info, error) {
	inf := Info{Backend: "none", Reason: "ksocket needs Linux (io_uring or epoll); this is not Linux"}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		inf.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:])
	}
	return inf, unix.ENOSYS
}
