//go:build linux

package resolv

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// fakeServer is a small DNS responder of the tests' own, on a random port
// of a loopback address, over UDP and TCP. Its handler decides what to send
// back for each query, so that tests can script hostile or unusual servers.
// (It uses the net package: it is the test harness, not the resolver.)
type fakeServer struct {
	addr    netip.AddrPort
	udp     *net.UDPConn
	other   *net.UDPConn // another address (or port), for replies that must be ignored
	tcp     *net.TCPListener
	handler func(query) []response

	mu      sync.Mutex
	queries []query // guarded by mu

	wg sync.WaitGroup
}

// query is one query the fake server received.
type query struct {
	id      uint16
	q       dnsmessage.Question
	hdr     dnsmessage.Header
	opt     bool   // an OPT record was present
	udpSize uint16 // its payload size
	tcp     bool
	from    netip.AddrPort
	at      time.Time
}

// response is one thing the fake server sends back.
type response struct {
	msg       []byte
	delay     time.Duration // before sending
	fromOther bool          // UDP: sent from another address or port
	raw       bool          // TCP: written as is, without the length prefix
	closeTCP  bool          // TCP: close the connection after this
}

// startFakeServer starts a server on host (an IP literal) with handler.
func startFakeServer(t *testing.T, host string, handler func(query) []response) *fakeServer {
	t.Helper()
	ip := netip.MustParseAddr(host)
	s := &fakeServer{handler: handler}
	for range 20 {
		u, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).AddrPort().Port()
		l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, port)))
		if err != nil {
			u.Close()
			continue
		}
		s.udp, s.tcp, s.addr = u, l, netip.AddrPortFrom(ip, port)
		break
	}
	if s.udp == nil {
		t.Fatal("no port free for both UDP and TCP")
	}
	otherIP := ip
	if ip.Is4() {
		otherIP = netip.AddrFrom4([4]byte{127, 0, 0, 2})
	}
	o, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(otherIP, 0)))
	if err != nil {
		t.Fatal(err)
	}
	s.other = o
	s.wg.Add(2)
	go s.serveUDP()
	go s.serveTCP()
	t.Cleanup(s.close)
	return s
}

func (s *fakeServer) close() {
	s.udp.Close()
	s.other.Close()
	s.tcp.Close()
	s.wg.Wait()
}

// received returns the queries so far.
func (s *fakeServer) received() []query {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]query(nil), s.queries...)
}

func (s *fakeServer) record(msg []byte, from netip.AddrPort, tcp bool) (query, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return query{}, false
	}
	q, err := p.Question()
	if err != nil {
		return query{}, false
	}
	qr := query{id: h.ID, q: q, hdr: h, tcp: tcp, from: from, at: time.Now()}
	if err := p.SkipAllQuestions(); err == nil && p.SkipAllAnswers() == nil && p.SkipAllAuthorities() == nil {
		for {
			rh, err := p.AdditionalHeader()
			if err != nil {
				break
			}
			if rh.Type == dnsmessage.TypeOPT {
				qr.opt, qr.udpSize = true, uint16(rh.Class)
			}
			if p.SkipAdditional() != nil {
				break
			}
		}
	}
	s.mu.Lock()
	s.queries = append(s.queries, qr)
	s.mu.Unlock()
	return qr, true
}

func (s *fakeServer) serveUDP() {
	defer s.wg.Done()
	buf := make([]byte, 4096)
	for {
		n, from, err := s.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		q, ok := s.record(buf[:n], from, false)
		if !ok {
			continue
		}
		for _, r := range s.handler(q) {
			if r.delay > 0 {
				time.Sleep(r.delay)
			}
			c := s.udp
			if r.fromOther {
				c = s.other
			}
			c.WriteToUDPAddrPort(r.msg, from)
		}
	}
}

func (s *fakeServer) serveTCP() {
	defer s.wg.Done()
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := s.tcp.AcceptTCP()
		if err != nil {
			return
		}
		conns.Add(1)
		go func() {
			defer conns.Done()
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			for {
				var hdr [2]byte
				if _, err := io.ReadFull(c, hdr[:]); err != nil {
					return
				}
				msg := make([]byte, binary.BigEndian.Uint16(hdr[:]))
				if _, err := io.ReadFull(c, msg); err != nil {
					return
				}
				q, ok := s.record(msg, c.RemoteAddr().(*net.TCPAddr).AddrPort(), true)
				if !ok {
					return
				}
				for _, r := range s.handler(q) {
					if r.delay > 0 {
						time.Sleep(r.delay)
					}
					out := r.msg
					if !r.raw {
						out = binary.BigEndian.AppendUint16(nil, uint16(len(r.msg)))
						out = append(out, r.msg...)
					}
					c.Write(out)
					if r.closeTCP {
						return
					}
				}
			}
		}()
	}
}

// replyOpts shape a reply built by makeReply.
type replyOpts struct {
	id        *uint16              // default: the query's
	question  *dnsmessage.Question // default: the query's
	rcode     dnsmessage.RCode
	truncated bool
	notReply  bool // QR clear
	cnames    [][2]string
	owner     string // owner of the addresses; default: the end of cnames, or the question's name
}

// makeReply builds a reply to q carrying addrs (of q's type).
func makeReply(q query, o replyOpts, addrs ...string) []byte {
	id := q.id
	if o.id != nil {
		id = *o.id
	}
	question := q.q
	if o.question != nil {
		question = *o.question
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, Response: !o.notReply, RecursionDesired: true,
		RecursionAvailable: true, RCode: o.rcode, Truncated: o.truncated})
	b.EnableCompression()
	b.StartQuestions()
	b.Question(question)
	b.StartAnswers()
	owner := question.Name
	for _, c := range o.cnames {
		b.CNAMEResource(dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(c[0]), Class: dnsmessage.ClassINET, TTL: 60},
			dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName(c[1])})
		owner = dnsmessage.MustNewName(c[1])
	}
	if o.owner != "" {
		owner = dnsmessage.MustNewName(o.owner)
	}
	for _, a := range addrs {
		ip := netip.MustParseAddr(a)
		rh := dnsmessage.ResourceHeader{Name: owner, Class: dnsmessage.ClassINET, TTL: 60}
		if ip.Is4() {
			b.AResource(rh, dnsmessage.AResource{A: ip.As4()})
		} else {
			b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: ip.As16()})
		}
	}
	msg, err := b.Finish()
	if err != nil {
		panic(err)
	}
	return msg
}

// freeUDPPort returns a UDP port that was free on host a moment ago.
func freeUDPPort(t *testing.T, host string) int {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(host), 0)))
	if err != nil {
		t.Skipf("skipping: cannot bind %s: %v", host, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
