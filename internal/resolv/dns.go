//go:build linux

package resolv

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"

	"github.com/ksocket-go/ksocket/internal/engine"
)

// The stub resolver: glibc 2.36's res_search and res_send, over the
// engine's own sockets. The package documentation describes its behaviour.

func init() {
	LookupDNSFunc = lookupDNS
}

// lookupDNS is the default LookupDNSFunc: it reads the resolver
// configuration (resolv.conf, or $KSOCKET_RESOLV_CONF) and asks its
// nameservers through the process's engine.
func lookupDNS(ctx context.Context, name string, family int) ([]netip.Addr, string, error) {
	rc, err := loadResolvConf(currentResolvConfPath())
	if err != nil {
		return nil, "", &AddrinfoError{Code: EAI_SYSTEM, Err: err}
	}
	eng, err := engine.Default()
	if err != nil {
		return nil, "", &AddrinfoError{Code: EAI_SYSTEM, Err: err}
	}
	c := &dnsClient{conf: rc, eng: eng, unit: time.Second, zones: &config{sysClassNetPath: sysClassNetPath}}
	return c.lookup(ctx, name, family)
}

// dnsClient is one lookup's resolver. Its fields are set before use and
// never change.
type dnsClient struct {
	conf  *resolvConf
	eng   *engine.Engine
	unit  time.Duration // what one second of resolv.conf's timeout lasts; tests shorten it
	zones *config       // resolves the %zone of IPv6 nameservers
}

// lookup resolves name for family (AF_UNSPEC, AF_INET or AF_INET6) with
// the search list, and returns the addresses (A answers before AAAA ones)
// and the canonical name, or the error described by LookupDNSFunc.
func (c *dnsClient) lookup(ctx context.Context, name string, family int) ([]netip.Addr, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	qname, ok := parseHostname(name)
	if !ok {
		return nil, "", eai(EAI_NONAME)
	}
	var types []dnsmessage.Type
	switch family {
	case unix.AF_INET:
		types = []dnsmessage.Type{dnsmessage.TypeA}
	case unix.AF_INET6:
		if c.conf.noAAAA {
			return nil, "", eai(EAI_NONAME)
		}
		types = []dnsmessage.Type{dnsmessage.TypeAAAA}
	default:
		types = []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA}
		if c.conf.noAAAA {
			types = types[:1]
		}
	}
	return c.search(ctx, qname, types).result()
}

// outcomeKind is how the queries for one name ended, in the terms of
// glibc's h_errno.
type outcomeKind uint8

const (
	answered     outcomeKind = iota // some reply had answer records (res_query's "ancount != 0")
	hostNotFound                    // NXDOMAIN (HOST_NOT_FOUND)
	noData                          // NOERROR without answers (NO_DATA)
	tryAgain                        // no usable reply: SERVFAIL, REFUSED, timeouts, unreachable servers (TRY_AGAIN)
	noRecovery                      // FORMERR or another final error (NO_RECOVERY)
	systemError                     // a socket could not be made (NETDB_INTERNAL)
	contextDone                     // the context ended
)

// outcome is the result of the queries for one name.
type outcome struct {
	kind outcomeKind
	// servfail: the last reply seen was SERVFAIL (glibc tests hp->rcode ==
	// SERVFAIL to decide whether to go on down the search list).
	servfail bool
	// unreachable: every try failed at the socket, with neither a reply
	// nor a timeout (glibc's errno ECONNREFUSED, which ends the search at
	// once).
	unreachable bool
	// unavail: the last query sent got no usable reply (all servers
	// failed, timed out or were unreachable), which is when glibc's DNS
	// module reports NSS_STATUS_UNAVAIL rather than NOTFOUND: it goes by
	// the errno of that last res_send, not by the h_errno it reports.
	unavail bool
	err     error    // the cause, for tryAgain, noRecovery, systemError and contextDone
	replies []*reply // for answered: the replies, A before AAAA, nil for a query that failed
}

