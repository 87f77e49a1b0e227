//go:build linux

package ksocket

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Hostile arguments to every entry point of the Berkeley API. Each row must
// answer with the errno it names (the kernel's, where the kernel is asked,
// or the one ksocket documents where it answers itself), or with the success
// it names; never a panic, a hang, or a success where an error is due.

// bad holds the sockets the rows use. It is set up once, before any row.
type bad struct {
	conn, peer int // a connected TCP pair over 127.0.0.1
	listener   int // a listening TCP socket on 127.0.0.1
	udp4, udp6 int // bound datagram sockets
	udp4Conn   int // a datagram socket connected to udp4
	fresh4     int // an unbound, unconnected TCP connection socket (IPv4)
	fresh6     int // the same for IPv6
	unified    int // Socket(AF_INET, SOCK_STREAM): nothing done yet
	unifiedUDP int // Socket(AF_INET, SOCK_DGRAM)
	unixDgram  int // Socket(AF_UNIX, SOCK_DGRAM)
	closed     int // a descriptor that was open and is not any more
	to4, to6   unix.Sockaddr
	refused4   unix.Sockaddr // 127.0.0.1 on a port nobody listens on
}

// nilCtx is a nil context, passed where a caller might pass one.
var nilCtx context.Context

var (
	lo4     = [4]byte{127, 0, 0, 1}
	lo6     = [16]byte{15: 1}
	long300 = strings.Repeat("a", 300)
)

