//go:build linux

package resolv

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func ns(s string) nameserver {
	host, zone := s, ""
	if a, z, ok := cutZone(s); ok {
		host, zone = a, z
	}
	return nameserver{addr: netip.AddrPortFrom(netip.MustParseAddr(host), 53), zone: zone}
}

func cutZone(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

var resolvConfTests = []struct {
	name string
	in   string
	want resolvConf // ndots, timeout and attempts of 0 mean the defaults
}{
	{name: "empty", in: ""},
	{name: "servers", in: "nameserver 192.0.2.1\nnameserver 2001:db8::1\nnameserver fe80::1%eth7\nnameserver 192.0.2.4\n",
		want: resolvConf{servers: []nameserver{ns("192.0.2.1"), ns("2001:db8::1"), ns("fe80::1%eth7")}}},
	{name: "inet_aton forms and junk", in: "nameserver 127.1\nnameserver 0x7f.0.0.2 # comment\nnameserver 300.1.1.1\nnameserver\nnameserver ::ffff:1.2.3.4\n",
		want: resolvConf{servers: []nameserver{ns("127.0.0.1"), ns("127.0.0.2"), ns("::ffff:1.2.3.4")}}},
	{name: "keyword needs a blank", in: "nameserver1.2.3.4\nnameserver\t192.0.2.9\n",
		want: resolvConf{servers: []nameserver{ns("192.0.2.9")}}},
	{name: "comments only in column one", in: "# nameserver 192.0.2.1\n; nameserver 192.0.2.2\n  nameserver 192.0.2.3\n",
		want: resolvConf{}},
	{name: "search", in: "search a.test  b.test\tc.test\n",
		want: resolvConf{search: []string{"a.test", "b.test", "c.test"}, haveSearch: true}},
	{name: "last of domain and search wins", in: "search a.test b.test\ndomain c.test d.test\n",
		want: resolvConf{search: []string{"c.test"}, haveSearch: true}},
	{name: "search after domain", in: "domain c.test\nsearch a.test\n",
		want: resolvConf{search: []string{"a.test"}, haveSearch: true}},
	{name: "empty search is ignored", in: "search a.test\nsearch   \n",
		want: resolvConf{search: []string{"a.test"}, haveSearch: true}},
	{name: "CRLF", in: "search a.test\r\nnameserver 192.0.2.1\r\n",
		want: resolvConf{search: []string{"a.test"}, haveSearch: true, servers: []nameserver{ns("192.0.2.1")}}},
	{name: "options", in: "options ndots:3 timeout:2 attempts:4 rotate edns0 single-request use-vc no-tld-query trust-ad no-aaaa no-reload\n",
		want: resolvConf{ndots: 3, timeout: 2, attempts: 4, rotate: true, edns0: true, singleRequest: true, useVC: true,
			noTLDQuery: true, trustAD: true, noAAAA: true, noReload: true}},
	{name: "options clamp as glibc", in: "options ndots:99 timeout:99 attempts:99\n",
		want: resolvConf{ndots: 15, timeout: 30, attempts: 5}},
	{name: "options atoi", in: "options ndots:2x timeout: attempts:+3\n",
		want: resolvConf{ndots: 2, timeout: -1, attempts: 3}},
	{name: "attempts:0 is one", in: "options attempts:0 ndots:0\n",
		want: resolvConf{ndots: -1, attempts: 1}},
	{name: "negative values ignored", in: "options ndots:-1 timeout:-5\n"},
	{name: "options by prefix", in: "options rotated single-request-reopen edns0x no_tld_query\noptions debug inet6 ndots:4\n",
		want: resolvConf{rotate: true, singleRequest: true, edns0: true, noTLDQuery: true, ndots: 4}},
	{name: "NUL ends a line", in: "nameserver 192.0.2.1\x00junk\nsearch a.test\x00b.test\n",
		want: resolvConf{servers: []nameserver{ns("192.0.2.1")}, search: []string{"a.test"}, haveSearch: true}},
	{name: "sortlist and unknown lines ignored", in: "sortlist 130.155.160.0/255.255.240.0\nlookup file bind\n"},
}

func TestParseResolvConf(t *testing.T) {
	t.Parallel()
	for _, tc := range resolvConfTests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := tc.want
			switch want.ndots {
			case 0:
				want.ndots = 1
			case -1:
				want.ndots = 0
			}
			if want.timeout == 0 {
				want.timeout = defaultTimeout
			} else if want.timeout == -1 {
				want.timeout = 0
			}
			if want.attempts == 0 {
				want.attempts = defaultAttempts
			}
			got := parseResolvConf([]byte(tc.in))
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("got  %+v\nwant %+v", *got, want)
			}
		})
	}
}

