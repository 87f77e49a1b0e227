//go:build linux

package ksocket

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// FuzzDifferentialSequence decodes its input into a sequence of Berkeley
// calls and runs it, step by step, through ksocket and through raw syscalls
// on blocking sockets (the two sides of the differential tests), comparing
// every result: errno, count, data, address shape, option value. Where the
// category table forbids a call, only ksocket runs it, and it must answer
// EOPNOTSUPP (or ESOCKTNOSUPPORT for a type its constructor does not take)
// without asking the kernel; the steps after it show that the kernel state
// was left alone.
//
// Every socket gets SO_RCVTIMEO and SO_SNDTIMEO of 40 ms on both sides as
// soon as it exists, and the sequence may only move them between 40 and 80
// ms, so no call blocks for long; a watchdog fails a step that blocks for
// 2 s. The kernel reads them back rounded to its tick, ksocket exactly as
// set (dSameTV). A
// descriptor that was closed is passed to the raw side as 1<<20, never as
// its old number, which the kernel may have given to another socket of this
// process (ksocket's sockets are kernel fds too).
//
// The input is a family byte, then 6-byte steps: op, socket, four arguments.
func FuzzDifferentialSequence(f *testing.F) {
	for _, s := range fdSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		fam := dBoth[data[0]%2]
		dNeedFamily(t, fam)
		data = data[1:]
		fd := newFdState(t, fam)
		defer fd.cleanup()
		for i := 0; i+fdStepSize <= len(data) && i/fdStepSize < fdMaxSteps; i += fdStepSize {
			if !fd.step(i/fdStepSize, data[i:i+fdStepSize]) {
				return
			}
		}
	})
}

const (
	fdStepSize = 6
	fdMaxSteps = 20
)

// fdKnownDeviation says why a difference is expected, or "" if none is.
// The exceptions are documented deviations.
func fdKnownDeviation(st dstep, sock *fdSock, raw, k dres) string {
	if st.addr.kind == addrLoop && st.addr.port > 0xFFFF && raw.err == unix.EINVAL && k.err == unix.EBADF {
		// x/sys/unix refuses the address before it makes the call; the
		// kernel (and ksocket) look at the descriptor first.
		return "a bad descriptor with a port x/sys/unix cannot encode"
	}
	if st.op == opConnect && st.addr.kind == addrOf && st.addr.name == st.s && raw.err == unix.ECONNABORTED &&
		(k.err == unix.ECONNREFUSED || k.err == 0) && probedBackend() == "uring" {
		// A socket connecting to its own address after shutdown(SHUT_WR)
		// ends in TCP_CLOSE with no error: connect(2) says ECONNABORTED,
		// and so does the epoll backend. IORING_OP_CONNECT retries the
		// connect when the socket's state changes and reports what that
		// retry finds, ECONNREFUSED or success; the uring backend passes
		// the kernel's answer on.
		return "self-connect after shutdown: connect(2) ECONNABORTED, IORING_OP_CONNECT " + unix.ErrnoName(k.err)
	}
	return ""
}

type fdSock struct {
	name   string
	cat    fzCat
	stream bool
	closed bool
	bound  bool // holds a port: bound, listening, connected or accepted
}

type fdState struct {
	t        *testing.T
	fam      int
	raw, ks  *dside
	socks    []*fdSock
	nextName int
}

func newFdState(t *testing.T, fam int) *fdState {
	return &fdState{t: t, fam: fam,
		raw: newDSide(t, dRawAPI{}, fam, true),
		ks:  newDSide(t, dKsocketAPI{}, fam, true)}
}

func (fd *fdState) cleanup() {
	fd.raw.cleanup()
	fd.ks.cleanup()
}

// sock picks one of the sequence's sockets by b; nil (with a special
// descriptor name) for b >= 0xF0 or when there is none.
func (fd *fdState) sock(b byte) (*fdSock, string) {
	if b >= 0xF0 || len(fd.socks) == 0 {
		return nil, [...]string{dFdBig, dFdNeg}[b%2]
	}
	s := fd.socks[int(b)%len(fd.socks)]
	return s, s.name
}

func (fd *fdState) addr(mode, x byte) daddr {
	switch mode % 6 {
	case 0, 1:
		return dLo(0)
	case 2:
		return dLoFam(dBoth[0]+dBoth[1]-fd.fam, 0) // the other family
	case 3:
		return dLo(65536)
	}
	if len(fd.socks) == 0 {
		return dLo(0)
	}
	return dAt(fd.socks[int(x)%len(fd.socks)].name)
}

