//go:build linux

package ksocket

import (
	"context"
	"fmt"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Sendmsg, Recvmsg, Sendmmsg and Recvmmsg against the raw kernel: each
// scenario runs once on plain sockets through the syscalls and once on
// ksocket's, and every answer must match.

// msgAPI is one implementation of the calls a scenario makes.
type msgAPI struct {
	name     string
	socket   func(domain, typ int) (int, error)
	bind     func(s int, sa unix.Sockaddr) error
	connect  func(s int, sa unix.Sockaddr) error
	setInt   func(s, level, opt, v int) error
	setTV    func(s, opt int, tv unix.Timeval) error
	name_    func(s int) (unix.Sockaddr, error)
	close    func(s int) error
	sendmsg  func(s int, p, oob []byte, flags int, to unix.Sockaddr) (int, error)
	recvmsg  func(s int, p, oob []byte, flags int) (int, int, int, unix.Sockaddr, error)
	sendmmsg func(s int, msgs []Msg, flags int) (int, error)
	recvmmsg func(s int, msgs []Msg, flags int) (int, error)
}

var ksocketMsgAPI = msgAPI{
	name:     "ksocket",
	socket:   func(d, t int) (int, error) { return Socket(d, t, 0) },
	bind:     Bind,
	connect:  Connect,
	setInt:   SetsockoptInt,
	setTV:    func(s, opt int, tv unix.Timeval) error { return SetsockoptTimeval(s, unix.SOL_SOCKET, opt, &tv) },
	name_:    Getsockname,
	close:    Closesocket,
	sendmsg:  Sendmsg,
	recvmsg:  Recvmsg,
	sendmmsg: Sendmmsg,
	recvmmsg: Recvmmsg,
}

var rawMsgAPI = msgAPI{
	name:    "kernel",
	socket:  func(d, t int) (int, error) { return unix.Socket(d, t|unix.SOCK_CLOEXEC, 0) },
	bind:    unix.Bind,
	connect: unix.Connect,
	setInt:  unix.SetsockoptInt,
	setTV:   func(s, opt int, tv unix.Timeval) error { return unix.SetsockoptTimeval(s, unix.SOL_SOCKET, opt, &tv) },
	name_:   unix.Getsockname,
	close:   unix.Close,
	sendmsg: func(s int, p, oob []byte, flags int, to unix.Sockaddr) (int, error) {
		return unix.SendmsgN(s, p, oob, to, flags|unix.MSG_NOSIGNAL)
	},
	recvmsg: func(s int, p, oob []byte, flags int) (int, int, int, unix.Sockaddr, error) {
		n, oobn, fl, from, err := unix.Recvmsg(s, p, oob, flags)
		if err != nil {
			n = 0 // x/sys passes on the syscall's -1
		}
		return n, oobn, fl, from, err
	},
	sendmmsg: func(s int, msgs []Msg, flags int) (int, error) {
		return rawMmsg(unix.SYS_SENDMMSG, s, msgs, flags|unix.MSG_NOSIGNAL)
	},
	recvmmsg: func(s int, msgs []Msg, flags int) (int, error) { return rawMmsg(unix.SYS_RECVMMSG, s, msgs, flags) },
}

// rawMmsg is sendmmsg(2) or recvmmsg(2) with msgs laid out as mmsghdrs.
func rawMmsg(trap uintptr, s int, msgs []Msg, flags int) (int, error) {
	hdrs := make([]unix.Mmsghdr, len(msgs))
	names := make([]unix.RawSockaddrAny, len(msgs))
	for i := range msgs {
		m, h := &msgs[i], &hdrs[i].Hdr
		iov := make([]unix.Iovec, len(m.Buffers))
		for j, b := range m.Buffers {
			if len(b) > 0 {
				iov[j].Base = &b[0]
				iov[j].SetLen(len(b))
			}
		}
		if len(iov) > 0 {
			h.Iov = &iov[0]
			h.SetIovlen(len(iov))
		}
		if len(m.OOB) > 0 {
			h.Control = &m.OOB[0]
			h.SetControllen(len(m.OOB))
		}
		h.Name = (*byte)(unsafe.Pointer(&names[i]))
		h.Namelen = unix.SizeofSockaddrAny
		if trap == unix.SYS_SENDMMSG {
			h.Name, h.Namelen = nil, 0
			if m.Addr != nil {
				n := encodeSockaddr(m.Addr, &names[i])
				h.Name, h.Namelen = (*byte)(unsafe.Pointer(&names[i])), n
			}
		}
	}
	var p unsafe.Pointer
	if len(hdrs) > 0 {
		p = unsafe.Pointer(&hdrs[0])
	}
	r, _, e := unix.Syscall6(trap, uintptr(s), uintptr(p), uintptr(len(hdrs)), uintptr(flags), 0, 0)
	if e != 0 {
		return 0, e
	}
	for i := range int(r) {
		msgs[i].N = int(hdrs[i].Len)
		if trap == unix.SYS_RECVMMSG {
			msgs[i].OOBN, msgs[i].Flags = int(hdrs[i].Hdr.Controllen), int(hdrs[i].Hdr.Flags)
			msgs[i].Addr = nil
			if hdrs[i].Hdr.Namelen > 0 {
				msgs[i].Addr = decodeInet4(&names[i])
			}
		}
	}
	return int(r), nil
}

// encodeSockaddr handles the IPv4 addresses these scenarios use.
func encodeSockaddr(sa unix.Sockaddr, raw *unix.RawSockaddrAny) uint32 {
	in := sa.(*unix.SockaddrInet4)
	r := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
	r.Family = unix.AF_INET
	r.Port = uint16(in.Port>>8) | uint16(in.Port&0xff)<<8
	r.Addr = in.Addr
	return unix.SizeofSockaddrInet4
}

func decodeInet4(raw *unix.RawSockaddrAny) unix.Sockaddr {
	r := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
	if r.Family != unix.AF_INET {
		return nil
	}
	p := (*[2]byte)(unsafe.Pointer(&r.Port))
	return &unix.SockaddrInet4{Port: int(p[0])<<8 | int(p[1]), Addr: r.Addr}
}

// msgEnv is a scenario's sockets: a and b are UDP sockets on 127.0.0.1,
// and their addresses; the log collects what the calls answered, with
// ports replaced by the names of their sockets.
type msgEnv struct {
	t      *testing.T
	api    msgAPI
	a, b   int
	aa, ba *unix.SockaddrInet4
	log    []string
}

func (e *msgEnv) note(format string, args ...any) {
	e.log = append(e.log, fmt.Sprintf(format, args...))
}

// who names an address as the socket it belongs to.
func (e *msgEnv) who(sa unix.Sockaddr) string {
	in, ok := sa.(*unix.SockaddrInet4)
	switch {
	case sa == nil:
		return "none"
	case !ok:
		return fmt.Sprintf("%T", sa)
	case in.Port == e.aa.Port:
		return "a"
	case in.Port == e.ba.Port:
		return "b"
	}
	return "other"
}

func newMsgEnv(t *testing.T, api msgAPI) *msgEnv {
	e := &msgEnv{t: t, api: api}
	for _, p := range []*int{&e.a, &e.b} {
		s, err := api.socket(unix.AF_INET, unix.SOCK_DGRAM)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { api.close(s) })
		if err := api.bind(s, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			t.Fatal(err)
		}
		*p = s
	}
	for s, p := range map[int]**unix.SockaddrInet4{e.a: &e.aa, e.b: &e.ba} {
		sa, err := api.name_(s)
		if err != nil {
			t.Fatal(err)
		}
		*p = sa.(*unix.SockaddrInet4)
	}
	// Every wait ends: a scenario that would block forever fails instead.
	for _, s := range []int{e.a, e.b} {
		if err := api.setTV(s, unix.SO_RCVTIMEO, unix.Timeval{Usec: 100_000}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func msgs(n int, size ...int) []Msg {
	m := make([]Msg, n)
	for i := range m {
		for _, s := range size {
			m[i].Buffers = append(m[i].Buffers, make([]byte, s))
		}
	}
	return m
}

// recvAll logs a Recvmmsg's answer and the messages it filled.
func (e *msgEnv) recvAll(s int, m []Msg, flags int) {
	n, err := e.api.recvmmsg(s, m, flags)
	line := fmt.Sprintf("recvmmsg %d %v:", n, err)
	for _, x := range m[:max(n, 0)] {
		var data []byte
		for _, b := range x.Buffers {
			data = append(data, b...)
		}
		line += fmt.Sprintf(" %q/%d/%#x/%s/oob%d", data[:min(x.N, len(data))], x.N, x.Flags, e.who(x.Addr), x.OOBN)
	}
	e.note("%s", line)
}

func sendTo(to unix.Sockaddr, parts ...string) Msg {
	m := Msg{Addr: to}
	for _, p := range parts {
		m.Buffers = append(m.Buffers, []byte(p))
	}
	return m
}

var msgScenarios = []struct {
	name string
	run  func(e *msgEnv)
}{
	{"batch", func(e *msgEnv) {
		out := []Msg{sendTo(e.ba, "one"), sendTo(e.ba, "tw", "o"), sendTo(e.ba, ""), sendTo(e.ba, "a longer datagram")}
		n, err := e.api.sendmmsg(e.a, out, 0)
		e.note("sendmmsg %d %v: %d %d %d %d", n, err, out[0].N, out[1].N, out[2].N, out[3].N)
		e.recvAll(e.b, msgs(8, 3, 5), unix.MSG_WAITFORONE)
	}},
	{"blocking-waits-for-all", func(e *msgEnv) {
		// No MSG_WAITFORONE: recvmmsg waits for the rest until
		// SO_RCVTIMEO, then answers with what it has.
		e.api.sendmmsg(e.a, []Msg{sendTo(e.ba, "x"), sendTo(e.ba, "y")}, 0)
		e.recvAll(e.b, msgs(4, 8), 0)
	}},
	{"empty-dontwait", func(e *msgEnv) { e.recvAll(e.b, msgs(4, 8), unix.MSG_DONTWAIT) }},
	{"empty-timeout", func(e *msgEnv) { e.recvAll(e.b, msgs(4, 8), unix.MSG_WAITFORONE) }},
	{"zero-messages", func(e *msgEnv) {
		n, err := e.api.sendmmsg(e.a, nil, 0)
		e.note("sendmmsg %d %v", n, err)
		e.recvAll(e.b, nil, 0)
	}},
	{"bad-address-midway", func(e *msgEnv) {
		// The second message cannot go (port 0): the kernel sends the
		// first and reports 1; the error is lost.
		out := []Msg{sendTo(e.ba, "first"), sendTo(&unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}, "second"), sendTo(e.ba, "third")}
		n, err := e.api.sendmmsg(e.a, out, 0)
		e.note("sendmmsg %d %v", n, err)
		e.recvAll(e.b, msgs(4, 8), unix.MSG_DONTWAIT)
	}},
	{"bad-address-first", func(e *msgEnv) {
		n, err := e.api.sendmmsg(e.a, []Msg{sendTo(&unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}, "x")}, 0)
		e.note("sendmmsg %d %v", n, err)
	}},
	{"unconnected-no-address", func(e *msgEnv) {
		n, err := e.api.sendmmsg(e.a, []Msg{sendTo(nil, "x")}, 0)
		e.note("sendmmsg %d %v", n, err)
		n, err = e.api.sendmsg(e.a, []byte("x"), nil, 0, nil)
		e.note("sendmsg %d %v", n, err)
	}},
	{"connected", func(e *msgEnv) {
		if err := e.api.connect(e.a, e.ba); err != nil {
			e.t.Fatal(err)
		}
		n, err := e.api.sendmmsg(e.a, []Msg{sendTo(nil, "c1"), sendTo(nil, "c2")}, 0)
		e.note("sendmmsg %d %v", n, err)
		e.recvAll(e.b, msgs(2, 8), 0)
	}},
	{"pktinfo", func(e *msgEnv) {
		e.api.setInt(e.b, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		e.api.setInt(e.b, unix.IPPROTO_IP, unix.IP_RECVTOS, 1)
		tos := make([]byte, unix.CmsgSpace(4))
		h := (*unix.Cmsghdr)(unsafe.Pointer(&tos[0]))
		h.Level, h.Type = unix.IPPROTO_IP, unix.IP_TOS
		h.SetLen(unix.CmsgLen(4))
		tos[unix.CmsgLen(0)] = 0x01
		n, err := e.api.sendmsg(e.a, []byte("tos"), tos, 0, e.ba)
		e.note("sendmsg %d %v", n, err)
		m := msgs(2, 8)
		m[0].OOB = make([]byte, 128)
		m[1].OOB = make([]byte, 8) // too small for either: MSG_CTRUNC
		e.api.sendmsg(e.a, []byte("short"), nil, 0, e.ba)
		e.recvAll(e.b, m, 0)
		for i, x := range m {
			cm, perr := unix.ParseSocketControlMessage(x.OOB[:x.OOBN])
			line := fmt.Sprintf("msg %d: %v", i, perr)
			for _, c := range cm {
				line += fmt.Sprintf(" %d/%d/%d", c.Header.Level, c.Header.Type, len(c.Data))
			}
			e.note("%s", line)
		}
	}},
	{"recvmsg-trunc", func(e *msgEnv) {
		e.api.sendmsg(e.a, []byte("truncated"), nil, 0, e.ba)
		buf, oob := make([]byte, 4), make([]byte, 16)
		n, oobn, flags, from, err := e.api.recvmsg(e.b, buf, oob, 0)
		e.note("recvmsg %d %d %#x %s %v %q", n, oobn, flags, e.who(from), err, buf[:n])
		n, oobn, flags, from, err = e.api.recvmsg(e.b, buf, oob, unix.MSG_DONTWAIT)
		e.note("recvmsg %d %d %#x %s %v", n, oobn, flags, e.who(from), err)
	}},
}

func TestMsgCallsDifferential(t *testing.T) {
	for _, sc := range msgScenarios {
		t.Run(sc.name, func(t *testing.T) {
			var logs [2][]string
			for i, api := range []msgAPI{rawMsgAPI, ksocketMsgAPI} {
				e := newMsgEnv(t, api)
				start := time.Now()
				sc.run(e)
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("%s: the scenario took %v", api.name, d)
				}
				logs[i] = e.log
			}
			for i := range max(len(logs[0]), len(logs[1])) {
				var k, o string
				if i < len(logs[0]) {
					k = logs[0][i]
				}
				if i < len(logs[1]) {
					o = logs[1][i]
				}
				if k != o {
					t.Errorf("step %d:\n kernel:  %s\n ksocket: %s", i, k, o)
				} else {
					t.Logf("%s", k)
				}
			}
		})
	}
}

// A Recvmmsg waiting for datagrams ends with EBADF when another goroutine
// closes the socket, and one bounded by a context ends with it.
func TestRecvmmsgEnds(t *testing.T) {
	s, err := Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := Bind(s, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if n, err := RecvmmsgContext(ctx, s, msgs(4, 8), 0); n != 0 || err != unix.ETIMEDOUT {
		t.Errorf("RecvmmsgContext past its deadline = %d, %v; want 0, ETIMEDOUT", n, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Recvmmsg(s, msgs(4, 8), unix.MSG_WAITFORONE)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := Closesocket(s); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != unix.EBADF {
			t.Errorf("Recvmmsg on a socket closed under it = %v, want EBADF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Recvmmsg still waiting 5 s after Closesocket")
	}
}
