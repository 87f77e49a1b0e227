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

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"
)

const (
	goodAddr   = "127.7.7.7" // what the real reply carries
	poisonAddr = "6.6.6.6"   // what every hostile reply carries
)

// fakeClient returns a client for servers, with one attempt of timeout
// units of unit each.
func fakeClient(unit time.Duration, servers ...netip.AddrPort) *dnsClient {
	rc := defaultResolvConf()
	rc.timeout, rc.attempts = 1, 1
	for _, s := range servers {
		rc.servers = append(rc.servers, nameserver{addr: s})
	}
	return newTestClient(rc, unit)
}

func u16(v uint16) *uint16 { return &v }

// hostileReplies are replies that must be ignored: each carries poisonAddr.
var hostileReplies = []struct {
	name string
	make func(q query) response
}{
	{"wrong ID", func(q query) response {
		return response{msg: makeReply(q, replyOpts{id: u16(q.id + 1)}, poisonAddr)}
	}},
	{"wrong name", func(q query) response {
		return response{msg: makeReply(q, replyOpts{question: &dnsmessage.Question{Name: dnsmessage.MustNewName("evil.test."), Type: q.q.Type, Class: q.q.Class}}, poisonAddr)}
	}},
	{"wrong type", func(q query) response {
		return response{msg: makeReply(q, replyOpts{question: &dnsmessage.Question{Name: q.q.Name, Type: dnsmessage.TypeMX, Class: q.q.Class}}, poisonAddr)}
	}},
	{"wrong class", func(q query) response {
		return response{msg: makeReply(q, replyOpts{question: &dnsmessage.Question{Name: q.q.Name, Type: q.q.Type, Class: dnsmessage.ClassCHAOS}}, poisonAddr)}
	}},
	{"not a reply", func(q query) response {
		return response{msg: makeReply(q, replyOpts{notReply: true}, poisonAddr)}
	}},
	{"wrong ID with TC", func(q query) response {
		return response{msg: makeReply(q, replyOpts{id: u16(q.id ^ 0x8000), truncated: true}, poisonAddr)}
	}},
	{"cut in the answer", func(q query) response {
		m := makeReply(q, replyOpts{}, poisonAddr)
		return response{msg: m[:len(m)-2]}
	}},
	{"cut in the question", func(q query) response {
		return response{msg: makeReply(q, replyOpts{}, poisonAddr)[:15]}
	}},
	{"header only", func(q query) response {
		return response{msg: makeReply(q, replyOpts{}, poisonAddr)[:12]}
	}},
	{"too short for a header", func(q query) response {
		return response{msg: []byte{byte(q.id >> 8), byte(q.id), 0x81}}
	}},
	{"empty datagram", func(q query) response { return response{msg: []byte{}} }},
	{"garbage after the ID", func(q query) response {
		b := []byte{byte(q.id >> 8), byte(q.id), 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 0xff, 0xfe, 0xc0}
		return response{msg: append(b, make([]byte, 40)...)}
	}},
	{"two questions", func(q query) response {
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: q.id, Response: true})
		b.StartQuestions()
		b.Question(q.q)
		b.Question(q.q)
		b.StartAnswers()
		b.AResource(dnsmessage.ResourceHeader{Name: q.q.Name, Class: dnsmessage.ClassINET}, dnsmessage.AResource{A: [4]byte{6, 6, 6, 6}})
		m, _ := b.Finish()
		return response{msg: m}
	}},
	{"compression loop", func(q query) response {
		m := makeReply(q, replyOpts{}, poisonAddr)
		off := 12 + len(q.q.Name.String()) + 1 + 4 // the answer's owner name
		m[off], m[off+1] = 0xc0|byte(off>>8), byte(off)
		return response{msg: m}
	}},
	{"A record of bad length", func(q query) response {
		m := makeReply(q, replyOpts{}, poisonAddr)
		m[len(m)-5] = 3 // RDLENGTH 3
		return response{msg: m[:len(m)-1]}
	}},
	{"from another address", func(q query) response {
		return response{msg: makeReply(q, replyOpts{}, poisonAddr), fromOther: true}
	}},
}

