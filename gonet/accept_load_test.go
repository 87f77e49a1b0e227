//go:build linux

package gonet

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestAcceptUnderLoad: while 200 connections ping-pong, 200 new clients
// (Go net) connect; the listener must take every one of them. The time it
// takes is logged, not asserted: a loaded or slow machine must not fail a
// test (how fast is bench/'s question). Measured: about 20 ms on either
// backend. On the uring backend this needs the listener's multishot accept
// (Socket.QueueAccepts, tested in internal/engine) and accepted sockets that
// inherit their options instead of setting them: each ring op of an Accept
// waits its turn among the busy connections' completions, and with a
// single-shot accept and four setsockopts per connection the burst took 1 s.
func TestAcceptUnderLoad(t *testing.T) {
	const busy, burst = 200, 200
	ln, err := Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int64
	var srv sync.WaitGroup
	var mu sync.Mutex
	var served []net.Conn
	srv.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			mu.Lock()
			served = append(served, c)
			mu.Unlock()
			srv.Go(func() { io.Copy(c, c) })
		}
	})
	stop := make(chan struct{})
	var load sync.WaitGroup
	var clients []net.Conn
	for range busy {
		c, err := Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		load.Go(func() {
			b := make([]byte, 64)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.Write(b); err != nil {
					return
				}
				if _, err := io.ReadFull(c, b); err != nil {
					return
				}
			}
		})
	}
	// Every busy connection accepted, and traffic under way, before the
	// burst: a fixed sleep is too short on a slow machine.
	for wait := time.Now(); accepted.Load() < busy && time.Since(wait) < 30*time.Second; {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	base := accepted.Load()
	start := time.Now()
	var dials sync.WaitGroup
	var dmu sync.Mutex
	for range burst {
		dials.Go(func() {
			c, err := net.Dial("tcp4", ln.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			dmu.Lock()
			clients = append(clients, c)
			dmu.Unlock()
		})
	}
	for accepted.Load()-base < burst && time.Since(start) < 30*time.Second {
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(start)
	dials.Wait()
	close(stop)
	for _, c := range clients {
		c.Close()
	}
	load.Wait()
	ln.Close()
	mu.Lock()
	for _, c := range served {
		c.Close()
	}
	mu.Unlock()
	srv.Wait()
	t.Logf("%d of %d new connections accepted in %v, with %d busy", accepted.Load()-base, burst, took, busy)
	if got := accepted.Load() - base; got < burst {
		t.Errorf("the listener accepted %d of %d connections in %v while %d were busy", got, burst, took, busy)
	}
}
