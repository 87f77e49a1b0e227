//go:build linux

package resolv

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ksocket-go/ksocket/internal/engine"
)

// straceChildEnv marks the child process of TestDNSNoSocketSyscallsOnUring.
const straceChildEnv = "KSOCKET_RESOLV_STRACE_CHILD"

// dnsSyscalls are the calls DNS traffic would make outside the ring.
var dnsSyscalls = []string{"socket", "connect", "sendto", "recvfrom", "sendmsg", "recvmsg"}

// TestDNSNoSocketSyscallsOnUring runs lookups (A and AAAA in parallel, and
// one that falls back to TCP) in a child process under strace -f, and
// checks that the DNS traffic went through io_uring: no socket, connect,
// sendto, recvfrom, sendmsg or recvmsg syscalls.
func TestDNSNoSocketSyscallsOnUring(t *testing.T) {
	if os.Getenv(straceChildEnv) == "1" {
		straceDNSChild(t)
		return
	}
	inf, _ := engine.Probe()
	if inf.Backend != "uring" {
		t.Skipf("skipping: the backend is %s; the check is for uring", inf.Backend)
	}
	for _, c := range inf.SysCalls {
		if slices.Contains(dnsSyscalls, c) {
			t.Skipf("skipping: this kernel (or KSOCKET_FEATURES) makes %s a plain syscall", c)
		}
	}
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("skipping: strace is not installed (Debian package strace; the test command installs it)")
	}
	// strace needs ptrace(2), which a sandbox may refuse.
	if out, err := exec.Command(strace, "-f", "-qq", "-e", "trace=none", "true").CombinedOutput(); err != nil {
		t.Skipf("skipping: strace cannot trace here (ptrace refused?): %v: %s", err, bytes.TrimSpace(out))
	}
	srv := sharedDNS(t)
	t.Parallel()
	out := filepath.Join(t.TempDir(), "strace.out")
	cmd := exec.Command(strace, "-f", "-qq", "-e", "trace="+strings.Join(dnsSyscalls, ","), "-o", out,
		os.Args[0], "-test.run=^TestDNSNoSocketSyscallsOnUring$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), straceChildEnv+"=1", "KSOCKET_BACKEND=uring", "KSOCKET_RESOLV_CONF="+srv.resolvConf)
	if b, err := cmd.CombinedOutput(); err != nil || !bytes.Contains(b, []byte("--- PASS")) {
		t.Fatalf("child under strace: %v\n%s", err, b)
	}
	trace, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`\b(` + strings.Join(dnsSyscalls, "|") + `)\(`)
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

// straceDNSChild makes the lookups, through Lookup and $KSOCKET_RESOLV_CONF.
func straceDNSChild(t *testing.T) {
	for _, tc := range []struct {
		node  string
		hints *Addrinfo
		n     int
	}{
		{"dual.test", h(unspec, stream, 0, 0), 2},
		{"big.test", h(inet, stream, 0, 0), bigCount},
	} {
		res, err := Lookup(context.Background(), tc.node, "80", tc.hints)
		if err != nil || len(res) != tc.n {
			t.Fatalf("%s: %d results, %v", tc.node, len(res), err)
		}
	}
}