// TestDNSHostileServer sends, before the real reply (or instead of it),
// replies that must be ignored: wrong IDs, wrong questions, truncated,
// malformed, and from another address. The lookup must give the real
// address, or EAI_AGAIN when no real reply comes; never the poison, never a
// panic.
func TestDNSHostileServer(t *testing.T) {
	t.Parallel()
	for _, tc := range hostileReplies {
		for _, real := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/real=%v", tc.name, real), func(t *testing.T) {
				t.Parallel()
				srv := startFakeServer(t, "127.0.0.1", func(q query) []response {
					out := []response{tc.make(q), tc.make(q)}
					if real {
						out = append(out, response{msg: makeReply(q, replyOpts{}, goodAddr), delay: 20 * time.Millisecond})
					}
					return out
				})
				// Without the real reply the try must time out; with it, a
				// long timeout keeps a loaded machine from failing the test.
				unit := 150 * time.Millisecond
				if real {
					unit = 3 * time.Second
				}
				addrs, _, err := fakeClient(unit, srv.addr).lookup(context.Background(), "hostile.test.", unix.AF_INET)
				if slices.Contains(addrs, netip.MustParseAddr(poisonAddr)) {
					t.Fatalf("accepted a hostile reply: %v", addrs)
				}
				if real {
					if err != nil || len(addrs) != 1 || addrs[0] != netip.MustParseAddr(goodAddr) {
						t.Fatalf("got %v, %v; want %s", addrs, err, goodAddr)
					}
					return
				}
				var ae *AddrinfoError
				if !errors.As(err, &ae) || ae.Code != EAI_AGAIN || !isTimeout(err) {
					t.Fatalf("got %v, %v; want EAI_AGAIN after a timeout", addrs, err)
				}
			})
		}
	}
}

// TestDNSReplyContents checks replies that match the query but whose
// answers must not all be used.
func TestDNSReplyContents(t *testing.T) {
	t.Parallel()
	chain := func(n int, loop bool) replyOpts {
		var o replyOpts
		prev := "hostile.test."
		for i := 1; i <= n; i++ {
			next := fmt.Sprintf("c%d.test.", i)
			if loop && i == n {
				next = "hostile.test."
			}
			o.cnames = append(o.cnames, [2]string{prev, next})
			prev = next
		}
		return o
	}
	for _, tc := range []struct {
		name  string
		reply func(q query) []byte
		want  []string
		canon string
		code  int
	}{
		{"records of another name are not used", func(q query) []byte {
			return makeReply(q, replyOpts{owner: "evil.test."}, poisonAddr)
		}, nil, "", EAI_NONAME},
		{"records of the chain's end are", func(q query) []byte {
			return makeReply(q, chain(3, false), goodAddr)
		}, []string{goodAddr}, "c3.test.", 0},
		{"a chain of 16", func(q query) []byte {
			return makeReply(q, chain(maxCNAMEChain, false), goodAddr)
		}, []string{goodAddr}, "c16.test.", 0},
		{"a chain of 17 is too long", func(q query) []byte {
			return makeReply(q, chain(maxCNAMEChain+1, false), poisonAddr)
		}, nil, "", EAI_FAIL},
		{"a CNAME loop", func(q query) []byte {
			o := chain(2, true)
			o.owner = "elsewhere.test."
			return makeReply(q, o, poisonAddr)
		}, nil, "", EAI_FAIL},
		{"CNAME to a name that is not a host name", func(q query) []byte {
			return makeReply(q, replyOpts{cnames: [][2]string{{"hostile.test.", "bad\\032name.test."}}, owner: "bad\\032name.test."}, poisonAddr)
		}, nil, "", EAI_NONAME},
		{"records of the other family are not used", func(q query) []byte {
			return makeReply(q, replyOpts{}, "2001:db8::6", goodAddr)
		}, []string{goodAddr}, "hostile.test.", 0},
		{"NXDOMAIN with answers", func(q query) []byte {
			return makeReply(q, replyOpts{rcode: dnsmessage.RCodeNameError}, poisonAddr)
		}, nil, "", EAI_NONAME},
		{"FORMERR", func(q query) []byte {
			return makeReply(q, replyOpts{rcode: dnsmessage.RCodeFormatError})
		}, nil, "", EAI_FAIL},
		{"NOERROR, no answers", func(q query) []byte {
			return makeReply(q, replyOpts{})
		}, nil, "", EAI_NONAME},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startFakeServer(t, "127.0.0.1", func(q query) []response { return []response{{msg: tc.reply(q)}} })
			addrs, canon, err := fakeClient(time.Second, srv.addr).lookup(context.Background(), "hostile.test.", unix.AF_INET)
			if tc.want == nil {
				var ae *AddrinfoError
				if !errors.As(err, &ae) || ae.Code != tc.code {
					t.Fatalf("got %v, %q, %v; want code %d", addrs, canon, err, tc.code)
				}
				return
			}
			if err != nil || fmt.Sprint(addrs) != fmt.Sprint(tc.want) || canon != tc.canon {
				t.Fatalf("got %v, %q, %v; want %v, %q", addrs, canon, err, tc.want, tc.canon)
			}
		})
	}
}

