//go:build linux

package gonet

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/internal/engine"
	"github.com/ksocket-go/ksocket/internal/testenv"
)

// tempFile writes size random bytes to a file in t's temporary directory.
func tempFile(t *testing.T, size int) (*os.File, []byte) {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, data
}

// tcpPair is a connected pair: a from dial (gonet's or net's), b accepted.
func tcpPair(t *testing.T, gonetSide bool) (a, b net.Conn) {
	t.Helper()
	listen, dial := net.Listen, net.Dial
	if gonetSide {
		listen, dial = Listen, Dial
	}
	ln, err := listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, err = dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// TestReadFromFileWithNet copies a file, whole and in a limited range from
// an offset, through io.Copy into a connection, on gonet and on net: the
// bytes that arrive, the counts, and the file position after must match.
func TestReadFromFileWithNet(t *testing.T) {
	const size = 5<<20 + 123
	for _, tc := range []struct {
		name  string
		start int64
		limit int64 // -1: to the end
	}{
		{"whole", 0, -1},
		{"range", 1000, 1<<20 + 7},
		{"past-end", size - 10, 100},
		{"at-end", size, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [2]string
			for i, gonetSide := range []bool{false, true} {
				f, data := tempFile(t, size)
				a, b := tcpPair(t, gonetSide)
				if _, err := f.Seek(tc.start, io.SeekStart); err != nil {
					t.Fatal(err)
				}
				var r io.Reader = f
				lr := &io.LimitedReader{R: f, N: tc.limit}
				if tc.limit >= 0 {
					r = lr
				}
				recv := make(chan []byte, 1)
				go func() {
					b, _ := io.ReadAll(b)
					recv <- b
				}()
				n, err := io.Copy(a, r)
				a.Close()
				body := <-recv
				pos, _ := f.Seek(0, io.SeekCurrent)
				end := int64(size)
				if tc.limit >= 0 {
					end = min(end, tc.start+tc.limit)
				}
				want := data[min(tc.start, size):end]
				got[i] = fmt.Sprintf("copied %d, %v; received %d bytes, right ones %v; position %d; left in limit %d",
					n, err, len(body), bytes.Equal(body, want), pos, lr.N)
			}
			t.Logf("net: %s", got[0])
			if got[0] != got[1] {
				t.Errorf("gonet: %s\nnet:   %s", got[1], got[0])
			}
		})
	}
}

// TestReadFromFileEnds checks that a copy into a peer that does not read
// ends at the write deadline, and at Close, with the count of bytes sent,
// and the file position just past them.
func TestReadFromFileEnds(t *testing.T) {
	f, _ := tempFile(t, 64<<20)
	a, _ := tcpPair(t, true)
	a.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	n, err := io.Copy(a, f)
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("copy into a peer that does not read, past the deadline: %d, %v", n, err)
	}
	if pos, _ := f.Seek(0, io.SeekCurrent); pos != n || n <= 0 || n >= 64<<20 {
		t.Errorf("sent %d of 64 MiB; the file position is %d", n, pos)
	}

	c, _ := tcpPair(t, true)
	f.Seek(0, io.SeekStart)
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(c, f)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("copy into a connection closed under it: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("copy still running 5 s after Close")
	}
}

// TestReadFromFileResetNamesSyscall copies a file by ReadFrom into a
// connection whose peer resets it, on net and on gonet: the error is a
// *net.OpError for readfrom around an *os.SyscallError naming the call
// that moved the bytes, with EPIPE or ECONNRESET. That call is sendfile,
// as net's, where gonet makes sendfile(2) (at two Ps, the ring's splice op
// masked, or epoll), and splice where IORING_OP_SPLICE carries the copy
// (at one P).
func TestReadFromFileResetNamesSyscall(t *testing.T) {
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprint("GOMAXPROCS=", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			testReadFromFileResetNamesSyscall(t)
		})
	}
}