// result turns the final outcome into LookupDNSFunc's results.
func (o outcome) result() ([]netip.Addr, string, error) {
	switch o.kind {
	case answered:
		var addrs []netip.Addr
		canonical := ""
		var chainErr error
		for _, r := range o.replies {
			if r == nil {
				continue
			}
			if r.chainErr != nil {
				chainErr = r.chainErr
			}
			if canonical == "" && len(r.addrs) > 0 {
				canonical = r.canonical
			}
			addrs = append(addrs, r.addrs...)
		}
		switch {
		case len(addrs) > 0:
		case chainErr != nil:
			return nil, "", &AddrinfoError{Code: EAI_FAIL, Err: chainErr}
		default:
			// Only CNAMEs, or records of other names: no data.
			return nil, "", eai(EAI_NONAME)
		}
		return addrs, canonical, nil
	case hostNotFound, noData:
		return nil, "", eai(EAI_NONAME)
	case tryAgain:
		err := o.err
		if o.unavail {
			err = &unavailError{err}
		}
		return nil, "", &AddrinfoError{Code: EAI_AGAIN, Err: err}
	case noRecovery:
		return nil, "", &AddrinfoError{Code: EAI_FAIL, Err: o.err}
	case systemError:
		return nil, "", &AddrinfoError{Code: EAI_SYSTEM, Err: o.err}
	}
	return nil, "", o.err // contextDone: Lookup makes it EAI_AGAIN with the context's error
}

// search is glibc's __res_context_search: which names are tried, in which
// order, and which failure is reported, with the search list and ndots.
func (c *dnsClient) search(ctx context.Context, name string, types []dnsmessage.Type) outcome {
	dots := 0
	for i := 0; i < len(name); i++ {
		if name[i] == '.' {
			dots++
		}
	}
	trailingDot := name[len(name)-1] == '.'

	var (
		last       outcome
		saved      *outcome // the failure of the first, as-is query
		triedAsIs  bool
		searched   bool
		rootOnList bool
		gotNoData  bool
		servErr    error // the cause of the last SERVFAIL on the search list
	)
	// Enough dots, or a trailing dot: the name as it is, first.
	if dots >= c.conf.ndots || trailingDot {
		last = c.queryName(ctx, absolute(name, ""), types)
		if last.kind == answered || trailingDot || last.kind == contextDone || last.kind == systemError {
			return last
		}
		s := last
		saved, triedAsIs = &s, true
	}

	// The search list (glibc's RES_DEFNAMES and RES_DNSRCH, both on).
	for _, domain := range c.conf.search {
		searched = true
		if domain != "" && domain[0] == '.' {
			domain = domain[1:]
		}
		if domain == "" {
			rootOnList = true
		}
		last = c.queryName(ctx, absolute(name, domain), types)
		if last.kind == answered || last.kind == contextDone || last.kind == systemError {
			return last
		}
		if last.unreachable {
			return last // no server is reachable: give up at once
		}
		done := false
		switch last.kind {
		case noData:
			gotNoData = true
		case hostNotFound:
		case tryAgain:
			if last.servfail {
				servErr = last.err // a broken zone: try the next domain
			} else {
				done = true
			}
		default:
			done = true
		}
		if done {
			break
		}
	}

	// The name as it is, unless already tried, or a dotless name with
	// no-tld-query, or the root was on the search list.
	if (dots > 0 || !searched || !c.conf.noTLDQuery) && !triedAsIs && !rootOnList {
		last = c.queryName(ctx, absolute(name, ""), types)
		if last.kind == answered || last.kind == contextDone || last.kind == systemError {
			return last
		}
	}

	final := last
	switch {
	case saved != nil:
		final = *saved
	case gotNoData:
		final = outcome{kind: noData}
	case servErr != nil:
		final = outcome{kind: tryAgain, servfail: true, err: servErr}
	}
	final.unavail = last.unavail
	return final
}

// absolute joins name and a search domain into a fully qualified name.
func absolute(name, domain string) string {
	if name[len(name)-1] == '.' {
		return name
	}
	if domain == "" {
		return name + "."
	}
	if domain[len(domain)-1] == '.' {
		return name + "." + domain
	}
	return name + "." + domain + "."
}

