//go:build linux

package resolv

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// dnsmasqTests are lookups against the shared dnsmasq, through Lookup's
// whole path (hosts file first, then DNS). want lists results as fmtResult
// prints them, in order.
var dnsmasqTests = []struct {
	name    string
	node    string
	hints   *Addrinfo
	conf    string // extra resolv.conf lines
	want    []string
	any     bool // want in any order (dnsmasq rotates records)
	code    int
	wantErr error // errors.Is target, if any
}{
	{name: "A and AAAA", node: "dual.test", hints: h(unspec, stream, 0, AI_CANONNAME),
		want: []string{"STREAM [3fff:53::1]:80 canon=dual.test", "STREAM 127.1.0.1:80"}},
	{name: "A only", node: "dual.test", hints: h(inet, stream, 0, 0),
		want: []string{"STREAM 127.1.0.1:80"}},
	{name: "AAAA only", node: "dual.test", hints: h(inet6, stream, 0, 0),
		want: []string{"STREAM [3fff:53::1]:80"}},
	{name: "two A records", node: "two.test", hints: h(inet, stream, 0, 0), any: true,
		want: []string{"STREAM 127.1.0.3:80", "STREAM 127.1.0.4:80"}},
	{name: "IPv4 only name with AF_UNSPEC", node: "v4.test", hints: h(unspec, dgram, 0, 0),
		want: []string{"DGRAM 127.1.0.2:80"}},
	{name: "no AAAA is no data, EAI_NONAME", node: "v4.test", hints: h(inet6, stream, 0, 0),
		code: EAI_NONAME},
	{name: "no A is no data, EAI_NONAME", node: "v6.test", hints: h(inet, stream, 0, 0),
		code: EAI_NONAME},
	{name: "v4mapped", node: "v4.test", hints: h(inet6, stream, 0, AI_V4MAPPED|AI_CANONNAME),
		want: []string{"STREAM [::ffff:127.1.0.2]:80 canon=v4.test"}},
	{name: "v4mapped all", node: "dual.test", hints: h(inet6, stream, 0, AI_V4MAPPED|AI_ALL),
		want: []string{"STREAM [3fff:53::1]:80", "STREAM [::ffff:127.1.0.1]:80"}},
	{name: "CNAME chain and canonical name", node: "alias1.test", hints: h(unspec, stream, 0, AI_CANONNAME),
		want: []string{"STREAM [3fff:53::1]:80 canon=dual.test", "STREAM 127.1.0.1:80"}},
	{name: "CNAME chain without AI_CANONNAME", node: "alias2.test", hints: h(inet, stream, 0, 0),
		want: []string{"STREAM 127.1.0.1:80"}},
	{name: "CNAME to a name without AAAA", node: "dangling.test", hints: h(inet6, stream, 0, 0),
		code: EAI_NONAME},
	{name: "case kept in the canonical name", node: "DUAL.Test", hints: h(inet, stream, 0, AI_CANONNAME),
		want: []string{"STREAM 127.1.0.1:80 canon=DUAL.Test"}},
	{name: "trailing dot", node: "dual.test.", hints: h(inet, stream, 0, AI_CANONNAME),
		want: []string{"STREAM 127.1.0.1:80 canon=dual.test"}},
	{name: "NXDOMAIN", node: "nosuch.test", hints: h(unspec, stream, 0, 0),
		code: EAI_NONAME},
	{name: "SERVFAIL", node: "www.fail.test", hints: h(unspec, stream, 0, 0),
		code: EAI_AGAIN},
	{name: "REFUSED", node: "www.example.", hints: h(unspec, stream, 0, 0),
		code: EAI_AGAIN},
	{name: "not a host name is never asked", node: "bad name.test", hints: h(unspec, stream, 0, 0),
		code: EAI_NONAME},
	{name: "leading dash", node: "-x.test", hints: h(unspec, stream, 0, 0),
		code: EAI_NONAME},
	{name: "escapes are decoded", node: `\100ual.test`, hints: h(inet, stream, 0, AI_CANONNAME),
		want: []string{"STREAM 127.1.0.1:80 canon=dual.test"}},
	{name: "hosts file first", node: "localhost", hints: h(inet6, stream, 0, 0),
		want: []string{"STREAM [::1]:80"}},
	{name: "search list", node: "host", hints: h(inet, stream, 0, AI_CANONNAME), conf: "search s1.test s2.test\n",
		want: []string{"STREAM 127.3.1.1:80 canon=host.s1.test"}},
	{name: "search list, second domain", node: "only2", hints: h(inet, stream, 0, AI_CANONNAME), conf: "search s1.test s2.test\n",
		want: []string{"STREAM 127.3.2.2:80 canon=only2.s2.test"}},
	{name: "edns0", node: "dual.test", hints: h(inet, stream, 0, 0), conf: "options edns0\n",
		want: []string{"STREAM 127.1.0.1:80"}},
	{name: "single-request", node: "dual.test", hints: h(unspec, stream, 0, 0), conf: "options single-request\n",
		want: []string{"STREAM [3fff:53::1]:80", "STREAM 127.1.0.1:80"}},
	{name: "use-vc", node: "dual.test", hints: h(unspec, stream, 0, 0), conf: "options use-vc\n",
		want: []string{"STREAM [3fff:53::1]:80", "STREAM 127.1.0.1:80"}},
	{name: "no-aaaa", node: "dual.test", hints: h(unspec, stream, 0, 0), conf: "options no-aaaa\n",
		want: []string{"STREAM 127.1.0.1:80"}},
	{name: "no-aaaa with AF_INET6", node: "dual.test", hints: h(inet6, stream, 0, 0), conf: "options no-aaaa\n",
		code: EAI_NONAME},
}

