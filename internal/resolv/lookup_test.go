//go:build linux

package resolv

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testConfig returns a configuration that reads only fixtures: the hosts and
// services files in testdata, the procfs files in testdata/proc/<proc>, and
// no DNS.
func testConfig(proc string) *config {
	return &config{
		hostsPath:       "testdata/hosts",
		servicesPath:    "testdata/services",
		ifInet6Path:     filepath.Join("testdata/proc", proc, "if_inet6"),
		fibTriePath:     filepath.Join("testdata/proc", proc, "fib_trie"),
		sysClassNetPath: "testdata/sys/class/net",
	}
}

// v6Config is testConfig with the hosts file that has IPv6 lines.
func v6Config(proc string) *config {
	c := testConfig(proc)
	c.hostsPath = "testdata/hosts.v6"
	return c
}

// fmtResult formats one result compactly: "STREAM 127.0.0.1:80",
// "DGRAM [fe80::1%7]:53 canon=name".
func fmtResult(ai Addrinfo) string {
	var st string
	switch ai.Socktype {
	case unix.SOCK_STREAM:
		st = "STREAM"
	case unix.SOCK_DGRAM:
		st = "DGRAM"
	default:
		st = fmt.Sprintf("socktype%d", ai.Socktype)
	}
	var addr string
	switch sa := ai.Addr.(type) {
	case *unix.SockaddrInet4:
		addr = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)).String()
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(sa.Addr)
		if sa.ZoneId != 0 {
			ip = ip.WithZone(fmt.Sprint(sa.ZoneId))
		}
		addr = netip.AddrPortFrom(ip, uint16(sa.Port)).String()
	default:
		addr = fmt.Sprintf("%T", ai.Addr)
	}
	s := st + " " + addr
	if ai.Canonname != "" {
		s += " canon=" + ai.Canonname
	}
	return s
}

func fmtResults(res []Addrinfo) []string {
	out := make([]string, len(res))
	for i, ai := range res {
		out[i] = fmtResult(ai)
	}
	return out
}

// checkInvariants checks what must hold for every successful lookup.
func checkInvariants(t *testing.T, res []Addrinfo, hints *Addrinfo) {
	t.Helper()
	if len(res) == 0 {
		t.Fatal("success with no results")
	}
	flags := defaultFlags
	if hints != nil {
		flags = hints.Flags
	}
	seen := make(map[unix.Sockaddr]bool)
	for i, ai := range res {
		if ai.Flags != flags {
			t.Errorf("result %d: Flags %#x, want hints' %#x", i, ai.Flags, flags)
		}
		switch sa := ai.Addr.(type) {
		case *unix.SockaddrInet4:
			if ai.Family != unix.AF_INET {
				t.Errorf("result %d: Family %d with %T", i, ai.Family, sa)
			}
		case *unix.SockaddrInet6:
			if ai.Family != unix.AF_INET6 {
				t.Errorf("result %d: Family %d with %T", i, ai.Family, sa)
			}
		default:
			t.Fatalf("result %d: Addr is %T", i, ai.Addr)
		}
		if seen[ai.Addr] {
			t.Errorf("result %d shares its Sockaddr with an earlier result", i)
		}
		seen[ai.Addr] = true
		switch {
		case ai.Socktype == unix.SOCK_STREAM && ai.Protocol == unix.IPPROTO_TCP:
		case ai.Socktype == unix.SOCK_DGRAM && ai.Protocol == unix.IPPROTO_UDP:
		default:
			t.Errorf("result %d: socktype %d protocol %d", i, ai.Socktype, ai.Protocol)
		}
		if hints != nil {
			if hints.Family != unix.AF_UNSPEC && ai.Family != hints.Family {
				t.Errorf("result %d: Family %d, hints ask for %d", i, ai.Family, hints.Family)
			}
			if hints.Socktype != 0 && ai.Socktype != hints.Socktype {
				t.Errorf("result %d: Socktype %d, hints ask for %d", i, ai.Socktype, hints.Socktype)
			}
			if hints.Protocol != 0 && ai.Protocol != hints.Protocol {
				t.Errorf("result %d: Protocol %d, hints ask for %d", i, ai.Protocol, hints.Protocol)
			}
		}
		if i > 0 && ai.Canonname != "" {
			t.Errorf("result %d has Canonname %q; only the first may", i, ai.Canonname)
		}
	}
	if flags&AI_CANONNAME == 0 && res[0].Canonname != "" {
		t.Errorf("Canonname %q without AI_CANONNAME", res[0].Canonname)
	}
	if flags&AI_CANONNAME != 0 && res[0].Canonname == "" {
		t.Error("no Canonname with AI_CANONNAME")
	}
}

// lookupCase is one table row: a lookup and its expected results or error.
type lookupCase struct {
	name    string
	cfg     *config // nil means testConfig("both")
	node    string
	service string
	hints   *Addrinfo
	want    []string // fmtResult of each result, in order
	code    int      // expected EAI_* code when want is nil
}

func runLookupCases(t *testing.T, cases []lookupCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.cfg
			if cfg == nil {
				cfg = testConfig("both")
			}
			res, err := cfg.lookup(context.Background(), tc.node, tc.service, tc.hints)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("lookup(%q, %q) = %q, want error %d (%s)", tc.node, tc.service,
						fmtResults(res), tc.code, gaiStrerror(tc.code))
				}
				if err.Code != tc.code {
					t.Fatalf("lookup(%q, %q): error %v (code %d), want code %d (%s)", tc.node, tc.service,
						err, err.Code, tc.code, gaiStrerror(tc.code))
				}
				return
			}
			if err != nil {
				t.Fatalf("lookup(%q, %q): %v", tc.node, tc.service, err)
			}
			if got := fmtResults(res); !slices.Equal(got, tc.want) {
				t.Errorf("lookup(%q, %q):\n got %q\nwant %q", tc.node, tc.service, got, tc.want)
			}
			checkInvariants(t, res, tc.hints)
		})
	}
}

func h(family, socktype, protocol, flags int) *Addrinfo {
	return &Addrinfo{Family: family, Socktype: socktype, Protocol: protocol, Flags: flags}
}

const (
	unspec = unix.AF_UNSPEC
	inet   = unix.AF_INET
	inet6  = unix.AF_INET6
	stream = unix.SOCK_STREAM
	dgram  = unix.SOCK_DGRAM
	tcp    = unix.IPPROTO_TCP
	udp    = unix.IPPROTO_UDP
)

