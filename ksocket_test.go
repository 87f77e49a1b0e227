//go:build linux

package ksocket

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/ksocket-go/ksocket/internal/engine"
	"golang.org/x/sys/unix"
)

func TestProbeNamesBackend(t *testing.T) {
	inf, err := engine.Probe()
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if inf.Backend != "uring" && inf.Backend != "epoll" {
		t.Fatalf("Probe().Backend = %q", inf.Backend)
	}
	if inf.Reason == "" {
		t.Fatal("Probe().Reason is empty: the choice must say why")
	}
	if inf.Backend == "uring" && len(inf.RingCalls) == 0 {
		t.Fatal("uring backend reports no calls through the ring")
	}
}

// TestDescriptorsLowestFree checks POSIX allocation: a freed number is the
// next one handed out.
func TestDescriptorsLowestFree(t *testing.T) {
	var fds []int
	for range 5 {
		s, err := SocketDatagram(unix.AF_INET, unix.SOCK_DGRAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, s)
	}
	defer func() {
		for _, s := range fds {
			Closesocket(s)
		}
	}()
	if fds[0] < firstDescriptor {
		t.Fatalf("descriptor %d is below %d", fds[0], firstDescriptor)
	}
	freed := fds[1]
	if err := Closesocket(freed); err != nil {
		t.Fatal(err)
	}
	s, err := SocketDatagram(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	fds[1] = s
	if s > freed {
		t.Fatalf("after closing %d, the next descriptor is %d; want the lowest free", freed, s)
	}
}

// straceSyscalls are the calls that must go through the ring on 6.18.
const straceSyscalls = "socket,bind,listen,connect,accept,accept4,sendto,recvfrom,sendmsg,recvmsg,setsockopt"

// TestNoSocketSyscallsOnUring runs a client and server through the Berkeley
// API under strace -f and checks that none of the socket syscalls appear:
// on this kernel every one of them has a ring op.
func TestNoSocketSyscallsOnUring(t *testing.T) {
	if os.Getenv("KSOCKET_STRACE_CHILD") == "1" {
		straceChild(t)
		return
	}
	inf, _ := engine.Probe()
	if inf.Backend != "uring" {
		t.Skipf("backend is %s: the check is for uring", inf.Backend)
	}
	if len(inf.SysCalls) > 0 && !onlyNameCalls(inf.SysCalls) {
		t.Skipf("this kernel lacks ring ops for %v", inf.SysCalls)
	}
	strace := straceUsable(t)
	out := filepath.Join(t.TempDir(), "strace.out")
	cmd := exec.Command(strace, "-f", "-qq", "-e", "trace="+straceSyscalls, "-o", out,
		os.Args[0], "-test.run=^TestNoSocketSyscallsOnUring$", "-test.count=1")
	cmd.Env = append(os.Environ(), "KSOCKET_STRACE_CHILD=1", "KSOCKET_BACKEND=uring")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child under strace: %v\n%s", err, b)
	}
	trace, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`\b(` + regexp.MustCompile(`,`).ReplaceAllString(straceSyscalls, "|") + `)\(`)
	var bad [][]byte
	for _, line := range bytes.Split(trace, []byte("\n")) {
		if re.Match(line) {
			bad = append(bad, line)
		}
	}
	if len(bad) > 0 {
		t.Fatalf("socket syscalls made outside the ring:\n%s", bytes.Join(bad, []byte("\n")))
	}
}

// straceUsable returns strace's path, or skips t naming what is missing:
// strace, or the ptrace(2) it needs, which a sandbox may refuse.
func straceUsable(t *testing.T) string {
	t.Helper()
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace is not installed (Debian package strace); the test command installs it")
	}
	if out, err := exec.Command(strace, "-f", "-qq", "-e", "trace=none", "true").CombinedOutput(); err != nil {
		t.Skipf("strace cannot trace here (ptrace refused?): %v: %s", err, bytes.TrimSpace(out))
	}
	return strace
}

func onlyNameCalls(calls []string) bool {
	for _, c := range calls {
		switch c {
		case "getsockopt(other levels)", "getsockname", "getpeername",
			"sendfile", // a file into a socket, listed on every ring; not traced
			"shutdown": // a syscall on every ring (the engine's uring_ops.go says why)
		default:
			return false
		}
	}
	return true
}

// straceChild exercises every Berkeley call that has a ring op, and
// shutdown, which is a syscall on every kernel.
func straceChild(t *testing.T) {
	ls, err := SocketListen(unix.AF_INET6, unix.SOCK_STREAM, 0)
	must(t, err)
	must(t, SetsockoptInt(ls, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1))
	must(t, SetsockoptTimeval(ls, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5}))
	must(t, Bind(ls, &unix.SockaddrInet6{Addr: [16]byte{15: 1}}))
	must(t, Listen(ls, 4))
	sa, err := Getsockname(ls)
	must(t, err)
	c, err := SocketConnection(unix.AF_INET6, unix.SOCK_STREAM, 0)
	must(t, err)
	must(t, Connect(c, sa))
	a, _, err := Accept(ls)
	must(t, err)
	_, err = Send(c, []byte("ping"), 0)
	must(t, err)
	buf := make([]byte, 16)
	_, err = Recv(a, buf, 0)
	must(t, err)
	if _, err := GetsockoptInt(a, unix.SOL_SOCKET, unix.SO_TYPE); err != nil {
		t.Fatal(err)
	}
	must(t, Shutdown(c, unix.SHUT_WR))
	for _, s := range []int{a, c, ls} {
		must(t, Closesocket(s))
	}

	u1, err := SocketDatagram(unix.AF_INET, unix.SOCK_DGRAM, 0)
	must(t, err)
	u2, err := SocketDatagram(unix.AF_INET, unix.SOCK_DGRAM, 0)
	must(t, err)
	must(t, Bind(u2, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	to, err := Getsockname(u2)
	must(t, err)
	_, err = Sendto(u1, []byte("dgram"), 0, to)
	must(t, err)
	_, _, err = Recvfrom(u2, buf, 0)
	must(t, err)
	must(t, Closesocket(u1))
	must(t, Closesocket(u2))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
