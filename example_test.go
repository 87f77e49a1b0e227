//go:build linux

package ksocket_test

import (
	"fmt"
	"log"

	"github.com/ksocket-go/ksocket"
	"golang.org/x/sys/unix"
)

// The seed's demo, on loopback: a TCP server accepts one client, prints its
// message and replies "Hello from WSK!", and a client connects, sends, and
// prints the reply.
func Example() {
	ls, err := ksocket.SocketListen(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		log.Fatal(err)
	}
	ksocket.SetsockoptInt(ls, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := ksocket.Bind(ls, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		log.Fatal(err)
	}
	if err := ksocket.Listen(ls, 1); err != nil {
		log.Fatal(err)
	}
	local, _ := ksocket.Getsockname(ls)

	done := make(chan struct{})
	go func() {
		defer close(done)
		c, _, err := ksocket.Accept(ls)
		if err != nil {
			log.Fatal(err)
		}
		buf := make([]byte, 1024)
		n, _ := ksocket.Recv(c, buf, 0)
		fmt.Printf("TCP server: %s\n", buf[:n])
		ksocket.Send(c, []byte("Hello from WSK!"), 0)
		ksocket.Closesocket(c)
		ksocket.Closesocket(ls)
	}()

	res, err := ksocket.Getaddrinfo("127.0.0.1", fmt.Sprint(local.(*unix.SockaddrInet4).Port), &ksocket.Addrinfo{Socktype: unix.SOCK_STREAM})
	if err != nil {
		log.Fatal(err)
	}
	s, err := ksocket.SocketConnection(res[0].Family, res[0].Socktype, res[0].Protocol)
	if err != nil {
		log.Fatal(err)
	}
	if err := ksocket.Connect(s, res[0].Addr); err != nil {
		log.Fatal(err)
	}
	ksocket.Send(s, []byte("hello from a client"), 0)
	<-done
	buf := make([]byte, 1024)
	n, _ := ksocket.Recv(s, buf, 0)
	fmt.Printf("TCP client: %s\n", buf[:n])
	ksocket.Closesocket(s)
	// Output:
	// TCP server: hello from a client
	// TCP client: Hello from WSK!
}

func ExampleGetaddrinfo() {
	res, err := ksocket.Getaddrinfo("127.0.0.1", "http", &ksocket.Addrinfo{Socktype: unix.SOCK_STREAM})
	if err != nil {
		log.Fatal(err)
	}
	for _, ai := range res {
		sa := ai.Addr.(*unix.SockaddrInet4)
		fmt.Println(ai.Family == unix.AF_INET, ai.Protocol == unix.IPPROTO_TCP, sa.Addr, sa.Port)
	}
	// Output: true true [127 0 0 1] 80
}

func ExampleSocketDatagram() {
	a, _ := ksocket.SocketDatagram(unix.AF_INET, unix.SOCK_DGRAM, 0)
	b, _ := ksocket.SocketDatagram(unix.AF_INET, unix.SOCK_DGRAM, 0)
	defer ksocket.Closesocket(a)
	defer ksocket.Closesocket(b)
	ksocket.Bind(b, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	to, _ := ksocket.Getsockname(b)

	ksocket.Sendto(a, []byte("ping"), 0, to)
	buf := make([]byte, 64)
	n, from, err := ksocket.Recvfrom(b, buf, 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s from 127.0.0.1: %v\n", buf[:n], from.(*unix.SockaddrInet4).Addr == [4]byte{127, 0, 0, 1})
	// Output: ping from 127.0.0.1: true
}

func ExampleSetsockoptTimeval() {
	s, _ := ksocket.SocketDatagram(unix.AF_INET, unix.SOCK_DGRAM, 0)
	defer ksocket.Closesocket(s)
	ksocket.Bind(s, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	ksocket.SetsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 20000})
	_, err := ksocket.Recv(s, make([]byte, 16), 0)
	fmt.Println(err == unix.EAGAIN)
	// Output: true
}

func ExampleClosesocket() {
	s, _ := ksocket.SocketDatagram(unix.AF_INET, unix.SOCK_DGRAM, 0)
	fmt.Println(ksocket.Closesocket(s))
	fmt.Println(ksocket.Closesocket(s))
	// Output:
	// <nil>
	// bad file descriptor
}