func TestResolvConfFinish(t *testing.T) {
	t.Parallel()
	base := parseResolvConf([]byte("search a.test\noptions ndots:2\n"))
	for _, tc := range []struct {
		name                        string
		rc                          *resolvConf
		localDomain, opts, hostname string
		haveLocal                   bool
		wantSearch                  []string
		wantNdots                   int
		wantRotate                  bool
	}{
		{name: "file only", rc: base, hostname: "vm.example.test", wantSearch: []string{"a.test"}, wantNdots: 2},
		{name: "LOCALDOMAIN", rc: base, localDomain: " x.test  y.test ", haveLocal: true, wantSearch: []string{"x.test", "y.test"}, wantNdots: 2},
		{name: "empty LOCALDOMAIN", rc: base, haveLocal: true, hostname: "vm.example.test", wantSearch: nil, wantNdots: 2},
		{name: "RES_OPTIONS", rc: base, opts: "ndots:5 rotate", wantSearch: []string{"a.test"}, wantNdots: 5, wantRotate: true},
		{name: "host name's domain", rc: parseResolvConf(nil), hostname: "vm.example.test", wantSearch: []string{"example.test"}, wantNdots: 1},
		{name: "host name without a domain", rc: parseResolvConf(nil), hostname: "vm", wantNdots: 1},
	} {
		got := tc.rc.finish(tc.localDomain, tc.opts, tc.hostname, tc.haveLocal)
		if !slices.Equal(got.search, tc.wantSearch) || got.ndots != tc.wantNdots || got.rotate != tc.wantRotate {
			t.Errorf("%s: search %q ndots %d rotate %v, want %q %d %v", tc.name, got.search, got.ndots, got.rotate,
				tc.wantSearch, tc.wantNdots, tc.wantRotate)
		}
		if want := []nameserver{ns("127.0.0.1")}; !reflect.DeepEqual(got.servers, want) {
			t.Errorf("%s: servers %v, want the default %v", tc.name, got.servers, want)
		}
	}
	if base.ndots != 2 || len(base.servers) != 0 {
		t.Errorf("finish changed the cached value: %+v", base)
	}
}

// TestTryTimeout checks glibc's send_dg timeout: timeout << index, divided
// by the number of servers after the first, at least one second.
func TestTryTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		timeout, servers int
		want             []int
	}{
		{5, 1, []int{5}},
		{5, 2, []int{5, 5}},
		{5, 3, []int{5, 3, 6}},
		{1, 3, []int{1, 1, 1}},
		{0, 2, []int{1, 1}},
		{30, 3, []int{30, 20, 40}},
	} {
		c := &dnsClient{conf: &resolvConf{timeout: tc.timeout, servers: make([]nameserver, tc.servers)}, unit: time.Second}
		for i, w := range tc.want {
			if got := c.tryTimeout(i); got != time.Duration(w)*time.Second {
				t.Errorf("timeout:%d with %d servers, server %d: %v, want %ds", tc.timeout, tc.servers, i, got, w)
			}
		}
	}
}

// TestResolvConfReload checks that a changed resolv.conf is read again, and
// that one with no-reload is not.
func TestResolvConfReload(t *testing.T) {
	t.Parallel()
	srv := sharedDNS(t)
	for _, noReload := range []bool{false, true} {
		t.Run(fmt.Sprintf("no-reload=%v", noReload), func(t *testing.T) {
			t.Parallel()
			opt := ""
			if noReload {
				opt = "options no-reload\n"
			}
			path := writeConf(t, "resolv.conf", fmt.Sprintf("nameserver %v\n%s", deadNameserver(), opt))
			hook := hookFor(path, time.Second)
			if _, _, err := hook(context.Background(), "dual.test", unix.AF_INET); err == nil {
				t.Fatal("lookup through an unreachable nameserver succeeded")
			}
			// A different size, so that the change is seen within one mtime tick.
			if err := os.WriteFile(path, []byte(fmt.Sprintf("nameserver %v\noptions timeout:1\n%s", srv.addr.Addr(), opt)), 0o644); err != nil {
				t.Fatal(err)
			}
			addrs, _, err := hook(context.Background(), "dual.test", unix.AF_INET)
			if noReload {
				if err == nil {
					t.Fatalf("no-reload: the new file was read: %v", addrs)
				}
				return
			}
			if err != nil || len(addrs) != 1 || addrs[0] != netip.MustParseAddr("127.1.0.1") {
				t.Fatalf("after the change: %v, %v", addrs, err)
			}
		})
	}
}

// TestResolvConfUnreadable: a resolv.conf that exists but cannot be read is
// EAI_SYSTEM (glibc's res_init fails).
func TestResolvConfUnreadable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir() // a directory: open succeeds, read fails with EISDIR
	_, _, err := hookFor(dir, time.Second)(context.Background(), "dual.test", unix.AF_INET)
	if ae, ok := err.(*AddrinfoError); !ok || ae.Code != EAI_SYSTEM {
		t.Fatalf("got %v, want EAI_SYSTEM", err)
	}
}
