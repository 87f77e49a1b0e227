//go:build linux

package ksocket

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// FuzzCallSequence decodes its input into a short sequence of Berkeley calls
// with arbitrary arguments (descriptors good and bad, families, types,
// flags, options, and sockaddrs on 127.0.0.1 and ::1 only) and makes them
// through ksocket. No call may panic or hang; every error must be a bare
// unix.Errno; and each call must answer as the category table says: EBADF
// for a descriptor that is not open, EOPNOTSUPP for a call the socket's
// category forbids, ESOCKTNOSUPPORT for a type its constructor does not
// take. A model of the open descriptors also checks that new ones are the
// lowest free number.
//
// Every call that can block is bounded: a context with a deadline of a few
// milliseconds, MSG_DONTWAIT, or a SO_RCVTIMEO/SO_SNDTIMEO the model knows
// to be short. A watchdog panics (failing the input) if a call still takes
// longer than fzHang.
//
// The input is a list of 8-byte calls: op, descriptor, then six argument
// bytes whose meaning depends on the op (see fzState.call).
func FuzzCallSequence(f *testing.F) {
	for _, seed := range fzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fz := newFzState(t)
		defer fz.closeAll()
		for i := 0; i+fzCallSize <= len(data) && i/fzCallSize < fzMaxCalls; i += fzCallSize {
			fz.call(data[i : i+fzCallSize])
		}
	})
}

const (
	fzCallSize = 8
	fzMaxCalls = 24
	fzWait     = 5 * time.Millisecond // the deadline of a context variant
	fzHang     = 5 * time.Second
)

// The ops, in the order of their opcodes.
const (
	fzSocket = iota
	fzBind
	fzListen
	fzConnect
	fzAccept
	fzSend
	fzSendto
	fzRecv
	fzRecvfrom
	fzShutdown
	fzGetsockname
	fzGetpeername
	fzSetInt
	fzGetInt
	fzSetTV
	fzGetTV
	fzClose
	fzNumOps
)

var fzOpNames = [fzNumOps]string{"Socket", "Bind", "Listen", "Connect", "Accept", "Send", "Sendto", "Recv",
	"Recvfrom", "Shutdown", "Getsockname", "Getpeername", "SetsockoptInt", "GetsockoptInt",
	"SetsockoptTimeval", "GetsockoptTimeval", "Closesocket"}

// fzCat is a socket's category as the table defines it.
type fzCat uint8

const (
	fzCatConnection fzCat = iota
	fzCatListen
	fzCatDatagram
	fzCatUnified
)

// fzForbidden reports whether the category table forbids op on cat. It is
// written from the table, not from ksocket's code.
func fzForbidden(cat fzCat, op int) bool {
	switch cat {
	case fzCatConnection, fzCatDatagram:
		return op == fzListen || op == fzAccept
	case fzCatListen:
		switch op {
		case fzConnect, fzSend, fzSendto, fzRecv, fzRecvfrom, fzGetpeername:
			return true
		}
	}
	return false
}

type fzSock struct {
	d        int
	cat      fzCat
	open     bool
	stream   bool // SOCK_STREAM
	domain   int
	nonblock bool
	// Whether SO_RCVTIMEO/SO_SNDTIMEO are set to a short positive value,
	// so that a call without a context still ends.
	rcvShort, sndShort bool
}

type fzState struct {
	t       *testing.T
	socks   []*fzSock // every socket opened, in order; closed ones stay
	live    map[int]*fzSock
	foreign map[int]bool // descriptors open before this input started
}

func newFzState(t *testing.T) *fzState {
	return &fzState{t: t, live: map[int]*fzSock{}, foreign: dLiveBelow(firstDescriptor + 2*fzMaxCalls + 8)}
}

// lowestFree is the descriptor the next socket must get.
func (fz *fzState) lowestFree() int {
	d := firstDescriptor
	for fz.live[d] != nil || fz.foreign[d] {
		d++
	}
	return d
}

var fzSpecialFDs = [...]int{-1, 0, 1, 2, 1 << 20, math.MaxInt32, math.MinInt32, -1000}

// fd picks a descriptor: one of this input's sockets (open or closed), or a
// number that is never a ksocket descriptor.
func (fz *fzState) fd(b byte) int {
	if b >= 0xF8 || len(fz.socks) == 0 {
		return fzSpecialFDs[b%8]
	}
	return fz.socks[int(b)%len(fz.socks)].d
}