func TestDNSLookupDnsmasq(t *testing.T) {
	t.Parallel()
	srv := sharedDNS(t)
	for _, tc := range dnsmasqTests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conf := fmt.Sprintf("nameserver %v\noptions timeout:1 attempts:1\n%s", srv.addr.Addr(), tc.conf)
			cfg := dnsConfig(t, writeConf(t, "resolv.conf", conf))
			res, err := cfg.lookup(context.Background(), tc.node, "80", tc.hints)
			if tc.want != nil {
				if err != nil {
					t.Fatalf("lookup: %v", err)
				}
				got := fmtResults(res)
				if tc.any {
					slices.Sort(got)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("got %q, want %q", got, tc.want)
				}
				checkInvariants(t, res, tc.hints)
				return
			}
			if err == nil {
				t.Fatalf("got %q, want error %d", fmtResults(res), tc.code)
			}
			if err.Code != tc.code {
				t.Errorf("got %v (code %d), want code %d", err, err.Code, tc.code)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("%v does not wrap %v", err, tc.wantErr)
			}
		})
	}
}

// TestDNSTruncatedFallsBackToTCP looks up a name whose 40 A records do not
// fit in 512 bytes: dnsmasq sets TC over UDP, and the resolver asks again
// over TCP.
func TestDNSTruncatedFallsBackToTCP(t *testing.T) {
	t.Parallel()
	srv := sharedDNS(t)
	for _, opts := range []string{"", "options single-request\n", "options edns0\n"} {
		conf := writeConf(t, "resolv.conf", fmt.Sprintf("nameserver %v\n%s", srv.addr.Addr(), opts))
		res, err := dnsConfig(t, conf).lookup(context.Background(), "big.test", "80", h(inet, stream, 0, 0))
		if err != nil {
			t.Fatalf("%q: %v", opts, err)
		}
		if len(res) != bigCount {
			t.Fatalf("%q: %d results, want %d: %q", opts, len(res), bigCount, fmtResults(res))
		}
		seen := make(map[string]bool)
		for _, r := range fmtResults(res) {
			seen[r] = true
		}
		for i := 1; i <= bigCount; i++ {
			if r := fmt.Sprintf("STREAM 127.2.0.%d:80", i); !seen[r] {
				t.Errorf("%q: %s missing", opts, r)
			}
		}
	}
}