func testReadFromFileResetNamesSyscall(t *testing.T) {
	inf, err := engine.Probe()
	if err != nil {
		t.Fatal(err)
	}
	gonetCall := "sendfile"
	if slices.Contains(inf.RingCalls, "splice") && runtime.GOMAXPROCS(0) == 1 {
		gonetCall = "splice"
	}
	for _, gonetSide := range []bool{false, true} {
		want := "sendfile"
		if gonetSide {
			want = gonetCall
		}
		f, _ := tempFile(t, 16<<20)
		a, b := tcpPair(t, gonetSide)
		if err := b.(interface{ SetLinger(int) error }).SetLinger(0); err != nil {
			t.Fatal(err)
		}
		b.Close() // an RST: the copy fails once it arrives
		n, err := a.(io.ReaderFrom).ReadFrom(f)
		t.Logf("gonet %v: %d, %v", gonetSide, n, err)
		var oe *net.OpError
		var se *os.SyscallError
		if !errors.As(err, &oe) || oe.Op != "readfrom" || !errors.As(err, &se) || se.Syscall != want ||
			!(errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)) {
			t.Errorf("gonet %v: ReadFrom into a reset connection = %d, %v; want a readfrom OpError around %s: EPIPE or ECONNRESET",
				gonetSide, n, err, want)
		}
		if pos, _ := f.Seek(0, io.SeekCurrent); pos != n {
			t.Errorf("gonet %v: %d bytes sent, file position %d", gonetSide, n, pos)
		}
	}
}

// TestReadFromFileThenCloseResets: a conn that copied a file in and is
// then closed with unread data resets its peer before Close returns, as
// net's does. At one P the ring's splice op carries the copy; it runs on a
// kernel worker, whose reference to the socket is dropped by task work on
// the thread that entered the ring for it, as IORING_OP_SHUTDOWN's was
// (the engine gave that op up when it kept closed sockets alive for
// milliseconds). So gonet may be no more often late than net, at one P and
// at two. Each round pauses 2 ms between the copy and the close, long
// enough for the thread that entered the ring to fall asleep.
func TestReadFromFileThenCloseResets(t *testing.T) {
	f, _ := tempFile(t, 4096)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const rounds = 50
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprint("GOMAXPROCS=", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			late := map[string]int{}
			for _, im := range impls {
				for range rounds {
					c, err := im.dial(t.Context(), "tcp4", ln.Addr().String())
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					peer, err := ln.Accept()
					if err != nil {
						t.Fatal(err)
					}
					defer peer.Close()
					tp := peer.(*net.TCPConn)
					if _, err := tp.Write([]byte("hello")); err != nil {
						t.Fatal(err)
					}
					testenv.WaitAcked(t, tp)
					if _, err := f.Seek(0, 0); err != nil {
						t.Fatal(err)
					}
					if n, err := c.(io.ReaderFrom).ReadFrom(f); n != 4096 || err != nil {
						t.Fatalf("%s: ReadFrom(file) = %d, %v", im.name, n, err)
					}
					time.Sleep(2 * time.Millisecond)
					if err := c.Close(); err != nil {
						t.Fatalf("%s: Close: %v", im.name, err)
					}
					if !testenv.Reset(t, tp) {
						late[im.name]++
					}
				}
			}
			t.Logf("peer not yet reset when Close returned: net %d of %d, gonet %d", late["net"], rounds, late["gonet"])
			if late["gonet"] > late["net"] {
				t.Errorf("gonet's peer was not yet reset when Close returned in %d rounds of %d; net's in %d", late["gonet"], rounds, late["net"])
			}
		})
	}
}

// TestServeFile serves a file with net/http from a gonet listener, which
// reaches ReadFrom's kernel path, and fetches it with net's client.
func TestServeFile(t *testing.T) {
	f, data := tempFile(t, 3<<20+5)
	ln, err := Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, f.Name())
	})}
	go srv.Serve(ln)
	defer srv.Close()
	for _, rng := range []string{"", "bytes=100-200099"} {
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/data", nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		tr := &http.Transport{}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		want := data
		if rng != "" {
			want = data[100:200100]
		}
		if err != nil || sha256.Sum256(body) != sha256.Sum256(want) {
			t.Errorf("range %q: %d bytes (%v), want %d", rng, len(body), err, len(want))
		}
	}
}

