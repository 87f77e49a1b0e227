//go:build linux

package loop_test

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/ksocket-go/ksocket/loop"
)

// A TCP echo server: one event loop per CPU, each writing back what it
// reads.
func ExampleListen() {
	h := loop.Handlers{Data: func(c *loop.Conn, data []byte) { c.Write(data) }}
	s, err := loop.Listen("tcp", "127.0.0.1:0", h, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	go s.Serve()
	defer s.Close()

	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.Write([]byte("hello"))
	buf := make([]byte, 5)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	fmt.Println(string(buf[:n]), err)
	// Output: hello <nil>
}

// A UDP echo server: each datagram goes back to its sender, and the
// replies of a batch go to the kernel together.
func ExampleListenPacket() {
	h := loop.PacketHandlers{Packet: func(pc *loop.PacketConn, data []byte, from netip.AddrPort) {
		pc.WriteTo(data, from)
	}}
	s, err := loop.ListenPacket("udp", "127.0.0.1:0", h, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	go s.Serve()
	defer s.Close()

	c, err := net.Dial("udp", s.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.Write([]byte("hello"))
	buf := make([]byte, 64)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	fmt.Println(string(buf[:n]), err)
	// Output: hello <nil>
}