// errorTests reach every EAI code Lookup can return without DNS.
var errorTests = []lookupCase{
	{name: "both NULL", node: "", service: "", code: EAI_NONAME},
	{name: "both star", node: "*", service: "*", code: EAI_NONAME},
	{name: "unknown flag AI_IDN", node: "localhost", service: "80", hints: h(unspec, 0, 0, 0x40), code: EAI_BADFLAGS},
	{name: "unknown flag 0x800", node: "localhost", service: "80", hints: h(unspec, 0, 0, 0x800), code: EAI_BADFLAGS},
	{name: "unknown flag high bit", node: "localhost", service: "80", hints: h(unspec, 0, 0, -1<<31), code: EAI_BADFLAGS},
	{name: "canonname without node", node: "", service: "80", hints: h(unspec, 0, 0, AI_CANONNAME), code: EAI_BADFLAGS},
	{name: "canonname with star node", node: "*", service: "80", hints: h(unspec, 0, 0, AI_CANONNAME), code: EAI_BADFLAGS},
	{name: "family AF_UNIX", node: "localhost", service: "80", hints: h(unix.AF_UNIX, 0, 0, 0), code: EAI_FAMILY},
	{name: "family 99", node: "localhost", service: "80", hints: h(99, 0, 0, 0), code: EAI_FAMILY},
	{name: "badflags before family", node: "localhost", service: "80", hints: h(99, 0, 0, 0x800), code: EAI_BADFLAGS},
	{name: "socktype 7", node: "localhost", service: "80", hints: h(unspec, 7, 0, 0), code: EAI_SOCKTYPE},
	{name: "socktype raw", node: "localhost", service: "80", hints: h(unspec, unix.SOCK_RAW, 0, 0), code: EAI_SOCKTYPE},
	{name: "socktype raw no service", node: "localhost", hints: h(unspec, unix.SOCK_RAW, 0, 0), code: EAI_SOCKTYPE},
	{name: "socktype seqpacket", node: "localhost", service: "80", hints: h(unspec, unix.SOCK_SEQPACKET, unix.IPPROTO_SCTP, 0), code: EAI_SOCKTYPE},
	{name: "socktype with flags", node: "localhost", service: "80", hints: h(unspec, stream|unix.SOCK_NONBLOCK, 0, 0), code: EAI_SOCKTYPE},
	{name: "stream with udp", node: "localhost", service: "80", hints: h(unspec, stream, udp, 0), code: EAI_SOCKTYPE},
	{name: "dgram with tcp", node: "localhost", service: "80", hints: h(unspec, dgram, tcp, 0), code: EAI_SOCKTYPE},
	{name: "stream with sctp", node: "localhost", service: "80", hints: h(unspec, stream, unix.IPPROTO_SCTP, 0), code: EAI_SOCKTYPE},
	{name: "protocol 99 alone", node: "localhost", service: "80", hints: h(unspec, 0, 99, 0), code: EAI_SERVICE},
	{name: "protocol sctp alone", node: "localhost", service: "80", hints: h(unspec, 0, unix.IPPROTO_SCTP, 0), code: EAI_SERVICE},
	{name: "unknown service", node: "localhost", service: "nosuchservice", code: EAI_SERVICE},
	{name: "tcp-only service for dgram", node: "localhost", service: "ssh", hints: h(unspec, dgram, 0, 0), code: EAI_SERVICE},
	{name: "udp-only service for tcp", node: "localhost", service: "fsp", hints: h(unspec, 0, tcp, 0), code: EAI_SERVICE},
	{name: "service names are case-sensitive", node: "localhost", service: "SSH", code: EAI_SERVICE},
	{name: "service -1 is a name", node: "localhost", service: "-1", code: EAI_SERVICE},
	{name: "service -1 with numericserv", node: "localhost", service: "-1", hints: h(unspec, 0, 0, AI_NUMERICSERV), code: EAI_SERVICE},
	{name: "service 4294967295 is a name", node: "localhost", service: "4294967295", code: EAI_SERVICE},
	{name: "service overflow is a name", node: "localhost", service: "999999999999999999999", code: EAI_SERVICE},
	{name: "service without proto in file", node: "localhost", service: "noproto", code: EAI_SERVICE},
	{name: "service after NUL in file", node: "localhost", service: "ignored", code: EAI_SERVICE},
	{name: "numericserv with name", node: "localhost", service: "http", hints: h(unspec, 0, 0, AI_NUMERICSERV), code: EAI_NONAME},
	{name: "numericserv before socktype", node: "localhost", service: "http", hints: h(unspec, 7, 0, AI_NUMERICSERV), code: EAI_NONAME},
	{name: "service before host", node: "nosuchhost.example.test", service: "nosuchservice", code: EAI_SERVICE},
	{name: "numerichost with name", node: "localhost", service: "80", hints: h(unspec, 0, 0, AI_NUMERICHOST), code: EAI_NONAME},
	{name: "numerichost with trailing space", node: "127.0.0.1 ", service: "80", hints: h(unspec, 0, 0, AI_NUMERICHOST), code: EAI_NONAME},
	{name: "unknown host", node: "nosuchhost.example.test", service: "80", code: EAI_NONAME},
	{name: "trailing dot not stripped", node: "localhost.", service: "80", code: EAI_NONAME},
	{name: "ignored line with bad address", node: "badaddr.example.test", service: "80", code: EAI_NONAME},
	{name: "ignored line with leading zero", node: "leadingzero.example.test", service: "80", code: EAI_NONAME},
	{name: "ignored line with zone", node: "zoned.example.test", service: "80", code: EAI_NONAME},
	{name: "comment is not a name", node: "comment", service: "80", code: EAI_NONAME},
	{name: "IPv6 literal for AF_INET", node: "::1", service: "80", hints: h(inet, 0, 0, 0), code: EAI_ADDRFAMILY},
	{name: "IPv4 literal for AF_INET6", node: "127.0.0.1", service: "80", hints: h(inet6, 0, 0, 0), code: EAI_ADDRFAMILY},
	{name: "IPv4 literal for AF_INET6 with AI_ALL only", node: "127.0.0.1", service: "80", hints: h(inet6, 0, 0, AI_ALL), code: EAI_ADDRFAMILY},
	{name: "addrfamily before zone", node: "fe80::1%nosuch", service: "80", hints: h(inet, 0, 0, 0), code: EAI_ADDRFAMILY},
	{name: "unknown zone name", node: "fe80::1%nosuch", service: "80", code: EAI_NONAME},
	{name: "empty zone", node: "fe80::1%", service: "80", code: EAI_NONAME},
	{name: "zone name on global address", node: "2001:db8::1%eth7", service: "80", code: EAI_NONAME},
	{name: "zone too big", node: "fe80::1%4294967296", service: "80", code: EAI_NONAME},
	{name: "zone with sign", node: "fe80::1%+1", service: "80", code: EAI_NONAME},
	{name: "zone path traversal", node: "fe80::1%../net/eth7", service: "80", code: EAI_NONAME},
	{name: "zone on IPv4", node: "127.0.0.1%1", service: "80", hints: h(unspec, 0, 0, AI_NUMERICHOST), code: EAI_NONAME},
	{name: "v4-mapped bad zone for AF_INET", node: "::ffff:1.2.3.4%x", service: "80", hints: h(inet, 0, 0, 0), code: EAI_NONAME},
	{name: "addrconfig AF_INET6 without IPv6", cfg: testConfig("v4only"), node: "::1", service: "80", hints: h(inet6, 0, 0, AI_ADDRCONFIG), code: EAI_NONAME},
	{name: "addrconfig AF_INET without IPv4", cfg: testConfig("v6only"), node: "127.0.0.1", service: "80", hints: h(inet, 0, 0, AI_ADDRCONFIG), code: EAI_NONAME},
	{name: "addrconfig before service", cfg: testConfig("v6only"), node: "127.0.0.1", service: "nosuchservice", hints: h(inet, 0, 0, AI_ADDRCONFIG), code: EAI_NONAME},
	{name: "addrconfig narrows literal", cfg: testConfig("v4only"), node: "::1", service: "80", hints: h(unspec, 0, 0, AI_ADDRCONFIG), code: EAI_ADDRFAMILY},
	{name: "addrconfig narrows nil hints", cfg: testConfig("v4only"), node: "::1", service: "80", code: EAI_ADDRFAMILY},
	{name: "addrconfig no IPv6 kernel", cfg: testConfig("noipv6"), node: "::1", service: "80", hints: h(inet6, 0, 0, AI_ADDRCONFIG), code: EAI_NONAME},
	{name: "IPv6-only name for AF_INET", cfg: v6Config("both"), node: "v6only.example.test", service: "80", hints: h(inet, 0, 0, 0), code: EAI_NONAME},
	{name: "IPv4-only name for AF_INET6", node: "localhost", service: "80", hints: h(inet6, 0, 0, 0), code: EAI_NONAME},
	{name: "IPv4-only name for AF_INET6 with AI_ALL only", node: "web", service: "80", hints: h(inet6, 0, 0, AI_ALL), code: EAI_NONAME},
}