var (
	fdTypes     = [...]int{unix.SOCK_STREAM, unix.SOCK_DGRAM, unix.SOCK_STREAM, unix.SOCK_DGRAM, unix.SOCK_SEQPACKET, unix.SOCK_RAW}
	fdSizes     = [...]int{0, 1, 5, 100, 1500, 16000}
	fdRecvFlags = [...]int{0, unix.MSG_PEEK, unix.MSG_DONTWAIT, unix.MSG_TRUNC, unix.MSG_WAITALL, unix.MSG_PEEK | unix.MSG_DONTWAIT}
	fdSendFlags = [...]int{0, unix.MSG_DONTWAIT, unix.MSG_NOSIGNAL, 0}
	fdHows      = [...]int{unix.SHUT_RD, unix.SHUT_WR, unix.SHUT_RDWR, 3}
	fdBacklogs  = [...]int{0, 1, 8, -1}
	fdTimeouts  = [...]unix.Timeval{dMs(40), dMs(80)}
)

// fzOf maps a differential op onto the category table's op.
var fzOf = map[dop]int{
	opBind: fzBind, opListen: fzListen, opConnect: fzConnect, opAccept: fzAccept, opSend: fzSend,
	opSendto: fzSendto, opRecv: fzRecv, opRecvfrom: fzRecvfrom, opShutdown: fzShutdown,
	opGetsockname: fzGetsockname, opGetpeername: fzGetpeername, opSetInt: fzSetInt, opGetInt: fzGetInt,
	opSetTV: fzSetTV, opGetTV: fzGetTV, opClose: fzClose,
}

