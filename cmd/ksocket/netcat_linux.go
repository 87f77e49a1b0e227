//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/ksocket-go/ksocket"
	"golang.org/x/sys/unix"
)

func init() {
	commands = append(commands,
		&command{
			name: "listen", args: "PORT",
			summary: "like nc -l: serve one client, stdin to it and it to stdout",
			long: `TCP: accept one client on PORT (IPv4 and IPv6), copy stdin to it and it to
stdout, and end at EOF on both sides. UDP (-u): take the first datagram's
sender as the peer; end at stdin EOF or after --timeout without traffic.`,
			setFlags: func(fs *flag.FlagSet) func([]string) error {
				udp := fs.Bool("u", false, "UDP instead of TCP")
				timeout := fs.Duration("timeout", 0, "UDP: stop after this long without traffic (0: only at stdin EOF)")
				return func(args []string) error {
					if len(args) != 1 {
						return usageErrorf("want exactly one PORT")
					}
					port, err := parsePort(args[0])
					if err != nil {
						return err
					}
					if *udp {
						return listenUDP(port, *timeout, os.Stdin, os.Stdout, newLogger())
					}
					return listenTCP(port, os.Stdin, os.Stdout, newLogger())
				}
			},
		},
		&command{
			name: "send", args: "HOST:PORT [MSG]",
			summary: "like nc -N: send MSG (or stdin) and print the reply",
			long: `Connects to HOST:PORT, sends MSG exactly as given (no newline added) or stdin,
shuts down writing, and prints what comes back until EOF or --timeout of
silence.`,
			setFlags: func(fs *flag.FlagSet) func([]string) error {
				udp := fs.Bool("u", false, "UDP instead of TCP")
				timeout := fs.Duration("timeout", 5*time.Second, "stop after this long without a reply")
				return func(args []string) error {
					if len(args) < 1 || len(args) > 2 {
						return usageErrorf("want HOST:PORT and at most one MSG")
					}
					host, port, err := net.SplitHostPort(args[0])
					if err != nil {
						return usageErrorf("address %q: want HOST:PORT", args[0])
					}
					if _, err := parsePort(port); err != nil {
						return err
					}
					var msg io.Reader = os.Stdin
					if len(args) == 2 {
						msg = strings.NewReader(args[1])
					}
					return send(host, port, *udp, *timeout, msg, os.Stdout)
				}
			},
		})
}

// listenTCP accepts one client on PORT and copies both ways until EOF on
// both sides.
func listenTCP(port int, in io.Reader, out io.Writer, log *logger) error {
	ls, err := ksocket.SocketListen(unix.AF_INET6, unix.SOCK_STREAM, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer ksocket.Closesocket(ls)
	ksocket.SetsockoptInt(ls, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	ksocket.SetsockoptInt(ls, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
	if err := ksocket.Bind(ls, &unix.SockaddrInet6{Port: port}); err != nil {
		return fmt.Errorf("bind port %d: %w", port, err)
	}
	if err := ksocket.Listen(ls, 1); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	sa, _ := ksocket.Getsockname(ls)
	log.Printf("listening on %s", sockaddrString(sa))
	c, peer, err := ksocket.Accept(ls)
	if err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	defer ksocket.Closesocket(c)
	log.Printf("connection from %s", sockaddrString(peer))
	ksocket.Closesocket(ls)
	return pump(c, in, out)
}

// pump copies in to s (then shuts down writing) and s to out, until both
// directions end.
func pump(s int, in io.Reader, out io.Writer) error {
	sendErr := make(chan error, 1)
	go func() {
		_, err := io.Copy(fdConn{s}, in)
		ksocket.Shutdown(s, unix.SHUT_WR)
		sendErr <- err
	}()
	if _, err := io.Copy(out, fdConn{s}); err != nil {
		return fmt.Errorf("recv: %w", err)
	}
	if err := <-sendErr; err != nil && !errors.Is(err, unix.EPIPE) && !errors.Is(err, unix.ECONNRESET) {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// listenUDP binds PORT, takes the first datagram's sender as the peer, and
// relays until stdin ends or timeout passes without traffic.
func listenUDP(port int, timeout time.Duration, in io.Reader, out io.Writer, log *logger) error {
	s, err := ksocket.SocketDatagram(unix.AF_INET6, unix.SOCK_DGRAM, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer ksocket.Closesocket(s)
	ksocket.SetsockoptInt(s, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
	if err := ksocket.Bind(s, &unix.SockaddrInet6{Port: port}); err != nil {
		return fmt.Errorf("bind port %d: %w", port, err)
	}
	sa, _ := ksocket.Getsockname(s)
	log.Printf("listening on udp %s", sockaddrString(sa))
	if err := setTimeouts(s, timeout); err != nil {
		return err
	}
	buf := make([]byte, 65536)
	n, peer, err := ksocket.Recvfrom(s, buf, 0)
	if errors.Is(err, unix.EAGAIN) {
		return nil // idle timeout before any peer
	}
	if err != nil {
		return fmt.Errorf("recvfrom: %w", err)
	}
	out.Write(buf[:n])
	if err := ksocket.Connect(s, peer); err != nil {
		return fmt.Errorf("connect %s: %w", sockaddrString(peer), err)
	}
	log.Printf("peer %s", sockaddrString(peer))
	stdinDone := make(chan struct{})
	go func() {
		defer close(stdinDone)
		io.Copy(fdConn{s}, in)
		// UDP ends at stdin EOF: closing the socket ends the Recv below.
		ksocket.Closesocket(s)
	}()
	for {
		n, err := ksocket.Recv(s, buf, 0)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return nil // idle for timeout
		case errors.Is(err, unix.EBADF):
			return nil
		case err != nil:
			return fmt.Errorf("recv: %w", err)
		}
		out.Write(buf[:n])
		select {
		case <-stdinDone:
			return nil
		default:
		}
	}
}

// send connects, sends msg, shuts down writing, and prints the reply until
// EOF or timeout of silence.
func send(host, port string, udp bool, timeout time.Duration, msg io.Reader, out io.Writer) error {
	socktype := unix.SOCK_STREAM
	if udp {
		socktype = unix.SOCK_DGRAM
	}
	ctx, cancel := withTimeout(context.Background(), timeout)
	defer cancel()
	s, err := dialBerkeley(ctx, host, port, socktype)
	if err != nil {
		return err
	}
	defer ksocket.Closesocket(s)
	if err := setTimeouts(s, timeout); err != nil {
		return err
	}
	if udp {
		data, err := io.ReadAll(msg)
		if err != nil {
			return err
		}
		if _, err := ksocket.Send(s, data, 0); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		buf := make([]byte, 65536)
		for {
			n, err := ksocket.Recv(s, buf, 0)
			if errors.Is(err, unix.EAGAIN) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("recv: %w", err)
			}
			out.Write(buf[:n])
		}
	}
	if _, err := io.Copy(fdConn{s}, msg); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if err := ksocket.Shutdown(s, unix.SHUT_WR); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	_, err = io.Copy(out, fdConn{s})
	if err != nil && !errors.Is(err, errTimeout) {
		return fmt.Errorf("recv: %w", err)
	}
	return nil
}
