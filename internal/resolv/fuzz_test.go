//go:build linux

package resolv

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
)

func FuzzParseHosts(f *testing.F) {
	for _, path := range []string{"testdata/hosts", "testdata/hosts.v6", "testdata/hosts.numeric"} {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "localhost")
	}
	f.Add([]byte("::ffff:1.2.3.4 a b c\n1.2.3.4\tA\x00b\r\n#x\n"), "A")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		h := parseHosts(data)
		for i, e := range h.entries {
			if !e.addr.IsValid() || e.addr.Zone() != "" || len(e.names) == 0 {
				t.Fatalf("entry %d: %+v", i, e)
			}
			for _, n := range e.names {
				if n == "" || strings.ContainsAny(n, " \t\n\v\f\r#\x00") {
					t.Fatalf("entry %d: bad name %q", i, n)
				}
			}
		}
		for _, fam := range []int{unspec, inet, inet6} {
			addrs, canon := h.lookup(name, fam)
			if len(addrs) > 0 && canon == "" {
				t.Fatalf("lookup(%q, %d): addresses without a canonical name", name, fam)
			}
			for _, a := range addrs {
				if fam == inet && !a.Is4() || fam == inet6 && !a.Is6() {
					t.Fatalf("lookup(%q, %d) gave %v", name, fam, a)
				}
			}
		}
	})
}

func FuzzParseServices(f *testing.F) {
	b, err := os.ReadFile("testdata/services")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b, "ssh")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		s := parseServices(data)
		s.lookup(name, "tcp")
		s.lookup(name, "udp")
	})
}

func FuzzLookup(f *testing.F) {
	f.Add("localhost", "80", 0, 0, 0, 0)
	f.Add("", "http", AI_PASSIVE, unspec, stream, 0)
	f.Add("fe80::1%eth7", "domain", AI_CANONNAME|AI_NUMERICHOST, inet6, 0, udp)
	f.Add("0x7f.1", "-1", AI_V4MAPPED|AI_ALL, inet6, dgram, 0)
	f.Add("::ffff:254.128.0.1%lo", " 99999999999", AI_ADDRCONFIG, inet, 0, tcp)
	f.Add("dual", "split", AI_V4MAPPED|AI_ALL|AI_CANONNAME, inet6, 0, 0)
	f.Add("fuzz.dns.test", "*", AI_NUMERICSERV, unspec, 0, 0)
	cfg := v6Config("both")
	cfg.dns = func(ctx context.Context, name string, family int) ([]netip.Addr, string, error) {
		if strings.HasPrefix(name, "fuzz") {
			return []netip.Addr{netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("2001:db8::7%x")}, name, nil
		}
		return nil, "", &AddrinfoError{Code: EAI_NONAME}
	}
	f.Fuzz(func(t *testing.T, node, service string, flags, family, socktype, protocol int) {
		hints := h(family, socktype, protocol, flags)
		res, err := cfg.lookup(context.Background(), node, service, hints)
		if err != nil {
			if res != nil {
				t.Fatalf("results and error %v", err)
			}
			if gaiStrerror(err.Code) == "Unknown error" {
				t.Fatalf("unknown code %d", err.Code)
			}
			return
		}
		checkInvariants(t, res, hints)
	})
}

func FuzzInetAtonExact(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "127.1", "0x7f.1", "010.0.0.1", "4294967295", "1.2.65535", "08", "0x", "1..2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, ok := inetAtonExact(s)
		if ok != a.IsValid() || ok && !a.Is4() {
			t.Fatalf("inetAtonExact(%q) = %v, %v", s, a, ok)
		}
		// Every strict dotted quad is also an inet_aton address, with the same value.
		if b, err := netip.ParseAddr(s); err == nil && b.Is4() && (!ok || a != b) {
			t.Fatalf("inetAtonExact(%q) = %v, %v; netip says %v", s, a, ok, b)
		}
	})
}