// badInputTests are the rows. call returns the error (and, for rows that
// must succeed, the byte count in n).
var badInputTests = []struct {
	name string
	call func(b *bad) (n int, err error)
	want unix.Errno // 0: success
	n    int        // with want 0: the count
}{
	// Descriptors that are no ksocket socket.
	{"Recv/negative", func(b *bad) (int, error) { return Recv(-1, make([]byte, 8), 0) }, unix.EBADF, 0},
	{"Send/huge", func(b *bad) (int, error) { return Send(1<<30, []byte("x"), 0) }, unix.EBADF, 0},
	{"Bind/MaxInt", func(b *bad) (int, error) { return 0, Bind(math.MaxInt, &unix.SockaddrInet4{Addr: lo4}) }, unix.EBADF, 0},
	{"Accept/MinInt", func(b *bad) (int, error) { _, _, err := Accept(math.MinInt); return 0, err }, unix.EBADF, 0},
	{"Closesocket/stdin", func(b *bad) (int, error) { return 0, Closesocket(0) }, unix.EBADF, 0},
	{"Closesocket/stderr", func(b *bad) (int, error) { return 0, Closesocket(2) }, unix.EBADF, 0},
	{"Closesocket/closed", func(b *bad) (int, error) { return 0, Closesocket(b.closed) }, unix.EBADF, 0},
	{"Getsockname/closed", func(b *bad) (int, error) { _, err := Getsockname(b.closed); return 0, err }, unix.EBADF, 0},
	{"Shutdown/closed", func(b *bad) (int, error) { return 0, Shutdown(b.closed, unix.SHUT_RDWR) }, unix.EBADF, 0},
	{"SetsockoptInt/negative", func(b *bad) (int, error) { return 0, SetsockoptInt(-3, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) }, unix.EBADF, 0},
	{"GetsockoptTimeval/MaxInt32", func(b *bad) (int, error) {
		_, err := GetsockoptTimeval(math.MaxInt32, unix.SOL_SOCKET, unix.SO_RCVTIMEO)
		return 0, err
	}, unix.EBADF, 0},
	{"ConnectContext/closed", func(b *bad) (int, error) { return 0, ConnectContext(context.Background(), b.closed, b.to4) }, unix.EBADF, 0},

	{"Recvmmsg/closed", func(b *bad) (int, error) { return Recvmmsg(b.closed, make([]Msg, 2), 0) }, unix.EBADF, 0},
	{"Sendmsg/negative", func(b *bad) (int, error) { return Sendmsg(-1, []byte("x"), nil, 0, nil) }, unix.EBADF, 0},

	// Calls the socket's category forbids.
	{"Listen/connection", func(b *bad) (int, error) { return 0, Listen(b.conn, 1) }, unix.EOPNOTSUPP, 0},
	{"Accept/datagram", func(b *bad) (int, error) { _, _, err := Accept(b.udp4); return 0, err }, unix.EOPNOTSUPP, 0},
	{"Send/listen", func(b *bad) (int, error) { return Send(b.listener, []byte("x"), 0) }, unix.EOPNOTSUPP, 0},
	{"Recvfrom/listen", func(b *bad) (int, error) { n, _, err := Recvfrom(b.listener, make([]byte, 8), 0); return n, err }, unix.EOPNOTSUPP, 0},
	{"Connect/listen", func(b *bad) (int, error) { return 0, Connect(b.listener, b.to4) }, unix.EOPNOTSUPP, 0},
	{"Getpeername/listen", func(b *bad) (int, error) { _, err := Getpeername(b.listener); return 0, err }, unix.EOPNOTSUPP, 0},
	{"AcceptContext/connection", func(b *bad) (int, error) {
		_, _, err := AcceptContext(context.Background(), b.conn)
		return 0, err
	}, unix.EOPNOTSUPP, 0},

	{"Recvmmsg/listen", func(b *bad) (int, error) { return Recvmmsg(b.listener, make([]Msg, 2), 0) }, unix.EOPNOTSUPP, 0},
	{"Sendmmsg/listen", func(b *bad) (int, error) { return Sendmmsg(b.listener, make([]Msg, 2), 0) }, unix.EOPNOTSUPP, 0},
	{"Recvmsg/listen", func(b *bad) (int, error) {
		n, _, _, _, err := Recvmsg(b.listener, make([]byte, 8), nil, 0)
		return n, err
	}, unix.EOPNOTSUPP, 0},

	// Message calls: batches with holes, bad addresses, bad control data.
	{"Sendmmsg/port 70000 in the first", func(b *bad) (int, error) {
		return Sendmmsg(b.udp4, []Msg{{Buffers: [][]byte{[]byte("x")}, Addr: &unix.SockaddrInet4{Port: 70000, Addr: lo4}}}, 0)
	}, unix.EINVAL, 0},
	{"Sendmmsg/unix address in the first", func(b *bad) (int, error) {
		return Sendmmsg(b.udp4, []Msg{{Addr: &unix.SockaddrUnix{Name: long300}}}, 0)
	}, unix.EINVAL, 0},
	{"Recvmmsg/nothing queued, no buffers", func(b *bad) (int, error) {
		return Recvmmsg(b.udp4, []Msg{{}, {Buffers: [][]byte{nil, nil}}}, unix.MSG_DONTWAIT)
	}, unix.EAGAIN, 0},
	{"Recvmsg/nil buffers, nothing queued", func(b *bad) (int, error) {
		n, _, _, _, err := Recvmsg(b.udp4, nil, nil, unix.MSG_DONTWAIT)
		return n, err
	}, unix.EAGAIN, 0},

	// Constructors: types, families, protocols, flags.
	{"SocketDatagram/stream", func(b *bad) (int, error) { return openClose(SocketDatagram(unix.AF_INET, unix.SOCK_STREAM, 0)) }, unix.ESOCKTNOSUPPORT, 0},
	{"SocketConnection/dgram", func(b *bad) (int, error) { return openClose(SocketConnection(unix.AF_INET, unix.SOCK_DGRAM, 0)) }, unix.ESOCKTNOSUPPORT, 0},
	{"SocketListen/raw", func(b *bad) (int, error) { return openClose(SocketListen(unix.AF_INET, unix.SOCK_RAW, 0)) }, unix.ESOCKTNOSUPPORT, 0},
	{"Socket/unknown family", func(b *bad) (int, error) { return openClose(Socket(12345, unix.SOCK_STREAM, 0)) }, unix.EAFNOSUPPORT, 0},
	{"Socket/negative family", func(b *bad) (int, error) { return openClose(Socket(-1, unix.SOCK_STREAM, 0)) }, unix.EAFNOSUPPORT, 0},
	{"Socket/unknown type", func(b *bad) (int, error) { return openClose(Socket(unix.AF_INET, 99, 0)) }, unix.EINVAL, 0},
	{"Socket/unknown type flag", func(b *bad) (int, error) { return openClose(Socket(unix.AF_INET, unix.SOCK_STREAM|0x40000000, 0)) }, unix.EINVAL, 0},
	{"Socket/wrong protocol", func(b *bad) (int, error) { return openClose(Socket(unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_UDP)) }, unix.EPROTONOSUPPORT, 0},
	{"Socket/protocol 255", func(b *bad) (int, error) { return openClose(Socket(unix.AF_INET6, unix.SOCK_DGRAM, 255)) }, unix.EPROTONOSUPPORT, 0},
	{"SocketDatagram/negative protocol", func(b *bad) (int, error) { return openClose(SocketDatagram(unix.AF_INET, unix.SOCK_DGRAM, -1)) }, unix.EINVAL, 0},

	// Empty and nil buffers: the kernel's answers.
	{"Send/nil on a stream", func(b *bad) (int, error) { return Send(b.conn, nil, 0) }, 0, 0},
	{"Recv/nil on a stream", func(b *bad) (int, error) { return Recv(b.conn, nil, 0) }, 0, 0},
	{"Recvfrom/nil, nothing queued", func(b *bad) (int, error) {
		n, _, err := Recvfrom(b.udp4, nil, unix.MSG_DONTWAIT)
		return n, err
	}, unix.EAGAIN, 0},
	{"Sendto/nil datagram", func(b *bad) (int, error) {
		n, err := Sendto(b.udp6, nil, 0, b.to6)
		if err == nil {
			_, _, err = Recvfrom(b.udp6, make([]byte, 8), 0) // take it back out
		}
		return n, err
	}, 0, 0},

	// Addresses: wrong family, bad ports, bad kinds.
	{"Bind/IPv6 address on IPv4", func(b *bad) (int, error) { return 0, Bind(b.fresh4, &unix.SockaddrInet6{Addr: lo6}) }, unix.EAFNOSUPPORT, 0},
	{"Bind/IPv4 address on IPv6", func(b *bad) (int, error) { return 0, Bind(b.fresh6, &unix.SockaddrInet4{Addr: lo4}) }, unix.EINVAL, 0},
	{"Bind/port 65536", func(b *bad) (int, error) { return 0, Bind(b.fresh4, &unix.SockaddrInet4{Port: 65536, Addr: lo4}) }, unix.EINVAL, 0},
	{"Bind/port -1", func(b *bad) (int, error) { return 0, Bind(b.fresh6, &unix.SockaddrInet6{Port: -1, Addr: lo6}) }, unix.EINVAL, 0},
	{"Bind/unix address on IPv4", func(b *bad) (int, error) { return 0, Bind(b.fresh4, &unix.SockaddrUnix{Name: "/tmp/x"}) }, unix.EINVAL, 0},
	{"Bind/unix path of 200 bytes", func(b *bad) (int, error) {
		return 0, Bind(b.unixDgram, &unix.SockaddrUnix{Name: "/tmp/" + strings.Repeat("p", 200)})
	}, unix.EINVAL, 0},
	{"Bind/link-layer address", func(b *bad) (int, error) { return 0, Bind(b.fresh4, &unix.SockaddrLinklayer{}) }, unix.EAFNOSUPPORT, 0},
	{"Bind/nil", func(b *bad) (int, error) { return 0, Bind(b.fresh4, nil) }, unix.EINVAL, 0},
	{"Bind/address not ours", func(b *bad) (int, error) {
		// A socket of its own: where the machine lets it bind (see
		// badInputKernel), fresh4 must stay unbound for the rows after.
		s, err := SocketConnection(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err != nil {
			return 0, err
		}
		defer Closesocket(s)
		return 0, Bind(s, &unix.SockaddrInet4{Addr: [4]byte{192, 0, 2, 1}})
	}, unix.EADDRNOTAVAIL, 0},
	{"Connect/nil", func(b *bad) (int, error) { return 0, Connect(b.fresh4, nil) }, unix.EINVAL, 0},
	{"Connect/port 65536", func(b *bad) (int, error) { return 0, Connect(b.fresh4, &unix.SockaddrInet4{Port: 65536, Addr: lo4}) }, unix.EINVAL, 0},
	{"Connect/port 0", func(b *bad) (int, error) { return 0, Connect(b.fresh6, &unix.SockaddrInet6{Addr: lo6}) }, unix.ECONNREFUSED, 0},
	{"Connect/datagram to port 65536", func(b *bad) (int, error) {
		return 0, Connect(b.unifiedUDP, &unix.SockaddrInet4{Port: 65536, Addr: lo4})
	}, unix.EINVAL, 0},
	{"Sendto/port 0", func(b *bad) (int, error) { return Sendto(b.udp4, []byte("x"), 0, &unix.SockaddrInet4{Addr: lo4}) }, unix.EINVAL, 0},
	{"Sendto/IPv6 address on IPv4", func(b *bad) (int, error) { return Sendto(b.udp4, []byte("x"), 0, b.to6) }, unix.EAFNOSUPPORT, 0},
	{"Sendto/port 70000", func(b *bad) (int, error) {
		return Sendto(b.udp4, []byte("x"), 0, &unix.SockaddrInet4{Port: 70000, Addr: lo4})
	}, unix.EINVAL, 0},
	{"Sendto/unconnected, no address", func(b *bad) (int, error) { return Sendto(b.udp4, []byte("x"), 0, nil) }, unix.EDESTADDRREQ, 0},
	{"Send/unconnected stream", func(b *bad) (int, error) { return Send(b.fresh4, []byte("x"), 0) }, unix.EPIPE, 0},

	// Oversize datagrams.
	{"Sendto/70000 bytes over IPv4", func(b *bad) (int, error) { return Sendto(b.udp4, make([]byte, 70000), 0, b.to4) }, unix.EMSGSIZE, 0},
	{"Sendto/70000 bytes over IPv6", func(b *bad) (int, error) { return Sendto(b.udp6, make([]byte, 70000), 0, b.to6) }, unix.EMSGSIZE, 0},
	{"Send/65508 bytes, connected", func(b *bad) (int, error) { return Send(b.udp4Conn, make([]byte, 65508), 0) }, unix.EMSGSIZE, 0},
	{"Sendto/1<<20 bytes, MSG_DONTWAIT", func(b *bad) (int, error) {
		return Sendto(b.udp4, make([]byte, 1<<20), unix.MSG_DONTWAIT, b.to4)
	}, unix.EMSGSIZE, 0},

	// Flags, levels, options.
	{"Recv/MSG_OOB with no urgent data", func(b *bad) (int, error) { return Recv(b.conn, make([]byte, 8), unix.MSG_OOB) }, unix.EINVAL, 0},
	{"Recv/MSG_ERRQUEUE, nothing queued", func(b *bad) (int, error) { return Recv(b.conn, make([]byte, 8), unix.MSG_ERRQUEUE) }, unix.EAGAIN, 0},
	{"Shutdown/how 3", func(b *bad) (int, error) { return 0, Shutdown(b.conn, 3) }, unix.EINVAL, 0},
	{"Shutdown/how -1", func(b *bad) (int, error) { return 0, Shutdown(b.conn, -1) }, unix.EINVAL, 0},
	{"Shutdown/unconnected", func(b *bad) (int, error) { return 0, Shutdown(b.fresh4, unix.SHUT_RDWR) }, unix.ENOTCONN, 0},
	{"SetsockoptInt/unknown level", func(b *bad) (int, error) { return 0, SetsockoptInt(b.conn, 9999, 1, 1) }, unix.ENOPROTOOPT, 0},
	{"SetsockoptInt/unknown option", func(b *bad) (int, error) { return 0, SetsockoptInt(b.conn, unix.SOL_SOCKET, 9999, 1) }, unix.ENOPROTOOPT, 0},
	{"SetsockoptInt/TCP option on UDP", func(b *bad) (int, error) {
		return 0, SetsockoptInt(b.udp4, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}, unix.ENOPROTOOPT, 0},
	{"SetsockoptInt/read-only SO_TYPE", func(b *bad) (int, error) { return 0, SetsockoptInt(b.conn, unix.SOL_SOCKET, unix.SO_TYPE, 1) }, unix.ENOPROTOOPT, 0},
	{"GetsockoptInt/unknown option", func(b *bad) (int, error) { _, err := GetsockoptInt(b.conn, unix.SOL_SOCKET, 9999); return 0, err }, unix.ENOPROTOOPT, 0},
	{"GetsockoptInt/unknown level", func(b *bad) (int, error) { _, err := GetsockoptInt(b.udp6, 9999, 1); return 0, err }, unix.ENOPROTOOPT, 0},
	{"SetsockoptTimeval/nil", func(b *bad) (int, error) { return 0, SetsockoptTimeval(b.conn, unix.SOL_SOCKET, unix.SO_RCVTIMEO, nil) }, unix.EFAULT, 0},
	{"SetsockoptTimeval/usec 1000000", func(b *bad) (int, error) {
		return 0, SetsockoptTimeval(b.conn, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &unix.Timeval{Usec: 1000000})
	}, unix.EDOM, 0},
	{"SetsockoptTimeval/negative usec", func(b *bad) (int, error) {
		return 0, SetsockoptTimeval(b.conn, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: -1})
	}, unix.EDOM, 0},
	{"GetsockoptTimeval/unknown option", func(b *bad) (int, error) {
		_, err := GetsockoptTimeval(b.conn, unix.SOL_SOCKET, 9999)
		return 0, err
	}, unix.ENOPROTOOPT, 0},
	{"Listen/datagram socket", func(b *bad) (int, error) { return 0, Listen(b.unifiedUDP, 1) }, unix.EOPNOTSUPP, 0},
	{"Accept/not listening", func(b *bad) (int, error) { _, _, err := Accept(b.unified); return 0, err }, unix.EINVAL, 0},
	{"Connect/already connected", func(b *bad) (int, error) { return 0, Connect(b.conn, b.to4) }, unix.EISCONN, 0},
	{"Connect/refused", func(b *bad) (int, error) { return 0, ConnectContext(nilCtx, b.fresh4, b.refused4) }, unix.ECONNREFUSED, 0},

	// Contexts that are done before the call.
	{"RecvContext/cancelled", func(b *bad) (int, error) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return RecvContext(ctx, b.conn, make([]byte, 8), 0)
	}, unix.ECANCELED, 0},
	{"AcceptContext/expired", func(b *bad) (int, error) {
		ctx, cancel := context.WithDeadline(context.Background(), time.Unix(1, 0))
		defer cancel()
		_, _, err := AcceptContext(ctx, b.listener)
		return 0, err
	}, unix.ETIMEDOUT, 0},
	{"RecvContext/nil context, MSG_DONTWAIT", func(b *bad) (int, error) {
		return RecvContext(nilCtx, b.peer, make([]byte, 8), unix.MSG_DONTWAIT)
	}, unix.EAGAIN, 0},
}