func TestLookupErrors(t *testing.T) {
	t.Parallel()
	runLookupCases(t, errorTests)
}

func TestLookupSystemError(t *testing.T) {
	t.Parallel()
	for _, which := range []string{"hosts", "services"} {
		t.Run(which, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig("both")
			if which == "hosts" {
				cfg.hostsPath = "testdata" // a directory: reading it fails with EISDIR
			} else {
				cfg.servicesPath = "testdata"
			}
			_, err := cfg.lookup(context.Background(), "localhost", "http", nil)
			if err == nil || err.Code != EAI_SYSTEM {
				t.Fatalf("got %v, want EAI_SYSTEM", err)
			}
			if !errors.Is(err, unix.EISDIR) {
				t.Errorf("error %v does not wrap EISDIR", err)
			}
			// A missing file is an empty one, not an error.
			if which == "hosts" {
				cfg.hostsPath = "testdata/no-such-file"
				_, err = cfg.lookup(context.Background(), "localhost", "http", nil)
				if err == nil || err.Code != EAI_NONAME {
					t.Fatalf("missing hosts file: got %v, want EAI_NONAME", err)
				}
			} else {
				cfg.servicesPath = "testdata/no-such-file"
				_, err = cfg.lookup(context.Background(), "localhost", "http", nil)
				if err == nil || err.Code != EAI_SERVICE {
					t.Fatalf("missing services file: got %v, want EAI_SERVICE", err)
				}
			}
		})
	}
}

