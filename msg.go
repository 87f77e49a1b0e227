//go:build linux

package ksocket

import (
	"context"
	"errors"
	"os"

	"github.com/ksocket-go/ksocket/internal/engine"
	"golang.org/x/sys/unix"
)

// The message calls: sendmsg, recvmsg, sendmmsg and recvmmsg, which Linux
// has beside send and recv. Sendmsg and Recvmsg are IORING_OP_SENDMSG and
// IORING_OP_RECVMSG requests; a batch is one sendmmsg(2) or recvmmsg(2),
// which waits on the ring at one P, and in Go's netpoller, as net's
// waits, at more (engine.Socket.RawWaitsInNetpoller).

// Sendmsg sends buf with the control messages in oob (unix.UnixRights
// builds SCM_RIGHTS) to the address to, or to the peer when to is nil. It
// makes one sendmsg: on a stream socket the count can be short.
func Sendmsg(s int, buf, oob []byte, flags int, to unix.Sockaddr) (int, error) {
	return SendmsgContext(context.Background(), s, buf, oob, flags, to)
}

// SendmsgContext is Sendmsg bounded by ctx.
func SendmsgContext(ctx context.Context, s int, buf, oob []byte, flags int, to unix.Sockaddr) (int, error) {
	e, err := lookup(s, engine.CallSend)
	if err != nil {
		return 0, err
	}
	n, err := e.s.SendMsg(ctx, buf, oob, flags, to, e.timeout(unix.SO_SNDTIMEO))
	return n, errno(err, unix.EAGAIN)
}

// Recvmsg receives into buf, with room for control messages in oob. It
// returns the data's length, the control data's length, the message's
// MSG_* flags (MSG_TRUNC, MSG_CTRUNC) and the sender, nil where the kernel
// names none. Descriptors received are close-on-exec only with
// MSG_CMSG_CLOEXEC, as with recvmsg(2).
func Recvmsg(s int, buf, oob []byte, flags int) (n, oobn, recvflags int, from unix.Sockaddr, err error) {
	return RecvmsgContext(context.Background(), s, buf, oob, flags)
}

// RecvmsgContext is Recvmsg bounded by ctx.
func RecvmsgContext(ctx context.Context, s int, buf, oob []byte, flags int) (n, oobn, recvflags int, from unix.Sockaddr, err error) {
	e, err := lookup(s, engine.CallRecv)
	if err != nil {
		return 0, 0, 0, nil, err
	}
	n, oobn, recvflags, from, err = e.s.RecvMsg(ctx, buf, oob, flags, e.timeout(unix.SO_RCVTIMEO))
	return n, oobn, recvflags, from, errno(err, unix.EAGAIN)
}

// Sendmmsg sends msgs, each to its Addr (nil: the connected peer), and
// returns how many were sent, setting each one's N. As sendmmsg(2) on a
// blocking socket it waits until every message is sent; an error after
// the first ends it early with the count so far, and the error is lost,
// as the kernel's is. MSG_DONTWAIT, or a non-blocking socket, sends what
// fits now.
func Sendmmsg(s int, msgs []Msg, flags int) (int, error) {
	return SendmmsgContext(context.Background(), s, msgs, flags)
}

// SendmmsgContext is Sendmmsg bounded by ctx.
func SendmmsgContext(ctx context.Context, s int, msgs []Msg, flags int) (int, error) {
	e, err := lookup(s, engine.CallSend)
	if err != nil {
		return 0, err
	}
	return batch(msgs, flags, e.s.Nonblock(), false, func(mm []engine.Mmsg) (int, error) {
		return e.s.SendMmsg(ctx, mm, flags, e.timeout(unix.SO_SNDTIMEO))
	})
}

// Recvmmsg receives up to len(msgs) datagrams and returns how many it
// filled in. As recvmmsg(2) on a blocking socket it waits until all of
// msgs are filled, unless flags has MSG_WAITFORONE (wait for the first
// only) or MSG_DONTWAIT (wait for none); SO_RCVTIMEO ends each wait, and
// then the count so far is the answer, or EAGAIN if there is none. A socket
// error (an ICMP refusal on a connected socket) that comes after the first
// datagram ends the batch too, and waits for the next call, as recvmmsg(2)
// keeps it.
func Recvmmsg(s int, msgs []Msg, flags int) (int, error) {
	return RecvmmsgContext(context.Background(), s, msgs, flags)
}

// RecvmmsgContext is Recvmmsg bounded by ctx.
func RecvmmsgContext(ctx context.Context, s int, msgs []Msg, flags int) (int, error) {
	e, err := lookup(s, engine.CallRecv)
	if err != nil {
		return 0, err
	}
	later := false
	return batch(msgs, flags, e.s.Nonblock(), true, func(mm []engine.Mmsg) (int, error) {
		if later {
			// A socket error met now waits for the next call, as with
			// the kernel's recvmmsg(2): the batch ends with what it has.
			return e.s.RecvMmsgMore(ctx, mm, flags&^unix.MSG_WAITFORONE, e.timeout(unix.SO_RCVTIMEO))
		}
		later = true
		return e.s.RecvMmsg(ctx, mm, flags&^unix.MSG_WAITFORONE, e.timeout(unix.SO_RCVTIMEO))
	})
}

// batch runs call over msgs until all are done, as the kernel's blocking
// sendmmsg and recvmmsg do, unless flags has MSG_DONTWAIT (or, receiving,
// MSG_WAITFORONE), or the socket is non-blocking: then one call is the
// answer. An error after the first message ends it with the count so far.
func batch(msgs []Msg, flags int, nonblock, recv bool, call func([]engine.Mmsg) (int, error)) (int, error) {
	mm := make([]engine.Mmsg, len(msgs))
	for i := range msgs {
		mm[i] = engine.Mmsg{Buffers: msgs[i].Buffers, OOB: msgs[i].OOB}
		if !recv {
			// Receiving, the engine would fill a caller's Addr in place.
			mm[i].Addr = msgs[i].Addr
		}
	}
	once := nonblock || flags&unix.MSG_DONTWAIT != 0 || recv && flags&unix.MSG_WAITFORONE != 0
	total := 0
	var err error
	for total < len(mm) || len(mm) == 0 {
		var n int
		n, err = call(mm[total:])
		total += n
		if err != nil || once || len(mm) == 0 {
			break
		}
	}
	for i := range total {
		m := &msgs[i]
		m.N = mm[i].N
		if recv {
			m.OOBN, m.Flags, m.Addr = mm[i].OOBN, mm[i].Flags, mm[i].Addr
		}
	}
	if total > 0 {
		return total, nil
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, unix.EAGAIN
	}
	return 0, errno(err, unix.EAGAIN)
}