var (
	fzDomains  = [...]int{unix.AF_INET, unix.AF_INET6, unix.AF_INET, unix.AF_INET6, unix.AF_UNIX, 0, 12345, unix.AF_INET6}
	fzTypes    = [...]int{unix.SOCK_STREAM, unix.SOCK_DGRAM, unix.SOCK_STREAM, unix.SOCK_DGRAM, unix.SOCK_SEQPACKET, 0, 99, unix.SOCK_STREAM}
	fzProtos   = [...]int{0, 0, 0, unix.IPPROTO_TCP, unix.IPPROTO_UDP, 255, 0, 0}
	fzSizes    = [...]int{0, 1, 5, 64, 1500, 65507, 70000, 1 << 20}
	fzBacklogs = [...]int{0, 1, 8, 128, -1, 1 << 30, 4, 16}
	fzHows     = [...]int{unix.SHUT_RD, unix.SHUT_WR, unix.SHUT_RDWR, 3, -1, unix.SHUT_WR, unix.SHUT_RDWR, 7}
	fzFlagBits = [...]int{unix.MSG_PEEK, unix.MSG_DONTWAIT, unix.MSG_WAITALL, unix.MSG_TRUNC, unix.MSG_OOB, unix.MSG_MORE, unix.MSG_NOSIGNAL, unix.MSG_CONFIRM}
	fzIntOpts  = [...][2]int{
		{unix.SOL_SOCKET, unix.SO_REUSEADDR}, {unix.SOL_SOCKET, unix.SO_KEEPALIVE}, {unix.SOL_SOCKET, unix.SO_RCVBUF},
		{unix.SOL_SOCKET, unix.SO_SNDBUF}, {unix.SOL_SOCKET, unix.SO_TYPE}, {unix.SOL_SOCKET, unix.SO_ERROR},
		{unix.SOL_SOCKET, unix.SO_RCVTIMEO}, {unix.SOL_SOCKET, unix.SO_REUSEPORT}, {unix.SOL_SOCKET, unix.SO_RCVLOWAT},
		{unix.SOL_SOCKET, unix.SO_ACCEPTCONN}, {unix.IPPROTO_TCP, unix.TCP_NODELAY}, {unix.IPPROTO_TCP, unix.TCP_CORK},
		{unix.IPPROTO_IPV6, unix.IPV6_V6ONLY}, {unix.IPPROTO_IP, unix.IP_TTL}, {9999, 1}, {unix.SOL_SOCKET, 9999},
	}
	fzTVOpts = [...]int{unix.SO_RCVTIMEO, unix.SO_SNDTIMEO, unix.SO_RCVTIMEO, 9999}
	fzSecs   = [...]int64{0, 0, 0, 1, -1, 18446744074, math.MaxInt64, 0}
	fzUsecs  = [...]int64{0, 4000, 8000, 999999, 1000000, -1, 40000, 12000}
)

func fzFlags(b byte) int {
	f := 0
	for i, bit := range fzFlagBits {
		if b&(1<<i) != 0 {
			f |= bit
		}
	}
	return f
}

// addr builds a sockaddr: 127.0.0.1 or ::1 with port 0, the port of one of
// this input's sockets, or any port; or nil, or an out-of-range port.
func (fz *fzState) addr(fam, mode, x, y byte) unix.Sockaddr {
	var port int
	switch mode % 4 {
	case 0:
		port = 0
	case 1, 2:
		if len(fz.socks) > 0 {
			s := fz.socks[int(x)%len(fz.socks)]
			if s.open {
				if sa, err := Getsockname(s.d); err == nil {
					port = max(dPort(sa), 0)
				}
			}
		}
	case 3:
		port = int(x)<<8 | int(y)
	}
	switch fam % 8 {
	case 0, 2, 4:
		return dLoopback(unix.AF_INET, port)
	case 1, 3, 5:
		return dLoopback(unix.AF_INET6, port)
	case 6:
		return nil
	}
	return &unix.SockaddrInet4{Port: 70000, Addr: [4]byte{127, 0, 0, 1}}
}

// watch panics if the call described takes longer than fzHang: the fuzzer
// then keeps the input as a crasher.
func watch(desc string) func() {
	tm := time.AfterFunc(fzHang, func() {
		panic(fmt.Sprintf("FuzzCallSequence: %s did not return within %v", desc, fzHang))
	})
	return func() { tm.Stop() }
}

