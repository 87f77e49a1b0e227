//go:build linux

package resolv

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeDNS is a DNS hook backed by a map. It records its calls.
type fakeDNS struct {
	records map[string][]string // name → addresses (with zones, if any)
	canon   map[string]string
	errs    map[string]error

	mu    sync.Mutex
	calls []string // "name/family"
}

func (f *fakeDNS) lookup(ctx context.Context, name string, family int) ([]netip.Addr, string, error) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf("%s/%d", name, family))
	f.mu.Unlock()
	if v := ctx.Value(ctxKey{}); v != nil && v != "marker" {
		return nil, "", fmt.Errorf("context not passed through: %v", v)
	}
	if err := f.errs[fmt.Sprintf("%s/%d", name, family)]; err != nil {
		return nil, "", err
	}
	if err := f.errs[name]; err != nil {
		return nil, "", err
	}
	var out []netip.Addr
	for _, s := range f.records[name] {
		a := netip.MustParseAddr(s)
		switch {
		case family == unix.AF_INET && !a.Is4():
			continue
		case family == unix.AF_INET6 && !a.Is6():
			continue
		}
		out = append(out, a)
	}
	return out, f.canon[name], nil
}

type ctxKey struct{}

func newFakeDNS() *fakeDNS {
	return &fakeDNS{
		records: map[string][]string{
			"dual.dns.test":    {"192.0.2.50", "2001:db8::50"},
			"v4.dns.test":      {"192.0.2.51", "192.0.2.52"},
			"v6.dns.test":      {"2001:db8::53"},
			"empty.dns.test":   {},
			"zoned.dns.test":   {"fe80::54%eth0"},
			"localhost":        {"192.0.2.200"}, // must never be asked: the hosts file knows it
			"web.example.test": {"192.0.2.201"},
		},
		canon: map[string]string{
			"dual.dns.test": "canonical.dns.test.",
			"v6.dns.test":   "",
		},
		errs: map[string]error{
			"nxdomain.dns.test":                  &AddrinfoError{Code: EAI_NONAME},
			"servfail.dns.test":                  &AddrinfoError{Code: EAI_AGAIN, Err: errors.New("SERVFAIL")},
			"broken.dns.test":                    errors.New("socket exploded"),
			"timeout.dns.test":                   fmt.Errorf("query: %w", context.DeadlineExceeded),
			fmt.Sprintf("v4.dns.test/%d", inet6): &AddrinfoError{Code: EAI_NODATA},
		},
	}
}