// queryName asks for one fully qualified name: A and AAAA in parallel
// (one after the other with single-request), and combines the replies as
// glibc's __res_context_query does.
func (c *dnsClient) queryName(ctx context.Context, fqdn string, types []dnsmessage.Type) outcome {
	n, err := dnsmessage.NewName(fqdn)
	if err == nil {
		// A name that cannot be packed (an empty or long label from the
		// search list) fails before anything is sent, as res_mkquery does.
		_, err = buildQuery(0, dnsmessage.Question{Name: n, Type: types[0], Class: dnsmessage.ClassINET}, false, false)
	}
	if err != nil {
		return outcome{kind: noRecovery, err: fmt.Errorf("cannot query %q: %w", fqdn, err)}
	}
	results := make([]exchangeResult, len(types))
	question := func(i int) dnsmessage.Question {
		return dnsmessage.Question{Name: n, Type: types[i], Class: dnsmessage.ClassINET}
	}
	if len(types) > 1 && !c.conf.singleRequest {
		var wg sync.WaitGroup
		for i := 1; i < len(types); i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = c.exchange(ctx, question(i))
			}()
		}
		results[0] = c.exchange(ctx, question(0))
		wg.Wait()
	} else {
		for i := range types {
			results[i] = c.exchange(ctx, question(i))
			// glibc's send_dg moves on to the next server for both
			// questions when the first is refused or fails: if no server
			// answered it, the second is never sent.
			if k := results[i].kind; k == contextDone || k == systemError || k == tryAgain {
				results = results[:i+1]
				break
			}
		}
	}
	o := combine(results)
	o.unavail = o.kind == tryAgain
	return o
}

// combine merges the outcomes of the queries for one name: any answer
// wins, then NXDOMAIN, then failures, then no data.
func combine(results []exchangeResult) outcome {
	o := outcome{kind: noData, unreachable: true}
	rank := func(k outcomeKind) int {
		switch k {
		case contextDone:
			return 6
		case systemError:
			return 5
		case answered:
			return 4
		case hostNotFound:
			return 3
		case tryAgain:
			return 2
		case noRecovery:
			return 1
		}
		return 0 // noData
	}
	best := -1
	for _, r := range results {
		k := r.kind
		if rank(k) > best {
			best = rank(k)
			o.kind, o.err, o.servfail = k, r.err, r.servfail
		}
		if k != tryAgain || !r.unreachable {
			o.unreachable = false
		}
	}
	if o.kind != tryAgain {
		o.unreachable = false
	}
	if o.kind == answered {
		o.err = nil
		o.replies = make([]*reply, len(results))
		for i, r := range results {
			if r.kind == answered {
				o.replies[i] = r.reply
			}
		}
	}
	return o
}

// exchangeResult is the outcome of one question.
type exchangeResult struct {
	kind        outcomeKind
	reply       *reply // for answered
	err         error
	servfail    bool
	unreachable bool
}