// TestDNSNameserverOverIPv6 asks a dnsmasq listening on ::1 (on a port of
// its own, which only a test's configuration can name).
func TestDNSNameserverOverIPv6(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/net/if_inet6"); err != nil {
		t.Skip("skipping: no IPv6")
	}
	srv := ownDNS(t, dnsmasqOptions{listen: netip.MustParseAddr("::1"), port: freeUDPPort(t, "::1")})
	rc := defaultResolvConf()
	rc.timeout = 1
	rc.servers = []nameserver{{addr: srv.addr}}
	addrs, canon, err := newTestClient(rc, time.Second).lookup(context.Background(), "alias1.test", unix.AF_UNSPEC)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(addrs, " ", canon); got != "[127.1.0.1 3fff:53::1] dual.test." {
		t.Errorf("got %s", got)
	}
}

// TestDNSLookupEnv checks that Lookup itself uses KSOCKET_RESOLV_CONF and
// KSOCKET_NSSWITCH_CONF. It sets the environment, so it cannot run in
// parallel.
func TestDNSLookupEnv(t *testing.T) {
	srv := sharedDNS(t)
	t.Setenv("KSOCKET_RESOLV_CONF", srv.resolvConf)
	res, err := Lookup(context.Background(), "alias1.test", "http", &Addrinfo{Family: unix.AF_INET, Flags: AI_CANONNAME})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(fmtResults(res), ", "); !strings.Contains(got, "127.1.0.1") || res[0].Canonname != "dual.test" {
		t.Errorf("got %s", got)
	}
	// With DNS before files, a name in both comes from DNS.
	hosts := writeConf(t, "hosts", "127.9.9.9 dual.test\n")
	t.Setenv("KSOCKET_HOSTS", hosts)
	for _, tc := range []struct{ nss, want string }{
		{"hosts: files dns\n", "127.9.9.9"},
		{"hosts: dns files\n", "127.1.0.1"},
		{"hosts: files [NOTFOUND=return] dns\n", "127.9.9.9"},
	} {
		t.Setenv("KSOCKET_NSSWITCH_CONF", writeConf(t, "nsswitch.conf", tc.nss))
		res, err := Lookup(context.Background(), "dual.test", "80", &Addrinfo{Family: unix.AF_INET, Socktype: stream})
		if err != nil {
			t.Fatalf("%q: %v", tc.nss, err)
		}
		if got := fmtResults(res); len(got) != 1 || !strings.Contains(got[0], tc.want) {
			t.Errorf("%q: got %q, want %s", tc.nss, got, tc.want)
		}
	}
}

// TestDNSContext checks that a lookup stops when its context ends, with
// EAI_AGAIN and the context's error, while the server stays silent.
func TestDNSContext(t *testing.T) {
	t.Parallel()
	silent := startFakeServer(t, "127.0.0.1", func(q query) []response { return nil })
	rc := defaultResolvConf()
	rc.servers = []nameserver{{addr: silent.addr}}
	rc.timeout, rc.attempts = 5, 2
	cfg := testConfig("both")
	cfg.dns = func(ctx context.Context, name string, family int) ([]netip.Addr, string, error) {
		return newTestClient(rc, time.Second).lookup(ctx, name, family)
	}
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			_, err := cfg.lookup(ctx, "slow.test", "80", h(unspec, stream, 0, 0))
			if err == nil || err.Code != EAI_AGAIN || err.Err != ctx.Err() || !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want EAI_AGAIN with %v", err, tc.want)
			}
			if d := time.Since(start); d > 4*time.Second {
				t.Errorf("took %v: the context was not honoured", d)
			}
		})
	}
}
