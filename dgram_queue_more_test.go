//go:build linux

package ksocket

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// More of the datagram queue on the Berkeley API's UDP sockets, found in
// review of its read-ahead: each scenario runs through raw syscalls and through ksocket, at one P and at
// two (queueCompare), and the transcripts must match.

// queueRecvmsgLine is one recvmsg with no room for control data, as a
// transcript line: data, n, flags and whether a sender came.
func queueRecvmsgLine(api dAPI, s, size, flags int) string {
	buf := make([]byte, size)
	var n, oobn, rflags int
	var from unix.Sockaddr
	var err error
	if _, ok := api.(dKsocketAPI); ok {
		n, oobn, rflags, from, err = Recvmsg(s, buf, nil, flags)
	} else {
		err = dNoEINTR(func() error { n, oobn, rflags, from, err = unix.Recvmsg(s, buf, nil, flags); return err })
	}
	if err != nil {
		return "recvmsg " + unix.ErrnoName(err.(unix.Errno))
	}
	return fmt.Sprintf("recvmsg %q n=%d oobn=%d flags=%#x from=%v", buf[:min(n, size)], n, oobn, rflags, from != nil)
}

// queueRecvmmsgLines is one recvmmsg of vlen messages of size bytes each, as
// transcript lines: the count or error, then each message.
func queueRecvmmsgLines(api dAPI, s, vlen, size, flags int) []string {
	type line struct {
		data     []byte
		n, flags int
		from     bool
	}
	var got []line
	var cnt int
	var err error
	if _, ok := api.(dKsocketAPI); ok {
		msgs := make([]Msg, vlen)
		for i := range msgs {
			msgs[i].Buffers = [][]byte{make([]byte, size)}
		}
		cnt, err = Recvmmsg(s, msgs, flags)
		for i := range cnt {
			m := msgs[i]
			got = append(got, line{m.Buffers[0][:min(m.N, size)], m.N, m.Flags, m.Addr != nil})
		}
	} else {
		hdrs := make([]unix.Mmsghdr, vlen)
		iovs := make([]unix.Iovec, vlen)
		names := make([]unix.RawSockaddrAny, vlen)
		bufs := make([][]byte, vlen)
		for i := range hdrs {
			bufs[i] = make([]byte, max(size, 1))
			if size > 0 {
				iovs[i].Base = &bufs[i][0]
			}
			iovs[i].SetLen(size)
			hdrs[i].Hdr.Iov = &iovs[i]
			hdrs[i].Hdr.SetIovlen(1)
			hdrs[i].Hdr.Name = (*byte)(unsafePtr(&names[i]))
			hdrs[i].Hdr.Namelen = unix.SizeofSockaddrAny
		}
		err = dNoEINTR(func() error { // a blocking wait cut by Go's preemption signal
			r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(s), uintptr(unsafePtr(&hdrs[0])), uintptr(vlen), uintptr(flags), 0, 0)
			if e != 0 {
				return e
			}
			cnt = int(r)
			return nil
		})
		for i := range cnt {
			h := hdrs[i]
			got = append(got, line{bufs[i][:min(int(h.Len), size)], int(h.Len), int(h.Hdr.Flags), h.Hdr.Namelen > 0})
		}
	}
	if err != nil {
		return []string{"recvmmsg " + unix.ErrnoName(err.(unix.Errno))}
	}
	out := []string{fmt.Sprint("recvmmsg ", cnt)}
	for _, l := range got {
		out = append(out, fmt.Sprintf("  %q n=%d flags=%#x from=%v", l.data, l.n, l.flags, l.from))
	}
	return out
}

// Recvmsg with no room for control data (a plain receive, served by the
// queue) into a buffer shorter than the datagram: MSG_TRUNC in the flags,
// on the receive that reads ahead and on those that take what it read.
func TestDatagramQueueRecvmsgTrunc(t *testing.T) {
	queueCompare(t, func(t *testing.T, api dAPI, fam int, take func(int)) []string {
		a, aAddr, b := queuePair(t, api, fam)
		out := []string{queueStart(t, api, a, b, aAddr, take, "1111", "22222", "", "333")}
		return append(out,
			queueRecvmsgLine(api, a, 2, 0),
			queueRecvmsgLine(api, a, 0, 0),
			queueRecvmsgLine(api, a, 2, 0),
			queueRecvmsgLine(api, a, 2, unix.MSG_TRUNC),
			queueRecvmsgLine(api, a, 2, unix.MSG_DONTWAIT))
	})
}

