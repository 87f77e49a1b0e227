//go:build linux

package gonet_test

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"github.com/ksocket-go/ksocket/gonet"
	"golang.org/x/sys/unix"
)

// Socket activation: a service manager (systemd, or a parent process)
// opens the listening socket and hands it over; systemd passes it as fd 3
// with LISTEN_FDS=1, and the program takes os.NewFile(3, "listener"). The
// program adopts it onto the engine with FileListener.
func ExampleFileListener() {
	f := managerListener() // in an activated process: os.NewFile(3, "listener")
	l, err := gonet.FileListener(f)
	if err != nil {
		panic(err)
	}
	f.Close() // FileListener works on a duplicate
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			io.WriteString(c, "served by the activated listener\n")
			c.Close()
		}
	}()
	c, err := net.Dial("tcp4", l.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	line, _ := io.ReadAll(c)
	fmt.Print(string(line))
	// Output: served by the activated listener
}

// managerListener plays the service manager: a listening socket as an
// *os.File.
func managerListener() *os.File {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		panic(err)
	}
	return f
}

// Passing an open file to another process's socket: SCM_RIGHTS in the
// control data of WriteMsgUnix, and back out of ReadMsgUnix.
func ExampleUnixConn_WriteMsgUnix() {
	dir, _ := os.MkdirTemp("", "gonet-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "sock")
	l, err := gonet.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		panic(err)
	}
	defer l.Close()
	c, err := gonet.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	s, err := l.AcceptUnix()
	if err != nil {
		panic(err)
	}
	defer s.Close()

	f, err := os.CreateTemp(dir, "passed")
	if err != nil {
		panic(err)
	}
	f.WriteString("the file's contents")
	f.Close()
	f, _ = os.Open(f.Name())
	c.WriteMsgUnix([]byte("here"), unix.UnixRights(int(f.Fd())), nil)
	f.Close() // the receiver has its own descriptor now

	buf, oob := make([]byte, 16), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := s.ReadMsgUnix(buf, oob)
	if err != nil {
		panic(err)
	}
	msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
	fds, _ := unix.ParseUnixRights(&msgs[0])
	got := os.NewFile(uintptr(fds[0]), "received")
	defer got.Close()
	content, _ := io.ReadAll(got)
	fmt.Printf("%s: %s\n", buf[:n], content)
	// Output: here: the file's contents
}

// A proxy's copy between two gonet connections is spliced inside the
// kernel: io.Copy finds TCPConn's ReadFrom, and the bytes never enter the
// process.
func ExampleTCPConn_ReadFrom() {
	// An upstream that sends 1 MiB and closes.
	up, _ := gonet.Listen("tcp4", "127.0.0.1:0")
	defer up.Close()
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i)
	}
	go func() {
		c, err := up.Accept()
		if err == nil {
			c.Write(data)
			c.Close()
		}
	}()
	// The proxy: whatever upstream sends goes to the client.
	front, _ := gonet.Listen("tcp4", "127.0.0.1:0")
	defer front.Close()
	go func() {
		client, err := front.Accept()
		if err != nil {
			return
		}
		defer client.Close()
		upstream, err := gonet.Dial("tcp4", up.Addr().String())
		if err != nil {
			return
		}
		defer upstream.Close()
		io.Copy(client, upstream) // client.(*gonet.TCPConn).ReadFrom: splice
	}()

	c, _ := net.Dial("tcp4", front.Addr().String())
	defer c.Close()
	h := sha256.New()
	n, _ := io.Copy(h, c)
	fmt.Println(n, sha256.Sum256(data) == [32]byte(h.Sum(nil)))
	// Output: 1048576 true
}
