//go:build linux

package gonet

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/internal/engine"
)

// ringQueues reports whether a UDP conn made now queues on the ring.
func ringQueues() bool {
	e, err := engine.Default()
	return err == nil && e.Backend() == "uring" && engine.Usable("RECVMSG_MULTISHOT") && runtime.GOMAXPROCS(0) == 1
}

// A connected UDP conn that took datagrams ahead, then left (SyscallConn),
// then hears of an ICMP refusal: net reports it before the datagrams.
func TestUDPErrorBeforeTakenDatagrams(t *testing.T) {
	for _, leave := range []bool{true, false} {
		t.Run(fmt.Sprint("leave=", leave), func(t *testing.T) { errorBeforeTaken(t, leave) })
	}
}

func errorBeforeTaken(t *testing.T, leave bool) {
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprint("procs", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			run := func(dial func(l, r *net.UDPAddr) (net.Conn, error)) []string {
				peer, c := dialedPeer(t, dial)
				for _, m := range []string{"1", "2", "3", "4"} {
					peer.WriteTo([]byte(m), c.LocalAddr())
				}
				var out []string
				read := func() { out = append(out, readLine(c)) }
				read()
				read()
				time.Sleep(20 * time.Millisecond) // the queue or read-ahead takes 2, 3
				if sc, ok := c.(interface {
					SyscallConn() (syscall.RawConn, error)
				}); ok && leave {
					sc.SyscallConn()
				}
				peer.Close()
				c.Write([]byte("x"))
				time.Sleep(20 * time.Millisecond)
				for range 4 {
					read()
				}
				return out
			}
			want := run(func(l, r *net.UDPAddr) (net.Conn, error) { return net.DialUDP("udp4", l, r) })
			got := run(func(l, r *net.UDPAddr) (net.Conn, error) { return DialUDP("udp4", l, r) })
			if !leave && !ringQueues() {
				// A documented deviation: a conn still reading ahead
				// serves what it read before a pending error
				// (readahead.go); asking the kernel for one per
				// datagram would cost a syscall each.
				t.Skipf("reading ahead, net %q, gonet %q: the deviation readahead.go documents", want, got)
			}
			if !slices.Equal(want, got) {
				t.Errorf("net %q\ngonet %q", want, got)
			} else {
				t.Logf("%q", want)
			}
		})
	}
}

// readLine is one Read on c with a 100 ms deadline, as a transcript line:
// the data, the errno's text, or "timeout".
func readLine(c net.Conn) string {
	buf := make([]byte, 16)
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	n, err := c.Read(buf)
	if err != nil {
		var en syscall.Errno
		if errors.As(err, &en) {
			return en.Error()
		}
		return "timeout"
	}
	return string(buf[:n])
}

// dialedPeer returns a net UDP socket on loopback, the peer, and a conn
// that dial connected to it, closed when t ends.
func dialedPeer(t *testing.T, dial func(l, r *net.UDPAddr) (net.Conn, error)) (*net.UDPConn, net.Conn) {
	t.Helper()
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := dial(nil, peer.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return peer, c
}