// Recvmmsg after the queue took datagrams, with more in the kernel and
// short buffers: the batch goes on into the kernel (batchMore), and each
// message's N and MSG_TRUNC are as recvmmsg(2)'s.
func TestDatagramQueueRecvmmsgMoreTrunc(t *testing.T) {
	for _, fl := range []int{unix.MSG_DONTWAIT, unix.MSG_DONTWAIT | unix.MSG_TRUNC, unix.MSG_WAITFORONE} {
		t.Run(fmt.Sprintf("flags=%#x", fl), func(t *testing.T) {
			queueCompare(t, func(t *testing.T, api dAPI, fam int, take func(int)) []string {
				a, aAddr, b := queuePair(t, api, fam)
				out := []string{queueStart(t, api, a, b, aAddr, take, "1", "22222", "333")}
				for _, m := range []string{"4444", "", "6"} {
					api.sendto(b, []byte(m), 0, aAddr)
				}
				time.Sleep(20 * time.Millisecond)
				out = append(out, queueRecvmmsgLines(api, a, 8, 2, fl)...)
				return append(out, queueRecv(api, a, 16, unix.MSG_DONTWAIT))
			})
		})
	}
}

// Recvmmsg with MSG_PEEK after the queue took datagrams: recvmmsg(2)
// peeks the same datagram into every message.
func TestDatagramQueueRecvmmsgPeek(t *testing.T) {
	queueCompare(t, func(t *testing.T, api dAPI, fam int, take func(int)) []string {
		a, aAddr, b := queuePair(t, api, fam)
		out := []string{queueStart(t, api, a, b, aAddr, take, "1", "2", "3")}
		out = append(out, queueRecvmmsgLines(api, a, 4, 16, unix.MSG_PEEK|unix.MSG_DONTWAIT)...)
		return append(out, queueRecvmmsgLines(api, a, 4, 16, unix.MSG_DONTWAIT)...)
	})
}

// Recvmmsg with MSG_WAITFORONE on a socket that left the queue by
// Connect, with datagrams from the peer both taken ahead and still in the
// kernel: recvmmsg(2) returns all of them at once; ksocket returns only
// those taken ahead (batchMore, documented), so what is compared is the
// datagrams in order across calls.
func TestDatagramQueueRecvmmsgConnected(t *testing.T) {
	queueCompare(t, func(t *testing.T, api dAPI, fam int, take func(int)) []string {
		a, aAddr, b := queuePair(t, api, fam)
		bAddr, err := api.getsockname(b)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{queueStart(t, api, a, b, aAddr, take, "1", "2", "3")}
		if err := api.connect(a, bAddr); err != nil {
			t.Fatal(err)
		}
		for _, m := range []string{"4", "5"} {
			api.sendto(b, []byte(m), 0, aAddr)
		}
		time.Sleep(20 * time.Millisecond)
		return append(out, queueDrain(api, a)...)
	})
}

// The same with IP_RECVERR on an unconnected socket.
func TestDatagramQueueRecvmmsgRecverr(t *testing.T) {
	queueCompare(t, func(t *testing.T, api dAPI, fam int, take func(int)) []string {
		a, aAddr, b := queuePair(t, api, fam)
		out := []string{queueStart(t, api, a, b, aAddr, take, "1", "2", "3")}
		level, opt := unix.IPPROTO_IP, unix.IP_RECVERR
		if fam == unix.AF_INET6 {
			level, opt = unix.IPPROTO_IPV6, unix.IPV6_RECVERR
		}
		if err := api.setsockoptInt(a, level, opt, 1); err != nil {
			t.Fatal(err)
		}
		for _, m := range []string{"4", "5"} {
			api.sendto(b, []byte(m), 0, aAddr)
		}
		time.Sleep(20 * time.Millisecond)
		return append(out, queueDrain(api, a)...)
	})
}

// A blocking Recvmmsg (no MSG_WAITFORONE) on a connected socket whose
// peer's port is gone, with datagrams taken ahead: recvmmsg(2) returns
// the datagrams and keeps the refusal it met for the next call.
func TestDatagramQueueRecvmmsgRefusedAfterTake(t *testing.T) {
	queueCompare(t, func(t *testing.T, api dAPI, fam int, take func(int)) []string {
		a, aAddr, b := queuePair(t, api, fam)
		dAddr := queueGone(t, api, fam)
		out := []string{queueStart(t, api, a, b, aAddr, take, "1", "2", "3")}
		if err := api.connect(a, dAddr); err != nil {
			t.Fatal(err)
		}
		api.send(a, []byte("x"), 0)
		time.Sleep(20 * time.Millisecond)
		out = append(out, queueRecvmmsgLines(api, a, 4, 16, unix.MSG_WAITFORONE)...)
		out = append(out, queueRecvmmsgLines(api, a, 4, 16, unix.MSG_WAITFORONE)...)
		return append(out, queueRecv(api, a, 16, unix.MSG_DONTWAIT))
	})
}

// queueDrain is Recvmmsg with MSG_WAITFORONE until EAGAIN, as the
// datagrams received, in order, whatever the batches.
func queueDrain(api dAPI, s int) []string {
	var out []string
	for range 10 {
		lines := queueRecvmmsgLines(api, s, 8, 16, unix.MSG_WAITFORONE|unix.MSG_DONTWAIT)
		if len(lines) == 1 && lines[0] == "recvmmsg EAGAIN" {
			return append(out, "EAGAIN")
		}
		if len(lines) > 0 && !strings.HasPrefix(lines[0], "recvmmsg ") {
			return append(out, lines...)
		}
		if len(lines) == 1 {
			return append(out, lines[0])
		}
		out = append(out, lines[1:]...)
	}
	return out
}