func TestLookupContextDone(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Lookup(ctx, "127.0.0.1", "80", nil)
	var ae *AddrinfoError
	if !errors.As(err, &ae) || ae.Code != EAI_AGAIN {
		t.Fatalf("Lookup with a cancelled context = %v, %v; want EAI_AGAIN", res, err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("%v does not wrap context.Canceled", err)
	}
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := Lookup(ctx, "127.0.0.1", "80", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("expired deadline: got %v", err)
	}
	//lint:ignore SA1012 a nil context must not panic
	if _, err := Lookup(nil, "127.0.0.1", "80", nil); err != nil {
		t.Errorf("nil context: %v", err)
	}
}

var nullNodeTests = []lookupCase{
	{name: "loopback unspec", service: "80", hints: h(unspec, stream, 0, 0),
		want: []string{"STREAM [::1]:80", "STREAM 127.0.0.1:80"}},
	{name: "passive unspec", service: "80", hints: h(unspec, stream, 0, AI_PASSIVE),
		want: []string{"STREAM 0.0.0.0:80", "STREAM [::]:80"}},
	{name: "loopback inet", service: "80", hints: h(inet, stream, 0, 0),
		want: []string{"STREAM 127.0.0.1:80"}},
	{name: "passive inet", service: "80", hints: h(inet, 0, 0, AI_PASSIVE),
		want: []string{"STREAM 0.0.0.0:80", "DGRAM 0.0.0.0:80"}},
	{name: "loopback inet6", service: "80", hints: h(inet6, 0, 0, 0),
		want: []string{"STREAM [::1]:80", "DGRAM [::1]:80"}},
	{name: "passive inet6", service: "80", hints: h(inet6, dgram, 0, AI_PASSIVE),
		want: []string{"DGRAM [::]:80"}},
	{name: "inet6 v4mapped all", service: "80", hints: h(inet6, stream, 0, AI_V4MAPPED|AI_ALL),
		want: []string{"STREAM [::1]:80"}},
	{name: "star node", node: "*", service: "80", hints: h(unspec, stream, 0, 0),
		want: []string{"STREAM [::1]:80", "STREAM 127.0.0.1:80"}},
	{name: "nil hints", service: "80",
		want: []string{"STREAM [::1]:80", "DGRAM [::1]:80", "STREAM 127.0.0.1:80", "DGRAM 127.0.0.1:80"}},
	{name: "nil hints v4only", cfg: testConfig("v4only"), service: "80",
		want: []string{"STREAM 127.0.0.1:80", "DGRAM 127.0.0.1:80"}},
	{name: "nil hints v6only", cfg: testConfig("v6only"), service: "80",
		want: []string{"STREAM [::1]:80", "DGRAM [::1]:80"}},
	{name: "nil hints loopback only", cfg: testConfig("loonly"), service: "80",
		want: []string{"STREAM [::1]:80", "DGRAM [::1]:80", "STREAM 127.0.0.1:80", "DGRAM 127.0.0.1:80"}},
	{name: "no ::1 puts IPv4 first", cfg: testConfig("noipv6"), service: "80", hints: h(unspec, stream, 0, 0),
		want: []string{"STREAM 127.0.0.1:80", "STREAM [::1]:80"}},
	{name: "nothing configured keeps order", cfg: testConfig("down"), service: "80", hints: h(unspec, stream, 0, 0),
		want: []string{"STREAM [::1]:80", "STREAM 127.0.0.1:80"}},
	{name: "unreadable proc is optimistic", cfg: testConfig("unreadable"), service: "80", hints: h(unspec, stream, 0, AI_ADDRCONFIG),
		want: []string{"STREAM [::1]:80", "STREAM 127.0.0.1:80"}},
	{name: "service name", service: "split", hints: h(inet, 0, 0, 0),
		want: []string{"STREAM 127.0.0.1:1000", "DGRAM 127.0.0.1:2000"}},
}

func TestLookupNullNode(t *testing.T) {
	t.Parallel()
	runLookupCases(t, nullNodeTests)
}

var serviceTests = []lookupCase{
	{name: "NULL service", node: "127.0.0.1", want: []string{"STREAM 127.0.0.1:0", "DGRAM 127.0.0.1:0"}},
	{name: "star service", node: "127.0.0.1", service: "*", want: []string{"STREAM 127.0.0.1:0", "DGRAM 127.0.0.1:0"}},
	{name: "port", node: "127.0.0.1", service: "8080", hints: h(inet, stream, 0, 0), want: []string{"STREAM 127.0.0.1:8080"}},
	{name: "port 0", node: "127.0.0.1", service: "0", hints: h(inet, stream, 0, 0), want: []string{"STREAM 127.0.0.1:0"}},
	{name: "port 65535", node: "127.0.0.1", service: "65535", hints: h(inet, stream, 0, 0), want: []string{"STREAM 127.0.0.1:65535"}},
	{name: "port 65536 truncates", node: "127.0.0.1", service: "65536", hints: h(inet, stream, 0, 0), want: []string{"STREAM 127.0.0.1:0"}},
	{name: "port 99999999999 truncates", node: "127.0.0.1", service: "99999999999", hints: h(inet, stream, 0, 0), want: []string{"STREAM 127.0.0.1:59391"}},
	{name: "port -4294967295 wraps", node: "127.0.0.1", service: "-4294967295", hints: h(inet, stream, 0, 0), want: []string{"STREAM 127.0.0.1:1"}},
	{name: "port with plus", node: "127.0.0.1", service: "+80", hints: h(inet, stream, 0, 0), want: []string{"STREAM 127.0.0.1:80"}},
	{name: "port with leading space", node: "127.0.0.1", service: " \t80", hints: h(inet, stream, 0, AI_NUMERICSERV), want: []string{"STREAM 127.0.0.1:80"}},
	{name: "port -0", node: "127.0.0.1", service: "-0", hints: h(inet, stream, 0, 0), want: []string{"STREAM 127.0.0.1:0"}},
	{name: "port with trailing space is a name", node: "127.0.0.1", service: "80 ", code: EAI_SERVICE},
	{name: "hex port is a name", node: "127.0.0.1", service: "0x50", code: EAI_SERVICE},
	{name: "tcp and udp", node: "127.0.0.1", service: "domain", want: []string{"STREAM 127.0.0.1:53", "DGRAM 127.0.0.1:53"}},
	{name: "tcp only", node: "127.0.0.1", service: "ssh", want: []string{"STREAM 127.0.0.1:22"}},
	{name: "udp only via alias", node: "127.0.0.1", service: "fspd", want: []string{"DGRAM 127.0.0.1:21"}},
	{name: "alias", node: "127.0.0.1", service: "www", hints: h(inet, stream, 0, 0), want: []string{"STREAM 127.0.0.1:80"}},
	{name: "alias case as written", node: "127.0.0.1", service: "CaseAlias", want: []string{"STREAM 127.0.0.1:3000"}},
	{name: "different ports per protocol", node: "127.0.0.1", service: "split", want: []string{"STREAM 127.0.0.1:1000", "DGRAM 127.0.0.1:2000"}},
	{name: "udp port by protocol", node: "127.0.0.1", service: "split", hints: h(unspec, 0, udp, 0), want: []string{"DGRAM 127.0.0.1:2000"}},
	{name: "first line wins", node: "127.0.0.1", service: "dup", want: []string{"STREAM 127.0.0.1:4000"}},
	{name: "line before NUL", node: "127.0.0.1", service: "trunc", want: []string{"STREAM 127.0.0.1:8000"}},
	{name: "port above 65535 in file truncates", node: "127.0.0.1", service: "big", want: []string{"STREAM 127.0.0.1:4464"}},
	{name: "port with sign in file", node: "127.0.0.1", service: "sign", want: []string{"STREAM 127.0.0.1:6000"}},
	{name: "socktype stream", node: "127.0.0.1", service: "53", hints: h(unspec, stream, 0, 0), want: []string{"STREAM 127.0.0.1:53"}},
	{name: "protocol udp", node: "127.0.0.1", service: "53", hints: h(unspec, 0, udp, 0), want: []string{"DGRAM 127.0.0.1:53"}},
	{name: "socktype and protocol", node: "127.0.0.1", service: "53", hints: h(unspec, dgram, udp, 0), want: []string{"DGRAM 127.0.0.1:53"}},
}

func TestLookupServices(t *testing.T) {
	t.Parallel()
	runLookupCases(t, serviceTests)
}

var numericHostTests = []lookupCase{
	{name: "dotted quad", node: "192.0.2.1", service: "1", hints: h(unspec, stream, 0, AI_NUMERICHOST), want: []string{"STREAM 192.0.2.1:1"}},
	{name: "a.b.c", node: "1.2.3", service: "1", hints: h(unspec, stream, 0, AI_NUMERICHOST), want: []string{"STREAM 1.2.0.3:1"}},
	{name: "a.b", node: "127.1", service: "1", hints: h(unspec, stream, 0, AI_NUMERICHOST), want: []string{"STREAM 127.0.0.1:1"}},
	{name: "a", node: "4294967295", service: "1", hints: h(unspec, stream, 0, AI_NUMERICHOST), want: []string{"STREAM 255.255.255.255:1"}},
	{name: "hex", node: "0X7f.0x0.0.0x1", service: "1", hints: h(unspec, stream, 0, AI_NUMERICHOST), want: []string{"STREAM 127.0.0.1:1"}},
	{name: "octal", node: "010.0.0.01", service: "1", hints: h(unspec, stream, 0, AI_NUMERICHOST), want: []string{"STREAM 8.0.0.1:1"}},
	{name: "a.b 24 bits", node: "1.16777215", service: "1", hints: h(unspec, stream, 0, AI_NUMERICHOST), want: []string{"STREAM 1.255.255.255:1"}},
	{name: "a too big", node: "4294967296", service: "1", hints: h(unspec, stream, 0, AI_NUMERICHOST), code: EAI_NONAME},
	{name: "a.b.c too big", node: "1.2.65536", service: "1", hints: h(unspec, stream, 0, AI_NUMERICHOST), code: EAI_NONAME},
	{name: "part too big", node: "256.1.1.1", service: "1", hints: h(unspec, stream, 0, AI_NUMERICHOST), code: EAI_NONAME},
	{name: "five parts", node: "1.2.3.4.5", service: "1", hints: h(unspec, stream, 0, AI_NUMERICHOST), code: EAI_NONAME},
	{name: "bad octal", node: "08", service: "1", hints: h(unspec, stream, 0, AI_NUMERICHOST), code: EAI_NONAME},
	{name: "bare 0x", node: "0x", service: "1", hints: h(unspec, stream, 0, AI_NUMERICHOST), code: EAI_NONAME},
	{name: "trailing dot", node: "1.2.3.", service: "1", hints: h(unspec, stream, 0, AI_NUMERICHOST), code: EAI_NONAME},
	{name: "leading sign", node: "+1.2.3.4", service: "1", hints: h(unspec, stream, 0, AI_NUMERICHOST), code: EAI_NONAME},
	{name: "IPv6", node: "2001:DB8::1", service: "1", hints: h(unspec, stream, 0, AI_NUMERICHOST|AI_CANONNAME), want: []string{"STREAM [2001:db8::1]:1 canon=2001:DB8::1"}},
	{name: "IPv6 with dotted tail", node: "64:ff9b::192.0.2.1", service: "1", hints: h(unspec, stream, 0, AI_NUMERICHOST), want: []string{"STREAM [64:ff9b::c000:201]:1"}},
	{name: "IPv4 canonname as given", node: "127.1", service: "1", hints: h(unspec, stream, 0, AI_CANONNAME), want: []string{"STREAM 127.0.0.1:1 canon=127.1"}},
	{name: "zone by name", node: "fe80::1%eth7", service: "1", hints: h(unspec, stream, 0, AI_CANONNAME), want: []string{"STREAM [fe80::1%7]:1 canon=fe80::1%eth7"}},
	{name: "zone by number", node: "fe80::1%3", service: "1", hints: h(unspec, stream, 0, 0), want: []string{"STREAM [fe80::1%3]:1"}},
	{name: "zone number on global address", node: "2001:db8::1%9", service: "1", hints: h(unspec, stream, 0, 0), want: []string{"STREAM [2001:db8::1%9]:1"}},
	{name: "zone max", node: "fe80::1%4294967295", service: "1", hints: h(unspec, stream, 0, 0), want: []string{"STREAM [fe80::1%4294967295]:1"}},
	{name: "zone with leading zeros", node: "fe80::1%0007", service: "1", hints: h(unspec, stream, 0, 0), want: []string{"STREAM [fe80::1%7]:1"}},
	{name: "zone 0", node: "fe80::1%0", service: "1", hints: h(unspec, stream, 0, 0), want: []string{"STREAM [fe80::1]:1"}},
	{name: "multicast link-local zone name", node: "ff02::1%lo", service: "1", hints: h(unspec, dgram, 0, 0), want: []string{"DGRAM [ff02::1%1]:1"}},
	{name: "multicast interface-local zone name", node: "ff01::1%eth7", service: "1", hints: h(unspec, dgram, 0, 0), want: []string{"DGRAM [ff01::1%7]:1"}},
	{name: "zone lo", node: "fe80::1%lo", service: "1", hints: h(inet6, stream, 0, 0), want: []string{"STREAM [fe80::1%1]:1"}},
	{name: "v4 literal v4mapped", node: "192.0.2.1", service: "1", hints: h(inet6, stream, 0, AI_V4MAPPED), want: []string{"STREAM [::ffff:192.0.2.1]:1"}},
	{name: "v4 literal v4mapped unspec", node: "192.0.2.1", service: "1", hints: h(unspec, stream, 0, AI_V4MAPPED), want: []string{"STREAM 192.0.2.1:1"}},
	{name: "mapped literal for AF_INET", node: "::ffff:192.0.2.1", service: "1", hints: h(inet, stream, 0, AI_CANONNAME), want: []string{"STREAM 192.0.2.1:1 canon=::ffff:192.0.2.1"}},
	{name: "mapped literal for AF_INET ignores zone", node: "::ffff:192.0.2.1%5", service: "1", hints: h(inet, stream, 0, 0), want: []string{"STREAM 192.0.2.1:1"}},
	{name: "mapped literal unspec", node: "::ffff:192.0.2.1", service: "1", hints: h(unspec, stream, 0, 0), want: []string{"STREAM [::ffff:192.0.2.1]:1"}},
	// glibc checks the scope after overwriting the first word of the address
	// with the IPv4 address: fe.80.0.1 looks link-local then.
	{name: "mapped literal scope quirk", node: "::ffff:254.128.0.1%eth7", service: "1", hints: h(inet, stream, 0, 0), want: []string{"STREAM 254.128.0.1:1"}},
	{name: "mapped literal scope quirk unspec", node: "::ffff:254.128.0.1%eth7", service: "1", hints: h(unspec, stream, 0, 0), code: EAI_NONAME},
	{name: "numeric beats hosts file", cfg: func() *config { c := testConfig("both"); c.hostsPath = "testdata/hosts.numeric"; return c }(),
		node: "127.0.0.1", service: "1", hints: h(inet, stream, 0, AI_CANONNAME), want: []string{"STREAM 127.0.0.1:1 canon=127.0.0.1"}},
}

func TestLookupNumericHost(t *testing.T) {
	t.Parallel()
	runLookupCases(t, numericHostTests)
}

var hostsTests = []lookupCase{
	{name: "localhost", node: "localhost", service: "80", hints: h(unspec, stream, 0, AI_CANONNAME), want: []string{"STREAM 127.0.0.1:80 canon=localhost"}},
	{name: "alias gives canonical", node: "www.example.test", service: "80", hints: h(unspec, stream, 0, AI_CANONNAME), want: []string{"STREAM 192.0.2.10:80 canon=web.example.test"}},
	{name: "short alias", node: "web", service: "80", hints: h(inet, stream, 0, 0), want: []string{"STREAM 192.0.2.10:80"}},
	{name: "case-insensitive", node: "WEB.Example.TEST", service: "80", hints: h(unspec, stream, 0, AI_CANONNAME), want: []string{"STREAM 192.0.2.10:80 canon=web.example.test"}},
	{name: "all lines, first canonical", node: "multi.example.test", service: "80", hints: h(unspec, stream, 0, AI_CANONNAME),
		want: []string{"STREAM 192.0.2.11:80 canon=Multi.Example.Test", "STREAM 192.0.2.12:80"}},
	{name: "alias on second line", node: "multi-alias", service: "80", hints: h(unspec, stream, 0, AI_CANONNAME), want: []string{"STREAM 192.0.2.12:80 canon=multi.example.test"}},
	{name: "comment glued to name", node: "hash", service: "80", hints: h(unspec, stream, 0, 0), want: []string{"STREAM 192.0.2.15:80"}},
	{name: "indented line", node: "indented.example.test", service: "80", hints: h(unspec, stream, 0, 0), want: []string{"STREAM 192.0.2.17:80"}},
	{name: "name repeated on a line", node: "dup.example.test", service: "80", hints: h(unspec, stream, 0, 0), want: []string{"STREAM 192.0.2.18:80"}},
	{name: "CRLF line", node: "crlf.example.test", service: "80", hints: h(unspec, stream, 0, 0), want: []string{"STREAM 192.0.2.19:80"}},
	{name: "v4mapped", node: "web", service: "80", hints: h(inet6, stream, 0, AI_V4MAPPED|AI_CANONNAME), want: []string{"STREAM [::ffff:192.0.2.10]:80 canon=web.example.test"}},
	{name: "v4mapped all", node: "web", service: "80", hints: h(inet6, stream, 0, AI_V4MAPPED|AI_ALL), want: []string{"STREAM [::ffff:192.0.2.10]:80"}},
	{name: "single address", node: "private.example.test", service: "80", hints: h(unspec, stream, 0, 0), want: []string{"STREAM 10.1.2.3:80"}},
	{name: "nil hints", node: "localhost", service: "80", want: []string{"STREAM 127.0.0.1:80", "DGRAM 127.0.0.1:80"}},
	{name: "nil hints v6only narrows to mapped IPv4", cfg: testConfig("v6only"), node: "localhost", service: "80",
		want: []string{"STREAM [::ffff:127.0.0.1]:80", "DGRAM [::ffff:127.0.0.1]:80"}},
}

func TestLookupHostsFile(t *testing.T) {
	t.Parallel()
	runLookupCases(t, hostsTests)
}

var ipv6HostsTests = []lookupCase{
	{name: "localhost unspec", node: "localhost", service: "80", hints: h(unspec, stream, 0, AI_CANONNAME),
		want: []string{"STREAM [::1]:80 canon=localhost", "STREAM 127.0.0.1:80"}},
	{name: "localhost inet gets ::1 as 127.0.0.1", node: "localhost", service: "80", hints: h(inet, stream, 0, 0),
		want: []string{"STREAM 127.0.0.1:80", "STREAM 127.0.0.1:80"}},
	{name: "ip6-localhost inet", node: "ip6-localhost", service: "80", hints: h(inet, stream, 0, AI_CANONNAME),
		want: []string{"STREAM 127.0.0.1:80 canon=localhost"}},
	{name: "localhost inet6", node: "localhost", service: "80", hints: h(inet6, stream, 0, AI_CANONNAME),
		want: []string{"STREAM [::1]:80 canon=localhost"}},
	{name: "ip6-loopback", node: "IP6-LOOPBACK", service: "80", hints: h(unspec, dgram, 0, 0),
		want: []string{"DGRAM [::1]:80"}},
	{name: "dual unspec", node: "dual", service: "80", hints: h(unspec, stream, 0, AI_CANONNAME),
		want: []string{"STREAM [2001:db8::10]:80 canon=dual.example.test", "STREAM 192.0.2.10:80"}},
	{name: "dual inet", node: "dual.example.test", service: "80", hints: h(inet, stream, 0, 0),
		want: []string{"STREAM 192.0.2.10:80"}},
	{name: "dual inet6", node: "dual.example.test", service: "80", hints: h(inet6, stream, 0, 0),
		want: []string{"STREAM [2001:db8::10]:80"}},
	{name: "dual v4mapped prefers IPv6", node: "dual.example.test", service: "80", hints: h(inet6, stream, 0, AI_V4MAPPED),
		want: []string{"STREAM [2001:db8::10]:80"}},
	{name: "dual v4mapped all", node: "dual.example.test", service: "80", hints: h(inet6, stream, 0, AI_V4MAPPED|AI_ALL|AI_CANONNAME),
		want: []string{"STREAM [2001:db8::10]:80 canon=dual.example.test", "STREAM [::ffff:192.0.2.10]:80"}},
	{name: "dual all without v4mapped", node: "dual.example.test", service: "80", hints: h(inet6, stream, 0, AI_ALL),
		want: []string{"STREAM [2001:db8::10]:80"}},
	{name: "dual v4mapped ignored for unspec", node: "dual.example.test", service: "80", hints: h(unspec, stream, 0, AI_V4MAPPED|AI_ALL),
		want: []string{"STREAM [2001:db8::10]:80", "STREAM 192.0.2.10:80"}},
	{name: "v6only unspec", node: "v6only.example.test", service: "80", hints: h(unspec, 0, 0, 0),
		want: []string{"STREAM [2001:db8::20]:80", "DGRAM [2001:db8::20]:80"}},
	{name: "v6only v4mapped", node: "v6only.example.test", service: "80", hints: h(inet6, stream, 0, AI_V4MAPPED),
		want: []string{"STREAM [2001:db8::20]:80"}},
	{name: "mapped line unspec", node: "mapped.example.test", service: "80", hints: h(unspec, stream, 0, 0),
		want: []string{"STREAM [::ffff:192.0.2.13]:80"}},
	{name: "mapped line inet", node: "mapped.example.test", service: "80", hints: h(inet, stream, 0, 0),
		want: []string{"STREAM 192.0.2.13:80"}},
	{name: "mapped line inet6", node: "mapped.example.test", service: "80", hints: h(inet6, stream, 0, 0),
		want: []string{"STREAM [::ffff:192.0.2.13]:80"}},
	// The IPv6 query finds only a mapped address, which is then dropped
	// because an IPv6 answer was found: EAI_NONAME, as in glibc.
	{name: "mapped line v4mapped", node: "mapped.example.test", service: "80", hints: h(inet6, stream, 0, AI_V4MAPPED),
		code: EAI_NONAME},
	// glibc drops mapped addresses from the IPv6 answer when there are real
	// IPv6 ones, AI_V4MAPPED is set and AI_ALL is not.
	{name: "mixed v4mapped drops mapped", node: "mixed.example.test", service: "80", hints: h(inet6, stream, 0, AI_V4MAPPED),
		want: []string{"STREAM [2001:db8::30]:80"}},
	// The mapped line is found by the IPv6 query and, as 192.0.2.14, by the
	// IPv4 one: glibc returns it twice.
	{name: "mixed v4mapped all keeps mapped", node: "mixed.example.test", service: "80", hints: h(inet6, stream, 0, AI_V4MAPPED|AI_ALL),
		want: []string{"STREAM [2001:db8::30]:80", "STREAM [::ffff:192.0.2.14]:80", "STREAM [::ffff:192.0.2.14]:80"}},
	{name: "mixed without v4mapped keeps mapped", node: "mixed.example.test", service: "80", hints: h(inet6, stream, 0, 0),
		want: []string{"STREAM [2001:db8::30]:80", "STREAM [::ffff:192.0.2.14]:80"}},
	{name: "link-local without zone is unusable", node: "linklocal.example.test", service: "80", hints: h(unspec, stream, 0, 0),
		want: []string{"STREAM [fe80::31]:80"}},
	{name: "addrconfig v4only narrows to IPv4", cfg: v6Config("v4only"), node: "dual", service: "80", hints: h(unspec, stream, 0, AI_ADDRCONFIG),
		want: []string{"STREAM 192.0.2.10:80"}},
	{name: "addrconfig v6only narrows to IPv6", cfg: v6Config("v6only"), node: "dual", service: "80", hints: h(unspec, stream, 0, AI_ADDRCONFIG),
		want: []string{"STREAM [2001:db8::10]:80"}},
	{name: "addrconfig loopback only keeps both", cfg: v6Config("loonly"), node: "dual", service: "80", hints: h(unspec, stream, 0, AI_ADDRCONFIG),
		want: []string{"STREAM [2001:db8::10]:80", "STREAM 192.0.2.10:80"}},
	{name: "addrconfig v6only v4mapped", cfg: v6Config("v6only"), node: "localhost", service: "80", hints: h(inet6, stream, 0, AI_ADDRCONFIG|AI_V4MAPPED),
		want: []string{"STREAM [::1]:80"}},
	{name: "addrconfig v4only v4mapped is refused", cfg: v6Config("v4only"), node: "localhost", service: "80", hints: h(inet6, stream, 0, AI_ADDRCONFIG|AI_V4MAPPED),
		code: EAI_NONAME},
}

func TestLookupIPv6HostsFile(t *testing.T) {
	t.Parallel()
	for i := range ipv6HostsTests {
		if ipv6HostsTests[i].cfg == nil {
			ipv6HostsTests[i].cfg = v6Config("both")
		}
	}
	runLookupCases(t, ipv6HostsTests)
}

// sortTests check RFC 6724 rules 1 and 6 on order.example.test, whose lines
// are 192.0.2.31, fc00::31, 2001:db8::31, ::1, 2002::31.
var sortTests = []lookupCase{
	{name: "all usable", cfg: v6Config("both"), want: []string{
		"STREAM [::1]:80",          // 50
		"STREAM [2001:db8::31]:80", // 40: 2001:db8::/32 is not 2001::/32
		"STREAM 192.0.2.31:80",     // 35
		"STREAM [2002::31]:80",     // 30
		"STREAM [fc00::31]:80",     // 3
	}},
	{name: "no global IPv6", cfg: v6Config("v4only"), want: []string{
		"STREAM [::1]:80",
		"STREAM 192.0.2.31:80",
		"STREAM [2001:db8::31]:80",
		"STREAM [2002::31]:80",
		"STREAM [fc00::31]:80",
	}},
	{name: "no IPv4", cfg: v6Config("v6only"), want: []string{
		"STREAM [::1]:80",
		"STREAM [2001:db8::31]:80",
		"STREAM [2002::31]:80",
		"STREAM [fc00::31]:80",
		"STREAM 192.0.2.31:80",
	}},
	{name: "nothing usable", cfg: v6Config("down"), want: []string{
		"STREAM [::1]:80",
		"STREAM [2001:db8::31]:80",
		"STREAM 192.0.2.31:80",
		"STREAM [2002::31]:80",
		"STREAM [fc00::31]:80",
	}},
}

func TestLookupSortOrder(t *testing.T) {
	t.Parallel()
	for i := range sortTests {
		sortTests[i].node = "order.example.test"
		sortTests[i].service = "80"
		sortTests[i].hints = h(unspec, stream, 0, 0)
	}
	runLookupCases(t, sortTests)
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr string
		want int
	}{
		{"::1", 50}, {"::", 1}, {"::2", 1}, {"0.0.0.0", 35}, {"127.0.0.1", 35}, {"::ffff:10.0.0.1", 35},
		{"2001::1", 5}, {"2001:0:ffff::1", 5}, {"2001:db8::1", 40}, {"2002::1", 30}, {"fc00::1", 3},
		{"fd00::1", 3}, {"fec0::1", 1}, {"3ffe::1", 1}, {"fe80::1", 40}, {"ff02::1", 40},
	} {
		if got := precedence(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("precedence(%s) = %d, want %d", tc.addr, got, tc.want)
		}
	}
}