// TestDNSTCPFallback answers over UDP with TC set, and over TCP in various
// ways, well and badly.
func TestDNSTCPFallback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		tcp  func(q query) []response
		ok   bool
	}{
		{"good", func(q query) []response { return []response{{msg: makeReply(q, replyOpts{}, goodAddr)}} }, true},
		{"truncated over TCP too", func(q query) []response {
			return []response{{msg: makeReply(q, replyOpts{truncated: true}, goodAddr)}}
		}, true},
		{"split in pieces", func(q query) []response {
			m := makeReply(q, replyOpts{}, goodAddr)
			framed := append([]byte{byte(len(m) >> 8), byte(len(m))}, m...)
			return []response{{msg: framed[:1], raw: true}, {msg: framed[1:9], raw: true, delay: 10 * time.Millisecond},
				{msg: framed[9:], raw: true, delay: 10 * time.Millisecond}}
		}, true},
		{"wrong ID", func(q query) []response {
			return []response{{msg: makeReply(q, replyOpts{id: u16(q.id + 1)}, poisonAddr)}}
		}, false},
		{"wrong question", func(q query) []response {
			return []response{{msg: makeReply(q, replyOpts{question: &dnsmessage.Question{Name: dnsmessage.MustNewName("evil.test."), Type: q.q.Type, Class: q.q.Class}}, poisonAddr)}}
		}, false},
		{"closed at once", func(q query) []response { return []response{{msg: nil, raw: true, closeTCP: true}} }, false},
		{"short", func(q query) []response {
			return []response{{msg: []byte{1, 244, 0, 1, 2}, raw: true, closeTCP: true}}
		}, false},
		{"malformed", func(q query) []response {
			return []response{{msg: makeReply(q, replyOpts{}, poisonAddr)[:20]}}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startFakeServer(t, "127.0.0.1", func(q query) []response {
				if q.tcp {
					return tc.tcp(q)
				}
				return []response{{msg: makeReply(q, replyOpts{truncated: true}, poisonAddr)}}
			})
			// Every failure here is immediate: no need for a short timeout.
			addrs, _, err := fakeClient(3*time.Second, srv.addr).lookup(context.Background(), "tc.test.", unix.AF_INET)
			if slices.Contains(addrs, netip.MustParseAddr(poisonAddr)) {
				t.Fatalf("used a truncated or hostile reply: %v", addrs)
			}
			if tc.ok {
				if err != nil || len(addrs) != 1 || addrs[0] != netip.MustParseAddr(goodAddr) {
					t.Fatalf("got %v, %v", addrs, err)
				}
			} else if ae, ok := err.(*AddrinfoError); !ok || ae.Code != EAI_AGAIN {
				t.Fatalf("got %v, %v; want EAI_AGAIN", addrs, err)
			}
			if qs := srv.received(); len(qs) != 2 || qs[0].tcp || !qs[1].tcp {
				t.Errorf("queries %+v, want UDP then TCP", qs)
			}
		})
	}
}