// fzCtx returns the context a bounded call runs under.
func fzCtx(variant byte) (context.Context, context.CancelFunc) {
	if variant%8 == 7 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // already done
		return ctx, cancel
	}
	return context.WithTimeout(context.Background(), fzWait)
}

func (fz *fzState) call(c []byte) {
	t := fz.t
	op := int(c[0]) % fzNumOps
	d := fz.fd(c[1])
	x := c[2:8]
	s := fz.live[d] // nil: d is not open
	desc := fmt.Sprintf("%s(%d, % x)", fzOpNames[op], d, x)
	stop := watch(desc)
	defer stop()

	var err error
	var n int
	var sa unix.Sockaddr
	var bufLen int
	var flags int
	switch op {
	case fzSocket:
		fz.socket(x)
		return
	case fzBind:
		err = Bind(d, fz.addr(x[0], x[1], x[2], x[3]))
	case fzListen:
		err = Listen(d, fzBacklogs[x[0]%8])
		if err == nil && s != nil && s.cat == fzCatUnified {
			s.cat = fzCatListen
		}
	case fzConnect:
		to := fz.addr(x[0], x[1], x[2], x[3])
		if x[4]%2 == 1 && s != nil && (s.nonblock || s.sndShort) {
			err = Connect(d, to)
		} else {
			ctx, cancel := fzCtx(x[4])
			err = ConnectContext(ctx, d, to)
			cancel()
		}
		if err == nil && s != nil && s.cat == fzCatUnified {
			s.cat = fzCatConnection
		}
	case fzAccept:
		var nd int
		if x[0]%2 == 1 && s != nil && (s.nonblock || s.rcvShort) {
			nd, sa, err = Accept(d)
		} else {
			ctx, cancel := fzCtx(x[0])
			nd, sa, err = AcceptContext(ctx, d)
			cancel()
		}
		if err == nil {
			fz.opened(desc, nd, &fzSock{cat: fzCatConnection, stream: s != nil && s.stream, domain: domainOf(s)})
		}
	case fzSend, fzSendto:
		bufLen, flags = fzSizes[x[4]%8], fzFlags(x[5])
		buf := make([]byte, bufLen)
		var to unix.Sockaddr
		if op == fzSendto {
			to = fz.addr(x[1], x[2], x[3], x[3]^x[4])
		}
		switch {
		case x[0]%4 == 1:
			n, err = Sendto(d, buf, flags|unix.MSG_DONTWAIT, to)
		case x[0]%4 == 2 && s != nil && (s.nonblock || s.sndShort):
			n, err = Sendto(d, buf, flags, to)
		default:
			ctx, cancel := fzCtx(x[0])
			if to == nil && op == fzSend {
				n, err = SendContext(ctx, d, buf, flags)
			} else {
				n, err = SendtoContext(ctx, d, buf, flags, to)
			}
			cancel()
		}
		if err == nil && (n < 0 || n > bufLen) {
			t.Errorf("%s sent %d of %d bytes", desc, n, bufLen)
		}
	case fzRecv, fzRecvfrom:
		bufLen, flags = fzSizes[x[4]%8], fzFlags(x[5])
		if bufLen > 65536 {
			bufLen = 65536
		}
		buf := make([]byte, bufLen)
		switch {
		case x[0]%4 == 1:
			flags |= unix.MSG_DONTWAIT
			if op == fzRecv {
				n, err = Recv(d, buf, flags)
			} else {
				n, sa, err = Recvfrom(d, buf, flags)
			}
		case x[0]%4 == 2 && s != nil && (s.nonblock || s.rcvShort) && flags&unix.MSG_WAITALL == 0:
			if op == fzRecv {
				n, err = Recv(d, buf, flags)
			} else {
				n, sa, err = Recvfrom(d, buf, flags)
			}
		default:
			ctx, cancel := fzCtx(x[0])
			if op == fzRecv {
				n, err = RecvContext(ctx, d, buf, flags)
			} else {
				n, sa, err = RecvfromContext(ctx, d, buf, flags)
			}
			cancel()
		}
		if err == nil && (n < 0 || (n > bufLen && (flags&unix.MSG_TRUNC == 0 || s == nil || s.stream))) {
			t.Errorf("%s returned %d for a %d-byte buffer", desc, n, bufLen)
		}
		if op == fzRecv && bufLen == 0 && s != nil && s.stream && !fzForbidden(s.cat, op) && (n != 0 || !zeroRecvErrOK(err, flags, s.nonblock)) {
			t.Errorf("%s: a zero-length Recv on a stream socket = (%d, %v), want (0, nil) at once, or the kernel's error", desc, n, err)
		}
	case fzShutdown:
		err = Shutdown(d, fzHows[x[0]%8])
	case fzGetsockname:
		sa, err = Getsockname(d)
	case fzGetpeername:
		sa, err = Getpeername(d)
	case fzSetInt:
		o := fzIntOpts[x[0]%16]
		v := int(int32(uint32(x[1])<<24 | uint32(x[2])<<16 | uint32(x[3])<<8 | uint32(x[4])))
		if x[5]%2 == 0 {
			v = int(int8(x[4])) // small values are the interesting ones
		}
		err = SetsockoptInt(d, o[0], o[1], v)
	case fzGetInt:
		o := fzIntOpts[x[0]%16]
		_, err = GetsockoptInt(d, o[0], o[1])
	case fzSetTV:
		opt := fzTVOpts[x[0]%4]
		tv := dTV(fzSecs[x[1]%8], fzUsecs[x[2]%8])
		err = SetsockoptTimeval(d, unix.SOL_SOCKET, opt, &tv)
		if err == nil && s != nil && (opt == unix.SO_RCVTIMEO || opt == unix.SO_SNDTIMEO) {
			short := tv.Sec == 0 && tv.Usec > 0 && tv.Usec <= 40000
			if opt == unix.SO_RCVTIMEO {
				s.rcvShort = short
			} else {
				s.sndShort = short
			}
		}
	case fzGetTV:
		_, err = GetsockoptTimeval(d, unix.SOL_SOCKET, fzTVOpts[x[0]%4])
	case fzClose:
		err = Closesocket(d)
		if s != nil {
			if err != nil {
				t.Errorf("%s on an open socket = %v, want success", desc, err)
			}
			s.open = false
			delete(fz.live, d)
		}
	}

	t.Logf("%s = %d, %v, %v", desc, n, dAddrString(sa), err) // the sequence, shown on failure
	en, note := dErrno(err)
	if note != "" {
		t.Errorf("%s %s", desc, note)
	}
	switch {
	case s == nil:
		if en != unix.EBADF {
			t.Errorf("%s on a descriptor that is not open = %s, want EBADF", desc, dErrString(en))
		}
	case fzForbidden(s.cat, op):
		if en != unix.EOPNOTSUPP {
			t.Errorf("%s on a %s socket = %s, want EOPNOTSUPP (a forbidden cell)", desc, fzCatName(s.cat), dErrString(en))
		}
	case en == unix.EBADF:
		t.Errorf("%s on an open descriptor = EBADF", desc)
	}
	if sa != nil {
		switch sa.(type) {
		case *unix.SockaddrInet4, *unix.SockaddrInet6, *unix.SockaddrUnix:
		default:
			t.Errorf("%s returned a %T address", desc, sa)
		}
	}
}

