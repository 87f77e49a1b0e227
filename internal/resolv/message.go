//go:build linux

package resolv

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// DNS messages: building queries and checking replies, with
// golang.org/x/net/dns/dnsmessage doing the wire format. Nothing here does
// I/O, so that FuzzDNSAnswer can drive it directly.

const (
	// ednsUDPSize is the UDP payload size offered with "options edns0":
	// glibc's RESOLV_EDNS_BUFFER_SIZE.
	ednsUDPSize = 1200
	// maxCNAMEChain bounds how many CNAME records are followed from the
	// question's name to the address records. A longer chain, or a loop, is
	// an error (errCNAMEChain).
	maxCNAMEChain = 16
	// udpBufSize is the receive buffer for UDP replies: more than any
	// reply a server may send us (512 bytes, or ednsUDPSize with edns0). A
	// larger datagram arrives with MSG_TRUNC and is treated as truncated.
	udpBufSize = 4096
)

var (
	// errMismatch: a reply whose ID, question or QR bit does not match the
	// query. It is dropped, as glibc's res_queriesmatch drops it.
	errMismatch = errors.New("reply does not match the query")
	// errCNAMEChain: the answer's CNAME chain is longer than maxCNAMEChain,
	// or loops.
	errCNAMEChain = fmt.Errorf("CNAME chain longer than %d records, or a loop", maxCNAMEChain)
)

// buildQuery returns a query for q with the given ID, recursion desired,
// and with an EDNS(0) OPT record when edns is set.
func buildQuery(id uint16, q dnsmessage.Question, edns, ad bool) ([]byte, error) {
	b := dnsmessage.NewBuilder(make([]byte, 0, 64), dnsmessage.Header{ID: id, RecursionDesired: true, AuthenticData: ad})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if edns {
		if err := b.StartAdditionals(); err != nil {
			return nil, err
		}
		var rh dnsmessage.ResourceHeader
		if err := rh.SetEDNS0(ednsUDPSize, dnsmessage.RCodeSuccess, false); err != nil {
			return nil, err
		}
		if err := b.OPTResource(rh, dnsmessage.OPTResource{}); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}

// reply is what the resolver keeps of a reply that matched its query.
type reply struct {
	rcode     dnsmessage.RCode
	truncated bool // TC was set; over UDP the answers were not read
	answers   int  // answer records of any type: glibc's "ancount != 0" test
	// addrs are the addresses of the question's type owned by the end of
	// the CNAME chain that starts at the question's name, in reply order.
	addrs []netip.Addr
	// canonical is the owner name of addrs (with its trailing dot, as the
	// server spelled it), or the last name of the chain when there are none.
	canonical string
	// chainErr is errCNAMEChain when the chain was too long to follow.
	chainErr error
}

// parseReply checks that msg answers the query with the given ID and
// question, and extracts its addresses. It returns errMismatch, or the
// parser's error for a malformed message; the caller ignores such a message
// and goes on waiting. Over UDP (tcp false) a truncated reply is returned
// with truncated set and without reading its answers, which may be cut.
func parseReply(msg []byte, id uint16, q dnsmessage.Question, tcp bool) (*reply, error) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return nil, err
	}
	if h.ID != id || !h.Response || h.OpCode != 0 {
		return nil, errMismatch
	}
	// Exactly our question, as res_queriesmatch wants: same type and class,
	// and the same name ignoring ASCII case.
	rq, err := p.Question()
	if err != nil {
		return nil, err
	}
	if rq.Type != q.Type || rq.Class != q.Class || !equalNames(rq.Name, q.Name) {
		return nil, errMismatch
	}
	if _, err := p.Question(); err != dnsmessage.ErrSectionDone {
		if err == nil {
			err = errMismatch // more than one question
		}
		return nil, err
	}
	r := &reply{rcode: h.RCode, truncated: h.Truncated}
	if h.Truncated && !tcp {
		return r, nil
	}

	type owned struct {
		owner string
		addrs []netip.Addr
	}
	var (
		cnames = make(map[string]string) // lower-case owner → target
		addrs  = make(map[string]*owned) // lower-case owner → its addresses
	)
	for {
		rh, err := p.AnswerHeader()
		if err == dnsmessage.ErrSectionDone {
			break
		}
		if err != nil {
			return nil, err
		}
		r.answers++
		owner := rh.Name.String()
		key := asciiLower(owner)
		var a netip.Addr
		switch {
		case rh.Class != dnsmessage.ClassINET:
			err = p.SkipAnswer()
		case rh.Type == dnsmessage.TypeCNAME:
			var c dnsmessage.CNAMEResource
			if c, err = p.CNAMEResource(); err == nil {
				// A target that is not a host name ends the chain, as
				// glibc's res_binary_hnok check ends it.
				if t := c.CNAME.String(); validHostText(t) {
					if _, dup := cnames[key]; !dup {
						cnames[key] = t
					}
				}
			}
		case rh.Type == dnsmessage.TypeA && q.Type == dnsmessage.TypeA:
			var ar dnsmessage.AResource
			if ar, err = p.AResource(); err == nil {
				a = netip.AddrFrom4(ar.A)
			}
		case rh.Type == dnsmessage.TypeAAAA && q.Type == dnsmessage.TypeAAAA:
			var ar dnsmessage.AAAAResource
			if ar, err = p.AAAAResource(); err == nil {
				a = netip.AddrFrom16(ar.AAAA)
			}
		default:
			err = p.SkipAnswer()
		}
		if err != nil {
			return nil, err
		}
		if a.IsValid() {
			o := addrs[key]
			if o == nil {
				o = &owned{owner: owner}
				addrs[key] = o
			}
			o.addrs = append(o.addrs, a)
		}
	}

	// Follow the chain from the question's name.
	name := q.Name.String()
	for hops := 0; ; hops++ {
		key := asciiLower(name)
		if o := addrs[key]; o != nil {
			r.addrs, r.canonical = o.addrs, o.owner
			return r, nil
		}
		next, ok := cnames[key]
		if !ok {
			r.canonical = name
			return r, nil
		}
		if hops == maxCNAMEChain {
			r.chainErr = errCNAMEChain
			return r, nil
		}
		name = next
	}
}