// TestDNSRetries checks the order of tries over servers and attempts, and
// which replies move on to the next server.
func TestDNSRetries(t *testing.T) {
	t.Parallel()
	reply := func(rcode dnsmessage.RCode) func(query) []response {
		return func(q query) []response {
			return []response{{msg: makeReply(q, replyOpts{rcode: rcode}, goodAddr)}}
		}
	}
	silent := func(query) []response { return nil }
	for _, tc := range []struct {
		name     string
		first    func(query) []response // nil: nothing listens
		attempts int
		code     int
		queries  string // which server got each query
	}{
		{"SERVFAIL, next server", reply(dnsmessage.RCodeServerFailure), 1, 0, "01"},
		{"REFUSED, next server", reply(dnsmessage.RCodeRefused), 1, 0, "01"},
		{"NOTIMP, next server", reply(dnsmessage.RCodeNotImplemented), 1, 0, "01"},
		{"silence, next server", silent, 1, 0, "01"},
		{"unreachable, next server", nil, 1, 0, "1"},
		{"NXDOMAIN is final", reply(dnsmessage.RCodeNameError), 1, EAI_NONAME, "0"},
		{"FORMERR is final", reply(dnsmessage.RCodeFormatError), 1, EAI_FAIL, "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			second := startFakeServer(t, "127.0.0.1", reply(dnsmessage.RCodeSuccess))
			var first netip.AddrPort
			var firstSrv *fakeServer
			if tc.first != nil {
				firstSrv = startFakeServer(t, "127.0.0.1", tc.first)
				first = firstSrv.addr
			} else {
				first = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(freeUDPPort(t, "127.0.0.1")))
			}
			addrs, _, err := fakeClient(500*time.Millisecond, first, second.addr).lookup(context.Background(), "retry.test.", unix.AF_INET)
			if tc.code == 0 {
				if err != nil || len(addrs) != 1 {
					t.Fatalf("got %v, %v", addrs, err)
				}
			} else if ae, ok := err.(*AddrinfoError); !ok || ae.Code != tc.code {
				t.Fatalf("got %v, %v; want code %d", addrs, err, tc.code)
			}
			var got string
			if firstSrv != nil {
				got += fmt.Sprint(len(firstSrv.received()))
			}
			got += fmt.Sprint(len(second.received()))
			want := map[string]string{"01": "11", "0": "10", "1": "1"}[tc.queries]
			if got != want {
				t.Errorf("queries per server %s, want %s", got, want)
			}
		})
	}

	// Silent servers: attempts rounds over all servers, then EAI_AGAIN
	// with the timeout as the cause, and UNAVAIL for nsswitch.conf.
	s0 := startFakeServer(t, "127.0.0.1", silent)
	s1 := startFakeServer(t, "127.0.0.1", silent)
	c := fakeClient(30*time.Millisecond, s0.addr, s1.addr)
	c.conf.attempts = 3
	_, _, err := c.lookup(context.Background(), "silent.test.", unix.AF_INET)
	ae, ok := err.(*AddrinfoError)
	if !ok || ae.Code != EAI_AGAIN || !isTimeout(err) || dnsStatus(ae) != nssUnavail {
		t.Fatalf("got %v, want EAI_AGAIN with a timeout, UNAVAIL", err)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v unwraps to a deadline error: a caller would take it for its own timeout", err)
	}
	if n0, n1 := len(s0.received()), len(s1.received()); n0 != 3 || n1 != 3 {
		t.Errorf("queries per server %d and %d, want 3 each", n0, n1)
	}
	// A fresh query ID and source port for every try.
	var ids, ports []int
	for _, q := range append(s0.received(), s1.received()...) {
		ids = append(ids, int(q.id))
		ports = append(ports, int(q.from.Port()))
	}
	if distinct(ids) < 5 || distinct(ports) < 5 {
		t.Errorf("IDs %v and ports %v: want a new one for (nearly) every try", ids, ports)
	}
}