func domainOf(s *fzSock) int {
	if s == nil {
		return 0
	}
	return s.domain
}

func fzCatName(c fzCat) string {
	return [...]string{"connection", "listen", "datagram", "unified"}[c]
}

// socket makes one of the four constructors' calls.
func (fz *fzState) socket(x []byte) {
	ctor := dctor(x[0] % 4)
	domain := fzDomains[x[1]%8]
	typ := fzTypes[x[2]%8]
	if x[3]&1 != 0 {
		typ |= unix.SOCK_NONBLOCK
	}
	if x[3]&2 != 0 {
		typ |= unix.SOCK_CLOEXEC
	}
	proto := fzProtos[x[4]%8]
	desc := fmt.Sprintf("%s(%d, %#x, %d)", dctorNames[ctor], domain, typ, proto)
	stop := watch(desc)
	d, err := dKsocketAPI{}.socket(ctor, domain, typ, proto)
	stop()
	en, note := dErrno(err)
	if note != "" {
		fz.t.Errorf("%s %s", desc, note)
	}
	base := typ &^ (unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC)
	fits := true
	cat := fzCatUnified
	switch ctor {
	case ctorConnection, ctorListen:
		fits = base == unix.SOCK_STREAM || base == unix.SOCK_SEQPACKET
		cat = fzCatConnection
		if ctor == ctorListen {
			cat = fzCatListen
		}
	case ctorDatagram:
		fits = base == unix.SOCK_DGRAM
		cat = fzCatDatagram
	}
	if !fits && en != unix.ESOCKTNOSUPPORT {
		fz.t.Errorf("%s = %s, want ESOCKTNOSUPPORT: the type does not fit the constructor", desc, dErrString(en))
	}
	if en == unix.EOPNOTSUPP || en == unix.EBADF {
		fz.t.Errorf("%s = %s", desc, dErrString(en))
	}
	fz.t.Logf("%s = %d, %v", desc, d, err)
	if err == nil {
		fz.opened(desc, d, &fzSock{cat: cat, stream: base == unix.SOCK_STREAM, domain: domain, nonblock: typ&unix.SOCK_NONBLOCK != 0})
	}
}

