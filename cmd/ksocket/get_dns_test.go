//go:build linux

package main

import (
	"fmt"
	"math/rand/v2"
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
	srv := newHTTPBin(t)
	u, _ := url.Parse(srv.URL)
	dir := t.TempDir()
	var ip string
	var dns *exec.Cmd
	for range 5 { // a random 127.53.x.y, in case another test holds one
		ip = fmt.Sprintf("127.53.%d.%d", rand.IntN(256), 1+rand.IntN(254))
		dns = exec.Command(bin, "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
			"--bind-interfaces", "--listen-address="+ip, "--port=53",
			"--pid-file="+filepath.Join(dir, "dnsmasq.pid"),
			"--host-record=web.ksocket.test,127.0.0.1")
		if err := dns.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		if dns.ProcessState == nil && processAlive(dns) {
			break
		}
		dns.Wait()
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

func processAlive(c *exec.Cmd) bool {
	return c.Process != nil && c.Process.Signal(syscallZero) == nil
}

var syscallZero = syscall.Signal(0)