// step decodes and runs one step; false ends the sequence.
func (fd *fdState) step(i int, c []byte) bool {
	op := dop(c[0] % byte(opClose+1))
	sock, name := fd.sock(c[1])
	x := c[2:]
	var st dstep
	switch op {
	case opSocket:
		ctor := dctor(x[0] % 4)
		domain := fd.fam
		if x[1]&1 != 0 {
			domain = dBoth[0] + dBoth[1] - fd.fam
		}
		typ := fdTypes[x[2]%byte(len(fdTypes))]
		st = dSocketIn(fmt.Sprintf("s%d", fd.nextName), ctor, domain, typ, 0)
		base := typ
		fits := true
		switch ctor {
		case ctorConnection, ctorListen:
			fits = base == unix.SOCK_STREAM || base == unix.SOCK_SEQPACKET
		case ctorDatagram:
			fits = base == unix.SOCK_DGRAM
		}
		if !fits {
			st = st.kOnly(unix.ESOCKTNOSUPPORT)
		}
	case opBind:
		st = dBind(name, fd.addr(x[0], x[1]))
	case opListen:
		st = dListen(name, fdBacklogs[x[0]%4])
	case opConnect:
		st = dConnect(name, fd.addr(x[0], x[1]))
	case opAccept:
		st = dAccept(name, fmt.Sprintf("s%d", fd.nextName))
	case opSend:
		st = dSendN(name, fdSizes[x[0]%byte(len(fdSizes))]).with(fdSendFlags[x[1]%4])
	case opSendto:
		st = dstep{op: opSendto, s: name, payload: dPattern(fdSizes[x[0]%byte(len(fdSizes))]), addr: fd.addr(x[2], x[3])}.with(fdSendFlags[x[1]%4])
	case opRecv, opRecvfrom:
		st = dstep{op: op, s: name, size: fdSizes[x[0]%byte(len(fdSizes))]}.with(fdRecvFlags[x[1]%byte(len(fdRecvFlags))])
	case opShutdown:
		st = dShutdown(name, fdHows[x[0]%4])
	case opGetsockname:
		st = dSockname(name)
	case opGetpeername:
		st = dPeername(name)
	case opSetInt:
		o := fzIntOpts[x[0]%16]
		if o[1] == unix.SO_RCVTIMEO || o[1] == unix.SO_RCVLOWAT {
			o = [2]int{unix.SOL_SOCKET, unix.SO_KEEPALIVE} // an int SO_RCVTIMEO is a different option; RCVLOWAT makes waits long
		}
		st = dSetInt(name, o[0], o[1], int(int8(x[1])))
	case opGetInt:
		o := fzIntOpts[x[0]%16]
		st = dGetInt(name, o[0], o[1])
	case opSetTV:
		st = dSetTV(name, [...]int{unix.SO_RCVTIMEO, unix.SO_SNDTIMEO}[x[0]%2], fdTimeouts[x[1]%2])
	case opGetTV:
		st = dGetTV(name, [...]int{unix.SO_RCVTIMEO, unix.SO_SNDTIMEO, 9999}[x[0]%3])
	case opClose:
		st = dClose(name)
	}
	if sock != nil && op != opSocket && fzForbidden(sock.cat, fzOf[op]) && !sock.closed {
		st = st.kOnly(unix.EOPNOTSUPP)
	}

	where := fmt.Sprintf("step %d, %s", i, dStepString(st))
	var raw, k dres
	rawSt := st
	if sock != nil && sock.closed {
		rawSt.s = dFdBig // never the old number: the kernel reuses it
		if fd.ks.reused(sock.name) {
			st.s = dFdBig // ksocket gave the number to a later socket
		}
	}
	if !st.only {
		raw = fd.run(fd.raw, rawSt)
	}
	k = fd.run(fd.ks, st)
	if st.only {
		fd.t.Logf("%s: ksocket %s (the kernel is not asked)", where, dErrString(k.err))
	} else {
		fd.t.Logf("%s: raw %s n=%d, ksocket %s n=%d", where, dErrString(raw.err), raw.n, dErrString(k.err), k.n)
	}
	for _, p := range append(raw.problems, k.problems...) {
		fd.t.Errorf("%s: %s", where, p)
		return false
	}
	if st.only {
		if k.err != st.err {
			fd.t.Errorf("%s: ksocket gave %s, want %s before the kernel is asked", where, dErrString(k.err), dErrString(st.err))
		}
		return true
	}
	if fd.raw.broken != "" || fd.ks.broken != "" {
		fd.t.Logf("%s: the sequence cannot go on: %s%s", where, fd.raw.broken, fd.ks.broken)
		return false
	}
	if why := fdKnownDeviation(st, sock, raw, k); why != "" {
		// The two sides' states may differ from here on.
		fd.t.Logf("%s: known deviation: %s; the sequence stops", where, why)
		return false
	}
	if why := timedOutFirst(st, raw, k); why != "" {
		fd.t.Logf("%s: %s; the sides differ from here on", where, why)
		return false
	}
	if why := fd.portsOfOthers(st, raw, k); why != "" {
		fd.t.Logf("%s: %s; the sides differ from here on", where, why)
		return false
	}
	if !fd.same(where, raw, k) {
		return false
	}
	if k.err != 0 {
		return true
	}
	// Follow what succeeded.
	switch op {
	case opSocket, opAccept:
		s := &fdSock{name: st.name, stream: st.typ == unix.SOCK_STREAM || op == opAccept && sock != nil && sock.stream, bound: op == opAccept}
		switch {
		case op == opAccept:
			s.cat = fzCatConnection
		case st.ctor == ctorConnection:
			s.cat = fzCatConnection
		case st.ctor == ctorListen:
			s.cat = fzCatListen
		case st.ctor == ctorDatagram:
			s.cat = fzCatDatagram
		default:
			s.cat = fzCatUnified
		}
		fd.nextName++
		fd.socks = append(fd.socks, s)
		// Bound every wait on both sides.
		for _, opt := range []int{unix.SO_RCVTIMEO, unix.SO_SNDTIMEO} {
			for _, sd := range []*dside{fd.raw, fd.ks} {
				tv := fdTimeouts[0]
				if err := sd.api.setsockoptTimeval(sd.fd(s.name), unix.SOL_SOCKET, opt, &tv); err != nil {
					fd.t.Fatalf("%s: %s: setting a timeout on the new socket: %v", where, sd.api.name(), err)
				}
			}
		}
	case opBind:
		sock.bound = true
	case opListen:
		sock.bound = true
		if sock.cat == fzCatUnified {
			sock.cat = fzCatListen
		}
	case opConnect:
		sock.bound = true
		if sock.cat == fzCatUnified && sock.stream {
			sock.cat = fzCatConnection
		}
	case opSend, opSendto:
		sock.bound = true // a datagram socket binds on its first send
	case opClose:
		if sock != nil {
			sock.closed = true
		}
	}
	return true
}