// opened records a new descriptor, checking it is the lowest free one.
func (fz *fzState) opened(desc string, d int, s *fzSock) {
	if want := fz.lowestFree(); d != want {
		fz.t.Errorf("%s returned descriptor %d, want the lowest free, %d", desc, d, want)
	}
	if fz.live[d] != nil {
		fz.t.Errorf("%s returned descriptor %d, which is already open", desc, d)
	}
	s.d, s.open = d, true
	fz.socks = append(fz.socks, s)
	fz.live[d] = s
}

// closeAll closes what the input left open, and checks that every
// descriptor it used is closed afterwards.
func (fz *fzState) closeAll() {
	for d, s := range fz.live {
		if err := Closesocket(d); err != nil {
			fz.t.Errorf("Closesocket(%d) at the end = %v", d, err)
		}
		s.open = false
	}
	clear(fz.live)
	for _, s := range fz.socks {
		if fz.foreign[s.d] {
			continue
		}
		if _, err := Getsockname(s.d); err != unix.EBADF {
			fz.t.Errorf("descriptor %d still open after the input closed everything: %v", s.d, err)
		}
	}
}

// fzCall encodes one call for the seed corpus.
func fzCall(op int, fd byte, args ...byte) []byte {
	c := make([]byte, fzCallSize)
	c[0], c[1] = byte(op), fd
	copy(c[2:], args)
	return c
}

func fzSeq(calls ...[]byte) []byte {
	var b []byte
	for _, c := range calls {
		b = append(b, c...)
	}
	return b
}

