//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

// newHTTPBin serves go-httpbin on loopback until the test ends.
func newHTTPBin(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(httpbin.New())
	t.Cleanup(srv.Close)
	return srv
}

// newTLSHTTPBin serves go-httpbin over TLS, with httptest's self-signed
// certificate, on loopback until the test ends.
func newTLSHTTPBin(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(httpbin.New())
	// Handshakes that the client rightly refuses are not news.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// fetchNet fetches url with net/http, the reference for ksocket get.
func fetchNet(t *testing.T, c *http.Client, url string) []byte {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// splitHead splits the output of get -i into the head, up to and including
// the blank line, and the body.
func splitHead(t *testing.T, out string) (http.Header, string, string) {
	t.Helper()
	head, body, ok := strings.Cut(out, "\r\n\r\n")
	if !ok {
		t.Fatalf("no blank line after the headers in %q", truncate(out))
	}
	status, fields, _ := strings.Cut(head, "\r\n")
	h := http.Header{}
	for _, l := range strings.Split(fields, "\r\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("header line %q has no colon", truncate(l))
		}
		h.Add(k, strings.TrimSpace(v))
	}
	return h, status, body
}

func checkUUIDBody(t *testing.T, body string) {
	t.Helper()
	var v struct {
		UUID string `json:"uuid"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || !uuidRE.MatchString(v.UUID) {
		t.Errorf("body %q is not JSON with a uuid (err %v)", body, err)
	}
}

// checkStreamBody checks the body of /stream/n: n JSON lines, ids 0 to n-1.
func checkStreamBody(t *testing.T, body string, n int) {
	t.Helper()
	ls := lines(body)
	if len(ls) != n {
		t.Fatalf("/stream/%d gave %d lines, want %d: %q", n, len(ls), n, body)
	}
	for i, l := range ls {
		var v struct {
			ID int `json:"id"`
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil || v.ID != i {
			t.Errorf("line %d %q: want JSON with id %d (err %v)", i, l, i, err)
		}
	}
}

// TestGetHTTP runs ksocket get against go-httpbin on loopback.
func TestGetHTTP(t *testing.T) {
	t.Parallel()
	srv := newHTTPBin(t)
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	t.Run("content-length", func(t *testing.T) {
		t.Parallel()
		r := runKsocket(t, "", "get", srv.URL+"/uuid")
		checkExit0(t, r)
		checkUUIDBody(t, r.stdout)
		if r.stderr != "" {
			t.Errorf("stderr not empty\n%v", r)
		}
	})
	t.Run("include headers", func(t *testing.T) {
		t.Parallel()
		r := runKsocket(t, "", "get", "-i", srv.URL+"/uuid")
		checkExit0(t, r)
		h, status, body := splitHead(t, r.stdout)
		if status != "HTTP/1.1 200 OK" {
			t.Errorf("status line %q, want HTTP/1.1 200 OK", status)
		}
		if cl := h.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
			t.Errorf("Content-Length %q, body %d bytes", cl, len(body))
		}
		if !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
			t.Errorf("Content-Type %q, want application/json", h.Get("Content-Type"))
		}
		checkUUIDBody(t, body)
	})
	t.Run("chunked", func(t *testing.T) {
		t.Parallel()
		r := runKsocket(t, "", "get", "-i", srv.URL+"/stream/5")
		checkExit0(t, r)
		h, _, body := splitHead(t, r.stdout)
		if te := h.Get("Transfer-Encoding"); te != "chunked" {
			t.Fatalf("Transfer-Encoding %q: the server did not chunk, so this tests nothing", te)
		}
		checkStreamBody(t, body, 5)
	})
	t.Run("chunked body only", func(t *testing.T) {
		t.Parallel()
		r := runKsocket(t, "", "get", srv.URL+"/stream/5")
		checkExit0(t, r)
		checkStreamBody(t, r.stdout, 5)
	})
	t.Run("1 MiB", func(t *testing.T) {
		t.Parallel()
		url := srv.URL + "/bytes/1048576?seed=42"
		r := runKsocket(t, "", "get", url)
		checkExit0(t, r)
		if len(r.stdout) != 1<<20 {
			t.Fatalf("got %d bytes, want %d", len(r.stdout), 1<<20)
		}
		if want := fetchNet(t, srv.Client(), url); !bytes.Equal([]byte(r.stdout), want) {
			t.Errorf("body differs from what net/http fetched")
		}
	})
	t.Run("404", func(t *testing.T) {
		t.Parallel()
		r := runKsocket(t, "", "get", "-i", srv.URL+"/status/404")
		checkExit0(t, r)
		if !strings.HasPrefix(r.stdout, "HTTP/1.1 404 Not Found\r\n") {
			t.Errorf("stdout does not start with the 404 status line\n%v", r)
		}
	})
	t.Run("404 body only", func(t *testing.T) {
		t.Parallel()
		checkExit0(t, runKsocket(t, "", "get", srv.URL+"/status/404"))
	})
	t.Run("500", func(t *testing.T) {
		t.Parallel()
		checkExit0(t, runKsocket(t, "", "get", srv.URL+"/status/500"))
	})
	t.Run("host from the hosts file", func(t *testing.T) {
		// localhost is ::1 and 127.0.0.1 in the test hosts file; the
		// server is on 127.0.0.1 only, so a refused ::1 must not stop the
		// dial from trying the next address.
		t.Parallel()
		r := runKsocket(t, "", "get", fmt.Sprintf("http://localhost:%d/uuid", port))
		checkExit0(t, r)
		checkUUIDBody(t, r.stdout)
	})
	t.Run("query string", func(t *testing.T) {
		t.Parallel()
		r := runKsocket(t, "", "get", srv.URL+"/get?a=1&b=two%20words")
		checkExit0(t, r)
		var v struct {
			Args map[string][]string `json:"args"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
			t.Fatalf("body %q: %v", r.stdout, err)
		}
		if got := v.Args["b"]; len(got) != 1 || got[0] != "two words" || v.Args["a"][0] != "1" {
			t.Errorf("server saw args %v", v.Args)
		}
	})
}

