//go:build linux

package ksocket

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The read-ahead turns that skip their recvmmsg(2) after
// tries that found nothing (engine tryFirst). Each case first makes k
// receives that wait for their datagram, which leaves the socket with
// 0, 1, 2, 4 or 8 turns to skip, then sends a burst, receives part of it
// with plain receives (some truncated, one of an empty datagram), does
// something that takes the socket off reading ahead (or nothing), and
// receives the rest. Raw syscalls and ksocket must give the same
// transcript, at one P and at two.

// quietBurst is the burst: more datagrams than turns skip, so that
// the turn after the skipped ones reads the rest ahead.
var quietBurst = []string{"1", "22222", "", "4444", "5", "666666", "7", "88", "9", "10", "11", "12", "13", "14"}

// quietTranscript runs one case through api and returns its transcript; with
// ahead, it reports whether, on ksocket, the kernel's queue was empty
// before the receives were done (the rest had been read ahead).
func quietTranscript(t *testing.T, api dAPI, fam, waits int, act string) (out []string, ahead bool) {
	a, aAddr, b := queuePair(t, api, fam)
	tv := unix.NsecToTimeval(int64(2 * time.Second)) // room for a sender that runs late
	api.setsockoptTimeval(a, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	send := func(m string) {
		if _, err := api.sendto(b, []byte(m), 0, aAddr); err != nil {
			t.Error(err)
		}
	}
	for i := range waits {
		m := fmt.Sprint("w", i)
		wait := turnLater(t, 3*time.Millisecond, func() { send(m) })
		out = append(out, queueRecv(api, a, 16, 0))
		wait()
	}
	for _, m := range quietBurst {
		send(m)
	}
	const before = 10
	for i := range before {
		switch i % 3 {
		case 0:
			out = append(out, queueRecv(api, a, 2, 0)) // truncates "22222"
		case 1:
			out = append(out, queueRecv(api, a, 16, 0))
		default:
			buf := make([]byte, 16)
			n, err := api.recv(a, buf, 0)
			out = append(out, fmt.Sprintf("recv %q %v", buf[:max(n, 0)], err))
		}
	}
	if _, ok := api.(dKsocketAPI); ok {
		ahead = kernelInq(t, api, a) == 0
	}
	rest := len(quietBurst) - before
	switch act {
	case "peek-trunc":
		rest-- // MSG_TRUNC takes one
		out = append(out, queueRecv(api, a, 1, unix.MSG_PEEK), queueRecv(api, a, 1, unix.MSG_TRUNC))
	case "pktinfo":
		level, opt := unix.IPPROTO_IP, unix.IP_PKTINFO
		if fam == unix.AF_INET6 {
			level, opt = unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO
		}
		out = append(out, fmt.Sprint("setsockopt: ", api.setsockoptInt(a, level, opt, 1)))
	case "shutdown":
		out = append(out, fmt.Sprint("shutdown: ", api.shutdown(a, unix.SHUT_RD)))
	}
	for range rest {
		out = append(out, queueRecv(api, a, 16, 0))
	}
	if act == "shutdown" {
		// Empty and shut: a blocking receive returns 0 at once.
		out = append(out, queueRecv(api, a, 16, 0))
	}
	return append(out, queueRecv(api, a, 16, unix.MSG_DONTWAIT)), ahead
}

// TestDatagramQuietTurnsAsTheKernel: see quietTranscript. 11 waits leave the
// socket at aheadQuietMax; the others at each smaller count of turns to
// skip.
func TestDatagramQuietTurnsAsTheKernel(t *testing.T) {
	queueModes(t, func(t *testing.T) {
		for _, act := range []string{"none", "peek-trunc", "pktinfo", "shutdown"} {
			for _, fam := range dBoth {
				t.Run(act+"/"+dFamName(fam), func(t *testing.T) {
					dNeedFamily(t, fam)
					aheadAt := 0
					for _, waits := range []int{0, 1, 3, 6, 11} {
						raw, _ := quietTranscript(t, dRawAPI{}, fam, waits, act)
						ks, ahead := quietTranscript(t, dKsocketAPI{}, fam, waits, act)
						if !slices.Equal(raw, ks) {
							t.Fatalf("%d waits: receives differ:\nraw:     %q\nksocket: %q", waits, raw, ks)
						}
						if ahead {
							aheadAt++
						}
					}
					t.Logf("the burst read ahead in %d of 5 cases", aheadAt)
					if aheadAt == 0 {
						t.Error("no case read the burst ahead: the test compared single receives only")
					}
				})
			}
		}
	})
}