var dnsTests = []struct {
	name    string
	node    string
	hints   *Addrinfo
	want    []string
	code    int
	calls   []string
	wantErr error // errors.Is target, if any
}{
	{name: "unspec", node: "dual.dns.test", hints: h(unspec, stream, 0, AI_CANONNAME),
		want:  []string{"STREAM [2001:db8::50]:80 canon=canonical.dns.test", "STREAM 192.0.2.50:80"},
		calls: []string{"dual.dns.test/0"}},
	{name: "inet", node: "dual.dns.test", hints: h(inet, stream, 0, 0),
		want: []string{"STREAM 192.0.2.50:80"}, calls: []string{"dual.dns.test/2"}},
	{name: "inet6", node: "dual.dns.test", hints: h(inet6, stream, 0, 0),
		want: []string{"STREAM [2001:db8::50]:80"}, calls: []string{"dual.dns.test/10"}},
	{name: "v4mapped with IPv6 answer asks once", node: "dual.dns.test", hints: h(inet6, stream, 0, AI_V4MAPPED),
		want: []string{"STREAM [2001:db8::50]:80"}, calls: []string{"dual.dns.test/10"}},
	{name: "v4mapped all asks twice", node: "dual.dns.test", hints: h(inet6, stream, 0, AI_V4MAPPED|AI_ALL),
		want:  []string{"STREAM [2001:db8::50]:80", "STREAM [::ffff:192.0.2.50]:80"},
		calls: []string{"dual.dns.test/10", "dual.dns.test/2"}},
	{name: "v4mapped falls back to IPv4", node: "v4.dns.test", hints: h(inet6, stream, 0, AI_V4MAPPED|AI_CANONNAME),
		want:  []string{"STREAM [::ffff:192.0.2.51]:80 canon=v4.dns.test", "STREAM [::ffff:192.0.2.52]:80"},
		calls: []string{"v4.dns.test/10", "v4.dns.test/2"}},
	{name: "nodata for IPv6 only", node: "v4.dns.test", hints: h(inet6, stream, 0, 0),
		code: EAI_NODATA, calls: []string{"v4.dns.test/10"}},
	{name: "empty canonical is the name", node: "v6.dns.test", hints: h(unspec, stream, 0, AI_CANONNAME),
		want: []string{"STREAM [2001:db8::53]:80 canon=v6.dns.test"}, calls: []string{"v6.dns.test/0"}},
	{name: "no answer is nodata", node: "empty.dns.test", hints: h(unspec, stream, 0, 0),
		code: EAI_NODATA, calls: []string{"empty.dns.test/0"}},
	{name: "zones are dropped", node: "zoned.dns.test", hints: h(unspec, stream, 0, 0),
		want: []string{"STREAM [fe80::54]:80"}, calls: []string{"zoned.dns.test/0"}},
	{name: "AddrinfoError passes through", node: "nxdomain.dns.test", hints: h(unspec, stream, 0, 0),
		code: EAI_NONAME, calls: []string{"nxdomain.dns.test/0"}},
	{name: "AddrinfoError keeps its cause", node: "servfail.dns.test", hints: h(unspec, stream, 0, 0),
		code: EAI_AGAIN, calls: []string{"servfail.dns.test/0"}},
	{name: "other errors are EAI_FAIL", node: "broken.dns.test", hints: h(unspec, stream, 0, 0),
		code: EAI_FAIL, calls: []string{"broken.dns.test/0"}},
	{name: "context errors are EAI_AGAIN", node: "timeout.dns.test", hints: h(unspec, stream, 0, 0),
		code: EAI_AGAIN, calls: []string{"timeout.dns.test/0"}, wantErr: context.DeadlineExceeded},
	{name: "v4mapped both fail reports the first", node: "nxdomain.dns.test", hints: h(inet6, stream, 0, AI_V4MAPPED),
		code: EAI_NONAME, calls: []string{"nxdomain.dns.test/10", "nxdomain.dns.test/2"}},
	{name: "hosts file first", node: "localhost", hints: h(unspec, stream, 0, 0),
		want: []string{"STREAM 127.0.0.1:80"}},
	{name: "hosts file alias first", node: "WEB.example.test", hints: h(inet, stream, 0, 0),
		want: []string{"STREAM 192.0.2.10:80"}},
	{name: "hosts miss for the family goes to DNS", node: "web.example.test", hints: h(inet6, stream, 0, 0),
		code: EAI_NODATA, calls: []string{"web.example.test/10"}},
	{name: "numeric never asks", node: "192.0.2.1", hints: h(unspec, stream, 0, 0),
		want: []string{"STREAM 192.0.2.1:80"}},
	{name: "numerichost never asks", node: "dual.dns.test", hints: h(unspec, stream, 0, AI_NUMERICHOST),
		code: EAI_NONAME},
	{name: "errors before the host never ask", node: "dual.dns.test", hints: h(unspec, dgram, tcp, 0),
		code: EAI_SOCKTYPE},
	{name: "name passed as given", node: "Dual.DNS.test.", hints: h(unspec, stream, 0, 0),
		code: EAI_NODATA, calls: []string{"Dual.DNS.test./0"}},
}

func TestDNSHook(t *testing.T) {
	t.Parallel()
	for _, tc := range dnsTests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dns := newFakeDNS()
			cfg := testConfig("both")
			cfg.dns = dns.lookup
			ctx := context.WithValue(context.Background(), ctxKey{}, "marker")
			res, err := cfg.lookup(ctx, tc.node, "80", tc.hints)
			if tc.want != nil {
				if err != nil {
					t.Fatalf("lookup: %v", err)
				}
				if got := fmtResults(res); !slices.Equal(got, tc.want) {
					t.Errorf("got %q, want %q", got, tc.want)
				}
				checkInvariants(t, res, tc.hints)
			} else {
				if err == nil {
					t.Fatalf("got %q, want error %d", fmtResults(res), tc.code)
				}
				if err.Code != tc.code {
					t.Errorf("got %v (code %d), want code %d", err, err.Code, tc.code)
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Errorf("%v does not wrap %v", err, tc.wantErr)
				}
			}
			if !slices.Equal(dns.calls, tc.calls) {
				t.Errorf("hook calls %q, want %q", dns.calls, tc.calls)
			}
		})
	}
}

func TestDNSHookErrorIdentity(t *testing.T) {
	t.Parallel()
	want := &AddrinfoError{Code: EAI_AGAIN, Err: errors.New("SERVFAIL")}
	cfg := testConfig("both")
	cfg.dns = func(context.Context, string, int) ([]netip.Addr, string, error) { return nil, "", want }
	_, err := cfg.lookup(context.Background(), "x.dns.test", "80", nil)
	if err != want {
		t.Errorf("got %v, want the hook's own *AddrinfoError", err)
	}
	cfg.dns = func(context.Context, string, int) ([]netip.Addr, string, error) {
		return nil, "", fmt.Errorf("wrapped: %w", want)
	}
	if _, err := cfg.lookup(context.Background(), "x.dns.test", "80", nil); err != want {
		t.Errorf("wrapped: got %v, want the hook's own *AddrinfoError", err)
	}
}