// TestGetIPv6 fetches from an httpbin on [::1].
func TestGetIPv6(t *testing.T) {
	t.Parallel()
	ln := listenIPv6(t)
	srv := httptest.NewUnstartedServer(httpbin.New())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	r := runKsocket(t, "", "get", srv.URL+"/uuid")
	checkExit0(t, r)
	checkUUIDBody(t, r.stdout)
}

// TestGetHTTPS runs ksocket get against go-httpbin over TLS.
func TestGetHTTPS(t *testing.T) {
	t.Parallel()
	srv := newTLSHTTPBin(t)

	t.Run("insecure", func(t *testing.T) {
		t.Parallel()
		r := runKsocket(t, "", "get", "--insecure", srv.URL+"/uuid")
		checkExit0(t, r)
		checkUUIDBody(t, r.stdout)
	})
	t.Run("insecure include chunked", func(t *testing.T) {
		t.Parallel()
		r := runKsocket(t, "", "get", "--insecure", "-i", srv.URL+"/stream/3")
		checkExit0(t, r)
		h, status, body := splitHead(t, r.stdout)
		if status != "HTTP/1.1 200 OK" || h.Get("Transfer-Encoding") != "chunked" {
			t.Errorf("status %q, Transfer-Encoding %q", status, h.Get("Transfer-Encoding"))
		}
		checkStreamBody(t, body, 3)
	})
	t.Run("insecure 1 MiB", func(t *testing.T) {
		t.Parallel()
		url := srv.URL + "/bytes/1048576?seed=7"
		r := runKsocket(t, "", "get", "--insecure", url)
		checkExit0(t, r)
		if want := fetchNet(t, srv.Client(), url); !bytes.Equal([]byte(r.stdout), want) {
			t.Errorf("got %d bytes, differing from net/http's %d", len(r.stdout), len(want))
		}
	})
	t.Run("self-signed refused", func(t *testing.T) {
		t.Parallel()
		r := runKsocket(t, "", "get", srv.URL+"/uuid")
		line := checkRuntimeError(t, r, "get")
		if !strings.Contains(line, "certificate") {
			t.Errorf("error %q does not mention the certificate", line)
		}
		if r.stdout != "" {
			t.Errorf("stdout not empty\n%v", r)
		}
	})
}