// timedOutFirst explains a blocking call that the kernel completed and
// ksocket ended by its timeout: on the ring, an op the kernel cannot
// complete at once may go through an io-wq worker, which on a loaded
// machine can take longer than the sequence's short timeouts. It is timing,
// not a wrong answer; the sequence stops there.
func timedOutFirst(st dstep, raw, k dres) string {
	if st.flags&unix.MSG_DONTWAIT != 0 || raw.err == k.err {
		return ""
	}
	if (k.err == unix.EAGAIN || k.err == unix.EINPROGRESS) && raw.err != unix.EAGAIN && raw.err != unix.EINPROGRESS {
		switch st.op {
		case opRecv, opRecvfrom, opAccept, opConnect, opSend, opSendto:
			return "ksocket's SO_RCVTIMEO/SO_SNDTIMEO ended a call the kernel completed (timing)"
		}
	}
	return ""
}

// reused reports whether the number of the closed socket name belongs to
// another, open socket of the side.
func (sd *dside) reused(name string) bool {
	sd.mu.Lock()
	defer sd.mu.Unlock()
	n := sd.fds[name]
	for other, fd := range sd.fds {
		if other != name && fd == n && !sd.closed[other] {
			return true
		}
	}
	return false
}

// portsOfOthers explains a difference that comes from the machine, not from
// ksocket: a step aimed at a port the sequence does not hold (the port of a
// closed socket, or the one a failed connect left showing) may find it taken
// by a TIME_WAIT connection or by a socket of the other side, which shares
// the loopback ports.
func (fd *fdState) portsOfOthers(st dstep, raw, k dres) string {
	if raw.err == k.err || st.addr.kind != addrOf {
		return ""
	}
	if st.op == opBind && (raw.err == unix.EADDRINUSE || k.err == unix.EADDRINUSE) {
		return "bind to a port the sequence does not hold"
	}
	for _, s := range fd.socks {
		if s.name == st.addr.name && (s.closed || !s.bound) {
			return "an address whose port the sequence does not hold (closed, or never bound), which another socket may hold now"
		}
	}
	return ""
}

// run makes one step on one side under a watchdog.
func (fd *fdState) run(sd *dside, st dstep) dres {
	var hung atomic.Bool
	wd := time.AfterFunc(dStepLimit, func() {
		hung.Store(true)
		sd.wakeAll()
	})
	r := sd.step(st)
	wd.Stop()
	r.ran = true
	if hung.Load() {
		r.problems = append(r.problems, fmt.Sprintf("%s blocked for more than %v", sd.api.name(), dStepLimit))
	}
	return r
}

// same compares the two sides' results of one step.
func (fd *fdState) same(where string, raw, k dres) bool {
	t := fd.t
	if k.err != raw.err {
		t.Errorf("%s: ksocket gave %s, the kernel (raw) %s", where, dErrString(k.err), dErrString(raw.err))
		return false
	}
	if k.err != 0 {
		return true
	}
	ok := true
	if k.n != raw.n {
		t.Errorf("%s: ksocket count %d, raw %d", where, k.n, raw.n)
		ok = false
	}
	if !bytes.Equal(k.data, raw.data) {
		t.Errorf("%s: ksocket data %q, raw %q", where, k.data, raw.data)
		ok = false
	}
	if ks, rs := dShape(k.sa), dShape(raw.sa); ks != rs {
		t.Errorf("%s: ksocket address %s, raw %s", where, ks, rs)
		ok = false
	}
	if k.val != raw.val {
		t.Errorf("%s: ksocket value %d, raw %d", where, k.val, raw.val)
		ok = false
	}
	if !dSameTV(k.tv, raw.tv) {
		t.Errorf("%s: ksocket timeval %+v, raw %+v", where, k.tv, raw.tv)
		ok = false
	}
	return ok
}

// fdStep encodes one step for the seeds.
func fdStep(op dop, sock byte, args ...byte) []byte {
	b := make([]byte, fdStepSize)
	b[0], b[1] = byte(op), sock
	copy(b[2:], args)
	return b
}

