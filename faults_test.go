//go:build linux

package ksocket

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/internal/engine"
	"github.com/ksocket-go/ksocket/internal/leaktest"
	"github.com/ksocket-go/ksocket/internal/testenv"
	"golang.org/x/sys/unix"
)

// Fault injection through the Berkeley API: fd exhaustion, a peer that
// resets, half-closes or vanishes, a tiny completion queue, and close
// storms under forced GC. Nothing may be lost, hang or panic. Tests that
// change process-wide state (RLIMIT_NOFILE, the CQ size) run in a child:
// the test binary again, with KSOCKET_FAULT_CHILD naming the test.

const faultChildEnv = "KSOCKET_FAULT_CHILD"

// inFaultChild reports whether this process is the child of test name.
func inFaultChild(name string) bool { return os.Getenv(faultChildEnv) == name }

// runFaultChild runs test name in a child with env added, and fails t with
// the child's output unless it passed.
func runFaultChild(t *testing.T, name string, timeout time.Duration, env ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), append([]string{faultChildEnv + "=" + name, "GORACE=atexit_sleep_ms=50"}, env...)...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+name)) {
		t.Fatalf("child %s %v: %v\n%s", name, env, err, out)
	}
	return string(out)
}

// childLogs returns the child's t.Log lines, for the parent's log.
func childLogs(out string) string {
	var b strings.Builder
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "    ") && strings.Contains(l, "_test.go:") {
			b.WriteString(strings.TrimSpace(l) + "\n")
		}
	}
	return b.String()
}

// streamByte is byte off of stream seed: every byte of a test stream is
// checked where it lands.
func streamByte(seed, off int) byte { return byte(seed*131 + off*7 + off>>9) }

func fillStream(b []byte, seed, off int) {
	for i := range b {
		b[i] = streamByte(seed, off+i)
	}
}

// checkStream returns the offset of the first wrong byte of b, or -1.
func checkStream(b []byte, seed, off int) int {
	for i, c := range b {
		if c != streamByte(seed, off+i) {
			return off + i
		}
	}
	return -1
}

// echoOn serves s until EOF or an error, in a goroutine of wg.
func echoOn(wg *sync.WaitGroup, s int) {
	wg.Go(func() {
		defer Closesocket(s)
		buf := make([]byte, 32<<10)
		for {
			n, err := Recv(s, buf, 0)
			if err != nil || n == 0 {
				return
			}
			if _, err := Send(s, buf[:n], 0); err != nil {
				return
			}
		}
	})
}

func echoRoundTrip(s int, msg []byte) error {
	if n, err := Send(s, msg, 0); n != len(msg) || err != nil {
		return fmt.Errorf("send = %d, %v", n, err)
	}
	got := make([]byte, len(msg))
	if err := dRecvFull(s, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return errors.New("the echo differs")
	}
	return nil
}

