//go:build linux

package ksocket

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/internal/engine"
	"golang.org/x/sys/unix"
)

// The datagram queue of the Berkeley API's UDP sockets (see datagramQueue
// in ksocket.go): plain receives take what one recvmmsg(2) read ahead.
// These tests run at one P and at two (queueModes). The ring's multishot
// queue, which serves gonet's conns at one P, is compared with the kernel
// in internal/engine's and gonet's tests.

// queueModes runs f with the sockets it makes at one P and at two: on the
// uring backend a turn's ring receive then completes on the thread that
// waits for it, or on another.
func queueModes(t *testing.T, f func(t *testing.T)) {
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprintf("P=%d", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			f(t)
		})
	}
}

// kernelInq returns SIOCINQ of the kernel socket under s: the size of the
// next datagram in the kernel's receive queue, 0 if it holds none.
func kernelInq(t *testing.T, api dAPI, s int) int {
	t.Helper()
	fd := s
	if _, ok := api.(dKsocketAPI); ok {
		e, err := lookup(s, engine.CallRecv)
		if err != nil {
			t.Fatal(err)
		}
		fd = e.s.Fd()
	}
	n, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// drained waits up to a second for the kernel's receive queue under s to
// empty, and reports whether it did.
func drained(t *testing.T, api dAPI, s int) bool {
	t.Helper()
	for end := time.Now().Add(time.Second); ; time.Sleep(time.Millisecond) {
		if kernelInq(t, api, s) == 0 {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

// TestDatagramQueueTakesAhead checks that the queue is in use: after one
// Recvfrom the datagrams behind it have left the kernel's queue, and the
// next Recvfroms return them in order with their sender.
func TestDatagramQueueTakesAhead(t *testing.T) { queueModes(t, testDatagramQueueTakesAhead) }

func testDatagramQueueTakesAhead(t *testing.T) {
	for _, fam := range dBoth {
		t.Run(dFamName(fam), func(t *testing.T) {
			a, aAddr := dUDP(t, fam)
			b, bAddr := dUDP(t, fam)
			// A socket reads ahead once a receive found a datagram
			// waiting.
			Sendto(b, []byte("x"), 0, aAddr)
			if _, _, err := Recvfrom(a, make([]byte, 1), 0); err != nil {
				t.Fatal(err)
			}
			for _, m := range []string{"0", "1", "22"} {
				if _, err := Sendto(b, []byte(m), 0, aAddr); err != nil {
					t.Fatal(err)
				}
			}
			buf := make([]byte, 16)
			n, _, err := Recvfrom(a, buf, 0)
			if err != nil || string(buf[:n]) != "0" {
				t.Fatalf("Recvfrom: %q, %v; want \"0\"", buf[:n], err)
			}
			if !drained(t, dKsocketAPI{}, a) {
				t.Fatalf("the kernel still holds %d bytes: the queue took nothing ahead", kernelInq(t, dKsocketAPI{}, a))
			}
			for _, m := range []string{"1", "22"} {
				n, from, err := Recvfrom(a, buf, 0)
				if err != nil || string(buf[:n]) != m || dPort(from) != dPort(bAddr) {
					t.Fatalf("Recvfrom: %q from %v, %v; want %q from %v", buf[:n], from, err, m, bAddr)
				}
			}
		})
	}
}

// queueScenario runs one sequence of calls on api's sockets and returns
// what each receive gave. take is where the queue has taken the datagrams
// after the first: it waits for that on ksocket's side where the queue is
// in use.
type queueScenario func(t *testing.T, api dAPI, fam int, take func(s int)) []string

// TestDatagramQueueLeavesAsTheKernel runs scenarios in which a socket
// leaves the queue with datagrams in it, through ksocket and through raw
// syscalls, and compares what every receive returned: the calls that
// leave the queue must not change what the program sees.
func TestDatagramQueueLeavesAsTheKernel(t *testing.T) {
	queueModes(t, testDatagramQueueLeavesAsTheKernel)
}

func testDatagramQueueLeavesAsTheKernel(t *testing.T) {
	scenarios := []struct {
		name    string
		run     queueScenario
		refusal bool // expects ICMP's refusal from a port it freed
	}{
		{"connect-then-refused", queueConnectRefused, true},
		{"shutdown", queueShutdown, false},
		{"option", queueOption, false},
		{"peek-and-trunc", queueFlags, false},
	}
	for _, sc := range scenarios {
		for _, fam := range dBoth {
			t.Run(sc.name+"/"+dFamName(fam), func(t *testing.T) {
				dNeedFamily(t, fam)
				for attempt := 1; ; attempt++ {
					raw := sc.run(t, dRawAPI{}, fam, func(int) {})
					ks := sc.run(t, dKsocketAPI{}, fam, func(s int) {
						if !drained(t, dKsocketAPI{}, s) {
							t.Fatal("the queue took nothing ahead")
						}
					})
					if slices.Equal(raw, ks) {
						return
					}
					lost := !slices.Contains(raw, "ECONNREFUSED") || !slices.Contains(ks, "ECONNREFUSED")
					if attempt == 3 || !sc.refusal || !lost {
						t.Fatalf("receives differ:\nraw:     %q\nksocket: %q", raw, ks)
					}
					// A refusal lost to another process taking the freed port.
					t.Logf("attempt %d: a side got no refusal (raw %q, ksocket %q); again", attempt, raw, ks)
				}
			})
		}
	}
}

// queueSocket opens a bound UDP socket through api, with a receive
// timeout, closed at the test's end, and returns it with its address.
func queueSocket(t *testing.T, api dAPI, fam int) (int, unix.Sockaddr) {
	t.Helper()
	s, err := api.socket(ctorDatagram, fam, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.closesocket(s) })
	tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
	if err := api.setsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	if err := api.bind(s, dLoopback(fam, 0)); err != nil {
		t.Fatal(err)
	}
	sa, err := api.getsockname(s)
	if err != nil {
		t.Fatal(err)
	}
	return s, sa
}

// queuePair opens two sockets through api (queueSocket): a, with its
// address, and b to send to it.
func queuePair(t *testing.T, api dAPI, fam int) (a int, aAddr unix.Sockaddr, b int) {
	t.Helper()
	a, aAddr = queueSocket(t, api, fam)
	b, _ = queueSocket(t, api, fam)
	return a, aAddr, b
}

// queueGone returns the address of a socket it closed: its port is now
// (very likely) free, and a datagram sent there is refused.
func queueGone(t *testing.T, api dAPI, fam int) unix.Sockaddr {
	t.Helper()
	d, dAddr := queueSocket(t, api, fam)
	api.closesocket(d)
	return dAddr
}

// queueStart sends msgs from b to a, receives the first on a, and lets
// the queue take the rest. A socket reads ahead only once a receive has
// found a datagram waiting, so a datagram "0" goes and is received first,
// through both APIs alike.
func queueStart(t *testing.T, api dAPI, a, b int, aAddr unix.Sockaddr, take func(int), msgs ...string) string {
	t.Helper()
	if _, err := api.sendto(b, []byte("0"), 0, aAddr); err != nil {
		t.Fatal(err)
	}
	got := queueRecv(api, a, 16, 0) + "; "
	for _, m := range msgs {
		if _, err := api.sendto(b, []byte(m), 0, aAddr); err != nil {
			t.Fatal(err)
		}
	}
	got += queueRecv(api, a, 16, 0)
	take(a)
	return got
}

// queueRecv is one recvfrom, as a transcript line: the data and whether a
// sender came, or the errno's name.
func queueRecv(api dAPI, s, size, flags int) string {
	buf := make([]byte, size)
	n, from, err := api.recvfrom(s, buf, flags)
	if err != nil {
		return unix.ErrnoName(err.(unix.Errno))
	}
	return fmt.Sprintf("%q n=%d from=%v", buf[:min(n, size)], n, from != nil)
}

// queueConnectRefused: the socket connects to a closed port with a
// datagram left in the queue; the ICMP error its send brings back must
// come out of the next receive, before that datagram, as from the
// kernel's queue.
func queueConnectRefused(t *testing.T, api dAPI, fam int, take func(int)) []string {
	a, aAddr, b := queuePair(t, api, fam)
	dAddr := queueGone(t, api, fam)
	out := []string{queueStart(t, api, a, b, aAddr, take, "1", "2")}
	if err := api.connect(a, dAddr); err != nil {
		t.Fatal(err)
	}
	if _, err := api.send(a, []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // for the ICMP error
	return append(out, queueRecvs(api, a, 3)...)
}

// queueRecvs is n plain receives of up to 16 bytes.
func queueRecvs(api dAPI, s, n int) []string {
	var out []string
	for range n {
		out = append(out, queueRecv(api, s, 16, 0))
	}
	return out
}

// queueShutdown: shutdown(SHUT_RD) of an unconnected socket, which says
// ENOTCONN and shuts the receive side anyway, with a datagram left.
func queueShutdown(t *testing.T, api dAPI, fam int, take func(int)) []string {
	a, aAddr, b := queuePair(t, api, fam)
	out := []string{queueStart(t, api, a, b, aAddr, take, "1", "2", "3")}
	err := api.shutdown(a, unix.SHUT_RD)
	out = append(out, fmt.Sprint("shutdown: ", err))
	return append(out, queueRecvs(api, a, 3)...)
}

// queueOption: an option that keeps the queue (SO_RCVBUF) and one that
// does not (IP_PKTINFO, IPV6_RECVPKTINFO), set with datagrams in it. A
// datagram sent after the second must come with its control message, as
// from the kernel: the socket left the queue, whose recvmmsg(2) has no
// room for one, before the option was set. (The datagrams the queue took before it come
// without: a documented difference, not compared here.)
func queueOption(t *testing.T, api dAPI, fam int, take func(int)) []string {
	a, aAddr, b := queuePair(t, api, fam)
	out := []string{queueStart(t, api, a, b, aAddr, take, "1", "2", "3", "4")}
	if err := api.setsockoptInt(a, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<16); err != nil {
		t.Fatal(err)
	}
	out = append(out, queueRecv(api, a, 16, 0))
	level, opt := unix.IPPROTO_IP, unix.IP_PKTINFO
	if fam == unix.AF_INET6 {
		level, opt = unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO
	}
	if err := api.setsockoptInt(a, level, opt, 1); err != nil {
		t.Fatal(err)
	}
	out = append(out, queueRecvs(api, a, 2)...)
	if _, err := api.sendto(b, []byte("5"), 0, aAddr); err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, 16), make([]byte, 256)
	var n, oobn, flags int
	var err error
	if _, ok := api.(dKsocketAPI); ok {
		n, oobn, flags, _, err = Recvmsg(a, buf, oob, 0)
	} else {
		n, oobn, flags, _, err = unix.Recvmsg(a, buf, oob, 0)
	}
	var cmsgs []string
	if msgs, perr := unix.ParseSocketControlMessage(oob[:oobn]); perr == nil {
		for _, m := range msgs {
			cmsgs = append(cmsgs, fmt.Sprintf("%d/%d", m.Header.Level, m.Header.Type))
		}
	}
	return append(out, fmt.Sprintf("recvmsg %q flags=%#x cmsgs=%v err=%v", buf[:n], flags, cmsgs, err))
}

// queueFlags: MSG_PEEK and MSG_TRUNC on datagrams the queue took, and a
// buffer shorter than the datagram.
func queueFlags(t *testing.T, api dAPI, fam int, take func(int)) []string {
	a, aAddr, b := queuePair(t, api, fam)
	out := []string{queueStart(t, api, a, b, aAddr, take, "1", "22222", "333", "")}
	out = append(out,
		queueRecv(api, a, 2, unix.MSG_PEEK),
		queueRecv(api, a, 2, unix.MSG_TRUNC),
		queueRecv(api, a, 2, 0),
		queueRecv(api, a, 0, 0),
		queueRecv(api, a, 16, unix.MSG_DONTWAIT))
	return out
}