func TestIfaddrsFixtures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		proc                     string
		seen4, seen6             bool
		loop4, loop6, global6    bool
		unknown4, unknown6, any4 bool
	}{
		{proc: "both", seen4: true, seen6: true, loop4: true, loop6: true, global6: true, any4: true},
		{proc: "v4only", seen4: true, loop4: true, loop6: true, any4: true},
		{proc: "v6only", seen6: true, loop4: true, loop6: true, global6: true, any4: true},
		{proc: "loonly", loop4: true, loop6: true, any4: true},
		{proc: "noipv6", seen4: true, loop4: true, any4: true},
		{proc: "down"},
		{proc: "missing", seen4: true, loop4: true, unknown4: true, any4: true},
		{proc: "unreadable", seen4: true, seen6: true, loop4: true, loop6: true, global6: true, unknown4: true, unknown6: true, any4: true},
	} {
		t.Run(tc.proc, func(t *testing.T) {
			t.Parallel()
			c := testConfig(tc.proc)
			ifs := readIfaddrs(c.fibTriePath, c.ifInet6Path)
			got := []bool{ifs.seen4, ifs.seen6, ifs.loop4, ifs.loop6, ifs.global6, ifs.unknown4, ifs.unknown6, ifs.any4}
			want := []bool{tc.seen4, tc.seen6, tc.loop4, tc.loop6, tc.global6, tc.unknown4, tc.unknown6, tc.any4}
			if !slices.Equal(got, want) {
				t.Errorf("seen4 seen6 loop4 loop6 global6 unknown4 unknown6 any4 = %v, want %v", got, want)
			}
		})
	}
}

