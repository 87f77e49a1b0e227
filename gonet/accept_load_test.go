//go:build linux

package gonet

import (
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/internal/engine"
)

// TestAcceptUnderLoad: while 200 connections ping-pong, 200 new clients
// (Go net) connect; the listener must take them within 2 s. On the epoll
// backend it takes about 50 ms. On the uring backend every Accept is a ring
// op whose completion waits its turn among the busy connections' (one
// reaper batch per accept), so a burst of clients is taken at a few dozen a
// second: a known bug.
func TestAcceptUnderLoad(t *testing.T) {
	if inf, _ := engine.Probe(); inf.Backend == "uring" && os.Getenv("KSOCKET_TEST_KNOWN_BUGS") != "1" {
		t.Skip("known bug (KSOCKET_TEST_KNOWN_BUGS=1 runs it): uring: Accept takes a reaper round per connection, a few dozen a second under load")
	}
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
	time.Sleep(200 * time.Millisecond)
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
	if took > 2*time.Second {
		t.Errorf("the listener took %v to accept %d connections while %d were busy", took, burst, busy)
	}
}