// rawServer serves each connection with handle on 127.0.0.1 until the test
// ends, then closes the listener and every connection and waits for the
// handlers.
func rawServer(t *testing.T, network string, handle func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen(network, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// readRequestHead reads up to the blank line that ends a request's head.
func readRequestHead(c net.Conn) error {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if l == "\r\n" {
			return nil
		}
	}
}

// TestGetCloseDelimited reads a body that ends when the server closes.
func TestGetCloseDelimited(t *testing.T) {
	t.Parallel()
	const body = "a body with neither Content-Length\nnor chunks\n"
	addr := rawServer(t, "tcp4", func(c net.Conn) {
		defer c.Close()
		if readRequestHead(c) == nil {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"+body)
		}
	})
	r := runKsocket(t, "", "get", "http://"+addr+"/")
	checkExit0(t, r)
	if r.stdout != body {
		t.Errorf("stdout %q, want %q", r.stdout, body)
	}
}

// TestGetRequest checks the request the seed sends: GET, Host and
// Connection: close.
func TestGetRequest(t *testing.T) {
	t.Parallel()
	reqs := make(chan *http.Request, 1)
	addr := rawServer(t, "tcp4", func(c net.Conn) {
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		reqs <- req
		io.WriteString(c, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
	})
	r := runKsocket(t, "", "get", "http://"+addr+"/a/b?c=d")
	checkExit0(t, r)
	select {
	case req := <-reqs:
		if req.Method != "GET" || req.RequestURI != "/a/b?c=d" || req.Proto != "HTTP/1.1" || req.Host != addr || !req.Close {
			t.Errorf("request %s %s %s, Host %q, Close %v", req.Method, req.RequestURI, req.Proto, req.Host, req.Close)
		}
	default:
		t.Fatal("the server saw no request")
	}
}

// TestGetTimeout meets a server that never answers.
func TestGetTimeout(t *testing.T) {
	t.Parallel()
	addr := rawServer(t, "tcp4", func(c net.Conn) {
		io.Copy(io.Discard, c) // until the client or the cleanup closes it
	})
	r := runKsocket(t, "", "get", "--timeout", "300ms", "http://"+addr+"/")
	line := checkRuntimeError(t, r, "get")
	if !strings.Contains(line, "timed out") {
		t.Errorf("error %q does not say it timed out", line)
	}
	if r.elapsed > 5*time.Second {
		t.Errorf("took %v with --timeout 300ms", r.elapsed)
	}
}

// getErrorTests are bad URLs and unreachable servers: each a one-line
// error and exit 1.
var getErrorTests = []struct {
	name, url string
	want      string // in the error line
}{
	{"malformed", "http://[::1/", "malformed"},
	{"bad escape", "http://127.0.0.1/%zz", "malformed"},
	{"no scheme", "127.0.0.1/uuid", "scheme"},
	{"no host", "http:///uuid", "host"},
	{"unknown scheme", "ftp://127.0.0.1/", "ftp"},
	{"port out of range", "http://127.0.0.1:65536/", "out of range"},
	{"port zero", "http://127.0.0.1:0/", "out of range"},
	{"port not a number", "http://127.0.0.1:http/", "http"},
	{"unresolvable host", "http://nosuch.invalid/", "nosuch.invalid"},
	{"unresolvable host https", "https://nosuch.invalid/", "nosuch.invalid"},
	{"connection refused", "http://127.0.0.1:REFUSED/", "connection refused"},
	{"connection refused https", "https://127.0.0.1:REFUSED/", "connection refused"},
}

func TestGetErrors(t *testing.T) {
	t.Parallel()
	refused := refusedPort(t)
	for _, tt := range getErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runKsocket(t, "", "get", strings.ReplaceAll(tt.url, "REFUSED", refused))
			line := checkRuntimeError(t, r, "get")
			if !strings.Contains(line, tt.want) {
				t.Errorf("error %q does not mention %q", line, tt.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout not empty\n%v", r)
			}
		})
	}
}

