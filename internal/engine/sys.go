//go:build linux

package engine

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Raw syscalls for the calls x/sys/unix only offers with its own sockaddr
// encoding. Tests can swap them to inject faults.
var (
	bindRaw = func(fd int, raw *unix.RawSockaddrAny, n uint32) error {
		_, _, e := unix.Syscall(unix.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(raw)), uintptr(n))
		return errnoErr(e)
	}
	connectRaw = func(fd int, raw *unix.RawSockaddrAny, n uint32) error {
		_, _, e := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(raw)), uintptr(n))
		return errnoErr(e)
	}
	setsockoptRaw = func(fd, level, opt int, val []byte) error {
		var p unsafe.Pointer
		if len(val) > 0 {
			p = unsafe.Pointer(&val[0])
		}
		_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(p), uintptr(len(val)), 0)
		return errnoErr(e)
	}
)

// sendmsgRaw is sendmsg(2) with one buffer, the control data oob, and,
// when salen > 0, the destination in raw.
func sendmsgRaw(fd int, p, oob []byte, raw *unix.RawSockaddrAny, salen uint32, flags int) (int, error) {
	var iov unix.Iovec
	msg := rawMsg(&iov, p, oob)
	if salen > 0 {
		msg.Name = (*byte)(unsafe.Pointer(raw))
		msg.Namelen = salen
	}
	n, _, e := unix.Syscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// sendtoRaw is sendto(2), with the destination in raw when salen > 0.
func sendtoRaw(fd int, p []byte, raw *unix.RawSockaddrAny, salen uint32, flags int) (int, error) {
	var sa unsafe.Pointer
	if salen > 0 {
		sa = unsafe.Pointer(raw)
	}
	n, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(bufPtr(p)), uintptr(len(p)), uintptr(flags), uintptr(sa), uintptr(salen))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// recvmsgRaw is recvmsg(2) into one buffer, with room for control data in
// oob. Unlike x/sys/unix's Recvmsg it reads no byte of its own when p is
// empty: what the kernel does with an empty buffer is the answer.
func recvmsgRaw(fd int, p, oob []byte, flags int) (received, error) {
	var iov unix.Iovec
	var raw unix.RawSockaddrAny
	msg := rawMsg(&iov, p, oob)
	msg.Name = (*byte)(unsafe.Pointer(&raw))
	msg.Namelen = unix.SizeofSockaddrAny
	n, _, e := unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags))
	if e != 0 {
		return received{}, e
	}
	return received{n: int(n), oobn: int(msg.Controllen), flags: int(msg.Flags), from: Addr{raw: raw, n: msg.Namelen}}, nil
}

// rawMsg is a msghdr for p, in iov, and oob.
func rawMsg(iov *unix.Iovec, p, oob []byte) unix.Msghdr {
	if len(p) > 0 {
		iov.Base = &p[0]
		iov.SetLen(len(p))
	}
	msg := unix.Msghdr{Iov: iov}
	msg.SetIovlen(1)
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	return msg
}

// recvRawMsg is one receive on the caller's thread, the syscall want
// names: recvmsg(2), recvfrom(2) with the sender, or recvfrom(2) without.
func recvRawMsg(fd int, p, oob []byte, flags int, want recvWant) (r received, err error) {
	switch {
	case want == recvMsg || len(oob) > 0:
		return recvmsgRaw(fd, p, oob, flags)
	case want == recvSender:
		r.n, err = recvfromRaw(fd, p, flags, &r.from)
	default:
		r.n, err = recvRaw(fd, p, flags)
	}
	return r, err
}

// recvfromRaw is recvfrom(2) into p, with the sender in from: no msghdr
// and iovec for the kernel to copy in, as recvmsg(2) has. With sendto(2)
// for the sends too, it took the epoll backend's Recvfrom/Sendto
// ping-pong at 16 flows and one P from 0.85x to 0.90x net (in-process,
// medians of 8 alternated runs; perf showed the msghdr and iovec copies
// at about 6% of the CPU).
func recvfromRaw(fd int, p []byte, flags int, from *Addr) (int, error) {
	l := uint32(unix.SizeofSockaddrAny)
	n, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(bufPtr(p)), uintptr(len(p)), uintptr(flags), uintptr(unsafe.Pointer(&from.raw)), uintptr(unsafe.Pointer(&l)))
	if e != 0 {
		from.n = 0
		return 0, e
	}
	from.n = min(l, uint32(unix.SizeofSockaddrAny))
	return int(n), nil
}

// recvRaw is recv(2) (recvfrom without an address).
func recvRaw(fd int, p []byte, flags int) (int, error) {
	n, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(bufPtr(p)), uintptr(len(p)), uintptr(flags), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// bufPtr points at p's first byte; for an empty p at a byte of ours, as
// x/sys/unix does. The uintptr conversion stays in the Syscall6 call, where
// the compiler keeps the memory alive.
func bufPtr(p []byte) unsafe.Pointer {
	if len(p) == 0 {
		return unsafe.Pointer(&zeroByte)
	}
	return unsafe.Pointer(&p[0])
}

var zeroByte byte

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// pendingError returns the error the kernel holds for socket fd, and
// clears it, as the socket's next receive would report it first
// (sock_error): nil if none, or if fd cannot say.
func pendingError(fd int) error {
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && v != 0 {
		return unix.Errno(v)
	}
	return nil
}

// errorHeld reports whether the kernel holds a socket error for fd, or an
// entry on its error queue (poll(2)'s POLLERR), without taking it as
// SO_ERROR or a receive would.
func errorHeld(fd int) bool {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(pfd, 0)
	return err == nil && n > 0 && pfd[0].Revents&unix.POLLERR != 0
}
