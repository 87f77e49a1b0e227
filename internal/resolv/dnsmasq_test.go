//go:build linux

package resolv

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/ksocket-go/ksocket/internal/engine"
)

// The DNS tests talk to a real server: dnsmasq, from Debian's dnsmasq-base
// (not the dnsmasq package, whose service would take port 53). Each
// instance listens on port 53 of a loopback address of its own, picked at
// random in 127.53.0.0/16 so that parallel test binaries do not clash, and
// answers only from the records below: nothing is forwarded anywhere but
// to the tests' own SERVFAIL responder on 127.0.0.1.

// dnsRecords are the names every instance serves. Names under test. and y.
// that are not defined are NXDOMAIN (--local); names elsewhere are REFUSED,
// since there is no upstream server.
var dnsRecords = func() []string {
	r := []string{
		"--local=/test/", "--local=/y/",
		"--host-record=dual.test,127.1.0.1,3fff:53::1",
		"--host-record=v4.test,127.1.0.2",
		"--host-record=v6.test,3fff:53::2",
		"--host-record=two.test,127.1.0.3", "--host-record=two.test,127.1.0.4",
		// A CNAME chain alias1 → alias2 → alias3 → dual, and one to a name
		// without AAAA records.
		"--cname=alias1.test,alias2.test", "--cname=alias2.test,alias3.test", "--cname=alias3.test,dual.test",
		"--cname=dangling.test,v4.test",
		// For the search list and ndots.
		"--host-record=host.s1.test,127.3.1.1",
		"--host-record=host.s2.test,127.3.2.1",
		"--host-record=only2.s2.test,127.3.2.2",
		"--host-record=nodata.s1.test,3fff:53::31",
		"--host-record=nodata.s2.test,127.3.2.3",
		"--host-record=x.y,127.3.9.1",
		"--host-record=x.y.s1.test,127.3.1.9",
		"--host-record=a.b.y,127.3.9.2",
		"--host-record=a.b.y.s2.test,127.3.2.9",
		"--host-record=s1.test,127.3.1.0",
		"--host-record=web.s2.test,127.3.2.80",
	}
	// big.test has more A records than fit in 512 bytes: TC, then TCP.
	for i := 1; i <= bigCount; i++ {
		r = append(r, fmt.Sprintf("--host-record=big.test,127.2.0.%d", i))
	}
	return r
}()

const bigCount = 40

// dnsServer is a dnsmasq process of the tests' own.
type dnsServer struct {
	addr       netip.AddrPort // where it listens
	resolvConf string         // a resolv.conf naming it, with timeout:1 attempts:1
	logPath    string         // its query log, if asked for
	dir        string

	cmd      *exec.Cmd
	exited   chan struct{}
	upstream *servfailUpstream
}

// dnsmasqPath finds dnsmasq, which Debian installs in /usr/sbin.
func dnsmasqPath() (string, error) {
	if p, err := exec.LookPath("dnsmasq"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/dnsmasq"); err == nil {
		return "/usr/sbin/dnsmasq", nil
	}
	return "", errors.New("dnsmasq is not installed (Debian package dnsmasq-base; the test command installs it)")
}

// dnsmasqOptions says how to start an instance.
type dnsmasqOptions struct {
	listen     netip.Addr // "" for a random 127.53.x.y
	port       int        // 0 for 53
	logQueries bool
}

// startDnsmasq starts an instance and waits until it answers.
func startDnsmasq(opts dnsmasqOptions) (*dnsServer, error) {
	bin, err := dnsmasqPath()
	if err != nil {
		return nil, err
	}
	up, err := startServfailUpstream()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 5 {
		s, err := tryDnsmasq(bin, opts, up)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if opts.listen.IsValid() {
			break // a fixed address: retrying will not help
		}
	}
	up.close()
	return nil, lastErr
}

func tryDnsmasq(bin string, opts dnsmasqOptions, up *servfailUpstream) (*dnsServer, error) {
	ip := opts.listen
	if !ip.IsValid() {
		ip = netip.AddrFrom4([4]byte{127, 53, byte(rand.IntN(256)), byte(1 + rand.IntN(254))})
	}
	port := opts.port
	if port == 0 {
		port = 53
	}
	dir, err := os.MkdirTemp("", "resolv-dnsmasq")
	if err != nil {
		return nil, err
	}
	s := &dnsServer{addr: netip.AddrPortFrom(ip, uint16(port)), dir: dir, upstream: up, exited: make(chan struct{})}
	args := []string{
		"--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
		"--listen-address=" + ip.String(), fmt.Sprintf("--port=%d", port),
		"--pid-file=" + filepath.Join(dir, "dnsmasq.pid"),
		fmt.Sprintf("--server=/fail.test/127.0.0.1#%d", up.port()),
	}
	if opts.logQueries {
		s.logPath = filepath.Join(dir, "queries.log")
		args = append(args, "--log-queries", "--log-facility="+s.logPath)
	}
	args = append(args, dnsRecords...)
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stderr = stderr
	err = s.cmd.Start()
	stderr.Close()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	go func() {
		s.cmd.Wait()
		close(s.exited)
	}()
	s.resolvConf = filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(s.resolvConf, []byte(fmt.Sprintf("nameserver %v\noptions timeout:1 attempts:1\n", ip)), 0o644); err != nil {
		s.stopProcess()
		return nil, err
	}
	if err := s.waitReady(); err != nil {
		s.stopProcess()
		return nil, err
	}
	return s, nil
}

