//go:build linux

package resolv

import (
	"context"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
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

// FuzzDNSAnswer feeds arbitrary bytes to the reply checks, as a hostile
// server could: no panic, and a reply is used only if it matches the query,
// with addresses of the question's type only.
func FuzzDNSAnswer(f *testing.F) {
	const id = 0x1234
	qname := dnsmessage.MustNewName("fuzz.test.")
	for _, typ := range []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA} {
		q := query{id: id, q: dnsmessage.Question{Name: qname, Type: typ, Class: dnsmessage.ClassINET}}
		aaaa := typ == dnsmessage.TypeAAAA
		f.Add(makeReply(q, replyOpts{}, "192.0.2.1", "2001:db8::1"), aaaa, false)
		f.Add(makeReply(q, replyOpts{cnames: [][2]string{{"fuzz.test.", "a.test."}, {"a.test.", "b.test."}}}, "192.0.2.2", "2001:db8::2"), aaaa, false)
		f.Add(makeReply(q, replyOpts{rcode: dnsmessage.RCodeNameError}), aaaa, false)
		f.Add(makeReply(q, replyOpts{truncated: true}, "192.0.2.3"), aaaa, true)
		f.Add(makeReply(q, replyOpts{owner: "other.test."}, "192.0.2.4"), aaaa, false)
		f.Add(makeReply(q, replyOpts{id: u16(1)}, "192.0.2.5"), aaaa, false)
	}
	f.Add([]byte{0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 0xc0, 0x0c}, false, false)
	f.Fuzz(func(t *testing.T, msg []byte, aaaa, tcp bool) {
		q := dnsmessage.Question{Name: qname, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
		if aaaa {
			q.Type = dnsmessage.TypeAAAA
		}
		r, err := parseReply(msg, id, q, tcp)
		if err != nil {
			if r != nil {
				t.Fatal("a reply and an error")
			}
			return
		}
		if len(msg) < 12 || msg[0] != id>>8 || msg[1] != id&0xff || msg[2]&0x80 == 0 {
			t.Fatalf("accepted a reply with the wrong ID or without QR: % x", msg[:min(len(msg), 4)])
		}
		if r.truncated && !tcp && (len(r.addrs) > 0 || r.answers > 0) {
			t.Fatal("answers read from a truncated UDP reply")
		}
		if len(r.addrs) > r.answers {
			t.Fatalf("%d addresses from %d answer records", len(r.addrs), r.answers)
		}
		for _, a := range r.addrs {
			if a.Is4() == aaaa {
				t.Fatalf("address %v for a %v question", a, q.Type)
			}
		}
		if len(r.addrs) > 0 && !validHostText(r.canonical) && !strings.EqualFold(r.canonical, qname.String()) {
			t.Fatalf("canonical name %q", r.canonical)
		}
		addrs, _, rerr := outcome{kind: answered, replies: []*reply{r}}.result()
		if rerr == nil && !slices.Equal(addrs, r.addrs) {
			t.Fatalf("result %v, reply %v", addrs, r.addrs)
		}
	})
}

// FuzzParseResolvConf checks that any resolv.conf parses within glibc's
// limits.
func FuzzParseResolvConf(f *testing.F) {
	for _, tc := range resolvConfTests {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rc := parseResolvConf(data)
		if len(rc.servers) > maxNameservers || rc.ndots < 0 || rc.ndots > maxNdots ||
			rc.timeout < 0 || rc.timeout > maxTimeout || rc.attempts < 1 || rc.attempts > maxAttempts {
			t.Fatalf("%+v", rc)
		}
		for _, s := range rc.servers {
			if !s.addr.IsValid() || s.addr.Port() != dnsPort {
				t.Fatalf("server %v", s)
			}
		}
		parseNsswitch(data)
	})
}