// FuzzParseURL checks that any URL either parses into a target with a
// host and a valid port, whose request has exactly its lines, or fails
// with a one-line error.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"http://httpbin.org/uuid", "https://127.0.0.1:8443/x?y=z", "http://[::1]:80/",
		"http://[::1", "ftp://x/", "http://x:0/", "http://x:65536/", "http:///p",
		"HTTP://X/", "http://x:/", "http://a b/", "http://x/a b", "http://x/\r\nInjected: 1",
		"http://x/%0d%0aInjected:%201", "//x/", "http://user:pw@x/", "http://x#frag",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tg, err := parseURL(raw)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("parseURL(%q): error %q is not one line", raw, err)
			}
			return
		}
		if tg.host == "" {
			t.Errorf("parseURL(%q): no host", raw)
		}
		if p, err := strconv.Atoi(tg.port); err != nil || p < 1 || p > 65535 {
			t.Errorf("parseURL(%q): port %q", raw, tg.port)
		}
		req := string(request(tg))
		head, ok := strings.CutSuffix(req, "\r\n\r\n")
		if !ok || strings.Count(head, "\r\n") != 4 || strings.Count(req, "\n") != strings.Count(req, "\r\n") ||
			strings.Count(req, "\r") != strings.Count(req, "\r\n") {
			t.Errorf("parseURL(%q): request %q does not have exactly its five lines", raw, req)
		}
		if !strings.HasPrefix(req, "GET /") && !strings.HasPrefix(req, "GET *") {
			t.Errorf("parseURL(%q): request line %q", raw, strings.SplitN(req, "\r\n", 2)[0])
		}
	})
}

// getBadServerTests are servers that break HTTP: each a one-line error and
// exit 1.
var getBadServerTests = []struct {
	name  string
	reply string // then the server closes
	want  string // in the error line
}{
	{"closed before a response", "", "closed before a response"},
	{"not HTTP", "SSH-2.0-OpenSSH_9.2\r\n\r\n", "bad response"},
	{"truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", "unexpected EOF"},
	{"truncated chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort", "unexpected EOF"},
	{"truncated head", "HTTP/1.1 200 OK\r\nContent-Le", "EOF"},
}

func TestGetBadServer(t *testing.T) {
	t.Parallel()
	for _, tt := range getBadServerTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := rawServer(t, "tcp4", func(c net.Conn) {
				defer c.Close()
				if readRequestHead(c) == nil {
					io.WriteString(c, tt.reply)
				}
			})
			r := runKsocket(t, "", "get", "http://"+addr+"/")
			if line := checkRuntimeError(t, r, "get"); !strings.Contains(line, tt.want) {
				t.Errorf("error %q does not mention %q", line, tt.want)
			}
		})
	}
}

// TestGetIncludeLongHeader prints every header with -i, whatever the
// length of the lines before it.
func TestGetIncludeLongHeader(t *testing.T) {
	t.Parallel()
	for _, n := range []int{100, 4000, 4096, 4097, 4098, 4099, 9000, 8193} {
		t.Run(fmt.Sprintf("line=%d", n), func(t *testing.T) {
			t.Parallel()
			long := "X-Long: " + strings.Repeat("a", n-len("X-Long: ")-2)
			addr := rawServer(t, "tcp4", func(c net.Conn) {
				defer c.Close()
				if readRequestHead(c) == nil {
					io.WriteString(c, "HTTP/1.1 200 OK\r\n"+long+"\r\nX-After: yes\r\nContent-Length: 2\r\n\r\nok")
				}
			})
			r := runKsocket(t, "", "get", "-i", "http://"+addr+"/")
			checkExit0(t, r)
			h, _, body := splitHead(t, r.stdout)
			if h.Get("X-Long") != long[len("X-Long: "):] || h.Get("X-After") != "yes" || body != "ok" {
				t.Errorf("stdout does not have the long header, the one after it and the body: %d bytes, X-After %q, body %q",
					len(r.stdout), h.Get("X-After"), body)
			}
		})
	}
}
