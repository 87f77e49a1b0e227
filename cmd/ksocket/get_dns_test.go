//go:build linux

package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestGetNameFromDnsmasq resolves a name served by a dnsmasq of the test's
// own, on a loopback address of its own, and fetches from it: the name
// goes through ksocket's DNS stub resolver, over its own sockets.
func TestGetNameFromDnsmasq(t *testing.T) {
	bin, err := exec.LookPath("dnsmasq")
	if err != nil {
		if _, err := os.Stat("/usr/sbin/dnsmasq"); err != nil {
			t.Skip("dnsmasq is not installed (Debian package dnsmasq-base; the test command installs it)")
		}
		bin = "/usr/sbin/dnsmasq"
	}
	// resolv.conf has no port syntax, so the server must be on port 53,
	// which takes root (CAP_NET_BIND_SERVICE) unless the sysctl
	// net.ipv4.ip_unprivileged_port_start allows it.
	if err := canBindUDP("127.53.255.253", 53); errors.Is(err, syscall.EACCES) {
		t.Skip("dnsmasq needs port 53, which this user may not bind (not root, no CAP_NET_BIND_SERVICE)")
	}
	srv := newHTTPBin(t)
	u, _ := url.Parse(srv.URL)
	dir := t.TempDir()
	var ip string
	var dns *exec.Cmd
	var stderr strings.Builder
	up := false
	for range 5 { // a random 127.53.x.y, in case another test holds one
		ip = fmt.Sprintf("127.53.%d.%d", rand.IntN(256), 1+rand.IntN(254))
		dns = exec.Command(bin, "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
			"--bind-interfaces", "--listen-address="+ip, "--port=53",
			"--pid-file="+filepath.Join(dir, "dnsmasq.pid"),
			"--host-record=web.ksocket.test,127.0.0.1")
		stderr.Reset()
		dns.Stderr = &stderr
		if err := dns.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		if up = dns.ProcessState == nil && processAlive(dns); up {
			break
		}
		dns.Wait()
	}
	if !up {
		t.Fatalf("dnsmasq did not start on any of 5 addresses: %s", strings.TrimSpace(stderr.String()))
	}
	t.Cleanup(func() { dns.Process.Kill(); dns.Wait() })
	resolvConf := filepath.Join(dir, "resolv.conf")
	hosts := filepath.Join(dir, "hosts")
	os.WriteFile(resolvConf, []byte("nameserver "+ip+"\noptions timeout:1 attempts:2\n"), 0o644)
	os.WriteFile(hosts, nil, 0o644)

	target := "http://web.ksocket.test:" + u.Port() + "/uuid"
	var r result
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		cmd := ksocketCmd("get", target)
		cmd.Env = append(os.Environ(), "KSOCKET_RESOLV_CONF="+resolvConf, "KSOCKET_HOSTS="+hosts)
		if r = startCmd(t, cmd, "").wait(t, 20*time.Second); r.code == 0 {
			break
		}
	}
	if r.code != 0 || !strings.Contains(r.stdout, `"uuid"`) {
		t.Fatalf("ksocket get %s:\n%v", target, r)
	}
}

// canBindUDP binds a UDP socket to ip:port and closes it at once.
func canBindUDP(ip string, port int) error {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip), Port: port})
	if err != nil {
		return err
	}
	return c.Close()
}

func processAlive(c *exec.Cmd) bool {
	return c.Process != nil && c.Process.Signal(syscallZero) == nil
}

var syscallZero = syscall.Signal(0)
