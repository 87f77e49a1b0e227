//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/internal/leaktest"
	"github.com/ksocket-go/ksocket/internal/testenv"
	"golang.org/x/sys/unix"
)

// The tests run the command end to end: TestMain builds it once, and every
// test starts it as a child against real peers on loopback. The children
// inherit the environment, so KSOCKET_BACKEND picks their backend, and
// KSOCKET_HOSTS and KSOCKET_RESOLV_CONF point at this package's own files.

var (
	// ksocketBin is the binary TestMain built.
	ksocketBin string
	// wantBackend is KSOCKET_BACKEND when it names a backend, else "".
	wantBackend string
	// deadNameserver is the resolv.conf nameserver: a loopback address
	// with nothing on port 53, so no lookup can leave the machine.
	deadNameserver netip.Addr
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "ksocket-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)

	deadNameserver, err = findDeadNameserver()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ksocket cli tests: %v\n", err)
		return 1
	}
	hosts := filepath.Join(dir, "hosts")
	resolvConf := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(hosts, []byte("127.0.0.1 localhost\n::1 localhost\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	conf := fmt.Sprintf("nameserver %s\noptions timeout:1 attempts:1\n", deadNameserver)
	if err := os.WriteFile(resolvConf, []byte(conf), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.Setenv("KSOCKET_HOSTS", hosts)
	os.Setenv("KSOCKET_RESOLV_CONF", resolvConf)
	// A race-enabled child sleeps atexit_sleep_ms (default 1 s) at exit for
	// late reports. The children are short-lived and their goroutines end
	// with them, so 50 ms keeps a hundred children from costing minutes.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=50"))
	if b := os.Getenv("KSOCKET_BACKEND"); b == "uring" || b == "epoll" {
		wantBackend = b
	}

	ksocketBin = filepath.Join(dir, "ksocket")
	if err := buildKsocket(ksocketBin); err != nil {
		fmt.Fprintf(os.Stderr, "ksocket cli tests: %v\n", err)
		return 1
	}

	if err := checkChildBackend(); err != nil {
		fmt.Fprintf(os.Stderr, "ksocket cli tests: %v\n", err)
		return 1
	}

	snap := leaktest.Take()
	code := m.Run()
	if code == 0 {
		if err := snap.Check(3 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	return code
}

// buildKsocket builds the command into bin, with the race detector when the
// tests have it, so that races in the child fail the tests too (a child that
// races exits 66 and prints a report on stderr).
func buildKsocket(bin string) error {
	// go test puts its own GOROOT/bin first in PATH (Go 1.19+).
	gobin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("building the command: %w", err)
	}
	args := []string{"build", "-o", bin}
	if testenv.RaceEnabled() {
		args = append(args, "-race")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gobin, append(args, ".")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// checkChildBackend makes sure that the child uses the backend that
// KSOCKET_BACKEND asks for, so that each run tests the backend it names.
func checkChildBackend() error {
	if wantBackend == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ksocketBin, "probe", "--json").Output()
	if err != nil {
		return fmt.Errorf("ksocket probe --json: %v\n%s", err, out)
	}
	var p struct{ Backend, Reason string }
	if err := json.Unmarshal(out, &p); err != nil {
		return fmt.Errorf("ksocket probe --json: %v\n%s", err, out)
	}
	if p.Backend != wantBackend {
		return fmt.Errorf("KSOCKET_BACKEND=%s but the command chose %s: %s", wantBackend, p.Backend, p.Reason)
	}
	return nil
}

// findDeadNameserver picks a loopback address on which nothing serves port
// 53, over UDP or TCP, on the address or on a wildcard.
func findDeadNameserver() (netip.Addr, error) {
	for _, s := range []string{"127.0.0.99", "127.42.42.42", "127.123.0.7"} {
		a := netip.MustParseAddr(s)
		bound, err := port53Bound(a)
		if err != nil {
			return netip.Addr{}, err
		}
		if !bound {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("something serves port 53 on every candidate loopback address (or on a wildcard); the resolver tests need a dead one")
}

// port53Bound reports whether /proc/net shows a socket on port 53 that
// would receive datagrams or connections sent to a.
func port53Bound(a netip.Addr) (bool, error) {
	for _, name := range []string{"udp", "tcp", "udp6", "tcp6"} {
		b, err := os.ReadFile("/proc/net/" + name)
		if os.IsNotExist(err) && strings.HasSuffix(name, "6") {
			continue // no IPv6
		}
		if err != nil {
			return false, err
		}
		lines := strings.Split(string(b), "\n")
		for _, line := range lines[1:] {
			f := strings.Fields(line)
			if len(f) < 4 {
				continue
			}
			hexAddr, hexPort, ok := strings.Cut(f[1], ":")
			if !ok || hexPort != "0035" {
				continue
			}
			if strings.HasPrefix(name, "tcp") && f[3] != "0A" { // TCP_LISTEN
				continue
			}
			raw, err := hex.DecodeString(hexAddr)
			if err != nil {
				continue
			}
			// /proc prints each 32-bit word of the address as a number
			// in host byte order: back to the bytes in memory, on a
			// machine of either endianness.
			for i := 0; i+4 <= len(raw); i += 4 {
				binary.NativeEndian.PutUint32(raw[i:], binary.BigEndian.Uint32(raw[i:]))
			}
			local, ok := netip.AddrFromSlice(raw)
			if !ok {
				continue
			}
			if local.IsUnspecified() || local.Unmap() == a {
				return true, nil
			}
		}
	}
	return false, nil
}

// syncBuffer collects a child's output; waiters learn of each write.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced at every write
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{})} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Write(p)
	close(s.changed)
	s.changed = make(chan struct{})
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) snapshot() (string, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String(), s.changed
}

// proc is a running child.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{} // closed when Wait has returned
	start, end     time.Time     // end is set before done is closed
}

// result is what a finished child left behind.
type result struct {
	stdout, stderr string
	code           int // -1 if a signal ended it
	elapsed        time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d after %v\nstdout:\n%s\nstderr:\n%s", r.code, r.elapsed.Round(time.Millisecond), truncate(r.stdout), r.stderr)
}

// truncate shortens s for a failure message.
func truncate(s string) string {
	if len(s) > 4096 {
		return s[:2048] + fmt.Sprintf("\n...(%d bytes)...\n", len(s)-4096) + s[len(s)-2048:]
	}
	return s
}

// ksocketCmd is the command for args; callers may add to its Env.
func ksocketCmd(args ...string) *exec.Cmd {
	return exec.Command(ksocketBin, args...)
}

// runKsocket runs the command with args and stdin, and waits for it.
func runKsocket(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return startCmd(t, ksocketCmd(args...), stdin).wait(t, 20*time.Second)
}

// startKsocket starts the command with args and stdin.
func startKsocket(t *testing.T, stdin string, args ...string) *proc {
	t.Helper()
	return startCmd(t, ksocketCmd(args...), stdin)
}

// startCmd starts cmd with stdin (empty: /dev/null), collecting its output.
// If the test ends first, the child is killed and reaped.
func startCmd(t *testing.T, cmd *exec.Cmd, stdin string) *proc {
	t.Helper()
	p := &proc{cmd: cmd, stdout: newSyncBuffer(), stderr: newSyncBuffer(), done: make(chan struct{})}
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	cmd.WaitDelay = 2 * time.Second
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	go func() {
		cmd.Wait()
		p.end = time.Now()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits at most d for the child to exit; past d it kills it and fails.
func (p *proc) wait(t *testing.T, d time.Duration) result {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%v: still running after %v; killed\n%v", p.cmd.Args, d, p.result())
	}
	return p.result()
}

// Preconditions: p.done is closed.
func (p *proc) result() result {
	return result{
		stdout:  p.stdout.String(),
		stderr:  p.stderr.String(),
		code:    p.cmd.ProcessState.ExitCode(),
		elapsed: p.end.Sub(p.start),
	}
}

func (p *proc) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// waitStdout waits at most 10 s for re to match the child's stdout and
// returns the submatches.
func (p *proc) waitStdout(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	return p.waitFor(t, "stdout", p.stdout, re)
}

// waitStderr is waitStdout for stderr.
func (p *proc) waitStderr(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	return p.waitFor(t, "stderr", p.stderr, re)
}

func (p *proc) waitFor(t *testing.T, name string, b *syncBuffer, re *regexp.Regexp) []string {
	t.Helper()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	for {
		s, changed := b.snapshot()
		if m := re.FindStringSubmatch(s); m != nil {
			return m
		}
		select {
		case <-changed:
		case <-p.done:
			if m := re.FindStringSubmatch(b.String()); m != nil {
				return m
			}
			t.Fatalf("%v exited before its %s matched %q\n%v", p.cmd.Args, name, re, p.result())
		case <-timer.C:
			p.cmd.Process.Kill()
			<-p.done
			t.Fatalf("%v: %s did not match %q within 10s\n%v", p.cmd.Args, name, re, p.result())
		}
	}
}

// logLineRE is a log line: RFC 3339 time, backend, text.
var logLineRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d) \[(uring|epoll)\] `)

// lines splits output into lines, without a final empty one.
func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// splitLog separates stderr's log lines from the rest, failing the test on a
// log line from another backend than KSOCKET_BACKEND's.
func splitLog(t *testing.T, stderr string) (logs, other []string) {
	t.Helper()
	for _, l := range lines(stderr) {
		m := logLineRE.FindStringSubmatch(l)
		if m == nil {
			other = append(other, l)
			continue
		}
		if wantBackend != "" && m[2] != wantBackend {
			t.Errorf("log line from backend %s, want %s: %q", m[2], wantBackend, l)
		}
		logs = append(logs, l)
	}
	return logs, other
}

// checkOnlyLogs checks that every stderr line is a log line.
func checkOnlyLogs(t *testing.T, r result) {
	t.Helper()
	if _, other := splitLog(t, r.stderr); len(other) > 0 {
		t.Errorf("stderr has lines that are not log lines: %q\n%v", other, r)
	}
}

// checkNoCrash fails on a stack trace or a race report.
func checkNoCrash(t *testing.T, r result) {
	t.Helper()
	for _, s := range []string{"goroutine ", "panic:", "WARNING: DATA RACE"} {
		if strings.Contains(r.stderr, s) {
			t.Errorf("stderr has %q: a crash, stack trace or race report\n%v", s, r)
			return
		}
	}
}

// checkRuntimeError checks the shape of a runtime error from cmd: exit 1,
// one line on stderr (besides log lines) that starts "ksocket CMD: ", and
// no stack trace. It returns the line.
func checkRuntimeError(t *testing.T, r result, cmd string) string {
	t.Helper()
	checkNoCrash(t, r)
	if r.code != 1 {
		t.Errorf("exit %d, want 1\n%v", r.code, r)
	}
	_, other := splitLog(t, r.stderr)
	if len(other) != 1 {
		t.Errorf("want one error line on stderr, got %d\n%v", len(other), r)
		return ""
	}
	if !strings.HasPrefix(other[0], "ksocket "+cmd+": ") {
		t.Errorf("error line %q does not start with %q", other[0], "ksocket "+cmd+": ")
	}
	return other[0]
}

// checkUsageError checks the shape of a usage error from cmd: exit 1,
// nothing on stdout, and on stderr one line plus "see 'ksocket CMD --help'".
// It returns the first line.
func checkUsageError(t *testing.T, r result, cmd string) string {
	t.Helper()
	checkNoCrash(t, r)
	if r.code != 1 {
		t.Errorf("exit %d, want 1\n%v", r.code, r)
	}
	if r.stdout != "" {
		t.Errorf("usage error wrote to stdout\n%v", r)
	}
	ls := lines(r.stderr)
	if len(ls) != 2 {
		t.Errorf("want two lines on stderr, got %d\n%v", len(ls), r)
		return ""
	}
	if !strings.HasPrefix(ls[0], "ksocket "+cmd+": ") {
		t.Errorf("error line %q does not start with %q", ls[0], "ksocket "+cmd+": ")
	}
	if want := "see 'ksocket " + cmd + " --help'"; ls[1] != want {
		t.Errorf("second line %q, want %q", ls[1], want)
	}
	return ls[0]
}

// checkExit0 fails unless r is a clean exit 0.
func checkExit0(t *testing.T, r result) {
	t.Helper()
	checkNoCrash(t, r)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\n%v", r.code, r)
	}
}

// refusedPort returns a loopback port that nothing listens on: it binds
// one and closes it.
func refusedPort(t *testing.T) string {
	t.Helper()
	// Bound but not listening: connecting gets ECONNREFUSED, and no other
	// test can take the port while this one holds it (a closed listener's
	// port could be handed to a parallel test's server).
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(sa.(*unix.SockaddrInet4).Port)
}

// refusedUDPPort returns a port on 127.0.0.1 where a datagram finds no
// socket, so its sender gets ECONNREFUSED, and that no other socket can
// take meanwhile: it is held by a UDP socket connected elsewhere, which
// the kernel does not match to a datagram from another source. A port
// merely closed again was taken, once, by another test process's socket
// (go test runs packages at once), which got the datagram instead.
func refusedUDPPort(t *testing.T) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: 9}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(sa.(*unix.SockaddrInet4).Port)
}

// listenIPv6 listens on [::1]:0, or skips the test without IPv6 loopback.
func listenIPv6(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	return ln
}
