//go:build linux

package gonet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

// httpbinServer is go-httpbin served by an http.Server on a listener, with
// a count of the connections the server has seen.
type httpbinServer struct {
	*http.Server
	URL      string
	newConns atomic.Int32
	served   chan error // Serve's result
}

// serveHTTPBin serves h (go-httpbin if nil) on ln until the test ends.
func serveHTTPBin(t *testing.T, ln net.Listener, h http.Handler) *httpbinServer {
	t.Helper()
	if h == nil {
		h = httpbin.New()
	}
	s := &httpbinServer{URL: "http://" + ln.Addr().String(), served: make(chan error, 1)}
	s.Server = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          testErrorLog(t),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.newConns.Add(1)
			}
		},
	}
	go func() { s.served <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-s.served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

// testErrorLog returns a logger for an http.Server that keeps what it is
// told and hands it to t.Log when the test ends. The server may still log
// after that (a handshake cut short by Close), so it never calls t itself.
func testErrorLog(t *testing.T) *log.Logger {
	var mu sync.Mutex
	var buf bytes.Buffer
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if buf.Len() > 0 {
			t.Logf("server log:\n%s", buf.Bytes())
		}
	})
	return log.New(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), "", log.Lmicroseconds)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// gonetListener listens on a gonet TCP socket on loopback.
func gonetListener(t *testing.T, network string) net.Listener {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "tcp6" {
		addr = "[::1]:0"
	}
	ln, err := Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// newClient returns an http.Client whose transport dials with dial and
// counts its dials; its idle connections are closed when the test ends.
func newClient(t *testing.T, dial func(ctx context.Context, network, address string) (net.Conn, error), dials *atomic.Int32) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			if dials != nil {
				dials.Add(1)
			}
			return dial(ctx, network, address)
		},
		MaxIdleConnsPerHost: 256,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 15 * time.Second}
}

func gonetClient(t *testing.T, dials *atomic.Int32) *http.Client {
	return newClient(t, (&Dialer{}).DialContext, dials)
}

// get fetches url and returns its body, failing the test on any error or
// a status other than 200.
func get(t *testing.T, c *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	return resp, body
}

// httpbinBytes is what go-httpbin's /bytes/n?seed=seed sends: n bytes of
// math/rand's Intn(256) from that seed.
func httpbinBytes(n int, seed int64) []byte {
	rng := rand.New(rand.NewSource(seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Intn(256))
	}
	return b
}

// textBody returns n bytes of printable ASCII, which go-httpbin echoes back
// unchanged in a JSON string.
func textBody(n int, seed int64) []byte {
	rng := rand.New(rand.NewSource(seed))
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.Intn(len(alphabet))]
	}
	return b
}

// checkLargeBodies downloads 1 MiB, whole and chunked, and uploads 1 MiB,
// with and without a length, checking every byte.
func checkLargeBodies(t *testing.T, c *http.Client, base string) {
	t.Helper()
	const size = 1 << 20
	want := httpbinBytes(size, 42)
	for _, path := range []string{"/bytes/1048576?seed=42", "/stream-bytes/1048576?seed=42&chunk_size=65536"} {
		_, body := get(t, c, base+path)
		if len(body) != size {
			t.Fatalf("GET %s: %d bytes, want %d", path, len(body), size)
		}
		if !bytes.Equal(body, want) {
			t.Fatalf("GET %s: the bytes differ from go-httpbin's for that seed", path)
		}
	}

	up := textBody(size, 43)
	for _, chunked := range []bool{false, true} {
		var r io.Reader = bytes.NewReader(up)
		if chunked {
			r = io.MultiReader(r) // hides the length: chunked encoding
		}
		req, err := http.NewRequest("POST", base+"/anything", r)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "text/plain")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("POST 1 MiB (chunked %v): %v", chunked, err)
		}
		var echo struct {
			Data string `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&echo)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("POST 1 MiB (chunked %v): %s, %v", chunked, resp.Status, err)
		}
		if echo.Data != string(up) {
			t.Fatalf("POST 1 MiB (chunked %v): echoed %d bytes that differ from the %d sent", chunked, len(echo.Data), len(up))
		}
	}
}

// TestHTTPKeepAlive checks that sequential requests reuse one gonet
// connection: one dial by the client, one connection seen by the server.
func TestHTTPKeepAlive(t *testing.T) {
	srv := serveHTTPBin(t, gonetListener(t, "tcp4"), nil)
	var dials atomic.Int32
	c := gonetClient(t, &dials)
	for i := range 20 {
		_, body := get(t, c, fmt.Sprintf("%s/get?i=%d", srv.URL, i))
		var got struct {
			Args map[string][]string `json:"args"`
		}
		if err := json.Unmarshal(body, &got); err != nil || len(got.Args["i"]) != 1 || got.Args["i"][0] != strconv.Itoa(i) {
			t.Fatalf("GET /get?i=%d: args %v, %v", i, got.Args, err)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("20 sequential requests dialed %d connections, want 1", n)
	}
	if n := srv.newConns.Load(); n != 1 {
		t.Errorf("the server saw %d connections for 20 sequential requests, want 1", n)
	}
}

// TestHTTPLargeBodies checks 1 MiB bodies both ways over gonet on both
// ends, IPv4 and IPv6.
func TestHTTPLargeBodies(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			skipNetwork(t, network)
			t.Parallel()
			srv := serveHTTPBin(t, gonetListener(t, network), nil)
			checkLargeBodies(t, gonetClient(t, nil), srv.URL)
		})
	}
}

// TestHTTPConcurrent checks 200 requests at once, each answered with its
// own arguments.
func TestHTTPConcurrent(t *testing.T) {
	srv := serveHTTPBin(t, gonetListener(t, "tcp4"), nil)
	c := gonetClient(t, nil)
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(fmt.Sprintf("%s/anything?i=%d", srv.URL, i))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			var got struct {
				Args map[string][]string `json:"args"`
			}
			err = json.NewDecoder(resp.Body).Decode(&got)
			if resp.StatusCode != http.StatusOK || err != nil {
				errs <- fmt.Errorf("request %d: %s, %v", i, resp.Status, err)
				return
			}
			if v := got.Args["i"]; len(v) != 1 || v[0] != strconv.Itoa(i) {
				errs <- fmt.Errorf("request %d: answered with args %v", i, got.Args)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestHTTPStream checks a chunked response streamed line by line.
func TestHTTPStream(t *testing.T) {
	srv := serveHTTPBin(t, gonetListener(t, "tcp4"), nil)
	c := gonetClient(t, nil)
	const lines = 50
	resp, err := c.Get(fmt.Sprintf("%s/stream/%d", srv.URL, lines))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" || resp.ContentLength != -1 {
		t.Errorf("TransferEncoding %v, ContentLength %d; want chunked, -1", resp.TransferEncoding, resp.ContentLength)
	}
	sc := bufio.NewScanner(resp.Body)
	i := 0
	for ; sc.Scan(); i++ {
		var line struct {
			ID int `json:"id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil || line.ID != i {
			t.Fatalf("line %d: id %d, %v", i, line.ID, err)
		}
	}
	if err := sc.Err(); err != nil || i != lines {
		t.Fatalf("read %d lines, %v; want %d", i, err, lines)
	}
}

