//go:build linux

package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// SendFile goes by IORING_OP_SPLICE where the ring has the op and
// GOMAXPROCS is 1, and by sendfile(2) at more Ps, where KSOCKET_FEATURES
// masks the op, and on epoll. The engine is chosen once per process, so
// each test here runs on the process's own engine, at one P and at two,
// and again in a child on each of sendfileProfiles.

// sendfileProfiles are the children's engines: the two where sendfile(2)
// carries SendFile.
var sendfileProfiles = []struct {
	name string
	env  []string
}{
	{"uring,-SPLICE", []string{"KSOCKET_BACKEND=uring", "KSOCKET_FEATURES=-SPLICE"}},
	{"epoll", []string{"KSOCKET_BACKEND=epoll", "KSOCKET_FEATURES="}},
}

const sendfileChildEnv = "KSOCKET_SENDFILE_CHILD"

// inSendfileChildren runs test in a child process on each of
// sendfileProfiles; the child runs it at one P and at two (atProcs),
// starting at this process's GOMAXPROCS. A child skips when its
// backend cannot be set up; that fails here if this process has a ring.
func inSendfileChildren(t *testing.T, test string) {
	t.Helper()
	if os.Getenv(sendfileChildEnv) != "" {
		return
	}
	for _, p := range sendfileProfiles {
		t.Run(p.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), p.env...)
			cmd.Env = append(cmd.Env, sendfileChildEnv+"=1", "GORACE=atexit_sleep_ms=50",
				"GOMAXPROCS="+strconv.Itoa(runtime.GOMAXPROCS(0)))
			cmd.WaitDelay = 5 * time.Second
			b, err := cmd.CombinedOutput()
			out := string(b)
			switch {
			case err == nil && strings.Contains(out, "--- PASS: "+test):
				for _, l := range strings.Split(out, "\n") {
					if strings.Contains(l, "sendfile_test.go") {
						t.Log(strings.TrimSpace(l))
					}
				}
			case err == nil && strings.Contains(out, "--- SKIP: "+test) && testEngine(t).Backend() != "uring":
				t.Skipf("child (%s) skipped:\n%s", strings.Join(p.env, " "), out)
			default:
				t.Fatalf("child (%s): %v\n%s", strings.Join(p.env, " "), err, out)
			}
		})
	}
}

// atProcs runs test as subtests at GOMAXPROCS 1 and 2: on a ring with the
// splice op, SendFile takes its two ways.
func atProcs(t *testing.T, test func(t *testing.T)) {
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprint("GOMAXPROCS=", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			test(t)
		})
	}
}

// sendfileEngine returns the process's engine and whether SendFile goes by
// sendfile(2) on it at this GOMAXPROCS, checked against what Info reports.
// A child whose profile cannot be set up skips.
func sendfileEngine(t *testing.T) (*Engine, bool) {
	t.Helper()
	e, err := Default()
	if err != nil {
		if os.Getenv(sendfileChildEnv) != "" {
			t.Skipf("no engine for %s=%q: %v", "KSOCKET_BACKEND", os.Getenv("KSOCKET_BACKEND"), err)
		}
		t.Fatalf("engine: %v", err)
	}
	inf := e.b.info()
	ring := slices.Contains(inf.RingCalls, "splice")
	if !slices.Contains(inf.SysCalls, "sendfile") {
		t.Fatalf("Info does not list sendfile as a syscall: %v", inf.SysCalls)
	}
	if slices.Contains(inf.Masked, "SPLICE") && ring {
		t.Fatalf("SPLICE is masked, but Info lists splice as a ring call: %v", inf.RingCalls)
	}
	bySplice := ring && runtime.GOMAXPROCS(0) == 1
	t.Logf("backend %s, masked %v, GOMAXPROCS %d: SendFile by %s", e.Backend(), inf.Masked, runtime.GOMAXPROCS(0),
		map[bool]string{true: "IORING_OP_SPLICE", false: "sendfile(2)"}[bySplice])
	return e, !bySplice
}

// sendfileLog wraps sendfileFunc for one test: it counts the calls, the
// bytes and the EAGAINs, records each call's offset, and can interrupt
// calls (EINTR before the syscall) and ask for less than the caller did,
// so the kernel's short counts come more often.
type sendfileLog struct {
	interrupt bool // every third call fails with EINTR, sending nothing
	most      int  // > 0: ask for at most this much a call

	mu      sync.Mutex
	calls   int
	eintr   int
	eagain  int
	bytes   int64
	offs    []int64       // each call's offset on entry
	sent    []int         // what each call sent (-1: an error)
	blocked chan struct{} // closed at the first EAGAIN
}

