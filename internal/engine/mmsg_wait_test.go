//go:build linux && !android

package engine

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRecvMmsgWaitsForFirst starts blocking batch receives on an empty
// socket, then sends: a datagram that fits, one cut short by a small
// buffer, and one with control data asked for (IP_PKTINFO). What the
// batch reports must match what the kernel's recvmsg(2) gives a raw
// socket sent the same datagram. On the uring backend the first datagram
// of such a batch comes with a ring receive (recvFirst), not from a
// second recvmmsg(2) after a wait for readiness. A deadline, a context
// and Close end the wait.
func TestRecvMmsgWaitsForFirst(t *testing.T) {
	e := testEngine(t)
	s, err := e.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0, CatDatagram)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Bind(loopbackOf(unix.AF_INET)); err != nil {
		t.Fatal(err)
	}
	var sa unix.Sockaddr
	s.Control(func(fd int) (err error) { sa, err = unix.Getsockname(fd); return })
	if err := s.SetsockoptInt(unix.IPPROTO_IP, unix.IP_PKTINFO, 1); err != nil {
		t.Fatal(err)
	}
	oracle, osa := rawUDP(t, unix.AF_INET)
	if err := unix.SetsockoptInt(oracle, unix.IPPROTO_IP, unix.IP_PKTINFO, 1); err != nil {
		t.Fatal(err)
	}
	from, fromSA := rawUDP(t, unix.AF_INET)

	for _, tc := range []struct {
		name      string
		size, buf int
		oob       int
	}{
		{"fits", 5, 64, 0},
		{"truncated", 100, 8, 0},
		{"pktinfo", 7, 64, 64},
		{"pktinfo-ctrunc", 7, 64, 4},
		{"empty", 0, 64, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs := []Mmsg{{Buffers: [][]byte{make([]byte, tc.buf)}, OOB: make([]byte, tc.oob)}, {Buffers: [][]byte{make([]byte, tc.buf)}}}
			type result struct {
				n   int
				err error
			}
			done := make(chan result, 1)
			go func() {
				n, err := s.RecvMmsg(context.Background(), msgs, 0, 5*time.Second)
				done <- result{n, err}
			}()
			time.Sleep(20 * time.Millisecond) // let it wait
			data := make([]byte, tc.size)
			for i := range data {
				data[i] = byte(i + 1)
			}
			if err := unix.Sendto(from, data, 0, sa); err != nil {
				t.Fatal(err)
			}
			if err := unix.Sendto(from, data, 0, osa); err != nil {
				t.Fatal(err)
			}
			r := <-done
			if r.err != nil || r.n != 1 {
				t.Fatalf("RecvMmsg = %d, %v; want 1 datagram", r.n, r.err)
			}
			buf, oob := make([]byte, tc.buf), make([]byte, tc.oob)
			n, oobn, flags, rsa, err := unix.Recvmsg(oracle, buf, oob, 0)
			if err != nil {
				t.Fatal(err)
			}
			m := msgs[0]
			if m.N != n || m.OOBN != oobn || m.Flags != flags || string(m.Buffers[0][:m.N]) != string(buf[:n]) {
				t.Errorf("engine: n %d oobn %d flags %#x %q; kernel: n %d oobn %d flags %#x %q",
					m.N, m.OOBN, m.Flags, m.Buffers[0][:m.N], n, oobn, flags, buf[:n])
			}
			got, ok := m.Addr.(*unix.SockaddrInet4)
			want := rsa.(*unix.SockaddrInet4)
			if !ok || got.Port != want.Port || got.Addr != want.Addr || want.Port != fromSA.(*unix.SockaddrInet4).Port {
				t.Errorf("sender %#v, kernel says %#v", m.Addr, rsa)
			}
		})
	}

	// The waits end.
	msgs := []Mmsg{{Buffers: [][]byte{make([]byte, 8)}}}
	if _, err := s.RecvMmsg(context.Background(), msgs, 0, 30*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("RecvMmsg with a timeout: %v, want %v", err, os.ErrDeadlineExceeded)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := s.RecvMmsg(ctx, msgs, 0, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("RecvMmsg with a context: %v, want %v", err, context.DeadlineExceeded)
	}
	s.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	if _, err := s.RecvMmsg(context.Background(), msgs, 0, 0); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("RecvMmsg past the read deadline: %v, want %v", err, os.ErrDeadlineExceeded)
	}
	s.SetReadDeadline(time.Time{})
	closed := make(chan error, 1)
	go func() {
		_, err := s.RecvMmsg(context.Background(), msgs, 0, 0)
		closed <- err
	}()
	time.Sleep(20 * time.Millisecond)
	s.Close()
	select {
	case err := <-closed:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("RecvMmsg across Close: %v, want %v", err, net.ErrClosed)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("RecvMmsg still waits 5s after Close")
	}
}
