//go:build linux

package testenv

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
)

// Endpoint is one side of a connection in a ping-pong benchmark.
type Endpoint struct {
	Send  func([]byte) error
	Recv  func([]byte) error // reads exactly len(p) bytes
	Close func()
}

// ConnEndpoint is an Endpoint over a net.Conn (Go's own, or gonet's).
func ConnEndpoint(c net.Conn) Endpoint {
	return Endpoint{
		Send:  func(p []byte) error { _, err := c.Write(p); return err },
		Recv:  func(p []byte) error { _, err := io.ReadFull(c, p); return err },
		Close: func() { c.Close() },
	}
}

// ConnPairs makes PingPong's pairs from a net-shaped listen and dial (Go's
// own, or gonet's): n TCP connections over 127.0.0.1.
func ConnPairs(listen func(network, address string) (net.Listener, error), dial func(ctx context.Context, network, address string) (net.Conn, error)) func(b *testing.B, n int) (clients, servers []Endpoint) {
	return func(b *testing.B, n int) (clients, servers []Endpoint) {
		ln, err := listen("tcp4", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		for range n {
			c, err := dial(b.Context(), "tcp4", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			s, err := ln.Accept()
			if err != nil {
				b.Fatal(err)
			}
			clients = append(clients, ConnEndpoint(c))
			servers = append(servers, ConnEndpoint(s))
		}
		return clients, servers
	}
}

// PingPong is the in-process ping-pong benchmark: pair makes conns
// connections; each server echoes 64-byte messages, and b.N round trips
// are shared out among the clients. Both ends run in this process, so
// every op of both sides goes through the implementation under test; run
// it at -cpu 1,2.
func PingPong(b *testing.B, conns int, pair func(b *testing.B, n int) (clients, servers []Endpoint)) {
	clients, servers := pair(b, conns)
	defer func() {
		for i := range clients {
			clients[i].Close()
			servers[i].Close()
		}
	}()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() {
			buf := make([]byte, 64)
			for s.Recv(buf) == nil && s.Send(buf) == nil {
			}
		})
	}
	b.ReportAllocs()
	b.SetBytes(64)
	b.ResetTimer()
	var cw sync.WaitGroup
	per := b.N / conns
	for i, c := range clients {
		n := per
		if i == 0 {
			n += b.N % conns
		}
		cw.Go(func() {
			buf := make([]byte, 64)
			for range n {
				if c.Send(buf) != nil || c.Recv(buf) != nil {
					b.Error("ping-pong failed")
					return
				}
			}
		})
	}
	cw.Wait()
	b.StopTimer()
	for _, c := range clients {
		c.Close()
	}
	wg.Wait()
}