func TestIfaddrsUsable(t *testing.T) {
	t.Parallel()
	c := testConfig("both")
	ifs := readIfaddrs(c.fibTriePath, c.ifInet6Path)
	for _, tc := range []struct {
		addr string
		zone uint32
		want bool
	}{
		{"127.0.0.1", 0, true}, {"127.9.9.9", 0, true}, {"0.0.0.0", 0, true}, {"192.0.2.99", 0, true},
		{"::1", 0, true}, {"::", 0, true}, {"2001:db8::9", 0, true}, {"::ffff:192.0.2.1", 0, true},
		{"fe80::9", 0, false}, {"fe80::9", 7, true}, {"fe80::9", 8, false}, {"ff02::1", 7, true}, {"ff02::1", 0, false},
	} {
		if got := ifs.usable(hostAddr{ip: netip.MustParseAddr(tc.addr), zone: tc.zone}); got != tc.want {
			t.Errorf("usable(%s%%%d) = %v, want %v", tc.addr, tc.zone, got, tc.want)
		}
	}
}

// TestLookupHintMatrix runs every combination of flags, family, socktype and
// protocol on a few nodes and services, and checks the invariants of
// checkInvariants and that errors are always of a known code.
func TestLookupHintMatrix(t *testing.T) {
	t.Parallel()
	nodes := []string{"", "127.0.0.1", "::1", "fe80::1%eth7", "localhost", "dual", "v6only.example.test", "nosuch.example.test"}
	services := []string{"", "80", "split", "ssh", "fsp", "nosuch"}
	families := []int{unspec, inet, inet6, unix.AF_UNIX}
	socktypes := []int{0, stream, dgram, unix.SOCK_RAW}
	protocols := []int{0, tcp, udp, unix.IPPROTO_SCTP}
	for _, proc := range []string{"both", "v4only", "v6only"} {
		cfg := v6Config(proc)
		for _, node := range nodes {
			t.Run(proc+"/"+node, func(t *testing.T) {
				t.Parallel()
				n := 0
				for _, service := range services {
					for flags := 0; flags <= knownFlags; flags++ {
						if flags&^knownFlags != 0 {
							continue
						}
						for _, fam := range families {
							for _, st := range socktypes {
								for _, proto := range protocols {
									hints := h(fam, st, proto, flags)
									res, err := cfg.lookup(context.Background(), node, service, hints)
									n++
									if err != nil {
										if res != nil {
											t.Fatalf("results with error %v", err)
										}
										if gaiStrerror(err.Code) == "Unknown error" || err.Code == EAI_MEMORY || err.Code == EAI_OVERFLOW {
											t.Fatalf("lookup(%q, %q, %+v): unexpected code %d", node, service, *hints, err.Code)
										}
										continue
									}
									checkInvariants(t, res, hints)
								}
							}
						}
					}
				}
				if n == 0 {
					t.Fatal("no combinations ran")
				}
			})
		}
	}
}