// badInputKernel holds the rows whose answer is the machine's or the
// kernel's policy rather than a contract: the same call on a raw socket of
// the same kind gives the expected errno (or success).
var badInputKernel = map[string]func() error{
	// EADDRNOTAVAIL unless the sysctl net.ipv4.ip_nonlocal_bind is set,
	// or the machine has 192.0.2.1 (TEST-NET-1) on an interface.
	"Bind/address not ours": func() error {
		return rawCall(unix.AF_INET, func(fd int) error { return unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{192, 0, 2, 1}}) })
	},
	// Linux sends the SYN to port 0 and gets a reset; refusing the
	// address (EINVAL) would be as good an answer.
	"Connect/port 0": func() error {
		return rawCall(unix.AF_INET6, func(fd int) error { return unix.Connect(fd, &unix.SockaddrInet6{Addr: lo6}) })
	},
}

// rawCall makes call on a new raw TCP socket of family fam.
func rawCall(fam int, call func(fd int) error) error {
	fd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return call(fd)
}

// openClose closes a socket that a row opened by mistake, so that the
// row's silent success does not leak it.
func openClose(s int, err error) (int, error) {
	if err == nil {
		Closesocket(s)
	}
	return 0, err
}

// badAddrinfoTests are hostile Getaddrinfo calls and the EAI_* code each
// must give.
var badAddrinfoTests = []struct {
	name          string
	node, service string
	hints         *Addrinfo
	code          int
}{
	{"both empty", "", "", nil, EAI_NONAME},
	{"node of 300 bytes", long300, "80", nil, EAI_NONAME},
	{"node of 300 bytes, numeric only", long300, "80", &Addrinfo{Flags: AI_NUMERICHOST}, EAI_NONAME},
	{"NUL in node", "local\x00host", "80", nil, EAI_NONAME},
	{"NUL after an address", "127.0.0.1\x00junk", "80", nil, EAI_NONAME},
	{"NUL in service", "127.0.0.1", "8\x000", nil, EAI_SERVICE},
	{"service of 300 bytes", "127.0.0.1", long300, nil, EAI_SERVICE},
	{"unknown flags", "127.0.0.1", "80", &Addrinfo{Flags: 0x40000}, EAI_BADFLAGS},
	{"unknown family", "127.0.0.1", "80", &Addrinfo{Family: 12345}, EAI_FAMILY},
	{"unknown socktype", "127.0.0.1", "80", &Addrinfo{Socktype: 99}, EAI_SOCKTYPE},
	{"socktype and protocol disagree", "127.0.0.1", "80", &Addrinfo{Socktype: unix.SOCK_STREAM, Protocol: unix.IPPROTO_UDP}, EAI_SOCKTYPE},
	{"IPv6 address for AF_INET", "::1", "80", &Addrinfo{Family: unix.AF_INET, Flags: AI_NUMERICHOST}, EAI_ADDRFAMILY},
	{"name with AI_NUMERICHOST", "localhost", "80", &Addrinfo{Flags: AI_NUMERICHOST}, EAI_NONAME},
	{"service name with AI_NUMERICSERV", "127.0.0.1", "http", &Addrinfo{Flags: AI_NUMERICSERV}, EAI_NONAME},
	{"AI_CANONNAME without a node", "", "80", &Addrinfo{Flags: AI_CANONNAME}, EAI_BADFLAGS},
}