func hookSendfile(t *testing.T, interrupt bool, most int) *sendfileLog {
	l := &sendfileLog{interrupt: interrupt, most: most, blocked: make(chan struct{})}
	real := sendfileFunc
	sendfileFunc = func(out, in int, off *int64, count int) (int, error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.calls++
		if l.interrupt && l.calls%3 == 1 {
			l.eintr++
			return -1, unix.EINTR
		}
		if l.most > 0 {
			count = min(count, l.most)
		}
		l.offs = append(l.offs, *off)
		k, err := real(out, in, off, count)
		l.sent = append(l.sent, k)
		if k > 0 {
			l.bytes += int64(k)
		}
		if err == unix.EAGAIN {
			if l.eagain == 0 {
				close(l.blocked)
			}
			l.eagain++
		}
		return k, err
	}
	t.Cleanup(func() { sendfileFunc = real })
	return l
}

// contiguous reports whether the calls read the file in one run from off:
// each call starting where the ones before left off.
func (l *sendfileLog) contiguous(off int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, o := range l.offs {
		if o != off {
			return fmt.Errorf("call %d of %d started at offset %d, want %d (offsets %v)", i, len(l.offs), o, off, l.offs)
		}
		off += int64(max(l.sent[i], 0))
	}
	return nil
}

