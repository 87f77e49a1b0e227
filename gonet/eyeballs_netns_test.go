//go:build linux

package gonet

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/internal/engine"
	"golang.org/x/sys/unix"
)

// TestHappyEyeballsNetns dials a name with an address of each family,
// where the first never answers: inside a network namespace of its own (a
// child of the test binary under unshare -n), the first address is routed
// into a tun device that no process reads, which drops every packet, and
// the second is local. The dial connects through the second once FallbackDelay has
// passed, and the hung attempt is cancelled on the ring.
func TestHappyEyeballsNetns(t *testing.T) {
	if os.Getenv("KSOCKET_NETNS_CHILD") == "1" {
		eyeballsInNetns(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("a network namespace needs root")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("no unshare(1)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip(8)")
	}
	if err := exec.Command(unshare, "-n", "true").Run(); err != nil {
		t.Skipf("unshare -n: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "-n", os.Args[0], "-test.run=^TestHappyEyeballsNetns$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "KSOCKET_NETNS_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the test in its namespace: %v\n%s", err, out)
	}
	if bytes.Contains(out, []byte("--- SKIP: TestHappyEyeballsNetns")) {
		t.Skipf("skipped in its namespace:\n%s", out)
	}
	if !bytes.Contains(out, []byte("--- PASS: TestHappyEyeballsNetns")) {
		t.Fatalf("the test did not pass in its namespace:\n%s", out)
	}
	for _, line := range bytes.Split(out, []byte("\n")) {
		if bytes.Contains(line, []byte("eyeballs_netns_test.go")) {
			t.Log(string(bytes.TrimSpace(line)))
		}
	}
}

// eyeballsInNetns is the test, in the child's namespace.
func eyeballsInNetns(t *testing.T) {
	// A namespace without the privilege (CAP_NET_ADMIN), the tun device or
	// IPv6 cannot hold the test: it skips.
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Skipf("ip %v: %v\n%s", args, err, out)
		}
	}
	ip("link", "set", "lo", "up")
	ip("tuntap", "add", "dev", "hole", "mode", "tun")
	ip("link", "set", "hole", "up")
	ip("addr", "add", "192.0.2.1/24", "dev", "hole")
	ip("addr", "add", "2001:db8::1/64", "dev", "hole", "nodad")

	hosts := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(hosts, []byte("2001:db8::2 eyeballs.test\n192.0.2.2 eyeballs.test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KSOCKET_HOSTS", hosts)
	k, _ := parseNetwork("tcp")
	targets, err := resolve(context.Background(), k, "tcp", "eyeballs.test:1", false)
	if err != nil || len(targets) != 2 || targets[0].family == targets[1].family {
		t.Fatalf("eyeballs.test resolves to %v, %v; want one address of each family", targets, err)
	}
	// The second address becomes local, so it answers; the first stays
	// routed into the tun device.
	first, second := "192.0.2.2", "2001:db8::2"
	if targets[0].family == unix.AF_INET6 {
		first, second = second, first
	}
	if netip.MustParseAddr(second).Is4() {
		ip("addr", "add", second+"/32", "dev", "lo")
	} else {
		ip("addr", "add", second+"/128", "dev", "lo", "nodad")
	}
	ln, err := Listen("tcp", net.JoinHostPort(second, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go acceptAndClose(ln)
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	// The oracle: net's own dial to the first address gets no answer.
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(first, port), 200*time.Millisecond); err == nil {
		c.Close()
		t.Fatalf("%s answered; it should drop every packet", first)
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("net's dial to %s: %v; want a timeout", first, err)
	}
	// A first connection arms the listener's accept, which holds a slot
	// for as long as it listens.
	if c, err := Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
	}
	time.Sleep(10 * time.Millisecond)
	e, _ := engine.Default()
	slots, _ := e.Slots()

	start := time.Now()
	d := Dialer{Timeout: 10 * time.Second, FallbackDelay: 100 * time.Millisecond}
	c, err := d.Dial("tcp", net.JoinHostPort("eyeballs.test", port))
	took := time.Since(start)
	if err != nil {
		t.Fatalf("Dial eyeballs.test (%s, then %s): %v", first, second, err)
	}
	raddr := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
	c.Close()
	if raddr.String() != second {
		t.Errorf("connected to %v; want %s", raddr, second)
	}
	if took < 100*time.Millisecond || took > 5*time.Second {
		t.Errorf("the dial took %v; the fallback was due after 100ms", took)
	}
	t.Logf("%s never answered; connected to %s after %v", first, second, took.Round(time.Millisecond))
	waitSlots(t, e, slots)
}
