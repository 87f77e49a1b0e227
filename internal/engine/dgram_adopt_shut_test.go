//go:build linux && !android

package engine

import (
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReceiveOnAdoptedShutSocket: a Socket adopted from one whose read
// side Shutdown shut (gonet's File and FilePacketConn after CloseRead)
// receives what the kernel gives a blocking receive there, 0 at once, on
// every way to wait, where the adopted Socket never saw the Shutdown.
func TestReceiveOnAdoptedShutSocket(t *testing.T) {
	e := testEngine(t)
	shutN, shutErr := kernelRecvAfterShutRD(t)

	for _, now := range []bool{false, true} {
		for _, batch := range []bool{false, true} {
			t.Run(fmt.Sprintf("now=%v/batch=%v", now, batch), func(t *testing.T) {
				s1, _ := nowUDP(t, e, unix.AF_INET, unix.SOCK_DGRAM, true)
				s1.Shutdown(unix.SHUT_RD) // ENOTCONN, and the read side is shut
				var s2 *Socket
				if err := s1.Control(func(fd int) (err error) { s2, err = e.Adopt(fd); return }); err != nil {
					t.Fatal(err)
				}
				defer s2.Close()
				if now {
					s2.ReceiveDatagramsNow()
					s2.opts.Or(optRawNetpoll)
				}
				start := time.Now()
				var n int
				var err error
				if batch {
					m := []Mmsg{{Buffers: [][]byte{make([]byte, 64)}}}
					if n, err = s2.RecvMmsg(ctx0, m, 0, time.Second); n == 1 {
						n = m[0].N
					}
				} else {
					n, _, _, err = s2.Recv(ctx0, make([]byte, 64), 0, true, time.Second)
				}
				if n != shutN || err != errOrNil(shutErr) {
					t.Errorf("receive = %d, %v after %v; kernel %d, %v at once", n, err, time.Since(start).Round(time.Millisecond), shutN, shutErr)
				}
			})
		}
	}
}