// waitReady sends queries (with the test's own net socket: this is the
// harness, not the resolver under test) until one is answered.
func (s *dnsServer) waitReady() error {
	q, _ := buildQuery(1, dnsmessage.Question{Name: dnsmessage.MustNewName("dual.test."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}, false, false)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			b, _ := os.ReadFile(filepath.Join(s.dir, "stderr"))
			return fmt.Errorf("dnsmasq on %v exited: %s", s.addr, strings.TrimSpace(string(b)))
		default:
		}
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s.addr))
		if err == nil {
			c.Write(q)
			c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			buf := make([]byte, 512)
			n, err := c.Read(buf)
			c.Close()
			if err == nil && n > 0 {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("dnsmasq on %v did not answer within 5s", s.addr)
}

func (s *dnsServer) stopProcess() {
	s.cmd.Process.Kill()
	<-s.exited
	os.RemoveAll(s.dir)
}

// stop ends the instance and its upstream.
func (s *dnsServer) stop() {
	s.stopProcess()
	s.upstream.close()
}

// queryLog returns the names dnsmasq logged queries for, in order, as
// "TYPE name".
func (s *dnsServer) queryLog(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		_, rest, ok := strings.Cut(line, ": query[")
		if !ok {
			continue
		}
		typ, rest, _ := strings.Cut(rest, "] ")
		name, _, _ := strings.Cut(rest, " from ")
		out = append(out, typ+" "+name)
	}
	return out
}

var (
	sharedOnce sync.Once
	shared     *dnsServer
	sharedErr  error
)

// sharedDNS returns the instance that tests share, started on first use
// and stopped by TestMain. A test that cannot have it skips.
func sharedDNS(t *testing.T) *dnsServer {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = startDnsmasq(dnsmasqOptions{}) })
	if sharedErr != nil {
		t.Skipf("skipping: no dnsmasq to query: %v", sharedErr)
	}
	return shared
}

// ownDNS starts an instance for one test.
func ownDNS(t *testing.T, opts dnsmasqOptions) *dnsServer {
	t.Helper()
	if _, err := dnsmasqPath(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	s, err := startDnsmasq(opts)
	if err != nil {
		t.Skipf("skipping: cannot start dnsmasq: %v", err)
	}
	t.Cleanup(s.stop)
	return s
}

func stopSharedDNS() {
	if shared != nil {
		shared.stop()
	}
}

// servfailUpstream answers every query with SERVFAIL. dnsmasq forwards
// the fail.test zone to it and passes the SERVFAIL on: dnsmasq itself only
// answers REFUSED when it has no upstream, and nothing at all when its
// upstream is dead, so this is how its fail.test zone answers SERVFAIL.
type servfailUpstream struct {
	conn *net.UDPConn
	done chan struct{}
}

func startServfailUpstream() (*servfailUpstream, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	u := &servfailUpstream{conn: c, done: make(chan struct{})}
	go func() {
		defer close(u.done)
		buf := make([]byte, 4096)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RecursionDesired: h.RecursionDesired,
				RecursionAvailable: true, RCode: dnsmessage.RCodeServerFailure})
			b.StartQuestions()
			b.Question(q)
			out, _ := b.Finish()
			c.WriteToUDPAddrPort(out, from)
		}
	}()
	return u, nil
}

func (u *servfailUpstream) port() int { return u.conn.LocalAddr().(*net.UDPAddr).Port }

func (u *servfailUpstream) close() {
	u.conn.Close()
	<-u.done
}

// deadNameserver returns a loopback address in 127.53.0.0/16 where, almost
// surely, nothing listens: queries to it fail at once with ECONNREFUSED.
func deadNameserver() netip.Addr {
	return netip.AddrFrom4([4]byte{127, 53, 255, byte(1 + rand.IntN(254))})
}

// hookFor returns a DNS hook that reads the resolv.conf at path on every
// call (as lookupDNS reads $KSOCKET_RESOLV_CONF), with unit as resolv.conf's
// second.
func hookFor(path string, unit time.Duration) func(context.Context, string, int) ([]netip.Addr, string, error) {
	return func(ctx context.Context, name string, family int) ([]netip.Addr, string, error) {
		rc, err := loadResolvConf(path)
		if err != nil {
			return nil, "", &AddrinfoError{Code: EAI_SYSTEM, Err: err}
		}
		return newTestClient(rc, unit).lookup(ctx, name, family)
	}
}

// newTestClient returns a client for a configuration built by a test.
func newTestClient(rc *resolvConf, unit time.Duration) *dnsClient {
	eng, err := engine.Default()
	if err != nil {
		panic(err) // TestMain has checked it
	}
	return &dnsClient{conf: rc, eng: eng, unit: unit, zones: &config{sysClassNetPath: "/sys/class/net"}}
}

// dnsConfig returns a lookup configuration with TestMain's hosts file, the
// procfs fixture of a host with global IPv4 and IPv6 addresses (so that the
// sort is the same on every machine), and DNS through the resolv.conf at
// path.
func dnsConfig(t *testing.T, path string) *config {
	t.Helper()
	c := testConfig("both")
	c.hostsPath = os.Getenv("KSOCKET_HOSTS")
	c.dns = hookFor(path, time.Second)
	return c
}

// writeConf writes a resolv.conf (or any file) into a test's directory.
func writeConf(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
