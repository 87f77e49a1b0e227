//go:build linux

package resolv

import (
	"bytes"
	"net/netip"
	"os"
	"strings"
	"sync"
)

// resolvConfPath is the resolver configuration file. KSOCKET_RESOLV_CONF,
// when set and not empty, overrides it.
var resolvConfPath = "/etc/resolv.conf"

// Limits and defaults of glibc's resolver (resolv/resolv.h, resolv/res_init.c).
const (
	maxNameservers  = 3  // MAXNS: further nameserver lines are ignored
	maxNdots        = 15 // RES_MAXNDOTS
	maxTimeout      = 30 // RES_MAXRETRANS, seconds
	maxAttempts     = 5  // RES_MAXRETRY
	defaultTimeout  = 5  // RES_TIMEOUT, seconds
	defaultAttempts = 2  // RES_DFLRETRY
	dnsPort         = 53 // NAMESERVER_PORT: resolv.conf has no port syntax
)

// resolvConf is a parsed resolv.conf(5), as glibc 2.36's res_init reads it.
// Values are immutable once parsed: the cache hands the same value to
// concurrent lookups.
type resolvConf struct {
	servers []nameserver // at most maxNameservers; never empty after finish
	search  []string     // search list, from the last search or domain line
	// haveSearch reports a search or domain line, even an empty one: the
	// host name's domain is used only when there was none.
	haveSearch bool

	ndots    int // 0..maxNdots
	timeout  int // seconds, 0..maxTimeout (glibc's retrans; 0 acts as 1)
	attempts int // 1..maxAttempts

	rotate        bool // start at a random server for each query
	edns0         bool // send an OPT record offering ednsUDPSize
	singleRequest bool // single-request or single-request-reopen: A, then AAAA
	useVC         bool // use-vc: TCP only
	noTLDQuery    bool // no-tld-query: never query a dotless name as it is
	trustAD       bool // trust-ad: set the AD bit in queries
	noAAAA        bool // no-aaaa: never ask for AAAA records
	noReload      bool // no-reload: keep the first version of the file
}

// nameserver is one server address. zone is the text after '%' in the
// nameserver line, resolved to an interface index when the server is used.
type nameserver struct {
	addr netip.AddrPort
	zone string
}

func defaultResolvConf() *resolvConf {
	return &resolvConf{ndots: 1, timeout: defaultTimeout, attempts: defaultAttempts}
}

// parseResolvConf parses a resolv.conf file the way glibc 2.36's
// res_init.c does (see the package documentation for the syntax). It does
// not apply the environment, the host name or the default server; finish
// does that.
func parseResolvConf(data []byte) *resolvConf {
	rc := defaultResolvConf()
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		if i := bytes.IndexByte(line, 0); i >= 0 {
			line = line[:i] // a C string ends here
		}
		// Only a ';' or '#' in the first column starts a comment.
		if len(line) == 0 || line[0] == ';' || line[0] == '#' {
			continue
		}
		s := string(line)
		switch {
		case matchKeyword(s, "domain"):
			if f := blankFields(s[len("domain"):]); len(f) > 0 {
				rc.search, rc.haveSearch = []string{f[0]}, true
			}
		case matchKeyword(s, "search"):
			if f := blankFields(s[len("search"):]); len(f) > 0 {
				rc.search, rc.haveSearch = f, true
			}
		case matchKeyword(s, "nameserver"):
			if len(rc.servers) >= maxNameservers {
				continue
			}
			f := blankFields(s[len("nameserver"):])
			if len(f) == 0 {
				continue
			}
			if ns, ok := parseNameserver(f[0]); ok {
				rc.servers = append(rc.servers, ns)
			}
		case matchKeyword(s, "options"):
			rc.setOptions(s[len("options"):])
		}
	}
	return rc
}

// matchKeyword is res_init.c's MATCH: the line starts with the keyword,
// followed by a blank.
func matchKeyword(line, kw string) bool {
	return len(line) > len(kw) && line[:len(kw)] == kw && (line[len(kw)] == ' ' || line[len(kw)] == '\t')
}

// blankFields splits s at runs of spaces and tabs (and a stray '\r', which
// glibc would keep as part of a name; dropping it is kinder to CRLF files).
func blankFields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' })
}

// parseNameserver reads a nameserver address as glibc does: IPv4 as
// inet_aton reads it (all of the text), else IPv6 as inet_pton reads it,
// with an optional %scope.
func parseNameserver(s string) (nameserver, bool) {
	if a, ok := inetAtonExact(s); ok {
		return nameserver{addr: netip.AddrPortFrom(a, dnsPort)}, true
	}
	host, zone, _ := strings.Cut(s, "%")
	a, ok := parseIPv6(host)
	if !ok {
		return nameserver{}, false
	}
	return nameserver{addr: netip.AddrPortFrom(a, dnsPort), zone: zone}, true
}