// TestFdExhaustion lowers RLIMIT_NOFILE (in a child) until no fd is left:
// Socket and Accept fail with EMFILE, the connections already open keep
// being served, and both calls work again once fds are freed.
func TestFdExhaustion(t *testing.T) {
	if !inFaultChild(t.Name()) {
		t.Log(childLogs(runFaultChild(t, t.Name(), 2*time.Minute)))
		return
	}
	const conns = 8
	ln, err := SocketListen(unix.AF_INET, unix.SOCK_STREAM, 0)
	must(t, err)
	defer Closesocket(ln)
	must(t, Bind(ln, dLoopback(unix.AF_INET, 0)))
	must(t, Listen(ln, 64))
	addr, err := Getsockname(ln)
	must(t, err)
	var wg sync.WaitGroup
	defer wg.Wait()
	var clients []int
	for range conns {
		c, err := SocketConnection(unix.AF_INET, unix.SOCK_STREAM, 0)
		must(t, err)
		defer Closesocket(c)
		must(t, SetsockoptTimeval(c, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 10}))
		must(t, Connect(c, addr))
		a, _, err := Accept(ln)
		must(t, err)
		echoOn(&wg, a)
		clients = append(clients, c)
	}
	// A client made now connects once the fds are gone.
	late, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	must(t, err)
	defer unix.Close(late)

	var saved unix.Rlimit
	must(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &saved))
	defer unix.Setrlimit(unix.RLIMIT_NOFILE, &saved)
	lim := saved
	// Two numbers above the highest open fd, so the test has at least two
	// fillers to free below.
	lim.Cur = uint64(leaktest.HighestFD() + 3)
	must(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &lim))
	var fillers []int
	defer func() {
		for _, f := range fillers {
			unix.Close(f)
		}
	}()
	for {
		f, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.EMFILE {
			break
		}
		must(t, err)
		fillers = append(fillers, f)
	}
	t.Logf("RLIMIT_NOFILE %d, every fd in use (%d holes filled)", lim.Cur, len(fillers))

	if _, err := Socket(unix.AF_INET, unix.SOCK_STREAM, 0); err != unix.EMFILE {
		t.Errorf("Socket with no fd left = %v, want EMFILE", err)
	}
	if _, err := SocketDatagram(unix.AF_INET6, unix.SOCK_DGRAM, 0); err != unix.EMFILE {
		t.Errorf("SocketDatagram with no fd left = %v, want EMFILE", err)
	}
	must(t, unix.Connect(late, addr)) // queued in the backlog: no fd needed
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, _, err = AcceptContext(ctx, ln)
	cancel()
	if err != unix.EMFILE {
		t.Errorf("Accept with no fd left and a connection waiting = %v, want EMFILE", err)
	}
	// The open connections are still served, in both directions.
	for i, c := range clients {
		msg := bytes.Repeat([]byte{byte(i)}, 1000+i)
		if err := echoRoundTrip(c, msg); err != nil {
			t.Errorf("connection %d with no fd left: %v", i, err)
		}
	}
	// Free one fd: the waiting connection is accepted and works.
	unix.Close(fillers[len(fillers)-1])
	fillers = fillers[:len(fillers)-1]
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	a, _, err := AcceptContext(ctx, ln)
	cancel()
	if err != nil {
		t.Fatalf("Accept after an fd was freed = %v", err)
	}
	echoOn(&wg, a)
	if _, err := unix.Write(late, []byte("late")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(fdReader(late), buf); err != nil || string(buf) != "late" {
		t.Errorf("the connection accepted after recovery echoed %q, %v", buf, err)
	}
	// And one more: Socket works again.
	unix.Close(fillers[len(fillers)-1])
	fillers = fillers[:len(fillers)-1]
	s, err := Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("Socket after an fd was freed = %v", err)
	}
	Closesocket(s)
	unix.Shutdown(late, unix.SHUT_WR)
	for _, c := range clients {
		Shutdown(c, unix.SHUT_WR)
	}
}

type fdReader int

func (r fdReader) Read(p []byte) (int, error) {
	n, err := unix.Read(int(r), p)
	if n == 0 && err == nil {
		return 0, io.EOF
	}
	return max(n, 0), err
}

// peerPair connects a socket of api to a Go net peer over loopback, and
// returns both.
func peerPair(t *testing.T, api dAPI, fam int) (int, *net.TCPConn) {
	t.Helper()
	network, host := "tcp4", "127.0.0.1:0"
	if fam == unix.AF_INET6 {
		network, host = "tcp6", "[::1]:0"
	}
	ln, err := net.Listen(network, host)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := api.socket(ctorConnection, fam, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.closesocket(s) })
	ap := ln.Addr().(*net.TCPAddr).AddrPort()
	var sa unix.Sockaddr
	if fam == unix.AF_INET6 {
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	} else {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	if err := api.connect(s, sa); err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return s, c.(*net.TCPConn)
}

// callResult is one call's outcome, as a string both sides can share.
func callResult(n int, err error) string {
	en, note := dErrno(err)
	if note != "" {
		return note
	}
	if en != 0 {
		return unix.ErrnoName(en)
	}
	return strconv.Itoa(n)
}

