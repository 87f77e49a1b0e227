//go:build linux

package ksocket

import (
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzMmsgDifferential runs rounds of one Sendmmsg and one Recvmmsg,
// shaped by the input, on ksocket's sockets and on raw ones through the
// syscalls: the batch sizes, datagram sizes (0 to 6,000 bytes), how each
// is scattered or gathered over up to three buffers, a missing
// destination, and the receive flags (MSG_WAITFORONE, MSG_DONTWAIT,
// MSG_TRUNC, MSG_PEEK). Every answer must match the kernel's: counts,
// errors, lengths, bytes, flags and senders.
func FuzzMmsgDifferential(f *testing.F) {
	f.Add([]byte{3, 10, 1, 4, 20, 2, 0, 7, 5, 1, 2, 9, 0})
	f.Add([]byte{8, 255, 23, 2, 1, 0, 0, 3, 9, 40, 3, 1, 2, 200, 7})
	f.Add([]byte{2, 0, 0, 1, 5, 1, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{1, 100, 20, 1, 3, 2, 0, 0, 1, 1, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		run := func(api msgAPI) []string {
			e := newMsgEnv(t, api)
			next := func() int {
				if len(in) == 0 {
					return 0
				}
				b := in[0]
				in = in[1:]
				return int(b)
			}
			for round := 0; round < 3 && len(in) > 0; round++ {
				out := make([]Msg, next()%9)
				for i := range out {
					size := next() * (next() % 24)
					data := make([]byte, size)
					for j := range data {
						data[j] = byte(round*31 + i*7 + j)
					}
					parts := 1 + next()%3
					for p := range parts {
						out[i].Buffers = append(out[i].Buffers, data[p*size/parts:(p+1)*size/parts])
					}
					if next()%8 != 0 {
						out[i].Addr = e.ba
					}
				}
				n, err := e.api.sendmmsg(e.a, out, 0)
				line := fmt.Sprintf("sendmmsg %d of %d: %v:", n, len(out), err)
				for _, m := range out[:max(n, 0)] {
					line += fmt.Sprintf(" %d", m.N)
				}
				e.note("%s", line)
				in2 := make([]Msg, next()%10)
				for i := range in2 {
					for range 1 + next()%3 {
						in2[i].Buffers = append(in2[i].Buffers, make([]byte, next()*(1+next()%8)))
					}
				}
				flags := []int{unix.MSG_WAITFORONE, unix.MSG_DONTWAIT, unix.MSG_WAITFORONE | unix.MSG_TRUNC, unix.MSG_DONTWAIT | unix.MSG_PEEK}[next()%4]
				if n <= 0 {
					flags |= unix.MSG_DONTWAIT // nothing to wait for: no SO_RCVTIMEO wait
				}
				e.recvAll(e.b, in2, flags)
			}
			// Whatever is left, one at a time, so that both sides end
			// with the same queue.
			e.recvAll(e.b, msgs(64, 8000), unix.MSG_DONTWAIT)
			return e.log
		}
		saved := in
		want := run(rawMsgAPI)
		in = saved
		got := run(ksocketMsgAPI)
		if len(got) != len(want) {
			t.Fatalf("ksocket made %d calls, the kernel %d:\n%q\n%q", len(got), len(want), got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("call %d: ksocket %s\nkernel says %s", i, got[i], want[i])
			}
		}
	})
}
