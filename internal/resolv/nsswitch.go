//go:build linux

package resolv

import (
	"bytes"
	"os"
	"strings"
)

// nsswitchPath is the name service switch configuration, of which Lookup
// reads the hosts line. KSOCKET_NSSWITCH_CONF, when set and not empty,
// overrides it.
var nsswitchPath = "/etc/nsswitch.conf"

// nssStatus is the outcome of one source, as in glibc's enum nss_status.
type nssStatus uint8

const (
	nssSuccess  nssStatus = iota // addresses found
	nssNotFound                  // the source answered: no such name (or no data)
	nssUnavail                   // the source could not be used (file unreadable, servers unreachable or silent)
	nssTryAgain                  // temporary failure in the source itself; never reported by files or dns
	nssStatusCount
)

// nssAction says what to do after a source returned a status.
type nssAction uint8

const (
	nssContinue nssAction = iota
	nssReturn
)

// nssSource is one source on the hosts line, with its action per status.
type nssSource struct {
	name    string // "files" or "dns"; other sources are dropped by parsing
	actions [nssStatusCount]nssAction
}

// defaultHostsSources is what glibc 2.36 uses when nsswitch.conf has no
// usable hosts line (measured: it behaves as "files dns").
var defaultHostsSources = []nssSource{newNSSSource("files"), newNSSSource("dns")}

func newNSSSource(name string) nssSource {
	s := nssSource{name: name}
	s.actions[nssSuccess] = nssReturn // glibc's default: [SUCCESS=return], continue otherwise
	return s
}

// nsswitchFile is the part of a parsed nsswitch.conf that Lookup uses.
type nsswitchFile struct {
	hosts []nssSource // nil: no usable hosts line
}

var nsswitchCache = fileCache[*nsswitchFile]{parse: parseNsswitch}

// parseNsswitch reads the last "hosts:" line of an nsswitch.conf(5) file.
// Text from '#' is a comment. Sources are separated by white space, each
// optionally followed by criteria in brackets: [STATUS=ACTION ...], with
// STATUS one of success, notfound, unavail and tryagain, possibly negated
// with '!' (meaning every other status), and ACTION return, continue or
// merge (which acts as continue for hosts, as in glibc's getaddrinfo);
// both are matched case-insensitively. Only the files and dns sources are
// kept; any other source (mdns4_minimal, myhostname, resolve, ...) is
// dropped together with its criteria, as if its module were not installed
// and never consulted. A hosts line left with no source counts as missing.
func parseNsswitch(data []byte) *nsswitchFile {
	nf := &nsswitchFile{}
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		db, rest, ok := bytes.Cut(line, []byte{':'})
		if !ok || string(bytes.TrimSpace(db)) != "hosts" {
			continue
		}
		if srcs := parseSources(string(rest)); len(srcs) > 0 {
			nf.hosts = srcs
		}
	}
	return nf
}

// parseSources parses the sources of one line. A malformed criteria list
// is ignored, up to its closing bracket.
func parseSources(s string) []nssSource {
	var srcs []nssSource
	var cur *nssSource // the last source, nil if it was dropped
	for {
		s = strings.TrimLeft(s, " \t\r\v\f")
		if s == "" {
			return srcs
		}
		if s[0] == '[' {
			end := strings.IndexByte(s, ']')
			if end < 0 {
				end = len(s)
			}
			crit := s[1:end]
			s = s[min(end+1, len(s)):]
			if cur != nil {
				applyCriteria(cur, crit)
			}
			continue
		}
		end := strings.IndexAny(s, " \t\r\v\f[")
		if end < 0 {
			end = len(s)
		}
		name := s[:end]
		s = s[end:]
		cur = nil
		if name == "files" || name == "dns" {
			srcs = append(srcs, newNSSSource(name))
			cur = &srcs[len(srcs)-1]
		}
	}
}

// applyCriteria sets the actions given by "STATUS=ACTION ..." on src.
func applyCriteria(src *nssSource, crit string) {
	for _, c := range strings.Fields(crit) {
		st, act, ok := strings.Cut(c, "=")
		if !ok {
			continue
		}
		negate := strings.HasPrefix(st, "!")
		st = strings.TrimPrefix(st, "!")
		var status nssStatus
		switch strings.ToLower(st) {
		case "success":
			status = nssSuccess
		case "notfound":
			status = nssNotFound
		case "unavail":
			status = nssUnavail
		case "tryagain":
			status = nssTryAgain
		default:
			continue
		}
		var action nssAction
		switch strings.ToLower(act) {
		case "return":
			action = nssReturn
		case "continue", "merge":
			action = nssContinue
		default:
			continue
		}
		for s := nssStatus(0); s < nssStatusCount; s++ {
			if (s == status) != negate {
				src.actions[s] = action
			}
		}
	}
}

// hostsSources returns the hosts sources configured in path, or the
// default when the file is missing, unreadable or has no hosts line.
func hostsSources(path string) []nssSource {
	if path == "" {
		return defaultHostsSources
	}
	nf, err := nsswitchCache.get(path)
	if err != nil || nf.hosts == nil {
		return defaultHostsSources
	}
	return nf.hosts
}

// currentNsswitchPath is nsswitchPath, or KSOCKET_NSSWITCH_CONF.
func currentNsswitchPath() string {
	if p := os.Getenv("KSOCKET_NSSWITCH_CONF"); p != "" {
		return p
	}
	return nsswitchPath
}
