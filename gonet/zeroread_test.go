//go:build linux

package gonet

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// opErrShape is an error as the differential tests below compare it: its
// type, the *net.OpError's Op and syscall, and what errors.Is finds.
func opErrShape(err error) string {
	if err == nil {
		return "<nil>"
	}
	var oe *net.OpError
	s := fmt.Sprintf("%T", err)
	if errors.As(err, &oe) {
		s = "OpError{Op:" + oe.Op
		if se, ok := oe.Err.(*os.SyscallError); ok {
			s += " Syscall:" + se.Syscall + " " + se.Err.Error()
		} else {
			s += fmt.Sprintf(" Err:%T %v", oe.Err, oe.Err)
		}
		s += "}"
	}
	s += fmt.Sprintf(" closed=%v timeout=%v eof=%v", errors.Is(err, net.ErrClosed), errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, io.EOF))
	return s
}

// udpPairOf makes two of im's UDP sockets on addr, closed at cleanup.
func udpPairOf(t *testing.T, im impl, network, addr string) (a, b net.PacketConn) {
	t.Helper()
	a, err := im.listenPacket(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	b, err = im.listenPacket(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// sameAsNet runs f on net and on gonet and fails the test if their
// results differ; a run that takes 10 s is a hang.
func sameAsNet(t *testing.T, f func(t *testing.T, im impl) string) {
	t.Helper()
	var res [2]string
	for i, im := range impls {
		done := make(chan string, 1)
		go func() { done <- f(t, im) }()
		select {
		case res[i] = <-done:
		case <-time.After(10 * time.Second):
			res[i] = "HANG"
		}
	}
	if res[0] != res[1] {
		t.Errorf("differ:\n net:   %s\n gonet: %s", res[0], res[1])
	} else {
		t.Logf("same: %s", res[0])
	}
}

// TestZeroLengthReadLeavesDatagram: a zero-length Read on a UDP conn
// returns at once and leaves the waiting datagram for the next read, as
// net's does (internal/poll.FD.Read makes no syscall for it).
func TestZeroLengthReadLeavesDatagram(t *testing.T) {
	for _, nw := range []string{"udp4", "udp6"} {
		t.Run(nw, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if nw == "udp6" {
				addr = "[::1]:0"
			}
			sameAsNet(t, func(t *testing.T, im impl) string {
				a, b := udpPairOf(t, im, nw, addr)
				if _, err := b.WriteTo([]byte("hello"), a.LocalAddr()); err != nil {
					return "write " + err.Error()
				}
				time.Sleep(20 * time.Millisecond)
				a.SetReadDeadline(time.Now().Add(time.Second))
				n, err := a.(net.Conn).Read(nil)
				out := fmt.Sprintf("read0 n=%d %s;", n, opErrShape(err))
				buf := make([]byte, 100)
				a.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
				n, _, err = a.ReadFrom(buf)
				out += fmt.Sprintf(" next n=%d %q %s", n, buf[:n], opErrShape(err))
				return out
			})
		})
	}
}

// TestZeroLengthReadReturnsAtOnce: with nothing to read, a zero-length
// Read on a datagram conn returns 0, nil at once; it does not wait.
func TestZeroLengthReadReturnsAtOnce(t *testing.T) {
	for _, nw := range []string{"udp4", "unixgram"} {
		t.Run(nw, func(t *testing.T) {
			sameAsNet(t, func(t *testing.T, im impl) string {
				var a net.PacketConn
				if nw == "unixgram" {
					var err error
					a, err = im.listenPacket("unixgram", t.TempDir()+"/s")
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { a.Close() })
				} else {
					a, _ = udpPairOf(t, im, nw, "127.0.0.1:0")
				}
				a.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				n, err := a.(net.Conn).Read(nil)
				return fmt.Sprintf("read0 n=%d %s", n, opErrShape(err))
			})
		})
	}
}

// TestReadFromErrorNamesRecvfrom: ReadFrom and ReadMsgUDP on a connected
// UDP conn whose peer is gone fail as net's do, naming the syscall net
// names (recvfrom, recvmsg).
func TestReadFromErrorNamesRecvfrom(t *testing.T) {
	sameAsNet(t, func(t *testing.T, im impl) string {
		p, err := im.listenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dst := p.LocalAddr().String()
		p.Close()
		c, err := im.dial(t.Context(), "udp4", dst)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		errc := make(chan error, 1)
		go func() {
			c.SetReadDeadline(time.Now().Add(time.Second))
			_, _, err := c.(net.PacketConn).ReadFrom(make([]byte, 10))
			errc <- err
		}()
		time.Sleep(50 * time.Millisecond)
		c.Write([]byte("x"))
		out := "rf " + opErrShape(<-errc) + "; "
		type mr interface {
			ReadMsgUDP(b, oob []byte) (n, oobn, flags int, addr *net.UDPAddr, err error)
		}
		go func() {
			c.SetReadDeadline(time.Now().Add(time.Second))
			_, _, _, _, err := c.(mr).ReadMsgUDP(make([]byte, 10), nil)
			errc <- err
		}()
		time.Sleep(50 * time.Millisecond)
		c.Write([]byte("x"))
		out += "rm " + opErrShape(<-errc) + "; "
		return out
	})
}

// TestZeroLengthReadClosed: zero-length reads and writes on closed conns,
// and a zero-length read past the read deadline, end as net's do.
func TestZeroLengthReadClosed(t *testing.T) {
	sameAsNet(t, func(t *testing.T, im impl) string {
		c, s := connPair(t, im, im, "tcp4", "127.0.0.1:0")
		out := ""
		c.SetReadDeadline(time.Now().Add(-time.Second))
		n, err := c.Read(nil)
		out += fmt.Sprintf("tcp past r0 %d %s; ", n, opErrShape(err))
		c.Close()
		n, err = c.Read(nil)
		out += fmt.Sprintf("tcp closed r0 %d %s; ", n, opErrShape(err))
		n, err = c.Write(nil)
		out += fmt.Sprintf("tcp closed w0 %d %s; ", n, opErrShape(err))
		_ = s
		a, _ := udpPairOf(t, im, "udp4", "127.0.0.1:0")
		a.Close()
		n, err = a.(net.Conn).Read(nil)
		out += fmt.Sprintf("udp closed r0 %d %s; ", n, opErrShape(err))
		return out
	})
}