// fzSeeds are sequences that reach the interesting states: connected TCP
// pairs, UDP exchanges, forbidden cells, bad descriptors, unified sockets
// changing category, and timeouts. Socket arguments are (ctor, domain,
// type, flags, proto) indexes; descriptor bytes are socket indexes.
func fzSeeds() [][]byte {
	const v4, v6, stream, dgram = 0, 1, 0, 1
	const bad = 0xF8 // -1; 0xF9 is 0, 0xFC is 1<<20
	return [][]byte{
		// TCP over IPv4: listen, connect, accept, send, receive, shut down, close twice.
		fzSeq(
			fzCall(fzSocket, 0, byte(ctorListen), v4, stream),
			fzCall(fzBind, 0, v4, 0),
			fzCall(fzListen, 0, 2),
			fzCall(fzSocket, 0, byte(ctorConnection), v4, stream),
			fzCall(fzConnect, 1, v4, 1, 0),
			fzCall(fzAccept, 0),
			fzCall(fzSend, 1, 0, 0, 0, 0, 2, 0),
			fzCall(fzRecv, 2, 0, 0, 0, 0, 3, 0),
			fzCall(fzRecv, 2, 1, 0, 0, 0, 0, 0),
			fzCall(fzShutdown, 1, 1),
			fzCall(fzRecv, 2, 0, 0, 0, 0, 3, 0),
			fzCall(fzGetpeername, 2),
			fzCall(fzClose, 1),
			fzCall(fzClose, 1),
			fzCall(fzGetsockname, 0),
		),
		// UDP over IPv6: sendto, recvfrom, connect, peek, truncate.
		fzSeq(
			fzCall(fzSocket, 0, byte(ctorDatagram), v6, dgram),
			fzCall(fzBind, 0, v6, 0),
			fzCall(fzSocket, 0, byte(ctorDatagram), v6, dgram),
			fzCall(fzSendto, 1, 0, v6, 1, 0, 3, 0),
			fzCall(fzRecvfrom, 0, 0, 0, 0, 0, 1, 1),
			fzCall(fzRecvfrom, 0, 0, 0, 0, 0, 1, 8),
			fzCall(fzConnect, 1, v6, 1, 0),
			fzCall(fzSend, 1, 1, 0, 0, 0, 0, 0),
			fzCall(fzRecv, 0, 0, 0, 0, 0, 3, 0),
			fzCall(fzListen, 0, 1),
			fzCall(fzAccept, 0, 0),
			fzCall(fzShutdown, 0, 2),
		),
		// Forbidden cells and constructor types.
		fzSeq(
			fzCall(fzSocket, 0, byte(ctorConnection), v4, dgram),
			fzCall(fzSocket, 0, byte(ctorDatagram), v6, stream),
			fzCall(fzSocket, 0, byte(ctorConnection), v6, stream),
			fzCall(fzListen, 0, 1),
			fzCall(fzAccept, 0, 1),
			fzCall(fzSocket, 0, byte(ctorListen), v4, stream),
			fzCall(fzSend, 1, 1, 0, 0, 0, 1, 0),
			fzCall(fzRecv, 1, 1, 0, 0, 0, 0, 0),
			fzCall(fzRecvfrom, 1, 0, 0, 0, 0, 1, 0),
			fzCall(fzConnect, 1, v4, 1, 1),
			fzCall(fzGetpeername, 1),
			fzCall(fzSendto, 1, 0, v4, 0, 0, 1, 0),
		),
		// Descriptors that are not open.
		fzSeq(
			fzCall(fzRecv, bad, 1, 0, 0, 0, 1, 0),
			fzCall(fzClose, bad+1),
			fzCall(fzGetsockname, bad+4),
			fzCall(fzSocket, 0, byte(ctorUnified), v4, dgram),
			fzCall(fzClose, 0),
			fzCall(fzSend, 0, 0, 0, 0, 0, 1, 0),
			fzCall(fzSocket, 0, byte(ctorUnified), v6, stream),
			fzCall(fzSetTV, 1, 0, 0, 1),
		),
		// Unified sockets: listen makes a listen socket, connect a connection socket.
		fzSeq(
			fzCall(fzSocket, 0, byte(ctorUnified), v4, stream),
			fzCall(fzBind, 0, v4, 0),
			fzCall(fzListen, 0, 2),
			fzCall(fzSend, 0, 1, 0, 0, 0, 1, 0),
			fzCall(fzSocket, 0, byte(ctorUnified), v4, stream),
			fzCall(fzConnect, 1, v4, 1, 0),
			fzCall(fzListen, 1, 1),
			fzCall(fzAccept, 0, 0),
			fzCall(fzSocket, 0, byte(ctorUnified), v6, dgram),
			fzCall(fzConnect, 3, v6, 1, 1),
			fzCall(fzListen, 3, 1),
		),
		// Timeouts and options, and non-blocking sockets.
		fzSeq(
			fzCall(fzSocket, 0, byte(ctorListen), v6, stream, 1),
			fzCall(fzBind, 0, v6, 0),
			fzCall(fzListen, 0, 2),
			fzCall(fzAccept, 0, 1),
			fzCall(fzSocket, 0, byte(ctorConnection), v6, stream, 1),
			fzCall(fzConnect, 1, v6, 1, 0, 0, 1),
			fzCall(fzSetTV, 1, 0, 0, 1),
			fzCall(fzGetTV, 1, 0),
			fzCall(fzRecv, 1, 2, 0, 0, 0, 3, 0),
			fzCall(fzSetInt, 1, 2, 0, 0, 16, 0, 1),
			fzCall(fzGetInt, 1, 2),
			fzCall(fzSetTV, 1, 0, 4, 0),
			fzCall(fzGetTV, 1, 0),
			fzCall(fzSetTV, 1, 1, 5, 0),
			fzCall(fzGetInt, 1, 15),
		),
	}
}

// zeroRecvErrOK says whether err may end a zero-length Recv on a stream
// socket: it returns at once with the kernel's answer, but where that is
// EAGAIN only if the caller asked not to wait (MSG_DONTWAIT, or a
// SOCK_NONBLOCK socket).
func zeroRecvErrOK(err error, flags int, nonblock bool) bool {
	return err != unix.EAGAIN || flags&unix.MSG_DONTWAIT != 0 || nonblock
}
