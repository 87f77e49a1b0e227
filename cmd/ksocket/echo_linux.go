//go:build linux

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ksocket-go/ksocket"
	"github.com/ksocket-go/ksocket/gonet"
	"github.com/ksocket-go/ksocket/loop"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// echoEngines are the engines `ksocket echo` serves with. The names are
// fixed.
var echoEngines = map[string]func(addr string, log *logger, stop <-chan os.Signal) error{
	"berkeley": echoBerkeley,
	"gonet":    echoGonet,
	"loop":     echoLoop,
}

func init() {
	commands = append(commands, &command{
		name:    "echo",
		summary: "an echo server, until SIGINT or SIGTERM",
		setFlags: func(fs *flag.FlagSet) func([]string) error {
			addr := fs.String("addr", "", "`HOST:PORT` to listen on (required; port 0 picks one)")
			engine := fs.String("engine", "berkeley", "berkeley, gonet or loop")
			udp := fs.Bool("udp", false, "echo UDP datagrams, in batches: berkeley with Recvmmsg and Sendmmsg, gonet with ReadBatch and WriteBatch, loop with a multishot receive and the replies of a batch submitted together")
			return func(args []string) error {
				if len(args) > 0 {
					return usageErrorf("takes no arguments")
				}
				if *addr == "" {
					return usageErrorf("--addr is required")
				}
				run, ok := echoEngines[*engine]
				if !ok {
					return usageErrorf("engine %q is not available; available: %s", *engine, availableEngines())
				}
				if *udp {
					run = udpEchoEngines[*engine]
				}
				stop := make(chan os.Signal, 1)
				signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
				defer signal.Stop(stop)
				return run(*addr, newLogger(), stop)
			}
		},
	})
}

// udpEchoEngines are the engines `ksocket echo --udp` serves with.
var udpEchoEngines = map[string]func(addr string, log *logger, stop <-chan os.Signal) error{
	"berkeley": echoBerkeleyUDP,
	"gonet":    echoGonetUDP,
	"loop":     echoLoopUDP,
}

// udpBatch is how many datagrams a UDP echo takes and answers at once.
const udpBatch = 64

