//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/ksocket-go/ksocket"
	"github.com/ksocket-go/ksocket/gonet"
	"golang.org/x/sys/unix"
)

func init() {
	commands = append(commands, &command{
		name: "get", args: "URL",
		summary: "HTTP/1.1 GET of a URL through the Berkeley API; prints the body",
		long: `http goes through the Berkeley API; https through gonet with crypto/tls.
Content-Length, chunked and close-delimited bodies are handled. Any HTTP
response exits 0 (like curl without -f); URL and transport errors exit 1.`,
		setFlags: func(fs *flag.FlagSet) func([]string) error {
			include := fs.Bool("i", false, "also print the status line and headers")
			timeout := fs.Duration("timeout", 10*time.Second, "bound for connecting, and for each read")
			insecure := fs.Bool("insecure", false, "https: accept any certificate (self-signed ones)")
			return func(args []string) error {
				if len(args) != 1 {
					return usageErrorf("want exactly one URL")
				}
				return get(args[0], *include, *timeout, *insecure, os.Stdout)
			}
		},
	})
}

// target is a parsed http or https URL.
type target struct {
	u          *url.URL
	host, port string
	tls        bool
}

func parseURL(raw string) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, fmt.Errorf("malformed URL %q", raw)
	}
	t := target{u: u, host: u.Hostname(), port: u.Port()}
	switch u.Scheme {
	case "http":
		if t.port == "" {
			t.port = "80"
		}
	case "https":
		t.tls = true
		if t.port == "" {
			t.port = "443"
		}
	case "":
		return target{}, fmt.Errorf("malformed URL %q: no scheme (want http:// or https://)", raw)
	default:
		return target{}, fmt.Errorf("unsupported scheme %q in %q: want http or https", u.Scheme, raw)
	}
	if t.host == "" {
		return target{}, fmt.Errorf("malformed URL %q: no host", raw)
	}
	if p, err := strconv.Atoi(t.port); err != nil || p < 1 || p > 65535 {
		return target{}, fmt.Errorf("port %q out of range in %q: want 1 to 65535", t.port, raw)
	}
	return t, nil
}

// requestLine builds the GET request the seed sent: request line, Host,
// Connection: close, each ending in CRLF, then a blank line.
func request(t target) []byte {
	path := t.u.RequestURI()
	host := t.u.Host
	return fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ksocket/%s\r\nAccept: */*\r\nConnection: close\r\n\r\n", path, host, version)
}

// open connects to t: http through the Berkeley API, https through gonet
// with crypto/tls on top.
func open(ctx context.Context, t target, timeout time.Duration, insecure bool) (io.ReadWriter, func(), error) {
	if t.tls {
		d := gonet.Dialer{Timeout: timeout}
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(t.host, t.port))
		if err != nil {
			return nil, nil, err
		}
		tc := tls.Client(c, &tls.Config{ServerName: t.host, InsecureSkipVerify: insecure})
		hctx, cancel := withTimeout(ctx, timeout)
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			c.Close()
			return nil, nil, fmt.Errorf("tls handshake with %s: %w", t.host, err)
		}
		return &deadlineConn{tc, timeout}, func() { tc.Close() }, nil
	}
	cctx, cancel := withTimeout(ctx, timeout)
	defer cancel()
	s, err := dialBerkeley(cctx, t.host, t.port, unix.SOCK_STREAM)
	if err != nil {
		return nil, nil, err
	}
	if err := setTimeouts(s, timeout); err != nil {
		ksocket.Closesocket(s)
		return nil, nil, err
	}
	return fdConn{s}, func() { ksocket.Closesocket(s) }, nil
}

// deadlineConn bounds each read and write of a net.Conn by timeout, as
// SO_RCVTIMEO does for the Berkeley path.
type deadlineConn struct {
	c       net.Conn
	timeout time.Duration
}

func (d *deadlineConn) Read(p []byte) (int, error) {
	if d.timeout > 0 {
		d.c.SetReadDeadline(time.Now().Add(d.timeout))
	}
	n, err := d.c.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = errTimeout
	}
	return n, err
}

func (d *deadlineConn) Write(p []byte) (int, error) {
	if d.timeout > 0 {
		d.c.SetWriteDeadline(time.Now().Add(d.timeout))
	}
	return d.c.Write(p)
}

func get(raw string, include bool, timeout time.Duration, insecure bool, out io.Writer) error {
	t, err := parseURL(raw)
	if err != nil {
		return err
	}
	rw, closeFn, err := open(context.Background(), t, timeout, insecure)
	if err != nil {
		return err
	}
	defer closeFn()
	if _, err := rw.Write(request(t)); err != nil {
		return fmt.Errorf("send request: %w", err)
	}
	br := bufio.NewReader(rw)
	head, err := readHead(br)
	if err != nil {
		return fmt.Errorf("read response from %s: %w", t.host, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(io.MultiReader(bytes.NewReader(head), br)), &http.Request{Method: http.MethodGet})
	if err != nil {
		return fmt.Errorf("bad response from %s: %w", t.host, err)
	}
	defer resp.Body.Close()
	if include {
		out.Write(head)
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		return fmt.Errorf("read body from %s: %w", t.host, err)
	}
	return nil
}

// readHead reads the status line and headers, up to and including the blank
// line, exactly as they came.
func readHead(br *bufio.Reader) ([]byte, error) {
	var head []byte
	lineStart := true // the next fragment begins a line
	for {
		frag, err := br.ReadSlice('\n')
		head = append(head, frag...)
		if len(head) > 1<<20 {
			return nil, errors.New("response headers larger than 1 MiB")
		}
		switch {
		case err == bufio.ErrBufferFull:
			lineStart = false // a long line: the rest follows
			continue
		case err == io.EOF && len(head) == 0:
			return nil, errors.New("connection closed before a response")
		case err != nil:
			return nil, err
		}
		if lineStart && (string(frag) == "\r\n" || string(frag) == "\n") {
			return head, nil
		}
		lineStart = true
	}
}
