//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ksocket-go/ksocket"
	"github.com/ksocket-go/ksocket/gonet"
	"github.com/mccutchen/go-httpbin/v2/httpbin"
	"golang.org/x/sys/unix"
)

const defaultDemoURL = "http://httpbin.org/uuid"

func init() {
	commands = append(commands, &command{
		name:    "demo",
		summary: "the seed's demo: fetch httpbin.org/uuid, then serve one TCP client",
		long: `The HTTP client resolves --url with Getaddrinfo, connects through the Berkeley
API, sends a GET with Connection: close, and prints the whole response. If the
default URL cannot be reached (no DNS, no route, or --timeout), it says so and
fetches from an embedded httpbin served on 127.0.0.1 by ksocket's own gonet
listener; --offline goes there directly, --no-fallback fails instead.

The TCP server then listens on 0.0.0.0:--port, accepts one client, prints its
message, replies "Hello from WSK!" (--reply) and closes both sockets. With
--client it connects to itself, sends MSG and prints the reply.

Offline in one go:
  ksocket demo --offline --port 0 --client "hello from a client"`,
		setFlags: func(fs *flag.FlagSet) func([]string) error {
			o := demoOptions{}
			fs.StringVar(&o.url, "url", defaultDemoURL, "what the HTTP client fetches")
			fs.IntVar(&o.port, "port", 9095, "TCP server port (0 picks a free one)")
			fs.StringVar(&o.reply, "reply", "Hello from WSK!", "what the server answers its client")
			fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "how long the HTTP client waits before it counts the URL unreachable")
			fs.BoolVar(&o.offline, "offline", false, "fetch from the embedded httpbin without trying the network")
			fs.BoolVar(&o.noFallback, "no-fallback", false, "fail instead of falling back to the embedded httpbin")
			fs.StringVar(&o.client, "client", "", "after listening, connect to the server through the Berkeley API, send `MSG` and print the reply")
			return func(args []string) error {
				if len(args) > 0 {
					return usageErrorf("takes no arguments")
				}
				if o.port < 0 || o.port > 65535 {
					return usageErrorf("--port %d: want 0 to 65535", o.port)
				}
				return demo(o, os.Stdout, newLogger())
			}
		},
	})
}

type demoOptions struct {
	url, reply, client  string
	port                int
	timeout             time.Duration
	offline, noFallback bool
}

func demo(o demoOptions, out io.Writer, log *logger) error {
	// 1. The HTTP client.
	url := o.url
	if o.offline {
		log.Printf("offline: using the embedded httpbin")
	} else {
		err := fetch(url, o.timeout, out, log)
		if err == nil {
			goto server
		}
		if o.noFallback || url != defaultDemoURL {
			return err
		}
		log.Printf("%s cannot be reached (%v); falling back to the embedded httpbin", url, err)
	}
	{
		stop, addr, err := embeddedHTTPBin()
		if err != nil {
			return fmt.Errorf("embedded httpbin: %w", err)
		}
		err = fetch("http://"+addr+"/uuid", o.timeout, out, log)
		stop()
		if err != nil {
			return err
		}
	}

server:
	// 2. The TCP server.
	return serveOne(o, out, log)
}

// fetch GETs url through the Berkeley API and prints the whole response.
func fetch(raw string, timeout time.Duration, out io.Writer, log *logger) error {
	t, err := parseURL(raw)
	if err != nil {
		return err
	}
	if t.tls {
		return fmt.Errorf("the demo's client speaks plain http, as the seed's did; use 'ksocket get' for https")
	}
	log.Printf("HTTP client: GET %s", raw)
	ctx, cancel := withTimeout(context.Background(), timeout)
	defer cancel()
	s, err := dialBerkeley(ctx, t.host, t.port, unix.SOCK_STREAM)
	if err != nil {
		return err
	}
	defer ksocket.Closesocket(s)
	if err := setTimeouts(s, timeout); err != nil {
		return err
	}
	if _, err := ksocket.Send(s, request(t), 0); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	resp, err := io.ReadAll(fdConn{s})
	if err != nil {
		return fmt.Errorf("recv: %w", err)
	}
	fmt.Fprintln(out, "TCP client:")
	out.Write(resp)
	if len(resp) > 0 && resp[len(resp)-1] != '\n' {
		fmt.Fprintln(out)
	}
	return nil
}