// TestBadInput runs every row of badInputTests and badAddrinfoTests. It is
// not parallel: a row uses the number of a closed descriptor, which no other
// test may take meanwhile.
func TestBadInput(t *testing.T) {
	b := newBad(t)
	for _, tt := range badInputTests {
		t.Run(tt.name, func(t *testing.T) {
			n, panicked, err := guarded(func() (int, error) { return tt.call(b) })
			if panicked != nil {
				t.Fatalf("panicked: %v", panicked)
			}
			en, note := dErrno(err)
			if note != "" {
				t.Fatalf("%s", note)
			}
			want := tt.want
			if kernel, ok := badInputKernel[tt.name]; ok {
				if want, _ = dErrno(kernel()); want != tt.want {
					t.Logf("this machine's kernel answers %s, where the row expects %s", dErrString(want), dErrString(tt.want))
				}
			}
			if en != want {
				t.Errorf("= %d, %s; want %s", n, dErrString(en), dErrString(want))
			}
			if tt.want == 0 && n != tt.n {
				t.Errorf("count %d, want %d", n, tt.n)
			}
		})
	}
	for _, tt := range badAddrinfoTests {
		t.Run("Getaddrinfo/"+tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var res []Addrinfo
			_, panicked, err := guarded(func() (int, error) {
				var err error
				res, err = GetaddrinfoContext(ctx, tt.node, tt.service, tt.hints)
				return 0, err
			})
			if panicked != nil {
				t.Fatalf("panicked: %v", panicked)
			}
			var ae *AddrinfoError
			if !errors.As(err, &ae) {
				t.Fatalf("= %v, %v; want an *AddrinfoError with code %d", res, err, tt.code)
			}
			if ae.Code != tt.code {
				t.Errorf("code %d (%v), want %d", ae.Code, err, tt.code)
			}
		})
	}
	if n := len(badInputTests) + len(badAddrinfoTests); n < 50 {
		t.Errorf("%d rows; the issue asks for at least 50", n)
	}
}