// isTimeout reports whether err says a nameserver did not reply in time.
func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// TestDNSUnreachableError checks the error when no nameserver can be
// reached: EAI_AGAIN, saying why, but not unwrapping to ECONNREFUSED,
// which callers would take for the refusal of their own connection.
func TestDNSUnreachableError(t *testing.T) {
	t.Parallel()
	dead := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(freeUDPPort(t, "127.0.0.1")))
	_, _, err := fakeClient(time.Second, dead).lookup(context.Background(), "dead.test.", unix.AF_INET)
	ae, ok := err.(*AddrinfoError)
	if !ok || ae.Code != EAI_AGAIN || dnsStatus(ae) != nssUnavail || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("got %v, want EAI_AGAIN saying the connection was refused, UNAVAIL", err)
	}
	if errors.Is(err, unix.ECONNREFUSED) || isTimeout(err) {
		t.Errorf("%v unwraps to ECONNREFUSED or says timeout", err)
	}
}

func distinct(xs []int) int {
	s := slices.Clone(xs)
	slices.Sort(s)
	return len(slices.Compact(s))
}

// TestDNSRandomIDsAndPorts checks that queries use random IDs and
// ephemeral source ports.
func TestDNSRandomIDsAndPorts(t *testing.T) {
	t.Parallel()
	srv := startFakeServer(t, "127.0.0.1", func(q query) []response {
		return []response{{msg: makeReply(q, replyOpts{}, goodAddr)}}
	})
	c := fakeClient(time.Second, srv.addr)
	const n = 20
	for range n {
		if _, _, err := c.lookup(context.Background(), "random.test.", unix.AF_INET); err != nil {
			t.Fatal(err)
		}
	}
	var ids, ports []int
	for _, q := range srv.received() {
		ids = append(ids, int(q.id))
		ports = append(ports, int(q.from.Port()))
		if q.from.Port() < 1024 {
			t.Errorf("source port %d is not ephemeral", q.from.Port())
		}
	}
	// Collisions are possible (28000-odd ports, 65536 IDs), but rare.
	if distinct(ids) < n-2 || distinct(ports) < n-2 {
		t.Errorf("IDs %v, ports %v: too many repeats", ids, ports)
	}
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	if slices.Equal(ids, sorted) {
		t.Errorf("IDs %v are increasing: not random", ids)
	}
}

// TestDNSRotate checks that rotate spreads first tries over the servers,
// and that without it the first server gets them all.
func TestDNSRotate(t *testing.T) {
	t.Parallel()
	for _, rotate := range []bool{false, true} {
		var srvs []*fakeServer
		var addrs []netip.AddrPort
		for range 3 {
			s := startFakeServer(t, "127.0.0.1", func(q query) []response {
				return []response{{msg: makeReply(q, replyOpts{}, goodAddr)}}
			})
			srvs, addrs = append(srvs, s), append(addrs, s.addr)
		}
		c := fakeClient(time.Second, addrs...)
		c.conf.rotate = rotate
		for range 40 {
			if _, _, err := c.lookup(context.Background(), "rotate.test.", unix.AF_INET); err != nil {
				t.Fatal(err)
			}
		}
		counts := []int{len(srvs[0].received()), len(srvs[1].received()), len(srvs[2].received())}
		if rotate && slices.Contains(counts, 0) || !rotate && counts[0] != 40 {
			t.Errorf("rotate=%v: queries per server %v", rotate, counts)
		}
	}
}

