//go:build linux

package gonet

import (
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// A read waiting before the ICMP refusal arrives.
func TestUDPWaitRefusedWhileWaiting(t *testing.T) {
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			addr := closedUDPPort(t, "udp4", "127.0.0.1")
			c, err := impl.dial(t.Context(), "udp4", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			done := make(chan error, 1)
			go func() { _, err := c.Read(make([]byte, 16)); done <- err }()
			time.Sleep(30 * time.Millisecond)
			c.Write([]byte("x"))
			err = <-done
			t.Logf("procs %d %s: %v", runtime.GOMAXPROCS(0), impl.name, err)
		})
	}
}

// File().Fd() clears O_NONBLOCK on the shared open file.
func TestUDPWaitFileFdThenDeadline(t *testing.T) {
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			pc, err := impl.listenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			f, err := pc.(interface{ File() (*os.File, error) }).File()
			if err != nil {
				t.Fatal(err)
			}
			_ = f.Fd() // makes the shared open file blocking
			defer f.Close()
			pc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			done := make(chan error, 1)
			go func() { _, _, err := pc.ReadFrom(make([]byte, 16)); done <- err }()
			select {
			case err := <-done:
				t.Logf("procs %d %s: %v", runtime.GOMAXPROCS(0), impl.name, err)
			case <-time.After(2 * time.Second):
				if impl.name == "net" {
					t.Logf("procs %d net: ReadFrom blocked past its deadline (net's File makes the shared open file blocking at Fd)", runtime.GOMAXPROCS(0))
				} else {
					t.Errorf("procs %d %s: ReadFrom blocked past its deadline", runtime.GOMAXPROCS(0), impl.name)
				}
				tx, _ := net.Dial("udp4", pc.LocalAddr().String())
				tx.Write([]byte("x"))
				tx.Close()
				<-done
			}
		})
	}
}

// Two readers on one conn: ReadFrom and ReadBatch, then a deadline in the past wakes both.
func TestUDPWaitTwoReadersDeadline(t *testing.T) {
	pc, err := ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c := pc.(*UDPConn)
	tx, _ := net.Dial("udp4", c.LocalAddr().String())
	defer tx.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); _, _, err := c.ReadFrom(make([]byte, 16)); errs <- err }()
	go func() {
		defer wg.Done()
		ms := []ipv4.Message{{Buffers: [][]byte{make([]byte, 16)}}}
		_, err := c.ReadBatch(ms, 0)
		errs <- err
	}()
	time.Sleep(30 * time.Millisecond)
	tx.Write([]byte("one"))
	first := <-errs
	t.Logf("first: %v", first)
	time.Sleep(10 * time.Millisecond)
	c.SetReadDeadline(time.Now())
	select {
	case e := <-errs:
		t.Logf("second: %v", e)
	case <-time.After(3 * time.Second):
		t.Fatal("second reader not woken by deadline")
	}
	wg.Wait()
}

// Readers of every kind, deadlines moving, Close at a random moment: every
// reader ends, and no fd is left behind.
func TestUDPWaitStormClose(t *testing.T) {
	fds := func() int { e, _ := os.ReadDir("/proc/self/fd"); return len(e) }
	tx, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	defer tx.Close()
	before := fds()
	for i := 0; i < 200; i++ {
		pc, err := ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c := pc.(*UDPConn)
		if i%4 == 0 {
			c.SetReadDeadline(time.Now().Add(time.Duration(i%7) * time.Millisecond))
		}
		var wg sync.WaitGroup
		for k := 0; k < 4; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					var err error
					switch k {
					case 0:
						_, _, err = c.ReadFrom(make([]byte, 64))
					case 1:
						ms := []ipv4.Message{{Buffers: [][]byte{make([]byte, 64)}}}
						_, err = c.ReadBatch(ms, 0)
					case 2:
						_, _, _, _, err = c.ReadMsgUDP(make([]byte, 64), make([]byte, 64))
					case 3:
						_, err = c.Read(make([]byte, 64))
					}
					if err != nil {
						if ne, ok := err.(net.Error); ok && ne.Timeout() {
							c.SetReadDeadline(time.Now().Add(time.Millisecond))
							continue
						}
						return
					}
				}
			}()
		}
		for j := 0; j < i%5; j++ {
			tx.WriteTo([]byte("hi"), c.LocalAddr())
		}
		time.Sleep(time.Duration(i%3) * time.Millisecond)
		c.Close()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("iteration %d: a reader still waits 5 s after Close", i)
		}
	}
	time.Sleep(20 * time.Millisecond)
	if after := fds(); after > before {
		t.Errorf("fds %d -> %d", before, after)
	}
}

// A RawConn.Read whose callback leaves a datagram where it is ends at the
// read deadline, as net's does.
func TestUDPWaitRawReadDeadlineWhileReadable(t *testing.T) {
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			pc, err := impl.listenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			tx, _ := net.Dial("udp4", pc.LocalAddr().String())
			defer tx.Close()
			tx.Write([]byte("stay"))
			time.Sleep(10 * time.Millisecond)
			rc, err := pc.(interface {
				SyscallConn() (syscall.RawConn, error)
			}).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			pc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			done := make(chan error, 1)
			calls := 0
			go func() { done <- rc.Read(func(uintptr) bool { calls++; return false }) }()
			select {
			case err := <-done:
				t.Logf("procs %d %s: %v after %d calls", runtime.GOMAXPROCS(0), impl.name, err, calls)
			case <-time.After(3 * time.Second):
				pc.Close()
				<-done
				t.Errorf("procs %d %s: RawConn.Read still running 3 s past its deadline (%d calls)", runtime.GOMAXPROCS(0), impl.name, calls)
			}
		})
	}
}