// TestSpliceBetweenConnsWithNet copies one connection into another with
// io.Copy, whole and through an io.LimitedReader, on gonet (splice from
// socket to socket) and on net: what arrives and the counts must match.
func TestSpliceBetweenConnsWithNet(t *testing.T) {
	const size = 3<<20 + 11
	data := make([]byte, size)
	rand.Read(data)
	for _, limit := range []int64{-1, 1<<20 + 3} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			var got [2]string
			for i, gonetSide := range []bool{false, true} {
				// in: a feeder writes data into inA; the copy reads inB.
				inA, inB := tcpPair(t, gonetSide)
				outA, outB := tcpPair(t, gonetSide)
				go func() {
					inA.Write(data)
					inA.Close()
				}()
				recv := make(chan []byte, 1)
				go func() {
					b, _ := io.ReadAll(outB)
					recv <- b
				}()
				var src io.Reader = inB
				if limit >= 0 {
					src = &io.LimitedReader{R: inB, N: limit}
				}
				n, err := io.Copy(outA, src)
				outA.Close()
				body := <-recv
				want := data
				if limit >= 0 {
					want = data[:limit]
				}
				got[i] = fmt.Sprintf("copied %d, %v; received %d, right ones %v", n, err, len(body), bytes.Equal(body, want))
			}
			t.Logf("net: %s", got[0])
			if got[0] != got[1] {
				t.Errorf("gonet: %s\nnet:   %s", got[1], got[0])
			}
		})
	}
	// WriteTo: io.Copy takes the source's WriteTo, which splices into a
	// gonet unix stream connection.
	inA, inB := tcpPair(t, true)
	dir := t.TempDir()
	ul, err := Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	ua, err := Dial("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	ub, err := ul.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer ub.Close()
	go func() {
		inA.Write(data[:1<<20])
		inA.Close()
	}()
	recv := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(ub)
		recv <- b
	}()
	n, err := io.Copy(ua, inB)
	ua.Close()
	if body := <-recv; n != 1<<20 || err != nil || !bytes.Equal(body, data[:1<<20]) {
		t.Errorf("TCP into unix through WriteTo: %d, %v; %d bytes arrived", n, err, len(body))
	}
}

// TestSpliceEnds checks that a splice waiting for a source that sends
// nothing ends when the source's read deadline passes, and when the
// source is closed.
func TestSpliceEnds(t *testing.T) {
	_, inB := tcpPair(t, true)
	outA, _ := tcpPair(t, true)
	inB.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	n, err := io.Copy(outA, inB)
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() || n != 0 {
		t.Errorf("splice from a silent source past its read deadline: %d, %v", n, err)
	}
	inB.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(outA, inB)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	inB.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("splice from a source closed under it: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("splice still running 5 s after its source was closed")
	}
}

// TestWriteToFileWithNet copies a connection into a file with io.Copy, on
// gonet (spliced) and on net: the file's content and position, and the
// count, must match; an O_APPEND file takes the ordinary copy.
func TestWriteToFileWithNet(t *testing.T) {
	const size = 2<<20 + 9
	data := make([]byte, size)
	rand.Read(data)
	for _, appendMode := range []bool{false, true} {
		t.Run(fmt.Sprintf("append=%v", appendMode), func(t *testing.T) {
			var got [2]string
			for i, gonetSide := range []bool{false, true} {
				a, b := tcpPair(t, gonetSide)
				path := filepath.Join(t.TempDir(), "out")
				flags := os.O_CREATE | os.O_RDWR
				if appendMode {
					flags |= os.O_APPEND
				}
				f, err := os.OpenFile(path, flags, 0o600)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				f.Write([]byte("head:"))
				go func() {
					a.Write(data)
					a.Close()
				}()
				n, err := io.Copy(f, b)
				pos, _ := f.Seek(0, io.SeekCurrent)
				content, _ := os.ReadFile(path)
				got[i] = fmt.Sprintf("copied %d, %v; position %d; content right %v", n, err, pos,
					bytes.Equal(content, append([]byte("head:"), data...)))
			}
			t.Logf("net: %s", got[0])
			if got[0] != got[1] {
				t.Errorf("gonet: %s\nnet:   %s", got[1], got[0])
			}
		})
	}
}

// TestReadFromUnsupportedFileWithNet copies a regular file that the
// kernel will neither sendfile nor splice (/proc/self/status: EINVAL)
// into a connection with io.Copy. net copies it through a buffer, and so
// must gonet, whichever way its copy inside the kernel goes.
func TestReadFromUnsupportedFileWithNet(t *testing.T) {
	for _, gonetSide := range []bool{false, true} {
		f, err := os.Open("/proc/self/status")
		if err != nil {
			t.Skipf("no /proc here: %v", err)
		}
		a, b := tcpPair(t, gonetSide)
		got := make(chan []byte, 1)
		go func() {
			data, _ := io.ReadAll(b)
			got <- data
		}()
		n, err := io.Copy(a, f)
		f.Close()
		a.Close()
		data := <-got
		if err != nil || n == 0 || int(n) != len(data) || !bytes.HasPrefix(data, []byte("Name:")) {
			t.Errorf("gonet %v: io.Copy from /proc/self/status = %d, %v; the peer got %d bytes starting %q",
				gonetSide, n, err, len(data), data[:min(len(data), 16)])
		}
	}
}