// exchange asks the nameservers one question, as glibc's __res_context_send
// does: attempts rounds over the servers (starting at a random one with
// rotate), a new UDP socket and query ID for every try, TCP when the reply
// is truncated (or always with use-vc). SERVFAIL, REFUSED and NOTIMP
// replies, timeouts and unreachable servers move on to the next server.
func (c *dnsClient) exchange(ctx context.Context, q dnsmessage.Question) exchangeResult {
	servers := c.conf.servers
	offset := 0
	if c.conf.rotate && len(servers) > 1 {
		offset = randomInt(len(servers))
	}
	var (
		lastErr      error
		lastRcode    dnsmessage.RCode
		rejected     bool
		gotSomewhere bool
	)
	for try := 0; try < c.conf.attempts; try++ {
		for i := range servers {
			if err := ctx.Err(); err != nil {
				return exchangeResult{kind: contextDone, err: err}
			}
			ns := (i + offset) % len(servers)
			sa, family := c.sockaddr(servers[ns])
			r, err := c.ask(ctx, sa, family, q, c.tryTimeout(ns))
			if err != nil {
				if ctx.Err() != nil {
					return exchangeResult{kind: contextDone, err: ctx.Err()}
				}
				var se *systemErr
				if errors.As(err, &se) {
					return exchangeResult{kind: systemError, err: se.err}
				}
				// A timeout, a TCP connection closed early or a bad TCP
				// reply mean a server is there; only socket errors
				// (ECONNREFUSED, ENETUNREACH, ...) leave it unreachable.
				var errno unix.Errno
				if !errors.As(err, &errno) {
					gotSomewhere = true
				}
				lastErr = &serverError{server: servers[ns].addr, err: err}
				continue
			}
			gotSomewhere = true
			switch r.rcode {
			case dnsmessage.RCodeServerFailure, dnsmessage.RCodeNotImplemented, dnsmessage.RCodeRefused:
				rejected, lastRcode = true, r.rcode
				lastErr = &rcodeError{rcode: r.rcode, server: servers[ns].addr}
				continue
			case dnsmessage.RCodeSuccess:
				if r.answers > 0 {
					return exchangeResult{kind: answered, reply: r}
				}
				return exchangeResult{kind: noData}
			case dnsmessage.RCodeNameError:
				return exchangeResult{kind: hostNotFound}
			}
			return exchangeResult{kind: noRecovery, err: &rcodeError{rcode: r.rcode, server: servers[ns].addr}}
		}
	}
	return exchangeResult{
		kind:        tryAgain,
		err:         lastErr,
		servfail:    rejected && lastRcode == dnsmessage.RCodeServerFailure,
		unreachable: !gotSomewhere,
	}
}

// rcodeError is a reply's error code.
type rcodeError struct {
	rcode  dnsmessage.RCode
	server netip.AddrPort
}

func (e *rcodeError) Error() string {
	return fmt.Sprintf("nameserver %v answered %s", e.server, rcodeName(e.rcode))
}

func rcodeName(rc dnsmessage.RCode) string {
	switch rc {
	case dnsmessage.RCodeFormatError:
		return "FORMERR"
	case dnsmessage.RCodeServerFailure:
		return "SERVFAIL"
	case dnsmessage.RCodeNameError:
		return "NXDOMAIN"
	case dnsmessage.RCodeNotImplemented:
		return "NOTIMP"
	case dnsmessage.RCodeRefused:
		return "REFUSED"
	}
	return fmt.Sprintf("RCODE %d", rc)
}

// unavailError wraps the cause of an EAI_AGAIN for which glibc's DNS module
// would report NSS_STATUS_UNAVAIL; nsswitch.conf criteria such as
// [!UNAVAIL=return] act on it (see dnsStatus).
type unavailError struct{ err error }

func (e *unavailError) Error() string {
	if e.err == nil {
		return "no usable reply"
	}
	return e.err.Error()
}

func (e *unavailError) Unwrap() error { return e.err }

// systemErr marks a failure to create or set up a socket (EMFILE, ENOBUFS,
// ...): the lookup stops with EAI_SYSTEM, as glibc's does with
// NETDB_INTERNAL.
type systemErr struct{ err error }

func (e *systemErr) Error() string { return e.err.Error() }
func (e *systemErr) Unwrap() error { return e.err }

// tryTimeout is glibc's send_dg timeout for server index ns: timeout
// seconds shifted left by the index and divided by the number of servers
// (for every server but the first), at least one second.
func (c *dnsClient) tryTimeout(ns int) time.Duration {
	seconds := c.conf.timeout << ns
	if ns > 0 {
		seconds /= len(c.conf.servers)
	}
	seconds = max(seconds, 1)
	return time.Duration(seconds) * c.unit
}

