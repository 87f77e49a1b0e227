//go:build linux

package ksocket

import (
	"fmt"
	"slices"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The queue's harder cases, each run through raw syscalls and through
// ksocket, at one P and at two (queueModes), and compared; found by
// review.

// queueCompare runs one scenario on both sides, for each family.
func queueCompare(t *testing.T, run queueScenario) {
	queueModes(t, func(t *testing.T) { queueCompareNow(t, run) })
}

func queueCompareNow(t *testing.T, run queueScenario) {
	for _, fam := range dBoth {
		t.Run(dFamName(fam), func(t *testing.T) {
			dNeedFamily(t, fam)
			raw := run(t, dRawAPI{}, fam, func(int) {})
			ks := run(t, dKsocketAPI{}, fam, func(s int) {
				if !drained(t, dKsocketAPI{}, s) {
					t.Fatal("the queue took nothing ahead")
				}
			})
			if !slices.Equal(raw, ks) {
				t.Fatalf("receives differ:\nraw:     %q\nksocket: %q", raw, ks)
			}
			t.Logf("%q", raw)
		})
	}
}

// Timeout while the queue is armed, then datagrams (one empty).
func TestDatagramQueueTimeoutThenMore(t *testing.T) {
	queueCompare(t, func(t *testing.T, api dAPI, fam int, take func(int)) []string {
		a, aAddr, b := queuePair(t, api, fam)
		out := []string{queueStart(t, api, a, b, aAddr, take, "1")}
		out = append(out, queueRecv(api, a, 16, 0))
		for _, m := range []string{"2", "", "3"} {
			api.sendto(b, []byte(m), 0, aAddr)
		}
		time.Sleep(20 * time.Millisecond)
		return append(out, queueRecvs(api, a, 4)...)
	})
}

// IP_RECVERR set with datagrams in the queue, then an unconnected sendto
// that ICMP refuses.
func TestDatagramQueueRecverrUnconnected(t *testing.T) {
	queueCompare(t, func(t *testing.T, api dAPI, fam int, take func(int)) []string {
		a, aAddr, b := queuePair(t, api, fam)
		dAddr := queueGone(t, api, fam)
		out := []string{queueStart(t, api, a, b, aAddr, take, "1", "2")}
		level, opt := unix.IPPROTO_IP, unix.IP_RECVERR
		if fam == unix.AF_INET6 {
			level, opt = unix.IPPROTO_IPV6, unix.IPV6_RECVERR
		}
		if err := api.setsockoptInt(a, level, opt, 1); err != nil {
			t.Fatal(err)
		}
		api.sendto(a, []byte("x"), 0, dAddr)
		time.Sleep(20 * time.Millisecond)
		return append(out, queueRecvs(api, a, 3)...)
	})
}

// Unconnected sendto to a refused port with the queue on: no error.
func TestDatagramQueueRefusedUnconnected(t *testing.T) {
	queueCompare(t, func(t *testing.T, api dAPI, fam int, take func(int)) []string {
		a, aAddr, b := queuePair(t, api, fam)
		dAddr := queueGone(t, api, fam)
		out := []string{queueStart(t, api, a, b, aAddr, take, "1", "2")}
		_, err := api.sendto(a, []byte("x"), 0, dAddr)
		out = append(out, fmt.Sprint("sendto ", err))
		time.Sleep(20 * time.Millisecond)
		_, err = api.sendto(a, []byte("x"), 0, dAddr)
		out = append(out, fmt.Sprint("sendto ", err))
		v, err := api.getsockoptInt(a, unix.SOL_SOCKET, unix.SO_ERROR)
		out = append(out, fmt.Sprint("so_error ", v, err))
		return append(out, queueRecvs(api, a, 3)...)
	})
}

// A receive blocked on the armed queue, then shutdown(SHUT_RD) from
// another goroutine.
func TestDatagramQueueBlockedThenShutdown(t *testing.T) {
	queueCompare(t, func(t *testing.T, api dAPI, fam int, take func(int)) []string {
		a, aAddr, b := queuePair(t, api, fam)
		start := time.Now()
		out, got := queueBlocked(t, api, a, b, aAddr, take)
		out = append(out, fmt.Sprint("shutdown ", api.shutdown(a, unix.SHUT_RD)))
		r := <-got
		out = append(out, r, fmt.Sprint("fast ", time.Since(start) < time.Second))
		queueShortTimeout(api, a)
		return append(out, queueRecvs(api, a, 2)...)
	})
}

// A receive blocked on the armed queue; another goroutine connects to a
// closed port and sends: the blocked receive hears the refusal.
func TestDatagramQueueBlockedThenConnectRefused(t *testing.T) {
	queueCompare(t, func(t *testing.T, api dAPI, fam int, take func(int)) []string {
		a, aAddr, b := queuePair(t, api, fam)
		dAddr := queueGone(t, api, fam)
		out, got := queueBlocked(t, api, a, b, aAddr, take)
		if err := api.connect(a, dAddr); err != nil {
			t.Fatal(err)
		}
		api.send(a, []byte("x"), 0)
		out = append(out, <-got)
		queueShortTimeout(api, a)
		return append(out, queueRecvs(api, a, 1)...)
	})
}

// A receive blocked on the armed queue; another goroutine sets an option
// that leaves the queue, then a datagram comes.
func TestDatagramQueueBlockedThenLeave(t *testing.T) {
	queueCompare(t, func(t *testing.T, api dAPI, fam int, take func(int)) []string {
		a, aAddr, b := queuePair(t, api, fam)
		out, got := queueBlocked(t, api, a, b, aAddr, take)
		if err := api.setsockoptInt(a, unix.SOL_SOCKET, unix.SO_TIMESTAMP, 1); err != nil {
			t.Fatal(err)
		}
		api.sendto(b, []byte("2"), 0, aAddr)
		out = append(out, <-got)
		queueShortTimeout(api, a)
		return append(out, queueRecvs(api, a, 1)...)
	})
}

// Closesocket while a receive waits on the armed queue, or after the
// socket left it: the waiting receive returns EBADF at once, as
// Closesocket's doc says.
func TestDatagramQueueCloseWhileBlocked(t *testing.T) {
	queueModes(t, testDatagramQueueCloseWhileBlocked)
}

func testDatagramQueueCloseWhileBlocked(t *testing.T) {
	for _, leave := range []bool{false, true} {
		a, aAddr := queueSocket(t, dKsocketAPI{}, unix.AF_INET)
		b, _ := queueSocket(t, dKsocketAPI{}, unix.AF_INET)
		tv := unix.NsecToTimeval(int64(queueBlockTimeout))
		SetsockoptTimeval(a, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		queueStart(t, dKsocketAPI{}, a, b, aAddr, func(int) {}, "1")
		if leave {
			SetsockoptInt(a, unix.SOL_SOCKET, unix.SO_TIMESTAMP, 1)
		}
		got := make(chan string)
		start := time.Now()
		go func() { got <- queueRecv(dKsocketAPI{}, a, 16, 0) }()
		time.Sleep(50 * time.Millisecond)
		Closesocket(a)
		if r := <-got; r != "EBADF" || time.Since(start) > time.Second {
			t.Fatalf("left=%v: the blocked Recvfrom returned %s after %v; want EBADF at once", leave, r, time.Since(start))
		}
	}
}

// Zero-length receives with the queue on.
func TestDatagramQueueZeroLengthOn(t *testing.T) {
	queueCompare(t, func(t *testing.T, api dAPI, fam int, take func(int)) []string {
		a, aAddr, b := queuePair(t, api, fam)
		out := []string{queueStart(t, api, a, b, aAddr, take, "1", "22", "", "333")}
		n, err := api.recv(a, nil, 0)
		out = append(out, fmt.Sprint("recv nil ", n, err))
		return append(out, queueRecv(api, a, 0, 0), queueRecv(api, a, 16, 0), queueRecv(api, a, 16, 0))
	})
}

// Recvmmsg with MSG_WAITFORONE after the queue took datagrams.
func TestDatagramQueueRecvmmsgAfterTake(t *testing.T) {
	queueCompare(t, func(t *testing.T, api dAPI, fam int, take func(int)) []string {
		a, aAddr, b := queuePair(t, api, fam)
		out := []string{queueStart(t, api, a, b, aAddr, take, "1", "2", "3")}
		for _, m := range []string{"4", "5"} {
			api.sendto(b, []byte(m), 0, aAddr)
		}
		time.Sleep(20 * time.Millisecond)
		var got []string
		if _, ok := api.(dKsocketAPI); ok {
			msgs := make([]Msg, 8)
			for i := range msgs {
				msgs[i].Buffers = [][]byte{make([]byte, 16)}
			}
			n, err := Recvmmsg(a, msgs, unix.MSG_WAITFORONE)
			got = append(got, fmt.Sprint("recvmmsg ", n, err))
		} else {
			// 8 messages, raw.
			var hdrs [8]struct {
				hdr unix.Msghdr
				len uint32
				_   [4]byte
			}
			var iovs [8]unix.Iovec
			bufs := make([][16]byte, 8)
			for i := range hdrs {
				iovs[i].Base = &bufs[i][0]
				iovs[i].SetLen(16)
				hdrs[i].hdr.Iov = &iovs[i]
				hdrs[i].hdr.Iovlen = 1
			}
			r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(a), uintptr(unsafePtr(&hdrs[0])), 8, unix.MSG_WAITFORONE, 0, 0)
			var err error
			if e != 0 {
				err = e
			}
			got = append(got, fmt.Sprint("recvmmsg ", int(r), err))
		}
		out = append(out, got...)
		return append(out, queueRecvs(api, a, 2)...)
	})
}

func unsafePtr[T any](p *T) unsafe.Pointer { return unsafe.Pointer(p) }

var queueBlockTimeout = 2 * time.Second

// The blocked tests again with no SO_RCVTIMEO: the queue reader's wait is
// then the polled one.
func TestDatagramQueueBlockedPolled(t *testing.T) {
	queueBlockTimeout = 0
	defer func() { queueBlockTimeout = 2 * time.Second }()
	t.Run("shutdown", TestDatagramQueueBlockedThenShutdown)
	t.Run("connect", TestDatagramQueueBlockedThenConnectRefused)
	t.Run("leave", TestDatagramQueueBlockedThenLeave)
	t.Run("close", TestDatagramQueueCloseWhileBlocked)
}

// queueBlocked receives one datagram on a, then starts a receive there
// that waits, with a timeout of queueBlockTimeout (none if 0), and gives
// it 50 ms to block: it returns the first receive's line and where the
// blocked one's will come.
func queueBlocked(t *testing.T, api dAPI, a, b int, aAddr unix.Sockaddr, take func(int)) ([]string, chan string) {
	t.Helper()
	tv := unix.NsecToTimeval(int64(queueBlockTimeout))
	api.setsockoptTimeval(a, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	out := []string{queueStart(t, api, a, b, aAddr, take, "1")}
	got := make(chan string)
	go func() { got <- queueRecv(api, a, 16, 0) }()
	time.Sleep(50 * time.Millisecond)
	return out, got
}

func queueShortTimeout(api dAPI, s int) {
	tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
	api.setsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
}