// equalNames compares DNS names ignoring ASCII case.
func equalNames(a, b dnsmessage.Name) bool {
	if a.Length != b.Length {
		return false
	}
	for i := 0; i < int(a.Length); i++ {
		x, y := a.Data[i], b.Data[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// isHostChar reports whether c may appear in a host name label, by glibc's
// res_hnok: letters, digits, '-' and '_'.
func isHostChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// validHostText reports whether s, a name as dnsmessage prints it (labels
// joined by '.', with a trailing dot), is made of host name labels only.
func validHostText(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return true // the root
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
		for i := 0; i < len(l); i++ {
			if !isHostChar(l[i]) {
				return false
			}
		}
	}
	return true
}

// parseHostname checks a node the way glibc's DNS module does before
// querying it (res_hnok): printable ASCII only, valid as a domain name once
// backslash escapes (\X and \DDD) are decoded (no empty label except a final
// one, labels of at most 63 bytes, at most 255 bytes on the wire), labels
// made of letters, digits, '-' and '_', and no leading '-'. It returns the
// name with escapes decoded (a trailing dot kept) and whether it is valid.
// An invalid name is not queried: it is EAI_NONAME, as in glibc.
func parseHostname(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return "", false
		}
	}
	var labels []string
	var cur []byte
	wire := 1 // the root label
	trailing := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 < len(s) && isDigit(s[i+1]) {
				// \DDD: exactly three digits, at most 255 (ns_name_pton).
				if i+3 >= len(s) || !isDigit(s[i+2]) || !isDigit(s[i+3]) {
					return "", false
				}
				v := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0')
				if v > 255 {
					return "", false
				}
				cur = append(cur, byte(v))
				i += 3
			} else if i+1 < len(s) {
				cur = append(cur, s[i+1])
				i++
			} else {
				return "", false
			}
		case c == '.':
			if len(cur) == 0 {
				// An empty label: fine only as the whole name ".".
				if len(s) == 1 {
					return ".", true
				}
				return "", false
			}
			labels = append(labels, string(cur))
			wire += len(cur) + 1
			cur = cur[:0]
			trailing = i == len(s)-1
		default:
			cur = append(cur, c)
		}
		if len(cur) > 63 {
			return "", false
		}
	}
	if len(cur) > 0 {
		labels = append(labels, string(cur))
		wire += len(cur) + 1
	}
	if wire > 255 || len(labels) == 0 || labels[0][0] == '-' {
		return "", false
	}
	for _, l := range labels {
		for i := 0; i < len(l); i++ {
			if !isHostChar(l[i]) {
				return "", false
			}
		}
	}
	name := strings.Join(labels, ".")
	if trailing {
		name += "."
	}
	return name, true
}