// TestHTTPShutdown checks that Shutdown lets in-flight requests finish
// before it returns, and then the gonet listener is closed: new dials are
// refused and Serve returns http.ErrServerClosed.
func TestHTTPShutdown(t *testing.T) {
	const inflight = 5
	started := make(chan struct{}, inflight)
	var handled atomic.Int32
	hb := httpbin.New()
	ln := gonetListener(t, "tcp4")
	addr := ln.Addr().String()
	srv := serveHTTPBin(t, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/delay/") {
			hb.ServeHTTP(w, r)
			return
		}
		started <- struct{}{}
		hb.ServeHTTP(w, r)
		handled.Add(1)
	}))
	c := gonetClient(t, nil)

	results := make(chan error, inflight)
	for range inflight {
		go func() {
			resp, err := c.Get(srv.URL + "/delay/300ms")
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != http.StatusOK {
					err = errors.New(resp.Status)
				}
			}
			results <- err
		}()
	}
	for range inflight {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("the requests never reached the handler")
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := handled.Load(); n != inflight {
		t.Errorf("Shutdown returned with %d of %d in-flight requests handled", n, inflight)
	}
	for range inflight {
		if err := <-results; err != nil {
			t.Errorf("in-flight request: %v", err)
		}
	}
	if err := <-srv.served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v, want http.ErrServerClosed", err)
	}
	srv.served <- http.ErrServerClosed // for the cleanup

	conn, err := Dial("tcp4", addr)
	if err == nil {
		conn.Close()
		t.Fatal("dial after Shutdown succeeded")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial after Shutdown: %v, want ECONNREFUSED", err)
	}
	if _, err := c.Get(srv.URL + "/get"); err == nil {
		t.Error("request after Shutdown succeeded")
	}
}

// TestHTTPMixed checks net/http with gonet on one side only: a gonet server
// with a net client, and a net server with a gonet client.
func TestHTTPMixed(t *testing.T) {
	for _, tt := range []struct {
		name   string
		server impl
		client impl
	}{
		{"server=gonet/client=net", gonetImpl, netImpl},
		{"server=net/client=gonet", netImpl, gonetImpl},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ln, err := tt.server.listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := serveHTTPBin(t, ln, nil)
			var dials atomic.Int32
			c := newClient(t, tt.client.dial, &dials)
			for range 3 {
				get(t, c, srv.URL+"/get")
			}
			checkLargeBodies(t, c, srv.URL)
			// net/http hands a connection back to its idle pool a moment
			// after the body's EOF, so a request right after a large body
			// may dial once more; TestHTTPKeepAlive checks reuse strictly.
			if n := dials.Load(); n > 2 {
				t.Errorf("dialed %d connections for sequential requests, want 1 (2 at most)", n)
			}
		})
	}
}