// resetScenarios run the same steps on a raw socket and on ksocket, each
// against a Go net peer that resets the connection (SO_LINGER 0), and list
// what every call returned. The two lists must match.
var resetScenarios = []struct {
	name string
	run  func(t *testing.T, api dAPI, fam int) []string
}{
	{"reset with data queued", func(t *testing.T, api dAPI, fam int) []string {
		s, peer := peerPair(t, api, fam)
		peer.Write(bytes.Repeat([]byte("d"), 10000))
		time.Sleep(20 * time.Millisecond)
		peer.SetLinger(0)
		peer.Close()
		time.Sleep(20 * time.Millisecond)
		var out []string
		buf := make([]byte, 4096)
		for range 6 {
			n, err := api.recv(s, buf, 0)
			out = append(out, "recv "+callResult(n, err))
			if err != nil || n == 0 {
				break
			}
		}
		n, err := api.send(s, []byte("x"), 0)
		out = append(out, "send "+callResult(n, err))
		n, err = api.recv(s, buf, 0)
		return append(out, "recv "+callResult(n, err))
	}},
	{"reset while a recv waits", func(t *testing.T, api dAPI, fam int) []string {
		s, peer := peerPair(t, api, fam)
		got := make(chan string, 1)
		go func() {
			n, err := api.recv(s, make([]byte, 100), 0)
			got <- "recv " + callResult(n, err)
		}()
		time.Sleep(30 * time.Millisecond)
		peer.SetLinger(0)
		peer.Close()
		select {
		case r := <-got:
			n, err := api.send(s, []byte("x"), 0)
			return []string{r, "send " + callResult(n, err)}
		case <-time.After(5 * time.Second):
			api.wake(s)
			<-got
			return []string{"recv still waiting 5s after the reset"}
		}
	}},
	{"half-close: shutdown(SHUT_RD) while a recv waits", func(t *testing.T, api dAPI, fam int) []string {
		s, peer := peerPair(t, api, fam)
		got := make(chan string, 1)
		go func() {
			n, err := api.recv(s, make([]byte, 100), 0)
			got <- "recv " + callResult(n, err)
		}()
		time.Sleep(30 * time.Millisecond)
		out := []string{"shutdown " + callResult(0, api.shutdown(s, unix.SHUT_RD))}
		select {
		case r := <-got:
			out = append(out, r)
		case <-time.After(5 * time.Second):
			api.wake(s)
			<-got
			return append(out, "recv still waiting 5s after shutdown(SHUT_RD)")
		}
		peer.Write([]byte("late"))
		time.Sleep(20 * time.Millisecond)
		n, err := api.recv(s, make([]byte, 100), 0)
		out = append(out, "recv "+callResult(n, err))
		n, err = api.send(s, []byte("still"), 0)
		out = append(out, "send "+callResult(n, err))
		peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 5)
		_, rerr := io.ReadFull(peer, b)
		return append(out, fmt.Sprintf("peer got %q %v", b, rerr))
	}},
	{"half-close: shutdown(SHUT_WR), then both ways", func(t *testing.T, api dAPI, fam int) []string {
		s, peer := peerPair(t, api, fam)
		var out []string
		n, err := api.send(s, []byte("last words"), 0)
		out = append(out, "send "+callResult(n, err))
		out = append(out, "shutdown "+callResult(0, api.shutdown(s, unix.SHUT_WR)))
		peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		all, rerr := io.ReadAll(peer)
		out = append(out, fmt.Sprintf("peer read %q %v", all, rerr))
		peer.Write([]byte("reply"))
		b := make([]byte, 16)
		n, err = api.recv(s, b, 0)
		out = append(out, "recv "+callResult(n, err)+" "+string(b[:max(n, 0)]))
		n, err = api.send(s, []byte("x"), 0)
		out = append(out, "send after SHUT_WR "+callResult(n, err))
		peer.CloseWrite()
		n, err = api.recv(s, b, 0)
		return append(out, "recv at EOF "+callResult(n, err))
	}},
	{"half-close: shutdown(SHUT_WR) while a send waits", func(t *testing.T, api dAPI, fam int) []string {
		s, _ := peerPair(t, api, fam)
		got := make(chan string, 1)
		go func() {
			n, err := api.send(s, make([]byte, 64<<20), 0)
			// The count depends on the buffers, and on whether the send
			// had started when the shutdown came: only the end is
			// compared. send(2) returns the count and leaves EPIPE to
			// the next call; ksocket's Send returns both.
			if n > 0 || err == unix.EPIPE {
				got <- "send ended"
			} else {
				got <- "send " + callResult(n, err)
			}
		}()
		time.Sleep(200 * time.Millisecond)
		out := []string{"shutdown " + callResult(0, api.shutdown(s, unix.SHUT_WR))}
		select {
		case r := <-got:
			out = append(out, r)
		case <-time.After(5 * time.Second):
			api.wake(s)
			<-got
			return append(out, "send still waiting 5s after shutdown(SHUT_WR)")
		}
		n, err := api.send(s, []byte("x"), 0)
		return append(out, "send "+callResult(n, err))
	}},
}

// TestPeerResetAndHalfClose runs resetScenarios on both sides and
// compares.
func TestPeerResetAndHalfClose(t *testing.T) {
	t.Parallel()
	for _, sc := range resetScenarios {
		for _, fam := range dBoth {
			t.Run(sc.name+"/"+dFamName(fam), func(t *testing.T) {
				t.Parallel()
				raw := sc.run(t, dRawAPI{}, fam)
				k := sc.run(t, dKsocketAPI{}, fam)
				t.Logf("raw:     %q\nksocket: %q", raw, k)
				if strings.Join(raw, "|") != strings.Join(k, "|") {
					t.Errorf("ksocket differs from the kernel:\nraw:     %q\nksocket: %q", raw, k)
				}
			})
		}
	}
}