// fdSeeds reach connected pairs, datagrams, unified sockets changing
// category, forbidden cells, half-close and closed descriptors. Socket
// arguments are (ctor, other family, type index); address modes 4 and 5
// name a socket of the sequence.
func fdSeeds() [][]byte {
	const stream, dgram = 0, 1
	const at = 4
	seq := func(fam byte, steps ...[]byte) []byte {
		b := []byte{fam}
		for _, s := range steps {
			b = append(b, s...)
		}
		return b
	}
	return [][]byte{
		seq(0, // TCP: listen, connect, accept, exchange, half-close, close twice
			fdStep(opSocket, 0, byte(ctorListen), 0, stream),
			fdStep(opBind, 0, 0),
			fdStep(opListen, 0, 2),
			fdStep(opSocket, 0, byte(ctorConnection), 0, stream),
			fdStep(opConnect, 1, at, 0),
			fdStep(opAccept, 0),
			fdStep(opSend, 1, 3, 0),
			fdStep(opRecv, 2, 1, 1),
			fdStep(opRecv, 2, 4, 0),
			fdStep(opShutdown, 1, 1),
			fdStep(opRecv, 2, 3, 0),
			fdStep(opSend, 2, 2, 0),
			fdStep(opRecv, 1, 3, 0),
			fdStep(opGetpeername, 2),
			fdStep(opClose, 1),
			fdStep(opClose, 1),
			fdStep(opRecv, 2, 3, 0),
			fdStep(opSend, 2, 3, 0),
		),
		seq(1, // UDP over IPv6: sendto, recvfrom, peek, truncate, connect
			fdStep(opSocket, 0, byte(ctorDatagram), 0, dgram),
			fdStep(opBind, 0, 0),
			fdStep(opSocket, 0, byte(ctorDatagram), 0, dgram),
			fdStep(opSendto, 1, 4, 0, at, 0),
			fdStep(opRecvfrom, 0, 1, 1),
			fdStep(opRecvfrom, 0, 1, 3),
			fdStep(opRecvfrom, 0, 4, 2),
			fdStep(opConnect, 1, at, 0),
			fdStep(opSend, 1, 0, 0),
			fdStep(opRecv, 0, 3, 0),
			fdStep(opAccept, 0),
			fdStep(opListen, 0, 1),
			fdStep(opSendto, 1, 2, 0, 2, 0),
		),
		seq(0, // unified sockets, forbidden cells, wrong types
			fdStep(opSocket, 0, byte(ctorUnified), 0, stream),
			fdStep(opBind, 0, 0),
			fdStep(opListen, 0, 1),
			fdStep(opSend, 0, 1, 0),
			fdStep(opSocket, 0, byte(ctorUnified), 0, stream),
			fdStep(opConnect, 1, at, 0),
			fdStep(opListen, 1, 1),
			fdStep(opAccept, 0),
			fdStep(opSocket, 0, byte(ctorDatagram), 0, stream),
			fdStep(opSocket, 0, byte(ctorListen), 0, dgram),
			fdStep(opRecv, 0, 1, 0),
			fdStep(opGetpeername, 0),
		),
		seq(1, // options and timeouts
			fdStep(opSocket, 0, byte(ctorConnection), 0, stream),
			fdStep(opSetTV, 0, 0, 1),
			fdStep(opGetTV, 0, 0),
			fdStep(opGetTV, 0, 2),
			fdStep(opSetInt, 0, 2, 16),
			fdStep(opGetInt, 0, 2),
			fdStep(opGetInt, 0, 10),
			fdStep(opSetInt, 0, 14, 1),
			fdStep(opRecv, 0, 3, 0),
			fdStep(opShutdown, 0, 2),
			fdStep(opConnect, 0, 2, 0),
			fdStep(opBind, 0, 3),
		),
		seq(0, // descriptors that are not open, and wrong families
			fdStep(opRecv, 0xF0, 1, 0),
			fdStep(opClose, 0xF1),
			fdStep(opSocket, 0, byte(ctorDatagram), 1, dgram),
			fdStep(opBind, 0, 2),
			fdStep(opSendto, 0, 1, 0, 2, 0),
			fdStep(opClose, 0),
			fdStep(opGetsockname, 0),
			fdStep(opSocket, 0, byte(ctorUnified), 0, 4),
			fdStep(opSocket, 0, byte(ctorUnified), 0, 5),
		),
	}
}

// probedBackend is the backend in use.
func probedBackend() string {
	inf, _ := Probe()
	return inf.Backend
}