func TestFreshSockaddrs(t *testing.T) {
	t.Parallel()
	cfg := v6Config("both")
	hints := h(unspec, 0, 0, 0)
	first, err := cfg.lookup(context.Background(), "dual", "80", hints)
	if err != nil {
		t.Fatal(err)
	}
	want := fmtResults(first)
	for _, ai := range first {
		switch sa := ai.Addr.(type) {
		case *unix.SockaddrInet4:
			sa.Port, sa.Addr = 9, [4]byte{9, 9, 9, 9}
		case *unix.SockaddrInet6:
			sa.Port, sa.ZoneId, sa.Addr = 9, 9, [16]byte{9}
		}
	}
	second, err := cfg.lookup(context.Background(), "dual", "80", hints)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmtResults(second); !slices.Equal(got, want) {
		t.Errorf("after changing the first results' sockaddrs, a new lookup gives %q, want %q", got, want)
	}
}

func TestHostsReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	services := filepath.Join(dir, "services")
	write := func(path, s string, mtime time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testConfig("both")
	cfg.hostsPath, cfg.servicesPath = hosts, services
	get := func() string {
		t.Helper()
		res, err := cfg.lookup(context.Background(), "reload.example.test", "svc", h(inet, stream, 0, 0))
		if err != nil {
			return err.Error()
		}
		return fmtResult(res[0])
	}
	t0 := time.Unix(1_700_000_000, 0)
	write(hosts, "192.0.2.1 reload.example.test\n", t0)
	write(services, "svc 1/tcp\n", t0)
	if got := get(); got != "STREAM 192.0.2.1:1" {
		t.Fatalf("first read: %s", got)
	}
	// Same size, new mtime.
	write(hosts, "192.0.2.2 reload.example.test\n", t0.Add(time.Second))
	write(services, "svc 2/tcp\n", t0.Add(time.Second))
	if got := get(); got != "STREAM 192.0.2.2:2" {
		t.Fatalf("after an mtime change: %s", got)
	}
	// New size, same mtime.
	write(hosts, "192.0.2.33 reload.example.test\n", t0.Add(time.Second))
	write(services, "svc 33/tcp\n", t0.Add(time.Second))
	if got := get(); got != "STREAM 192.0.2.33:33" {
		t.Fatalf("after a size change: %s", got)
	}
	// Replaced by another file (rename), same size and mtime.
	tmp := filepath.Join(dir, "hosts.new")
	write(tmp, "192.0.2.44 reload.example.test\n", t0.Add(time.Second))
	if err := os.Rename(tmp, hosts); err != nil {
		t.Fatal(err)
	}
	if got := get(); got != "STREAM 192.0.2.44:33" {
		t.Fatalf("after a rename over the file: %s", got)
	}
	// Removed: an empty hosts file.
	if err := os.Remove(hosts); err != nil {
		t.Fatal(err)
	}
	if got := get(); got != gaiStrerror(EAI_NONAME) {
		t.Fatalf("after removing the file: %s", got)
	}
}