// TestCloseAfterShutdownResetsAtOnce: a socket shut down for writing and
// then closed with unread data resets its peer before the close returns,
// on the kernel's own sockets. ksocket's must do the same, at two Ps too,
// where a shutdown that ran on a kernel worker once kept the socket alive
// for milliseconds after Closesocket (uring_ops.go's shutdown says how).
// Each side runs rounds of: shut down, let the peer's 5 bytes be acked,
// close, and read the peer's TCP state at once. The kernel is the oracle:
// ksocket may be no more often late than it.
func TestCloseAfterShutdownResetsAtOnce(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	const rounds = 100
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ap := ln.Addr().(*net.TCPAddr).AddrPort()
	to := &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	late := func(api dAPI) (n int) {
		for range rounds {
			s, err := api.socket(ctorConnection, unix.AF_INET, unix.SOCK_STREAM, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := api.connect(s, to); err != nil {
				api.closesocket(s)
				t.Fatalf("%s: connect: %v", api.name(), err)
			}
			peer, err := ln.Accept()
			if err != nil {
				api.closesocket(s)
				t.Fatal(err)
			}
			defer peer.Close()
			tp := peer.(*net.TCPConn)
			if err := api.shutdown(s, unix.SHUT_WR); err != nil {
				api.closesocket(s)
				t.Fatalf("%s: shutdown: %v", api.name(), err)
			}
			if _, err := tp.Write([]byte("hello")); err != nil {
				api.closesocket(s)
				t.Fatal(err)
			}
			testenv.WaitAcked(t, tp)
			if err := api.closesocket(s); err != nil {
				t.Fatalf("%s: close: %v", api.name(), err)
			}
			if !testenv.Reset(t, tp) {
				n++
			}
		}
		return n
	}
	raw, k := late(dRawAPI{}), late(dKsocketAPI{})
	t.Logf("peer not yet reset when the close returned: raw %d of %d, ksocket %d", raw, rounds, k)
	if k > raw {
		t.Errorf("the peer was not yet reset when Closesocket returned in %d rounds of %d; %d after the kernel's close(2)", k, rounds, raw)
	}
}

// TestHalfCloseCountsEveryByte streams 4 MB each way over 8 pairs, each
// side closing its write half when done and reading to EOF; every byte is
// checked where it lands.
func TestHalfCloseCountsEveryByte(t *testing.T) {
	t.Parallel()
	const pairs, size = 8, 4 << 20
	var wg sync.WaitGroup
	errc := make(chan error, 4*pairs)
	for p := range pairs {
		_, c, a := dPair(t, dBoth[p%2])
		for dir, ends := range [][2]int{{c, a}, {a, c}} {
			seed := p*2 + dir
			wg.Go(func() { // writer
				buf := make([]byte, 64<<10)
				for off := 0; off < size; {
					n := min(len(buf), size-off, 1+rand.IntN(len(buf)))
					fillStream(buf[:n], seed, off)
					if m, err := Send(ends[0], buf[:n], 0); m != n || err != nil {
						errc <- fmt.Errorf("pair %d dir %d: send at %d = %d, %v", p, dir, off, m, err)
						return
					}
					off += n
				}
				if err := Shutdown(ends[0], unix.SHUT_WR); err != nil {
					errc <- err
				}
			})
			wg.Go(func() { // reader
				buf := make([]byte, 48<<10)
				off := 0
				for {
					n, err := Recv(ends[1], buf, 0)
					if err != nil {
						errc <- fmt.Errorf("pair %d dir %d: recv at %d: %v", p, dir, off, err)
						return
					}
					if n == 0 {
						break
					}
					if bad := checkStream(buf[:n], seed, off); bad >= 0 {
						errc <- fmt.Errorf("pair %d dir %d: byte %d is wrong", p, dir, bad)
						return
					}
					off += n
				}
				if off != size {
					errc <- fmt.Errorf("pair %d dir %d: %d bytes before EOF, want %d", p, dir, off, size)
				}
			})
		}
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}

// TestPeerVanishesDuringLargeSend: a peer process reads 256 KB of a 256 MB
// Send and is killed. The Send returns promptly with ECONNRESET or EPIPE
// (and the count so far), a Recv waiting on the same socket returns, and
// the bytes the peer got were right.
func TestPeerVanishesDuringLargeSend(t *testing.T) {
	if addr := os.Getenv("KSOCKET_PEER_ADDR"); addr != "" {
		vanishingPeer(addr)
		return
	}
	t.Parallel()
	ln, err := SocketListen(unix.AF_INET, unix.SOCK_STREAM, 0)
	must(t, err)
	defer Closesocket(ln)
	must(t, Bind(ln, dLoopback(unix.AF_INET, 0)))
	must(t, Listen(ln, 1))
	sa, _ := Getsockname(ln)
	cmd := exec.Command(os.Args[0], "-test.run=^TestPeerVanishesDuringLargeSend$")
	cmd.Env = append(os.Environ(), "KSOCKET_PEER_ADDR="+dAddrString(sa), "GORACE=atexit_sleep_ms=50")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	must(t, cmd.Start())
	defer cmd.Wait()
	defer cmd.Process.Kill()
	a, _, err := Accept(ln)
	must(t, err)
	defer Closesocket(a)

	const total = 256 << 20
	big := make([]byte, total)
	fillStream(big, 9, 0)
	type res struct {
		n   int
		err error
	}
	sent := make(chan res, 1)
	go func() {
		n, err := Send(a, big, 0)
		sent <- res{n, err}
	}()
	recvd := make(chan error, 1)
	go func() {
		_, err := Recv(a, make([]byte, 16), 0)
		recvd <- err
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ok ") {
		t.Fatalf("peer: %q, %v", line, err)
	}
	cmd.Process.Kill()
	select {
	case r := <-sent:
		t.Logf("Send after the peer vanished = %d of %d bytes, %v", r.n, total, r.err)
		if r.err != unix.ECONNRESET && r.err != unix.EPIPE {
			t.Errorf("Send = %d, %v; want ECONNRESET or EPIPE", r.n, r.err)
		}
		if r.n < 256<<10 || r.n >= total {
			t.Errorf("Send reported %d bytes; the peer read 256 KB of %d", r.n, total)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send still blocked 10s after the peer vanished")
	}
	select {
	case err := <-recvd:
		if err != nil && err != unix.ECONNRESET {
			t.Errorf("Recv after the peer vanished = %v, want 0 or ECONNRESET", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Recv still blocked 10s after the peer vanished")
	}
	if n, err := Send(a, []byte("x"), 0); err != unix.EPIPE && err != unix.ECONNRESET {
		t.Errorf("Send to a vanished peer = %d, %v; want EPIPE or ECONNRESET", n, err)
	}
}

// vanishingPeer connects, reads and checks 256 KB, says so, and waits to be
// killed.
func vanishingPeer(addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		fmt.Println("dial:", err)
		os.Exit(1)
	}
	buf := make([]byte, 256<<10)
	if _, err := io.ReadFull(c, buf); err != nil {
		fmt.Println("read:", err)
		os.Exit(1)
	}
	if bad := checkStream(buf, 9, 0); bad >= 0 {
		fmt.Println("byte", bad, "is wrong")
		os.Exit(1)
	}
	fmt.Println("ok 262144")
	select {}
}

// TestRingPressureTinyCQ floods a process whose completion queue holds 16
// entries (KSOCKET_CQ_ENTRIES=16, in a child): 64 TCP pairs stream 512 KB
// each way in random chunks while 32 UDP pairs ping-pong. Every completion
// the CQ cannot hold goes to the kernel's overflow list and must come back:
// every byte is checked and counted.
func TestRingPressureTinyCQ(t *testing.T) {
	if !inFaultChild(t.Name()) {
		if testing.Short() {
			t.Skip("a flood in a child process")
		}
		if inf, _ := Probe(); inf.Backend != "uring" {
			t.Skipf("backend %s: the CQ size is the uring backend's", inf.Backend)
		}
		for _, inline := range []string{"1ms", "0"} {
			out := runFaultChild(t, t.Name(), 3*time.Minute, "KSOCKET_CQ_ENTRIES=16", "KSOCKET_INLINE_WAIT="+inline)
			t.Logf("KSOCKET_INLINE_WAIT=%s:\n%s", inline, childLogs(out))
		}
		return
	}
	const pairs, size, udpPairs, rounds = 64, 512 << 10, 32, 200
	inf, _ := Probe()
	t.Logf("backend %s, KSOCKET_CQ_ENTRIES=%s", inf.Backend, os.Getenv("KSOCKET_CQ_ENTRIES"))
	var wg sync.WaitGroup
	var moved atomic.Int64
	errc := make(chan error, 4*pairs+udpPairs)
	start := time.Now()
	for p := range pairs {
		_, c, a := dPair(t, dBoth[p%2])
		for _, s := range []int{c, a} {
			SetsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 60})
			SetsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &unix.Timeval{Sec: 60})
		}
		for dir, ends := range [][2]int{{c, a}, {a, c}} {
			seed := 1000 + p*2 + dir
			wg.Go(func() {
				buf := make([]byte, 64<<10)
				for off := 0; off < size; {
					n := min(size-off, 1+rand.IntN(len(buf)))
					fillStream(buf[:n], seed, off)
					if m, err := Send(ends[0], buf[:n], 0); m != n || err != nil {
						errc <- fmt.Errorf("send %d at %d = %d, %v", seed, off, m, err)
						return
					}
					off += n
				}
			})
			wg.Go(func() {
				buf := make([]byte, 64<<10)
				for off := 0; off < size; {
					n, err := Recv(ends[1], buf[:1+rand.IntN(len(buf))], 0)
					if err != nil || n == 0 {
						errc <- fmt.Errorf("recv %d at %d = %d, %v", seed, off, n, err)
						return
					}
					if bad := checkStream(buf[:n], seed, off); bad >= 0 {
						errc <- fmt.Errorf("stream %d: byte %d is wrong", seed, bad)
						return
					}
					off += n
					moved.Add(int64(n))
				}
			})
		}
	}
	for p := range udpPairs {
		fam := dBoth[p%2]
		a, aAddr := dUDP(t, fam)
		b, _ := dUDP(t, fam)
		SetsockoptTimeval(b, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 60})
		SetsockoptTimeval(a, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 60})
		wg.Go(func() { // echo
			buf := make([]byte, 2048)
			for range rounds {
				n, from, err := Recvfrom(a, buf, 0)
				if err != nil {
					errc <- fmt.Errorf("udp echo: %v", err)
					return
				}
				if _, err := Sendto(a, buf[:n], 0, from); err != nil {
					errc <- fmt.Errorf("udp echo send: %v", err)
					return
				}
			}
		})
		wg.Go(func() {
			buf := make([]byte, 2048)
			for r := range rounds {
				msg := datagramOf(p, r, 16+rand.IntN(1400))
				if _, err := Sendto(b, msg, 0, aAddr); err != nil {
					errc <- fmt.Errorf("udp send: %v", err)
					return
				}
				n, _, err := Recvfrom(b, buf, 0)
				if err != nil || !bytes.Equal(buf[:n], msg) {
					errc <- fmt.Errorf("udp pair %d round %d: %d bytes, %v; the echo differs", p, r, n, err)
					return
				}
				moved.Add(int64(2 * n))
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	want := int64(pairs*2*size) + 0
	t.Logf("%d bytes moved and checked in %v (TCP %d, UDP %d)", moved.Load(), time.Since(start).Round(time.Millisecond), want, moved.Load()-want)
	if moved.Load() < want {
		t.Errorf("TCP moved %d bytes, want %d", moved.Load(), want)
	}
}

// datagramOf is a datagram that carries its pair, round and CRC.
func datagramOf(pair, round, size int) []byte {
	b := make([]byte, size)
	fillStream(b[12:], pair, round)
	putU32(b[0:], uint32(pair))
	putU32(b[4:], uint32(round))
	putU32(b[8:], crc32.ChecksumIEEE(b[12:]))
	return b
}

// datagramOK checks a datagram made by datagramOf.
func datagramOK(b []byte) bool {
	return len(b) >= 12 && getU32(b[8:]) == crc32.ChecksumIEEE(b[12:]) &&
		checkStream(b[12:], int(getU32(b[0:])), int(getU32(b[4:]))) < 0
}

// sockaddrKey names an address for a map.
func sockaddrKey(sa unix.Sockaddr) string {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return fmt.Sprint(sa.Addr, sa.Port)
	case *unix.SockaddrInet6:
		return fmt.Sprint(sa.Addr, sa.Port)
	}
	return fmt.Sprint(sa)
}

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}
func getU32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// TestCloseStorm: 1,000 datagram sockets, each with 10 Recvfroms pending
// (10,000 ops), receive checksummed datagrams from 4 senders while 8
// goroutines close them in random order and another keeps forcing GC. Every
// call must end with a whole datagram or EBADF, no buffer may be written
// after its call returned, and nothing may be left behind (TestMain checks
// goroutines and fds). 100 TCP pairs, each end blocked in an 8 MB Send, are
// closed alongside. It is not parallel: closed numbers must not
// be reused by another test's sockets while calls on them are in flight.
func TestCloseStorm(t *testing.T) {
	socks, perSock, tcpPairs := 1000, 10, 100
	if testing.Short() {
		socks, tcpPairs = 200, 20
	}
	setup := time.Now()
	eng, err := engine.Default()
	must(t, err)
	slotsBefore, _ := eng.Slots()
	var rl unix.Rlimit
	if need := uint64(socks + 4*tcpPairs + 500); unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil && rl.Cur < need {
		t.Skipf("RLIMIT_NOFILE is %d; the storm needs %d fds", rl.Cur, need)
	}
	type sock struct {
		d  int
		sa unix.Sockaddr
	}
	all := make([]sock, socks)
	for i := range all {
		s, err := SocketDatagram(dBoth[i%2], unix.SOCK_DGRAM, 0)
		must(t, err)
		must(t, Bind(s, dLoopback(dBoth[i%2], 0)))
		sa, err := Getsockname(s)
		must(t, err)
		all[i] = sock{s, sa}
	}
	var senders [2][2]int
	senderAddrs := map[string]bool{}
	for f, fam := range dBoth {
		for i := range senders[f] {
			s, err := SocketDatagram(fam, unix.SOCK_DGRAM, 0)
			must(t, err)
			defer Closesocket(s)
			must(t, Bind(s, dLoopback(fam, 0)))
			sa, err := Getsockname(s)
			must(t, err)
			senderAddrs[sockaddrKey(sa)] = true
			senders[f][i] = s
		}
	}

	var (
		wg                         sync.WaitGroup
		received, ebadf, corrupt   atomic.Int64
		strays                     atomic.Int64
		writtenLate, otherErr, ops atomic.Int64
		closed                     = make([]atomic.Bool, socks)
	)
	errc := make(chan error, 64)
	report := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	late := make(chan []byte, socks*perSock)
	for i := range all {
		for range perSock {
			wg.Go(func() {
				for {
					buf := dFilled(2048)
					ops.Add(1)
					n, from, err := Recvfrom(all[i].d, buf, 0)
					switch {
					case err == nil && !senderAddrs[sockaddrKey(from)]:
						// Not one of ours: another test process's
						// datagram to a port it thought closed, which
						// this socket had taken (go test runs packages
						// at once). Seen once, from ksocket send -u.
						strays.Add(1)
						continue
					case err == nil:
						if !datagramOK(buf[:n]) {
							corrupt.Add(1)
							report(fmt.Errorf("socket %d: a corrupt datagram of %d bytes", i, n))
						}
						received.Add(1)
						continue
					case err == unix.EBADF:
						ebadf.Add(1)
					default:
						otherErr.Add(1)
						report(fmt.Errorf("socket %d: Recvfrom = %v, want EBADF", i, err))
					}
					if !dIntact(buf) {
						writtenLate.Add(1)
					}
					late <- buf // checked again once the storm is over
					return
				}
			})
		}
	}
	// TCP: each end of each pair has an 8 MB Send pending that the other
	// end never reads, and one end or the other is closed. (Data moves on
	// the datagram sockets; here the point is a blocked Send.)
	type tcpPair struct{ c, a int }
	tcps := make([]tcpPair, tcpPairs)
	for i := range tcps {
		_, c, a := dPair(t, dBoth[i%2])
		tcps[i] = tcpPair{c, a}
		for _, s := range []int{c, a} {
			// Fixed buffers, so that 8 MB cannot fit in this end's send
			// buffer and the peer's receive queue, whatever the
			// machine's tcp_wmem and tcp_rmem.
			must(t, SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_SNDBUF, 64<<10))
			must(t, SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUF, 64<<10))
			wg.Go(func() {
				ops.Add(1)
				n, err := Send(s, make([]byte, 8<<20), 0)
				if err != unix.EBADF && err != unix.EPIPE && err != unix.ECONNRESET {
					otherErr.Add(1)
					report(fmt.Errorf("tcp Send = %d, %v; want EBADF, EPIPE or ECONNRESET", n, err))
				}
			})
		}
	}

	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() { // forced GC throughout
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			runtime.GC()
			if i%16 == 0 {
				debug.FreeOSMemory()
			}
		}
	})
	var sentOK atomic.Int64
	for f := range senders {
		for _, s := range senders[f] {
			bg.Go(func() {
				for r := 0; ; r++ {
					select {
					case <-stop:
						return
					default:
					}
					if sentOK.Load() >= 50000 {
						time.Sleep(time.Millisecond) // enough traffic: leave the CPU to the storm
						continue
					}
					i := f + 2*rand.IntN(socks/2) // a socket of the sender's family
					if closed[i].Load() {
						continue
					}
					if _, err := Sendto(s, datagramOf(i, r, 12+rand.IntN(1024)), 0, all[i].sa); err == nil {
						sentOK.Add(1)
					}
				}
			})
		}
	}
	time.Sleep(200 * time.Millisecond) // let the ops go pending and datagrams flow
	t.Logf("%d ops started before the first close, %v after the first socket was made", ops.Load(), time.Since(setup).Round(time.Millisecond))
	start := time.Now()
	order := rand.Perm(socks)
	var closers sync.WaitGroup
	for g := range 8 {
		closers.Go(func() {
			for k := g; k < socks; k += 8 {
				i := order[k]
				closed[i].Store(true)
				if err := Closesocket(all[i].d); err != nil {
					report(fmt.Errorf("Closesocket(%d) = %v", all[i].d, err))
				}
				if k < tcpPairs {
					end := tcps[k].c
					if k%2 == 1 {
						end = tcps[k].a
					}
					if err := Closesocket(end); err != nil {
						report(fmt.Errorf("Closesocket(tcp %d) = %v", end, err))
					}
				}
				runtime.Gosched()
			}
		})
	}
	closers.Wait()
	closing := time.Since(start)
	// The other ends of the TCP pairs, now that their peers are gone.
	for k, p := range tcps {
		end := p.a
		if k%2 == 1 {
			end = p.c
		}
		Closesocket(end)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("calls still pending 60s after every socket was closed (%d EBADF of %d)", ebadf.Load(), socks*perSock)
	}
	t.Logf("every call returned %v after the last close", time.Since(start)-closing)
	close(stop)
	bg.Wait()
	// A buffer the kernel still held would change now, if ever.
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	close(late)
	for buf := range late {
		if !dIntact(buf) {
			writtenLate.Add(1)
		}
	}
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	t.Logf("close storm: %d sockets, %d ops in all (%d pending at once on UDP), closed in %v; %d datagrams sent, %d received whole, %d EBADF, %d from other processes",
		socks+2*tcpPairs, ops.Load(), socks*perSock, closing.Round(time.Millisecond), sentOK.Load(), received.Load(), ebadf.Load(), strays.Load())
	if got := ebadf.Load(); got != int64(socks*perSock) {
		t.Errorf("%d UDP calls ended with EBADF, want %d (one per pending call)", got, socks*perSock)
	}
	if corrupt.Load() != 0 || writtenLate.Load() != 0 || otherErr.Load() != 0 {
		t.Errorf("%d corrupt datagrams, %d buffers written after their call returned, %d unexpected errors", corrupt.Load(), writtenLate.Load(), otherErr.Load())
	}
	// Every op slot is free again (uring; epoll has none). Cancels whose
	// CQEs nobody waits for may still be on their way.
	for wait := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		inUse, total := eng.Slots()
		if inUse <= slotsBefore {
			t.Logf("op slots in use: %d before, %d after (of %d made)", slotsBefore, inUse, total)
			break
		}
		if time.Since(wait) > 5*time.Second {
			t.Errorf("op slots in use: %d before the storm, %d 5s after it", slotsBefore, inUse)
			break
		}
	}
}