// guarded runs f with a watchdog and turns a panic into a value.
func guarded(f func() (int, error)) (int, any, error) {
	type result struct {
		n        int
		panicked any
		err      error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			r.panicked = recover()
			done <- r
		}()
		r.n, r.err = f()
	}()
	select {
	case r := <-done:
		return r.n, r.panicked, r.err
	case <-time.After(10 * time.Second):
		return 0, "did not return within 10s", nil
	}
}

func newBad(t *testing.T) *bad {
	t.Helper()
	b := &bad{}
	open := func(s int, err error) int {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { Closesocket(s) })
		return s
	}
	b.listener, b.conn, b.peer = dPair(t, unix.AF_INET)
	var sa unix.Sockaddr
	b.udp4, sa = dUDP(t, unix.AF_INET)
	b.to4 = sa
	b.udp6, b.to6 = dUDP(t, unix.AF_INET6)
	b.udp4Conn = open(SocketDatagram(unix.AF_INET, unix.SOCK_DGRAM, 0))
	if err := Connect(b.udp4Conn, b.to4); err != nil {
		t.Fatal(err)
	}
	b.fresh4 = open(SocketConnection(unix.AF_INET, unix.SOCK_STREAM, 0))
	b.fresh6 = open(SocketConnection(unix.AF_INET6, unix.SOCK_STREAM, 0))
	b.unified = open(Socket(unix.AF_INET, unix.SOCK_STREAM, 0))
	b.unifiedUDP = open(Socket(unix.AF_INET, unix.SOCK_DGRAM, 0))
	b.unixDgram = open(Socket(unix.AF_UNIX, unix.SOCK_DGRAM, 0))
	b.refused4 = &unix.SockaddrInet4{Addr: lo4, Port: refusedPort(t)}
	// Last, so that no socket of the rows' fixtures takes its number.
	s, err := SocketDatagram(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := Closesocket(s); err != nil {
		t.Fatal(err)
	}
	b.closed = s
	return b
}

// refusedPort returns a loopback port nobody listens on: a raw socket binds
// it, and the port stays reserved while the test runs, since the socket is
// never told to listen.
func refusedPort(t *testing.T) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: lo4}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return sa.(*unix.SockaddrInet4).Port
}