// TestLookupEnv checks that Lookup itself reads KSOCKET_HOSTS and
// KSOCKET_SERVICES. It sets the environment, so it cannot run in parallel.
func TestLookupEnv(t *testing.T) {
	t.Setenv("KSOCKET_HOSTS", "testdata/hosts.v6")
	t.Setenv("KSOCKET_SERVICES", "testdata/services")
	res, err := Lookup(context.Background(), "v6only.example.test", "split", &Addrinfo{Flags: AI_CANONNAME})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"STREAM [2001:db8::20]:1000 canon=v6only.example.test", "DGRAM [2001:db8::20]:2000"}
	if got := fmtResults(res); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestLookupPackagePaths checks that Lookup reads the path variables and
// LookupDNSFunc. It changes them, so it cannot run in parallel.
func TestLookupPackagePaths(t *testing.T) {
	t.Setenv("KSOCKET_HOSTS", "")
	t.Setenv("KSOCKET_SERVICES", "")
	saved := []string{hostsPath, servicesPath, ifInet6Path, fibTriePath, sysClassNetPath}
	savedDNS := LookupDNSFunc
	t.Cleanup(func() {
		hostsPath, servicesPath, ifInet6Path, fibTriePath, sysClassNetPath = saved[0], saved[1], saved[2], saved[3], saved[4]
		LookupDNSFunc = savedDNS
	})
	c := v6Config("v6only")
	hostsPath, servicesPath, ifInet6Path, fibTriePath, sysClassNetPath = c.hostsPath, c.servicesPath, c.ifInet6Path, c.fibTriePath, c.sysClassNetPath
	res, err := Lookup(context.Background(), "dual", "split", nil) // AI_ADDRCONFIG narrows to IPv6
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmtResults(res), []string{"STREAM [2001:db8::10]:1000", "DGRAM [2001:db8::10]:2000"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := Lookup(context.Background(), "fe80::1%eth7", "1", nil); err != nil {
		t.Errorf("zone from sysClassNetPath: %v", err)
	}

	LookupDNSFunc = func(ctx context.Context, name string, family int) ([]netip.Addr, string, error) {
		return []netip.Addr{netip.MustParseAddr("2001:db8::99")}, name + ".", nil
	}
	res, err = Lookup(context.Background(), "dns.example.test", "80", &Addrinfo{Flags: AI_CANONNAME, Socktype: stream})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmtResults(res), []string{"STREAM [2001:db8::99]:80 canon=dns.example.test"}; !slices.Equal(got, want) {
		t.Errorf("with LookupDNSFunc: got %q, want %q", got, want)
	}
}

func TestAddrinfoError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code int
		want string
	}{
		{EAI_BADFLAGS, "Bad value for ai_flags"},
		{EAI_NONAME, "Name or service not known"},
		{EAI_AGAIN, "Temporary failure in name resolution"},
		{EAI_FAIL, "Non-recoverable failure in name resolution"},
		{EAI_NODATA, "No address associated with hostname"},
		{EAI_FAMILY, "ai_family not supported"},
		{EAI_SOCKTYPE, "ai_socktype not supported"},
		{EAI_SERVICE, "Servname not supported for ai_socktype"},
		{EAI_ADDRFAMILY, "Address family for hostname not supported"},
		{EAI_MEMORY, "Memory allocation failure"},
		{EAI_SYSTEM, "System error"},
		{EAI_OVERFLOW, "Unknown error"},
		{0, "Unknown error"},
		{-13, "Unknown error"},
		{1, "Unknown error"},
	} {
		if got := (&AddrinfoError{Code: tc.code}).Error(); got != tc.want {
			t.Errorf("code %d: %q, want %q", tc.code, got, tc.want)
		}
	}
	err := error(&AddrinfoError{Code: EAI_SYSTEM, Err: unix.EACCES})
	if got, want := err.Error(), "System error: permission denied"; got != want {
		t.Errorf("with cause: %q, want %q", got, want)
	}
	if !errors.Is(err, unix.EACCES) {
		t.Error("errors.Is does not see the cause")
	}
	var ae *AddrinfoError
	if !errors.As(fmt.Errorf("wrapped: %w", err), &ae) || ae.Code != EAI_SYSTEM {
		t.Error("errors.As does not find the AddrinfoError")
	}
}

func TestParseServiceNumber(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		num     int32
		numeric bool
	}{
		{"80", 80, true}, {"0", 0, true}, {"+80", 80, true}, {"-80", -80, true}, {" 80", 80, true},
		{"\v\f\r\n\t 80", 80, true}, {"80 ", 0, false}, {"", 0, false}, {" ", 0, false}, {"+", 0, false},
		{"-", 0, false}, {"0x50", 0, false}, {"8o", 0, false}, {"2147483647", 2147483647, true},
		{"2147483648", -2147483648, true}, {"4294967296", 0, true}, {"18446744073709551615", -1, true},
		{"18446744073709551616", -1, true}, {"-18446744073709551616", -1, true}, {"-4294967295", 1, true},
		{"00000000000000000000000000080", 80, true}, {"\u00a080", 0, false},
	} {
		num, numeric := parseServiceNumber(tc.in)
		if num != tc.num || numeric != tc.numeric {
			t.Errorf("parseServiceNumber(%q) = %d, %v; want %d, %v", tc.in, num, numeric, tc.num, tc.numeric)
		}
	}
}

func TestParseHostsIgnoresBadLines(t *testing.T) {
	t.Parallel()
	h := parseHosts([]byte("1.2.3.4\n" + // no name
		"1.2.3.4.5 five\n" +
		"1.2.3 three\n" + // inet_pton does not take inet_aton's short forms
		"0x1.2.3.4 hex\n" +
		"::1%lo zoned\n" +
		"fe80::1%1 zoned\n" +
		"gibberish name\n" +
		"# 1.2.3.4 commented\n" +
		"1.2.3.4 ok\x00 1.2.3.5 afternul\n" +
		"\n\n   \n"))
	if len(h.entries) != 1 || h.entries[0].names[0] != "ok" || len(h.entries[0].names) != 1 {
		t.Errorf("entries = %+v, want only 1.2.3.4 ok", h.entries)
	}
}

func TestAsciiLower(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"": "", "abc": "abc", "ABC": "abc", "MiXeD.Example": "mixed.example", "\u212a": "\u212a", "Ä": "Ä",
	} {
		if got := asciiLower(in); got != want {
			t.Errorf("asciiLower(%q) = %q, want %q", in, got, want)
		}
	}
	// The Kelvin sign folds to k under Unicode rules, but not in the C locale.
	if _, err := testConfig("both").lookup(context.Background(), "locAlhost", "1", nil); err != nil {
		t.Errorf("ASCII case folding: %v", err)
	}
	if _, err := testConfig("both").lookup(context.Background(), "localhos\u212a", "1", nil); err == nil || err.Code != EAI_NONAME {
		t.Errorf("Kelvin sign matched k: %v", err)
	}
}

func TestNoDNSHookGivesNoname(t *testing.T) {
	t.Parallel()
	_, err := testConfig("both").lookup(context.Background(), "example.com", "80", nil)
	if err == nil || err.Code != EAI_NONAME || err.Err != nil {
		t.Fatalf("got %v, want bare EAI_NONAME", err)
	}
	if !strings.Contains(err.Error(), "Name or service not known") {
		t.Errorf("message %q", err.Error())
	}
}