// TestEpollQueuedRecvHonoursContext: a second Recv on a socket where one is
// already waiting must still end with its own context and its SO_RCVTIMEO.
// On the epoll backend it waits for its turn behind the first (one op per
// direction), and that wait must end with them too.
func TestEpollQueuedRecvHonoursContext(t *testing.T) {
	t.Parallel()
	_, c, _ := dPair(t, unix.AF_INET)
	first := make(chan error, 1)
	go func() { _, err := Recv(c, make([]byte, 8), 0); first <- err }()
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	second := make(chan error, 2)
	go func() { _, err := RecvContext(ctx, c, make([]byte, 8), 0); second <- err }()
	select {
	case err := <-second:
		if err != unix.ETIMEDOUT {
			t.Errorf("second RecvContext = %v, want ETIMEDOUT", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("a RecvContext queued behind another Recv ignored its 50ms context")
	}
	must(t, SetsockoptTimeval(c, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 50000}))
	go func() { _, err := Recv(c, make([]byte, 8), 0); second <- err }()
	select {
	case err := <-second:
		if err != unix.EAGAIN {
			t.Errorf("second Recv with SO_RCVTIMEO = %v, want EAGAIN", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("a Recv queued behind another Recv ignored its 50ms SO_RCVTIMEO")
	}
	// Shutdown, not Closesocket: dPair's cleanup closes c, and a number
	// closed twice could by then belong to a parallel test's socket.
	Shutdown(c, unix.SHUT_RDWR)
	<-first
	for len(second) > 0 {
		<-second
	}
}