// setOptions is glibc's res_setoptions: options are separated by blanks and
// matched by prefix, so "rotate2" is "rotate". Unknown options are ignored.
func (rc *resolvConf) setOptions(s string) {
	for _, opt := range blankFields(s) {
		switch {
		case strings.HasPrefix(opt, "ndots:"):
			if v, ok := atoi(opt[len("ndots:"):]); ok {
				rc.ndots = min(v, maxNdots)
			}
		case strings.HasPrefix(opt, "timeout:"):
			if v, ok := atoi(opt[len("timeout:"):]); ok {
				rc.timeout = min(v, maxTimeout)
			}
		case strings.HasPrefix(opt, "attempts:"):
			if v, ok := atoi(opt[len("attempts:"):]); ok {
				// glibc makes no query at all with attempts:0; one is more useful.
				rc.attempts = max(min(v, maxAttempts), 1)
			}
		case strings.HasPrefix(opt, "rotate"):
			rc.rotate = true
		case strings.HasPrefix(opt, "edns0"):
			rc.edns0 = true
		case strings.HasPrefix(opt, "single-request"): // and single-request-reopen
			rc.singleRequest = true
		case strings.HasPrefix(opt, "no-tld-query"), strings.HasPrefix(opt, "no_tld_query"):
			rc.noTLDQuery = true
		case strings.HasPrefix(opt, "use-vc"):
			rc.useVC = true
		case strings.HasPrefix(opt, "trust-ad"):
			rc.trustAD = true
		case strings.HasPrefix(opt, "no-aaaa"):
			rc.noAAAA = true
		case strings.HasPrefix(opt, "no-reload"):
			rc.noReload = true
		}
	}
}

// atoi is C's atoi for the values of ndots:, timeout: and attempts:: white
// space, an optional sign, then digits up to the first non-digit. Negative
// values are reported as not ok and leave the option unchanged (glibc would
// store them in unsigned fields).
func atoi(s string) (int, bool) {
	i, neg := cSign(s)
	v := 0
	for ; i < len(s) && isDigit(s[i]); i++ {
		v = min(v*10+int(s[i]-'0'), 1<<20)
	}
	if neg && v != 0 {
		return 0, false
	}
	return v, true
}

// clone returns a copy that finish may change.
func (rc *resolvConf) clone() *resolvConf {
	c := *rc
	c.servers = append([]nameserver(nil), rc.servers...)
	c.search = append([]string(nil), rc.search...)
	return &c
}

// finish applies what glibc's res_init adds to the file: LOCALDOMAIN
// replaces the search list, RES_OPTIONS adds options, the host name's domain
// is the search list when there is none, and 127.0.0.1 is the server when no
// nameserver line gave one.
func (rc *resolvConf) finish(localDomain, resOptions, hostname string, haveLocalDomain bool) *resolvConf {
	c := rc.clone()
	if haveLocalDomain {
		c.search, c.haveSearch = blankFields(localDomain), true
	}
	if resOptions != "" {
		c.setOptions(resOptions)
	}
	if !c.haveSearch {
		if _, domain, ok := strings.Cut(hostname, "."); ok && domain != "" {
			c.search = []string{domain}
		}
	}
	if len(c.servers) == 0 {
		c.servers = []nameserver{{addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), dnsPort)}}
	}
	return c
}

var resolvConfCache = fileCache[*resolvConf]{parse: parseResolvConf}

// noReloadConfs holds, by path, the first version read of a file that says
// "options no-reload".
var noReloadConfs sync.Map // string → *resolvConf

// loadResolvConf returns the configuration in path, re-read when the file
// changes (unless it says no-reload), with the environment applied.
func loadResolvConf(path string) (*resolvConf, error) {
	var rc *resolvConf
	if v, ok := noReloadConfs.Load(path); ok {
		rc = v.(*resolvConf)
	} else {
		var err error
		if rc, err = resolvConfCache.get(path); err != nil {
			return nil, err
		}
		if rc.noReload {
			v, _ := noReloadConfs.LoadOrStore(path, rc)
			rc = v.(*resolvConf)
		}
	}
	hostname, _ := os.Hostname()
	localDomain, haveLocalDomain := os.LookupEnv("LOCALDOMAIN")
	return rc.finish(localDomain, os.Getenv("RES_OPTIONS"), hostname, haveLocalDomain), nil
}

// currentResolvConfPath is resolvConfPath, or KSOCKET_RESOLV_CONF.
func currentResolvConfPath() string {
	if p := os.Getenv("KSOCKET_RESOLV_CONF"); p != "" {
		return p
	}
	return resolvConfPath
}
