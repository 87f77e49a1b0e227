//go:build linux && !android

package engine

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestTimeoutLeftBehindNetpollHalf is TestTimeoutLeftBehind for the
// receives that wait on a datagram socket's netpoller half: on the uring
// backend, that of a socket that receives datagrams now with its raw waits
// in the netpoller (recvDatagramNow's ep.recv, netpollRawIO), which reuses
// the epoll backend's epollState and so its left timeouts; on the epoll
// backend, the socket's own. After a RecvFrom whose timeout is left in the
// file's deadline, an untimed RecvFrom, one with a context, and a RawRead
// each wait past that timeout for a datagram sent late, and get it.
func TestTimeoutLeftBehindNetpollHalf(t *testing.T) {
	const (
		short = 20 * time.Millisecond
		late  = 4 * short
	)
	e := testEngine(t)
	s, sa := nowUDP(t, e, unix.AF_INET, unix.SOCK_DGRAM, true)
	tx, _ := rawUDP(t, unix.AF_INET)
	msg := []byte("ping")
	// send sends one datagram to s, until the test ends: a late send
	// left over by a failure must not reach tx's fd number reused.
	var mu sync.Mutex
	ended := false
	t.Cleanup(func() { mu.Lock(); ended = true; mu.Unlock() }) // before tx's Close
	send := func() {
		mu.Lock()
		defer mu.Unlock()
		if ended {
			return
		}
		to := *sa.(*unix.SockaddrInet4) // a copy: Sendto writes into it
		if err := unix.Sendto(tx, msg, 0, &to); err != nil {
			t.Error(err)
		}
	}
	b := make([]byte, 16)
	// A receive that finds nothing and waits, so that the uring backend
	// makes the netpoller half: its timeout ends it.
	if _, _, err := s.RecvFrom(ctx0, b, 0, time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("timed receive with nothing to read: %v", err)
	}
	// timedRecv is a receive with the short timeout that ends with data,
	// leaving its timeout behind.
	timedRecv := func() {
		t.Helper()
		send()
		if n, from, err := s.RecvFrom(ctx0, b, 0, short); err != nil || n != len(msg) || from.Sockaddr() == nil {
			t.Fatalf("timed receive: %d, %v, %v", n, from.Sockaddr(), err)
		}
	}
	sendLate := func() { time.AfterFunc(late, send) }

	timedRecv()
	sendLate()
	if n, _, err := s.RecvFrom(ctx0, b, 0, 0); err != nil || n != len(msg) {
		t.Fatalf("untimed RecvFrom after a timed one: %d, %v", n, err)
	}

	timedRecv()
	sendLate()
	ctx, cancel := context.WithCancel(ctx0)
	defer cancel()
	if n, _, _, _, err := s.RecvMsg(ctx, b, nil, 0, 0); err != nil || n != len(msg) {
		t.Fatalf("RecvMsg with a context after a timed RecvFrom: %d, %v", n, err)
	}

	timedRecv()
	sendLate()
	got := 0
	err := s.RawRead(func(fd uintptr) bool {
		n, _, err := unix.Recvfrom(int(fd), b, unix.MSG_DONTWAIT)
		if err == unix.EAGAIN {
			return false
		}
		got = n
		return true
	})
	if err != nil || got != len(msg) {
		t.Fatalf("RawRead after a timed RecvFrom: %d, %v", got, err)
	}

	// A context cancel still ends an untimed receive after a timed one.
	timedRecv()
	ctx, cancel = context.WithCancel(ctx0)
	time.AfterFunc(short, cancel)
	if _, _, err := s.RecvFrom(ctx, b, 0, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled RecvFrom: %v", err)
	}
	// And what comes after it is not kicked.
	sendLate()
	if n, _, err := s.RecvFrom(ctx0, b, 0, 0); err != nil || n != len(msg) {
		t.Fatalf("untimed RecvFrom after a cancelled one: %d, %v", n, err)
	}
}
