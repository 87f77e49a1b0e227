//go:build linux

package gonet_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/ksocket-go/ksocket/gonet"
)

// idleStack is the goroutine stack, in bytes, that each of n server
// connections holds while it waits in Read, after echoing one message:
// the shape of an idle keep-alive connection.
func idleStack(t *testing.T, listen func(network, addr string) (net.Listener, error), n int) uint64 {
	t.Helper()
	ln, err := listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	echoed := make(chan struct{}, n)
	waiting := make(chan struct{}, n)
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c, s)
		go func() {
			buf := make([]byte, 64)
			if n, err := s.Read(buf); err == nil {
				s.Write(buf[:n])
			}
			echoed <- struct{}{}
			s.Read(buf) // waits until the test closes the connection
			waiting <- struct{}{}
		}()
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
			t.Fatal(err)
		}
		<-echoed
	}
	runtime.ReadMemStats(&after)
	for _, c := range conns {
		c.Close()
	}
	for range n {
		<-waiting
	}
	conns = nil
	return (after.StackInuse - before.StackInuse) / uint64(n)
}

// TestIdleConnStack: a goroutine waiting in a gonet Read needs no more
// stack than one waiting in net's, Go's smallest (2 KiB) on both. A wait
// that selected on the deadline, the timeout and the context, below a
// dozen frames of the engine, used to double it to 4 KiB on every idle
// connection. Each figure comes from a process of its own (this test,
// run again), where no earlier goroutine's stack is cached for reuse; the
// bound is net's in the same run, not a constant. Under -race every stack
// grows, net's as well, and the test says nothing there.
func TestIdleConnStack(t *testing.T) {
	const n = 500
	if impl := os.Getenv("KSOCKET_TEST_IDLE_STACK"); impl != "" {
		listen := net.Listen
		if impl == "gonet" {
			listen = gonet.Listen
		}
		fmt.Printf("stack=%d\n", idleStack(t, listen, n))
		return
	}
	if raceEnabled {
		t.Skip("-race enlarges every goroutine's stack; run without -race")
	}
	measure := func(impl string) uint64 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestIdleConnStack$", "-test.count=1")
		cmd.Env = append(os.Environ(), "KSOCKET_TEST_IDLE_STACK="+impl)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", impl, err, out)
		}
		var stack uint64
		for _, line := range strings.Split(string(out), "\n") {
			if _, err := fmt.Sscanf(line, "stack=%d", &stack); err == nil {
				return stack
			}
		}
		t.Fatalf("%s: no stack figure in\n%s", impl, out)
		return 0
	}
	netStack, ours := measure("net"), measure("gonet")
	t.Logf("stack per idle connection's reader: net %d B, gonet %d B", netStack, ours)
	// A few goroutines may have grown on a rare deep path (a pinner
	// allocated, a slot chunk mapped): allow 1 in 8 at twice the size.
	if ours > netStack+netStack/8 {
		t.Fatalf("stack per idle connection's reader: gonet %d B, net %d B", ours, netStack)
	}
}