// TestDNSParallelAndSingleRequest uses a server that never answers A
// queries: in parallel, the AAAA query is answered anyway; with
// single-request, A goes first, and glibc (and so this resolver) gives up
// on the server without sending AAAA.
func TestDNSParallelAndSingleRequest(t *testing.T) {
	t.Parallel()
	for _, single := range []bool{false, true} {
		srv := startFakeServer(t, "127.0.0.1", func(q query) []response {
			if q.q.Type == dnsmessage.TypeA {
				return nil
			}
			return []response{{msg: makeReply(q, replyOpts{}, "2001:db8::7")}}
		})
		c := fakeClient(400*time.Millisecond, srv.addr)
		c.conf.singleRequest = single
		addrs, _, err := c.lookup(context.Background(), "pair.test.", unix.AF_UNSPEC)
		var types []dnsmessage.Type
		for _, q := range srv.received() {
			types = append(types, q.q.Type)
		}
		if single {
			if err == nil || !slices.Equal(types, []dnsmessage.Type{dnsmessage.TypeA}) {
				t.Errorf("single-request: got %v, %v, queries %v; want EAI_AGAIN after one A query", addrs, err, types)
			}
		} else if err != nil || fmt.Sprint(addrs) != "[2001:db8::7]" || len(types) != 2 {
			t.Errorf("parallel: got %v, %v, queries %v", addrs, err, types)
		}
	}
}

// TestDNSEDNS0 checks the OPT record, the fallback when a server answers
// FORMERR to it, and trust-ad.
func TestDNSEDNS0(t *testing.T) {
	t.Parallel()
	srv := startFakeServer(t, "127.0.0.1", func(q query) []response {
		if q.opt {
			return []response{{msg: makeReply(q, replyOpts{rcode: dnsmessage.RCodeFormatError})}}
		}
		return []response{{msg: makeReply(q, replyOpts{}, goodAddr)}}
	})
	c := fakeClient(time.Second, srv.addr)
	c.conf.edns0, c.conf.trustAD = true, true
	if _, _, err := c.lookup(context.Background(), "edns.test.", unix.AF_INET); err != nil {
		t.Fatal(err)
	}
	qs := srv.received()
	if len(qs) != 2 || !qs[0].opt || qs[0].udpSize != ednsUDPSize || qs[1].opt {
		t.Errorf("queries %+v: want one with an OPT record offering %d bytes, then one without", qs, ednsUDPSize)
	}
	for _, q := range qs {
		if !q.hdr.AuthenticData || !q.hdr.RecursionDesired {
			t.Errorf("query header %+v: want RD and, with trust-ad, AD", q.hdr)
		}
	}
	c.conf.edns0, c.conf.trustAD = false, false
	c.lookup(context.Background(), "edns.test.", unix.AF_INET)
	if qs := srv.received(); qs[len(qs)-1].opt || qs[len(qs)-1].hdr.AuthenticData {
		t.Errorf("without edns0 and trust-ad: %+v", qs[len(qs)-1])
	}
}

// TestDNSUseVC checks that use-vc asks over TCP only.
func TestDNSUseVC(t *testing.T) {
	t.Parallel()
	srv := startFakeServer(t, "127.0.0.1", func(q query) []response {
		return []response{{msg: makeReply(q, replyOpts{}, goodAddr)}}
	})
	c := fakeClient(time.Second, srv.addr)
	c.conf.useVC = true
	if _, _, err := c.lookup(context.Background(), "vc.test.", unix.AF_UNSPEC); err != nil {
		t.Fatal(err)
	}
	for _, q := range srv.received() {
		if !q.tcp {
			t.Errorf("query over UDP with use-vc: %+v", q)
		}
	}
}

// TestDNSLargeDatagram sends a reply bigger than the receive buffer: it is
// cut by the kernel (MSG_TRUNC) and must be asked again over TCP, never
// parsed as it is.
func TestDNSLargeDatagram(t *testing.T) {
	t.Parallel()
	srv := startFakeServer(t, "127.0.0.1", func(q query) []response {
		if q.tcp {
			return []response{{msg: makeReply(q, replyOpts{}, goodAddr)}}
		}
		var many []string
		for i := range 400 {
			many = append(many, fmt.Sprintf("6.6.%d.%d", i/250, i%250))
		}
		return []response{{msg: makeReply(q, replyOpts{}, many...)}}
	})
	addrs, _, err := fakeClient(time.Second, srv.addr).lookup(context.Background(), "large.test.", unix.AF_INET)
	if err != nil || fmt.Sprint(addrs) != "["+goodAddr+"]" {
		t.Fatalf("got %v, %v", addrs, err)
	}
}