// embeddedHTTPBin serves go-httpbin on 127.0.0.1 through a gonet listener.
func embeddedHTTPBin() (stop func(), addr string, err error) {
	ln, err := gonet.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: httpbin.New(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		srv.Serve(ln)
		close(done)
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}, ln.Addr().String(), nil
}

// serveOne is the seed's server: listen, accept one client, print its
// message, reply, close the client and then the listener.
func serveOne(o demoOptions, out io.Writer, log *logger) error {
	ls, err := ksocket.SocketListen(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer ksocket.Closesocket(ls)
	// As net.Listen does: a second run within a minute would otherwise
	// fail on TIME_WAIT.
	if err := ksocket.SetsockoptInt(ls, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("setsockopt SO_REUSEADDR: %w", err)
	}
	if err := ksocket.Bind(ls, &unix.SockaddrInet4{Port: o.port}); err != nil {
		return fmt.Errorf("bind 0.0.0.0:%d: %w", o.port, err)
	}
	if err := ksocket.Listen(ls, 1); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	sa, err := ksocket.Getsockname(ls)
	if err != nil {
		return fmt.Errorf("getsockname: %w", err)
	}
	port := sa.(*unix.SockaddrInet4).Port
	fmt.Fprintf(out, "TCP server: listening on 0.0.0.0:%d\n", port)
	if f, ok := out.(*os.File); ok {
		f.Sync()
	}

	clientDone := make(chan error, 1)
	if o.client != "" {
		go func() { clientDone <- demoClient(port, o.client, o.timeout, out) }()
	} else {
		clientDone <- nil
		log.Printf("waiting for one client: try 'nc 127.0.0.1 %d' or 'ksocket send 127.0.0.1:%d MESSAGE'", port, port)
	}

	c, peer, err := ksocket.Accept(ls)
	if err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	log.Printf("TCP server: client %s connected", sockaddrString(peer))
	buf := make([]byte, 1024)
	n, err := ksocket.Recv(c, buf, 0)
	if err != nil {
		ksocket.Closesocket(c)
		return fmt.Errorf("recv: %w", err)
	}
	fmt.Fprintf(out, "TCP server: %s\n", strings.TrimRight(string(buf[:n]), "\r\n"))
	if _, err := ksocket.Send(c, []byte(o.reply), 0); err != nil {
		ksocket.Closesocket(c)
		return fmt.Errorf("send: %w", err)
	}
	if err := ksocket.Closesocket(c); err != nil {
		return fmt.Errorf("closesocket: %w", err)
	}
	if err := <-clientDone; err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return nil
}

// demoClient connects to the demo's own server through the Berkeley API,
// sends msg, and prints the reply.
func demoClient(port int, msg string, timeout time.Duration, out io.Writer) error {
	ctx, cancel := withTimeout(context.Background(), timeout)
	defer cancel()
	s, err := dialBerkeley(ctx, "127.0.0.1", strconv.Itoa(port), unix.SOCK_STREAM)
	if err != nil {
		return err
	}
	defer ksocket.Closesocket(s)
	if err := setTimeouts(s, timeout); err != nil {
		return err
	}
	if _, err := ksocket.Send(s, []byte(msg), 0); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	reply, err := io.ReadAll(fdConn{s})
	if err != nil {
		return fmt.Errorf("recv: %w", err)
	}
	fmt.Fprintf(out, "TCP client: %s\n", reply)
	return nil
}