// sockaddr returns the socket address of a nameserver.
func (c *dnsClient) sockaddr(ns nameserver) (unix.Sockaddr, int) {
	a := ns.addr.Addr()
	if a.Is4() {
		return &unix.SockaddrInet4{Port: int(ns.addr.Port()), Addr: a.As4()}, unix.AF_INET
	}
	sa := &unix.SockaddrInet6{Port: int(ns.addr.Port()), Addr: a.As16()}
	if ns.zone != "" {
		// glibc leaves the scope at 0 when it cannot resolve it.
		sa.ZoneId, _ = c.zones.scopeID(sa.Addr, ns.zone)
	}
	return sa, unix.AF_INET6
}

// ask makes one try with one server: UDP (or TCP with use-vc), TCP again
// if the UDP reply was truncated, and without EDNS(0) if the server said
// FORMERR to it.
func (c *dnsClient) ask(ctx context.Context, sa unix.Sockaddr, family int, q dnsmessage.Question, timeout time.Duration) (*reply, error) {
	edns := c.conf.edns0
	for {
		var r *reply
		var err error
		if c.conf.useVC {
			r, err = c.askTCP(ctx, sa, family, q, edns, time.Now().Add(timeout))
		} else {
			r, err = c.askUDP(ctx, sa, family, q, edns, time.Now().Add(timeout))
			if err == nil && r.truncated {
				r, err = c.askTCP(ctx, sa, family, q, edns, time.Now().Add(timeout))
			}
		}
		if err == nil && edns && r.rcode == dnsmessage.RCodeFormatError {
			edns = false // a server that does not know EDNS(0)
			continue
		}
		return r, err
	}
}

// errTimeout is a try that ran out of time.
var errTimeout error = timeoutError{}

// timeoutError is a nameserver that did not reply in time. Like net's DNS
// errors, it reports Timeout and Temporary, but does not unwrap to
// os.ErrDeadlineExceeded, which would make a lookup look like a dial that
// timed out.
type timeoutError struct{}

func (timeoutError) Error() string   { return "no reply in time" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// serverError is why one nameserver gave no usable reply. Its text names
// the cause, but it does not unwrap to it: an ECONNREFUSED from the
// nameserver must not look like the refusal of a connection the caller
// makes after the lookup (package net wraps only context errors in its
// DNS errors, for the same reason).
type serverError struct {
	server netip.AddrPort
	err    error
}

func (e *serverError) Error() string { return fmt.Sprintf("nameserver %v: %v", e.server, e.err) }

// Timeout reports whether the nameserver did not reply in time.
func (e *serverError) Timeout() bool { return e.err == errTimeout }

// query builds a query for q under a fresh random ID, and opens the socket
// to send it from; the caller closes it.
func (c *dnsClient) query(q dnsmessage.Question, edns bool, family, sotype int, cat engine.Category) (uint16, []byte, *engine.Socket, error) {
	id, err := randomID()
	if err != nil {
		return 0, nil, nil, &systemErr{err}
	}
	msg, err := buildQuery(id, q, edns, c.conf.trustAD)
	if err != nil {
		return 0, nil, nil, err
	}
	s, err := c.newSocket(family, sotype, cat)
	if err != nil {
		return 0, nil, nil, err
	}
	return id, msg, s, nil
}

// askUDP sends the query from a new socket bound to an ephemeral port and
// connected to the server, and waits for a reply that matches it: same ID,
// same question, from the server's address. Anything else is dropped.
func (c *dnsClient) askUDP(ctx context.Context, sa unix.Sockaddr, family int, q dnsmessage.Question, edns bool, deadline time.Time) (*reply, error) {
	id, msg, s, err := c.query(q, edns, family, unix.SOCK_DGRAM, engine.CatDatagram)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	// Port 0: the kernel picks a random ephemeral port.
	if err := s.Bind(wildcard(family)); err != nil {
		return nil, err
	}
	// Connected, so that the kernel drops datagrams from other addresses
	// and reports ICMP port unreachable as ECONNREFUSED.
	if err := s.Connect(ctx, sa, 0); err != nil {
		return nil, err
	}
	if err := sendWithin(ctx, s, msg, deadline); err != nil {
		return nil, err
	}
	buf := make([]byte, udpBufSize)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, errTimeout
		}
		n, from, flags, err := s.Recv(ctx, buf, 0, true, left)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, errTimeout
			}
			return nil, err
		}
		if !sameSockaddr(from, sa) {
			continue
		}
		if flags&unix.MSG_TRUNC != 0 && n >= 3 {
			buf[2] |= 0x02 // cut by the kernel: handle it as a reply with TC set
		}
		r, err := parseReply(buf[:n], id, q, false)
		if err != nil {
			continue // not ours, or malformed: wait for the real reply
		}
		return r, nil
	}
}