func availableEngines() string {
	var names []string
	for _, n := range []string{"berkeley", "gonet", "loop"} {
		if _, ok := echoEngines[n]; ok {
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

func echoBerkeley(addr string, log *logger, stop <-chan os.Signal) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usageErrorf("--addr %q: want HOST:PORT", addr)
	}
	if _, err := parsePort(port); err != nil {
		return err
	}
	res, err := ksocket.Getaddrinfo(host, port, &ksocket.Addrinfo{Socktype: unix.SOCK_STREAM, Flags: ksocket.AI_PASSIVE})
	if err != nil {
		return fmt.Errorf("resolve %s: %w", addr, err)
	}
	ls, err := ksocket.SocketListen(res[0].Family, unix.SOCK_STREAM, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	ksocket.SetsockoptInt(ls, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := ksocket.Bind(ls, res[0].Addr); err != nil {
		ksocket.Closesocket(ls)
		return fmt.Errorf("bind %s: %w", addr, err)
	}
	if err := ksocket.Listen(ls, 4096); err != nil {
		ksocket.Closesocket(ls)
		return fmt.Errorf("listen: %w", err)
	}
	sa, _ := ksocket.Getsockname(ls)
	log.Printf("echo (berkeley): listening on %s", sockaddrString(sa))
	go func() {
		<-stop
		ksocket.Closesocket(ls)
	}()
	for {
		c, _, err := ksocket.Accept(ls)
		if errors.Is(err, unix.EBADF) {
			log.Printf("echo: stopped")
			return nil
		}
		if err != nil {
			// EMFILE and friends: keep serving the clients we have.
			log.Printf("accept: %v", err)
			continue
		}
		ksocket.SetsockoptInt(c, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		go func() {
			defer ksocket.Closesocket(c)
			buf := make([]byte, 64<<10)
			for {
				n, err := ksocket.Recv(c, buf, 0)
				if err != nil || n == 0 {
					return
				}
				if _, err := ksocket.Send(c, buf[:n], 0); err != nil {
					return
				}
			}
		}()
	}
}

func echoGonet(addr string, log *logger, stop <-chan os.Signal) error {
	ln, err := gonet.Listen("tcp", addr)
	if err != nil {
		return err
	}
	log.Printf("echo (gonet): listening on %s", ln.Addr())
	go func() {
		<-stop
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			log.Printf("echo: stopped")
			return nil
		}
		if err != nil {
			log.Printf("accept: %v", err)
			continue
		}
		go func() {
			defer c.Close()
			io.Copy(c, c)
		}()
	}
}

func echoLoop(addr string, log *logger, stop <-chan os.Signal) error {
	h := loop.Handlers{Data: func(c *loop.Conn, data []byte) { c.Write(data) }}
	s, err := loop.Listen("tcp", addr, h, nil)
	if err != nil {
		return err
	}
	log.Printf("echo (loop): listening on %s", s.Addr())
	go func() {
		<-stop
		s.Close()
	}()
	if err := s.Serve(); err != nil && !errors.Is(err, loop.ErrServerClosed) {
		return err // a signal before Serve began is a clean stop too
	}
	log.Printf("echo: stopped")
	return nil
}

// echoLoopUDP echoes datagrams on a loop per CPU.
func echoLoopUDP(addr string, log *logger, stop <-chan os.Signal) error {
	h := loop.PacketHandlers{Packet: func(pc *loop.PacketConn, data []byte, from netip.AddrPort) {
		pc.WriteTo(data, from) // a datagram that cannot go back is dropped, as UDP drops it
	}}
	s, err := loop.ListenPacket("udp", addr, h, nil)
	if err != nil {
		return err
	}
	log.Printf("echo (loop): listening on %s/udp", s.Addr())
	go func() {
		<-stop
		s.Close()
	}()
	if err := s.Serve(); err != nil && !errors.Is(err, loop.ErrServerClosed) {
		return err // a signal before Serve began is a clean stop too
	}
	log.Printf("echo: stopped")
	return nil
}

// echoBerkeleyUDP echoes datagrams with the Berkeley API: Recvmmsg takes
// whatever has arrived, up to udpBatch, and Sendmmsg answers each sender.
func echoBerkeleyUDP(addr string, log *logger, stop <-chan os.Signal) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usageErrorf("--addr %q: want HOST:PORT", addr)
	}
	if _, err := parsePort(port); err != nil {
		return err
	}
	res, err := ksocket.Getaddrinfo(host, port, &ksocket.Addrinfo{Socktype: unix.SOCK_DGRAM, Flags: ksocket.AI_PASSIVE})
	if err != nil {
		return fmt.Errorf("resolve %s: %w", addr, err)
	}
	s, err := ksocket.SocketDatagram(res[0].Family, unix.SOCK_DGRAM, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	if err := ksocket.Bind(s, res[0].Addr); err != nil {
		ksocket.Closesocket(s)
		return fmt.Errorf("bind %s: %w", addr, err)
	}
	sa, _ := ksocket.Getsockname(s)
	log.Printf("echo (berkeley): listening on %s/udp", sockaddrString(sa))
	go func() {
		<-stop
		ksocket.Closesocket(s)
	}()
	in := make([]ksocket.Msg, udpBatch)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, 64<<10)}
	}
	out := make([]ksocket.Msg, udpBatch)
	for {
		n, err := ksocket.Recvmmsg(s, in, unix.MSG_WAITFORONE)
		if errors.Is(err, unix.EBADF) {
			log.Printf("echo: stopped")
			return nil
		}
		if err != nil {
			log.Printf("recvmmsg: %v", err)
			continue
		}
		for i, m := range in[:n] {
			out[i] = ksocket.Msg{Buffers: [][]byte{m.Buffers[0][:m.N]}, Addr: m.Addr}
		}
		// A datagram that cannot go back (its sender gone) is dropped, as
		// UDP drops it: the rest of the batch still goes.
		for sent := 0; sent < n; {
			k, err := ksocket.Sendmmsg(s, out[sent:n], 0)
			if err != nil {
				k = 1
			}
			sent += k
		}
	}
}

// echoGonetUDP echoes datagrams with gonet: ReadBatch and WriteBatch.
func echoGonetUDP(addr string, log *logger, stop <-chan os.Signal) error {
	pc, err := gonet.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	c := pc.(*gonet.UDPConn)
	log.Printf("echo (gonet): listening on %s/udp", c.LocalAddr())
	go func() {
		<-stop
		c.Close()
	}()
	ms := make([]ipv4.Message, udpBatch)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, 64<<10)}
	}
	out := make([]ipv4.Message, udpBatch)
	for {
		n, err := c.ReadBatch(ms, 0)
		if errors.Is(err, net.ErrClosed) {
			log.Printf("echo: stopped")
			return nil
		}
		if err != nil {
			log.Printf("read: %v", err)
			continue
		}
		for i, m := range ms[:n] {
			out[i] = ipv4.Message{Buffers: [][]byte{m.Buffers[0][:m.N]}, Addr: m.Addr}
		}
		for sent := 0; sent < n; {
			k, err := c.WriteBatch(out[sent:n], 0)
			if err != nil {
				k = 1 // drop the one that failed, as UDP would
			}
			sent += k
		}
	}
}