// sendfileData writes size random bytes to a file and opens it.
func sendfileData(t *testing.T, size int) (*os.File, []byte) {
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

// smallBuffers shrinks c's send buffer and peer's receive buffer, so that a
// peer that does not read stops a copy within a few hundred KiB.
func smallBuffers(t *testing.T, c, peer *Socket) {
	t.Helper()
	if err := c.SetsockoptInt(unix.SOL_SOCKET, unix.SO_SNDBUF, 64<<10); err != nil {
		t.Fatal(err)
	}
	if err := peer.SetsockoptInt(unix.SOL_SOCKET, unix.SO_RCVBUF, 64<<10); err != nil {
		t.Fatal(err)
	}
}

// drainAfter reads peer to its end once start is closed (or after 5 s)
// and returns what arrived.
func drainAfter(peer *Socket, start <-chan struct{}) <-chan []byte {
	got := make(chan []byte, 1)
	go func() {
		select {
		case <-start:
		case <-time.After(5 * time.Second):
		}
		var body []byte
		buf := make([]byte, 64<<10)
		for {
			n, err := peer.Read(buf)
			body = append(body, buf[:max(n, 0)]...)
			if n <= 0 || err != nil {
				got <- body
				return
			}
		}
	}()
	return got
}

const sendfileSize = 5<<20 + 123

var sendFileTests = []struct {
	name      string
	off, n    int64
	interrupt bool // EINTR on every third call
	most      int  // short calls
	block     bool // the peer reads only once a call has met EAGAIN
}{
	{name: "range, peer full", off: 4097, n: 3<<20 + 5, block: true},
	{name: "range, EINTR and short calls", off: 4097, n: 1<<20 + 3, interrupt: true, most: 1<<16 + 3},
	{name: "offset to the end", off: 1000, n: -1},
	{name: "to the end, EINTR", off: 0, n: -1, interrupt: true},
	{name: "past the end", off: sendfileSize - 10, n: 100},
	{name: "at the end", off: sendfileSize, n: -1},
	{name: "nothing", off: 5, n: 0},
}

// TestSendFileBySendfileWhereSpliceMasked copies ranges of a file into a
// connection with SendFile, at one P and at two. At two Ps, where the
// ring's splice op is masked (KSOCKET_FEATURES=-SPLICE) and on epoll,
// every byte must go by sendfile(2), and none where the ring has the op
// at one P. Either way the count must be exact, the bytes that arrive the
// file's (SHA-256), the file's position untouched, and the calls
// contiguous from the offset through EINTR, short counts and EAGAIN
// waits.
func TestSendFileBySendfileWhereSpliceMasked(t *testing.T) {
	inSendfileChildren(t, "TestSendFileBySendfileWhereSpliceMasked")
	atProcs(t, testSendFileBySendfile)
}

func testSendFileBySendfile(t *testing.T) {
	_, bySendfile := sendfileEngine(t)
	f, data := sendfileData(t, sendfileSize)
	for _, tt := range sendFileTests {
		t.Run(tt.name, func(t *testing.T) {
			c, peer := connectedPair(t)
			log := hookSendfile(t, tt.interrupt, tt.most)
			start := make(chan struct{})
			if tt.block {
				smallBuffers(t, c, peer)
				if bySendfile {
					start = log.blocked
				} else {
					close(start)
				}
			} else {
				close(start)
			}
			got := drainAfter(peer, start)
			const pos = 777 // not used, not moved
			if _, err := f.Seek(pos, 0); err != nil {
				t.Fatal(err)
			}

			n, err := c.SendFile(ctx0, int(f.Fd()), tt.off, tt.n, 0)
			c.Shutdown(unix.SHUT_WR)
			body := <-got

			end := int64(len(data))
			if tt.n >= 0 {
				end = min(end, tt.off+tt.n)
			}
			want := data[min(tt.off, end):end]
			if err != nil || n != int64(len(want)) {
				t.Errorf("SendFile(off %d, n %d) = %d, %v; want %d, nil", tt.off, tt.n, n, err, len(want))
			}
			if len(body) != len(want) || sha256.Sum256(body) != sha256.Sum256(want) {
				t.Errorf("%d bytes arrived, want %d; same bytes %v", len(body), len(want), bytes.Equal(body, want))
			}
			if p, _ := f.Seek(0, 1); p != pos {
				t.Errorf("file position %d after SendFile, want %d", p, pos)
			}
			log.mu.Lock()
			calls, eintr, eagain, sent := log.calls, log.eintr, log.eagain, log.bytes
			log.mu.Unlock()
			t.Logf("%d bytes in %d sendfile calls (%d EINTR, %d EAGAIN)", n, calls, eintr, eagain)
			if !bySendfile {
				if calls != 0 {
					t.Errorf("%d sendfile(2) calls where the ring's splice op carries SendFile", calls)
				}
				return
			}
			if sent != n {
				t.Errorf("sendfile(2) sent %d bytes, SendFile reports %d", sent, n)
			}
			if tt.n != 0 && calls == 0 {
				t.Error("no sendfile(2) call")
			}
			if err := log.contiguous(tt.off); err != nil {
				t.Error(err)
			}
			if tt.interrupt && eintr == 0 {
				t.Error("no call was interrupted")
			}
			if tt.block && eagain == 0 {
				t.Error("no call met EAGAIN, though the peer read nothing until one did")
			}
		})
	}
}

// TestSendFileEndsMidway stops SendFile into a peer that does not read by
// the write deadline, a timeout, a context and Close. Each must end it
// with its own error and a count that is exact: the peer, reading
// afterwards, gets just that many bytes, the file's from the offset.
func TestSendFileEndsMidway(t *testing.T) {
	inSendfileChildren(t, "TestSendFileEndsMidway")
	atProcs(t, testSendFileEndsMidway)
}

func testSendFileEndsMidway(t *testing.T) {
	_, bySendfile := sendfileEngine(t)
	const size = 16 << 20
	f, data := sendfileData(t, size)
	for _, tt := range []struct {
		name string
		want error
		run  func(c *Socket) (int64, error)
	}{
		{"deadline", os.ErrDeadlineExceeded, func(c *Socket) (int64, error) {
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			return c.SendFile(ctx0, int(f.Fd()), 3, -1, 0)
		}},
		{"timeout", os.ErrDeadlineExceeded, func(c *Socket) (int64, error) {
			return c.SendFile(ctx0, int(f.Fd()), 3, -1, 100*time.Millisecond)
		}},
		{"context", context.Canceled, func(c *Socket) (int64, error) {
			ctx, cancel := context.WithCancel(ctx0)
			defer cancel()
			time.AfterFunc(100*time.Millisecond, cancel)
			return c.SendFile(ctx, int(f.Fd()), 3, -1, 0)
		}},
		{"close", net.ErrClosed, func(c *Socket) (int64, error) {
			time.AfterFunc(100*time.Millisecond, func() { c.Close() })
			return c.SendFile(ctx0, int(f.Fd()), 3, -1, 0)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, peer := connectedPair(t)
			smallBuffers(t, c, peer)
			log := hookSendfile(t, false, 0)
			start := make(chan struct{})
			got := drainAfter(peer, start)
			began := time.Now()
			n, err := tt.run(c)
			took := time.Since(began)
			c.Close()
			close(start)
			body := <-got
			if !errors.Is(err, tt.want) || n <= 0 || n >= size-3 {
				t.Errorf("SendFile into a peer that does not read = %d, %v after %v; want some bytes and %v", n, err, took, tt.want)
			}
			if n < 0 {
				n = 0
			}
			if int64(len(body)) != n || !bytes.Equal(body, data[3:3+n]) {
				t.Errorf("SendFile counted %d bytes; %d arrived, the file's %v", n, len(body), bytes.Equal(body, data[3:3+min(n, int64(len(body)))]))
			}
			log.mu.Lock()
			calls, sent, eagain := log.calls, log.bytes, log.eagain
			log.mu.Unlock()
			if bySendfile && (sent != n || eagain == 0) {
				t.Errorf("sendfile(2) sent %d bytes in %d calls, %d EAGAIN; SendFile counted %d", sent, calls, eagain, n)
			}
			if !bySendfile && calls != 0 {
				t.Errorf("%d sendfile(2) calls where the ring's splice op carries SendFile", calls)
			}
		})
	}
}