// askTCP asks over a new TCP connection, with the two-byte length prefix
// of RFC 1035 §4.2.2.
func (c *dnsClient) askTCP(ctx context.Context, sa unix.Sockaddr, family int, q dnsmessage.Question, edns bool, deadline time.Time) (*reply, error) {
	id, msg, s, err := c.query(q, edns, family, unix.SOCK_STREAM, engine.CatConnection)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	left := time.Until(deadline)
	if left <= 0 {
		return nil, errTimeout
	}
	if err := s.Connect(ctx, sa, left); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, errTimeout
		}
		return nil, err
	}
	framed := make([]byte, 2+len(msg))
	binary.BigEndian.PutUint16(framed, uint16(len(msg)))
	copy(framed[2:], msg)
	if err := sendWithin(ctx, s, framed, deadline); err != nil {
		return nil, err
	}
	var hdr [2]byte
	if err := recvFull(ctx, s, hdr[:], deadline); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if err := recvFull(ctx, s, body, deadline); err != nil {
		return nil, err
	}
	return parseReply(body, id, q, true)
}

// newSocket makes a socket. A family the kernel does not support skips the
// server, as in glibc; any other failure (EMFILE, ...) ends the lookup.
func (c *dnsClient) newSocket(family, typ int, cat engine.Category) (*engine.Socket, error) {
	s, err := c.eng.Socket(family, typ, 0, cat)
	if err != nil {
		if errors.Is(err, unix.EAFNOSUPPORT) {
			return nil, err
		}
		return nil, &systemErr{err}
	}
	return s, nil
}

func sendWithin(ctx context.Context, s *engine.Socket, b []byte, deadline time.Time) error {
	left := time.Until(deadline)
	if left <= 0 {
		return errTimeout
	}
	_, err := s.Send(ctx, b, 0, nil, left)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errTimeout
	}
	return err
}

// recvFull fills b from a stream socket.
func recvFull(ctx context.Context, s *engine.Socket, b []byte, deadline time.Time) error {
	for got := 0; got < len(b); {
		left := time.Until(deadline)
		if left <= 0 {
			return errTimeout
		}
		n, _, _, err := s.Recv(ctx, b[got:], 0, false, left)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return errTimeout
			}
			return err
		}
		if n == 0 {
			return io.ErrUnexpectedEOF
		}
		got += n
	}
	return nil
}

// wildcard is the any address with port 0, for binding.
func wildcard(family int) unix.Sockaddr {
	if family == unix.AF_INET {
		return &unix.SockaddrInet4{}
	}
	return &unix.SockaddrInet6{}
}

// sameSockaddr reports whether a datagram's source is the server.
func sameSockaddr(from, server unix.Sockaddr) bool {
	switch s := server.(type) {
	case *unix.SockaddrInet4:
		f, ok := from.(*unix.SockaddrInet4)
		return ok && f.Addr == s.Addr && f.Port == s.Port
	case *unix.SockaddrInet6:
		f, ok := from.(*unix.SockaddrInet6)
		return ok && f.Addr == s.Addr && f.Port == s.Port
	}
	return false
}

// randomID returns a query ID from crypto/rand, so that an off-path
// attacker cannot predict it.
func randomID() (uint16, error) {
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(b[:]), nil
}

// randomInt returns a random int in [0, n), for rotate's first server.
func randomInt(n int) int { return mathrand.IntN(n) }