// Recvmmsg with MSG_OOB after the queue took datagrams.
func TestDatagramQueueRecvOOBFlag(t *testing.T) {
	queueCompare(t, func(t *testing.T, api dAPI, fam int, take func(int)) []string {
		a, aAddr, b := queuePair(t, api, fam)
		out := []string{queueStart(t, api, a, b, aAddr, take, "1", "2", "3")}
		out = append(out, queueRecv(api, a, 16, unix.MSG_OOB|unix.MSG_DONTWAIT))
		out = append(out, queueRecvmmsgLines(api, a, 4, 16, unix.MSG_OOB|unix.MSG_DONTWAIT)...)
		return append(out, queueRecv(api, a, 16, unix.MSG_DONTWAIT))
	})
}

// Concurrent plain readers on a socket that reads ahead: every datagram
// comes out once, none is lost or duplicated.
func TestDatagramQueueConcurrentReaders(t *testing.T) {
	queueModes(t, func(t *testing.T) {
		for _, fam := range dBoth {
			t.Run(dFamName(fam), func(t *testing.T) {
				dNeedFamily(t, fam)
				a, aAddr, b := queuePair(t, dKsocketAPI{}, fam)
				SetsockoptInt(a, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
				tv := unix.NsecToTimeval(int64(300 * time.Millisecond))
				SetsockoptTimeval(a, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
				const total, readers = 3000, 4
				var mu sync.Mutex
				var got []int
				var wg sync.WaitGroup
				for range readers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						buf := make([]byte, 16)
						for {
							var n int
							var err error
							n, _, err = Recvfrom(a, buf, 0)
							if err != nil {
								return
							}
							var v int
							fmt.Sscan(string(buf[:n]), &v)
							mu.Lock()
							got = append(got, v)
							mu.Unlock()
						}
					}()
				}
				for i := range total {
					if _, err := Sendto(b, []byte(fmt.Sprint(i)), 0, aAddr); err != nil {
						t.Fatal(err)
					}
					if i%32 == 31 {
						time.Sleep(200 * time.Microsecond)
					}
				}
				wg.Wait()
				sort.Ints(got)
				dups := 0
				for i := 1; i < len(got); i++ {
					if got[i] == got[i-1] {
						dups++
					}
				}
				if dups > 0 || len(got) != total {
					t.Fatalf("received %d of %d datagrams, %d duplicated", len(got), total, dups)
				}
			})
		}
	})
}

// Closesocket with several receives blocked on a socket that reads ahead:
// each returns EBADF at once.
func TestDatagramQueueCloseManyBlocked(t *testing.T) {
	queueModes(t, func(t *testing.T) {
		a, aAddr := queueSocket(t, dKsocketAPI{}, unix.AF_INET)
		b, _ := queueSocket(t, dKsocketAPI{}, unix.AF_INET)
		tv := unix.Timeval{}
		SetsockoptTimeval(a, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		queueStart(t, dKsocketAPI{}, a, b, aAddr, func(int) {}, "1")
		got := make(chan string, 4)
		for range 4 {
			go func() { got <- queueRecv(dKsocketAPI{}, a, 16, 0) }()
		}
		time.Sleep(50 * time.Millisecond)
		start := time.Now()
		Closesocket(a)
		for range 4 {
			select {
			case r := <-got:
				if r != "EBADF" {
					t.Errorf("a blocked Recvfrom returned %s; want EBADF", r)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("a blocked Recvfrom did not return after Closesocket")
			}
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("took %v", d)
		}
	})
}

// A blocking Recvmmsg (no MSG_WAITFORONE) on a connected socket gets one
// datagram, then, while it waits for more, ICMP refuses a send: the
// kernel's recvmmsg(2) returns the one and keeps the error for the next
// call (do_recvmmsg sets sk_err), so the error is not lost. Recvmmsg's
// later rounds leave it there too (engine.Socket.RecvMmsgMore).
func TestRecvmmsgErrorAfterFirst(t *testing.T) {
	queueCompare(t, func(t *testing.T, api dAPI, fam int, take func(int)) []string {
		a, aAddr, b := queuePair(t, api, fam)
		bAddr, _ := api.getsockname(b)
		tv := unix.NsecToTimeval(int64(2 * time.Second))
		api.setsockoptTimeval(a, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		if err := api.connect(a, bAddr); err != nil {
			t.Fatal(err)
		}
		got := make(chan []string)
		go func() { got <- queueRecvmmsgLines(api, a, 4, 16, 0) }()
		time.Sleep(50 * time.Millisecond)
		api.sendto(b, []byte("1"), 0, aAddr)
		time.Sleep(50 * time.Millisecond)
		api.closesocket(b)
		api.send(a, []byte("x"), 0)
		out := <-got
		queueShortTimeout(api, a)
		return append(out, queueRecv(api, a, 16, 0))
	})
}
