//go:build linux

package resolv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The differential tests run the same getaddrinfo calls through glibc (via
// python3's socket.getaddrinfo, which calls it directly) and through Lookup,
// and compare results and error codes.
//
// glibc reads the real /etc/hosts and asks the real nameserver for names it
// does not find there, and tests must not touch the network. So every case is
// first run through Lookup with a DNS hook that only records that it was
// called; cases that reach it are dropped, since glibc would query DNS for
// them too. TestGlibcDifferentialNetns goes further: it runs glibc in new
// network and mount namespaces, with fixture hosts and services files
// bind-mounted over the real ones, so that nothing can leave the machine.

// gaiScript runs the calls read as JSON from stdin and writes their results.
// Nodes and services are passed as bytes so that Python does not apply IDNA.
const gaiScript = `
import json, socket, sys
out = []
for c in json.load(sys.stdin):
    node = None if c["node"] is None else c["node"].encode("latin-1")
    svc = None if c["service"] is None else c["service"].encode("latin-1")
    try:
        res = socket.getaddrinfo(node, svc, c["family"], c["socktype"], c["protocol"], c["flags"])
    except socket.gaierror as e:
        out.append({"err": e.errno})
        continue
    except Exception as e:
        out.append({"exc": repr(e)})
        continue
    rs = []
    for fam, st, proto, canon, sa in res:
        rs.append([int(fam), int(st), proto, canon, sa[0].split("%")[0], sa[1], sa[3] if len(sa) > 3 else 0])
    out.append({"res": rs})
json.dump(out, sys.stdout)
`

// gaiCase is one call. nil Node or Service is C's NULL.
type gaiCase struct {
	Node     *string `json:"node"`
	Service  *string `json:"service"`
	Family   int     `json:"family"`
	Socktype int     `json:"socktype"`
	Protocol int     `json:"protocol"`
	Flags    int     `json:"flags"`
}

func (c gaiCase) String() string {
	q := func(s *string) string {
		if s == nil {
			return "NULL"
		}
		return fmt.Sprintf("%q", *s)
	}
	return fmt.Sprintf("getaddrinfo(%s, %s, {family %d, socktype %d, protocol %d, flags %#x})",
		q(c.Node), q(c.Service), c.Family, c.Socktype, c.Protocol, c.Flags)
}

type gaiResult struct {
	Err *int            `json:"err"`
	Exc string          `json:"exc"`
	Res [][]interface{} `json:"res"`
}

// gaiEntry is one result in a form both sides can produce.
type gaiEntry struct {
	family, socktype, protocol int
	addr                       netip.Addr
	port                       int
	scope                      uint32
}

func (e gaiEntry) String() string {
	return fmt.Sprintf("{%d %d %d %v %d %%%d}", e.family, e.socktype, e.protocol, e.addr, e.port, e.scope)
}

func strp(s string) *string { return &s }

// runGlibc runs cases through glibc. With env.netns set, it runs them in new
// network and mount namespaces: env.hosts and env.services (if set) are
// bind-mounted over /etc/hosts and /etc/services, env.setup configures the
// network namespace, and the namespace's /proc/net/if_inet6 and fib_trie are
// copied into the returned directory for Lookup to read.
func runGlibc(t *testing.T, env glibcEnv, cases []gaiCase) ([]gaiResult, string) {
	t.Helper()
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	var cmd *exec.Cmd
	procDir := t.TempDir()
	if env.netns {
		script := `set -e
[ -z "$RESOLV_HOSTS" ] || mount --bind "$RESOLV_HOSTS" /etc/hosts
[ -z "$RESOLV_SERVICES" ] || mount --bind "$RESOLV_SERVICES" /etc/services
` + env.setup + `
[ ! -e /proc/net/if_inet6 ] || cat /proc/net/if_inet6 > "$RESOLV_PROC/if_inet6"
cat /proc/net/fib_trie > "$RESOLV_PROC/fib_trie"
exec python3 -c "$RESOLV_SCRIPT"`
		cmd = exec.Command("unshare", "--mount", "--net", "sh", "-c", script)
		abs := func(p string) string {
			if p == "" {
				return ""
			}
			a, err := filepath.Abs(p)
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		cmd.Env = append(os.Environ(), "RESOLV_HOSTS="+abs(env.hosts), "RESOLV_SERVICES="+abs(env.services),
			"RESOLV_PROC="+procDir, "RESOLV_SCRIPT="+gaiScript)
	} else {
		cmd = exec.Command("python3", "-c", gaiScript)
	}
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, stderr.Bytes())
	}
	var res []gaiResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("decoding python3 output: %v", err)
	}
	if len(res) != len(cases) {
		t.Fatalf("python3 returned %d results for %d cases", len(res), len(cases))
	}
	return res, procDir
}

type glibcEnv struct {
	netns           bool
	hosts, services string // fixtures to bind-mount; "" keeps the real file
	setup           string // shell commands run in the new network namespace
}

// entriesFromGlibc converts glibc's results, dropping the SOCK_RAW entries
// that Lookup does not produce. canon is the one Canonname in the list.
func entriesFromGlibc(t *testing.T, rs [][]interface{}) (entries []gaiEntry, canon string) {
	for _, r := range rs {
		if len(r) != 7 {
			t.Fatalf("bad python3 result %v", r)
		}
		num := func(v interface{}) int { return int(v.(float64)) }
		if num(r[1]) == unix.SOCK_RAW {
			continue
		}
		if c := r[3].(string); c != "" {
			canon = c
		}
		addr, err := netip.ParseAddr(r[4].(string))
		if err != nil {
			t.Fatalf("python3 address %v: %v", r[4], err)
		}
		entries = append(entries, gaiEntry{num(r[0]), num(r[1]), num(r[2]), addr, num(r[5]), uint32(num(r[6]))})
	}
	return entries, canon
}

func entriesFromLookup(res []Addrinfo) (entries []gaiEntry, canon string) {
	for _, ai := range res {
		e := gaiEntry{family: ai.Family, socktype: ai.Socktype, protocol: ai.Protocol}
		switch sa := ai.Addr.(type) {
		case *unix.SockaddrInet4:
			e.addr, e.port = netip.AddrFrom4(sa.Addr), sa.Port
		case *unix.SockaddrInet6:
			e.addr, e.port, e.scope = netip.AddrFrom16(sa.Addr), sa.Port, sa.ZoneId
		}
		if ai.Canonname != "" {
			canon = ai.Canonname
		}
		entries = append(entries, e)
	}
	return entries, canon
}

// orderComparable reports whether Lookup's cheap RFC 6724 sort must give
// glibc's order for these entries: when there is one address, or every
// address is loopback or the wildcard (those have routes whenever they have
// a source, so rule 1 agrees, and the rules after it agree on them). The
// exception is a host with no address at all: glibc then orders :: before
// 0.0.0.0 by RFC 3484's precedence table (see the package documentation).
// Other lists are compared as multisets.
func orderComparable(entries []gaiEntry, ifs *ifaddrs) bool {
	addrs := make(map[netip.Addr]bool)
	special, wildcard := true, false
	for _, e := range entries {
		addrs[e.addr] = true
		a := e.addr.Unmap()
		special = special && (a.IsLoopback() || a.IsUnspecified())
		wildcard = wildcard || a.IsUnspecified()
	}
	if wildcard && !ifs.any4 && !ifs.any6 {
		return false
	}
	return len(addrs) <= 1 || special
}

func sortedEntries(es []gaiEntry) []string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.String()
	}
	slices.Sort(s)
	return s
}

// diffGlibc runs cases through cfg (dropping those that would use DNS), then
// through glibc, and reports differences.
func diffGlibc(t *testing.T, cfg *config, env glibcEnv, cases []gaiCase, cfgForProc func(procDir string) *config) {
	t.Helper()
	dnsCalled := false
	guard := func(context.Context, string, int) ([]netip.Addr, string, error) {
		dnsCalled = true
		return nil, "", &AddrinfoError{Code: EAI_NONAME}
	}
	run := func(cfg *config, c gaiCase) ([]Addrinfo, *AddrinfoError) {
		cfg.dns = guard
		node, service := "", ""
		if c.Node != nil {
			node = *c.Node
		}
		if c.Service != nil {
			service = *c.Service
		}
		return cfg.lookup(context.Background(), node, service,
			&Addrinfo{Flags: c.Flags, Family: c.Family, Socktype: c.Socktype, Protocol: c.Protocol})
	}

	// Without a network namespace, the procfs files are the real ones, so the
	// cases can be filtered before glibc runs. With one, they are only known
	// afterwards: filter with the fixture-free guess first, then again.
	var kept []gaiCase
	for _, c := range cases {
		dnsCalled = false
		run(cfg, c)
		if !dnsCalled {
			kept = append(kept, c)
		}
	}
	if len(kept) == 0 {
		t.Fatal("every case would query DNS")
	}
	glibc, procDir := runGlibc(t, env, kept)
	if cfgForProc != nil {
		cfg = cfgForProc(procDir)
	}

	ifs := readIfaddrs(cfg.fibTriePath, cfg.ifInet6Path)
	failures, compared := 0, 0
	fail := func(format string, args ...interface{}) {
		failures++
		if failures <= 40 {
			t.Errorf(format, args...)
		}
	}
	for i, c := range kept {
		dnsCalled = false
		res, err := run(cfg, c)
		if dnsCalled {
			continue
		}
		compared++
		g := glibc[i]
		switch {
		case g.Exc != "":
			fail("%v: python3 raised %s", c, g.Exc)
		case g.Err != nil && err != nil:
			if *g.Err != err.Code {
				fail("%v: glibc error %d (%s), Lookup error %d (%v)", c, *g.Err, gaiStrerror(*g.Err), err.Code, err)
			}
		case g.Err != nil:
			fail("%v: glibc error %d (%s), Lookup gave %q", c, *g.Err, gaiStrerror(*g.Err), fmtResults(res))
		case err != nil:
			fail("%v: glibc gave %v, Lookup error %d (%v)", c, g.Res, err.Code, err)
		default:
			want, wantCanon := entriesFromGlibc(t, g.Res)
			got, gotCanon := entriesFromLookup(res)
			if wantCanon != gotCanon {
				fail("%v: glibc canonname %q, Lookup %q", c, wantCanon, gotCanon)
			}
			if orderComparable(want, ifs) {
				if !slices.Equal(got, want) {
					fail("%v:\nglibc  %v\nLookup %v", c, want, got)
				}
			} else if !slices.Equal(sortedEntries(got), sortedEntries(want)) {
				fail("%v (any order):\nglibc  %v\nLookup %v", c, want, got)
			}
		}
	}
	if failures > 0 {
		t.Errorf("%d of %d cases differ from glibc", failures, compared)
	}
	t.Logf("%d cases compared with glibc, %d left out because they would query DNS", compared, len(cases)-compared)
}

func requirePython(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("skipping the glibc differential test: python3 (whose socket.getaddrinfo calls glibc) is not installed")
	}
	if out, err := exec.Command("python3", "-c", "import platform; print(platform.libc_ver()[0])").Output(); err != nil ||
		strings.TrimSpace(string(out)) != "glibc" {
		t.Skipf("skipping the glibc differential test: python3 does not run on glibc (%q, %v)", out, err)
	}
}

// allFlagSets returns every combination of the given flags.
func allFlagSets(flags ...int) []int {
	sets := []int{0}
	for _, f := range flags {
		for _, s := range sets {
			sets = append(sets, s|f)
		}
	}
	return sets
}

var everyFlag = []int{AI_PASSIVE, AI_CANONNAME, AI_NUMERICHOST, AI_V4MAPPED, AI_ALL, AI_ADDRCONFIG, AI_NUMERICSERV}

// trickyNumeric are numeric-looking nodes, always sent with AI_NUMERICHOST
// so that glibc never consults the hosts file or DNS for them.
var trickyNumeric = []string{
	"1.2.3.4", "1.2.3", "1.2", "1", "0", "127.1", "0x7f.1", "0X7F.0X1", "0x7f.0x0.0x0.0x1", "017700000001",
	"010.0.0.1", "08.0.0.1", "0x", "0x.1", "1.0x", "4294967295", "4294967296", "1.16777215", "1.16777216",
	"1.2.65535", "1.2.65536", "256.1.1.1", "1.2.3.256", "1.2.3.4.5", "1.2.3.", ".1.2.3", "1..2", "+1.2.3.4",
	"-1", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4\t", "1.2.3.4x", "0xffffffff", "0x100000000", "99999999999999999999",
	"::", "::1", "::1:2", "1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9",
	"1::2::3", ":::", "1:2:3:4:5:6:1.2.3.4", "::1.2.3.4", "::ffff:1.2.3.4", "::FFFF:1.2.3.4", "::ffff:1.2.3",
	"::ffff:01.2.3.4", "::ffff:1.2.3.04", "::ffff:256.1.1.1", "1.2.3.4::", "00000::1", "0000::1", "fe80::1%",
	"fe80::1%1", "fe80::1%lo", "fe80::1%01", "fe80::1%+1", "fe80::1%-1", "fe80::1%1x", "fe80::1% 1",
	"fe80::1%4294967295", "fe80::1%4294967296", "fe80::1%99999999999999999999", "fe80::1%lo%1",
	"ff02::1%lo", "ff01::1%lo", "ff05::1%lo", "ff05::1%5", "2001:db8::1%lo", "2001:db8::1%3", "::ffff:1.2.3.4%1",
	"::ffff:1.2.3.4%lo", "::ffff:254.128.0.1%lo", "1.2.3.4%1", "[::1]", "::1/128", "g::1", "FE80::1%1",
}

// TestGlibcDifferential compares Lookup with glibc on this machine's real
// /etc/hosts, /etc/services and addresses, for numeric nodes, the NULL node
// and names the hosts file knows (such as "localhost").
func TestGlibcDifferential(t *testing.T) {
	requirePython(t)
	if _, err := os.Stat("/etc/gai.conf"); err == nil {
		b, _ := os.ReadFile("/etc/gai.conf")
		for _, line := range strings.Split(string(b), "\n") {
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
				t.Skip("skipping the glibc differential test: /etc/gai.conf changes glibc's sort order")
			}
		}
	}
	if src := foreignHostsSource("/etc/nsswitch.conf"); src != "" {
		t.Skipf("skipping the glibc differential test: /etc/nsswitch.conf gives glibc the hosts source %s, which Lookup does not have", src)
	}
	t.Parallel()

	var cases []gaiCase
	add := func(node, service *string, family, socktype, protocol, flags int) {
		cases = append(cases, gaiCase{node, service, family, socktype, protocol, flags})
	}
	// Every hint combination on a few calls.
	for _, ns := range [][2]*string{{nil, strp("80")}, {strp("127.0.0.1"), strp("http")}, {strp("localhost"), strp("domain")}} {
		for _, flags := range allFlagSets(everyFlag...) {
			for _, fam := range []int{unspec, inet, inet6, 99} {
				for _, st := range []int{0, stream, dgram, 7} {
					for _, proto := range []int{0, tcp, udp, 99} {
						add(ns[0], ns[1], fam, st, proto, flags)
					}
				}
			}
		}
	}
	// Many nodes and services with fewer hints.
	nodes := []*string{nil, strp("127.0.0.1"), strp("::1"), strp("127.1"), strp("0x7f.0.0.1"),
		strp("::ffff:127.0.0.1"), strp("fe80::1%1"), strp("fe80::1%lo"), strp("2001:db8::1%5"),
		strp("localhost"), strp("LocalHost"), strp("*")}
	services := []*string{nil, strp("80"), strp("http"), strp("ssh"), strp("domain"), strp("nosuchservice"),
		strp("-1"), strp("99999999999"), strp("-4294967295"), strp(" 80"), strp("+80"), strp("80x"), strp("0"),
		strp("65536"), strp("*"), strp("HTTP")}
	for _, node := range nodes {
		for _, service := range services {
			for _, fam := range []int{unspec, inet, inet6} {
				for _, flags := range []int{0, AI_PASSIVE, AI_CANONNAME, AI_NUMERICHOST, AI_V4MAPPED,
					AI_V4MAPPED | AI_ALL, AI_ADDRCONFIG, AI_NUMERICSERV, AI_CANONNAME | AI_V4MAPPED | AI_ADDRCONFIG} {
					for _, st := range []int{0, stream} {
						add(node, service, fam, st, 0, flags)
					}
				}
			}
		}
	}
	// Numeric parsing corner cases.
	for _, node := range trickyNumeric {
		for _, fam := range []int{unspec, inet, inet6} {
			for _, flags := range []int{AI_NUMERICHOST, AI_NUMERICHOST | AI_V4MAPPED, AI_NUMERICHOST | AI_CANONNAME} {
				add(strp(node), strp("7"), fam, stream, 0, flags)
			}
		}
	}

	// Random numeric-looking nodes, seeded so that failures reproduce.
	rng := rand.New(rand.NewPCG(6724, 3484))
	for range 6000 {
		node := randomNumericish(rng)
		if node == "" {
			continue // "" is NULL for Lookup, a name for glibc
		}
		add(strp(node), strp("7"), []int{unspec, inet, inet6}[rng.IntN(3)], stream, 0,
			AI_NUMERICHOST|AI_CANONNAME|[]int{0, AI_V4MAPPED}[rng.IntN(2)])
	}

	cfg := currentConfig()
	// The machine's files, which glibc reads too: TestMain's nsswitch.conf
	// would differ from the machine's in order or criteria.
	cfg.hostsPath, cfg.servicesPath, cfg.nsswitchPath = "/etc/hosts", "/etc/services", "/etc/nsswitch.conf"
	diffGlibc(t, cfg, glibcEnv{}, cases, nil)
}

// foreignHostsSource returns the first source of the hosts line of the
// nsswitch.conf at path other than files and dns (myhostname, mdns4_minimal,
// resolve, ...), or "". glibc would ask it, and Lookup drops it.
func foreignHostsSource(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "" // glibc's default, files dns
	}
	var hosts string
	for _, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		if db, rest, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(db) == "hosts" {
			hosts = rest // the last one counts, as in parseNsswitch
		}
	}
	hosts = regexp.MustCompile(`\[[^\]]*\]`).ReplaceAllString(hosts, " ")
	for _, src := range strings.Fields(hosts) {
		if src != "files" && src != "dns" {
			return src
		}
	}
	return ""
}

// TestGlibcDifferentialNetns compares Lookup with glibc inside new network
// namespaces set up with different addresses (for AI_ADDRCONFIG and the
// sort), and with the fixture hosts and services files mounted over the real
// ones. It needs root (or CAP_SYS_ADMIN), unshare and ip.
func TestGlibcDifferentialNetns(t *testing.T) {
	requirePython(t)
	for _, tool := range []string{"unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: %s is not installed", tool)
		}
	}
	for _, f := range []string{"/etc/hosts", "/etc/services"} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("skipping: %s must exist to be mounted over: %v", f, err)
		}
	}
	if out, err := exec.Command("unshare", "--mount", "--net", "sh", "-c",
		"ip link set lo up && mount --bind /etc/hosts /etc/hosts").CombinedOutput(); err != nil {
		t.Skipf("skipping: cannot create network and mount namespaces (needs root): %v: %s", err, bytes.TrimSpace(out))
	}
	t.Parallel()

	var cases []gaiCase
	nodes := []*string{nil, strp("127.0.0.1"), strp("::1"), strp("fe80::1%1"), strp("localhost"),
		strp("ip6-localhost"), strp("LOCALHOST"), strp("dual"), strp("dual.example.test"),
		strp("v6only.example.test"), strp("mapped.example.test"), strp("mixed.example.test"),
		strp("order.example.test"), strp("linklocal.example.test"), strp("nosuch.example.test"),
		// Names from testdata/hosts.
		strp("web"), strp("www.example.test"), strp("WEB.Example.TEST"), strp("multi.example.test"),
		strp("multi-alias"), strp("hash"), strp("indented.example.test"), strp("dup.example.test"),
		strp("crlf.example.test"), strp("badaddr.example.test"), strp("leadingzero.example.test"),
		strp("zoned.example.test"), strp("comment"), strp("private.example.test"), strp("localhost.")}
	for _, node := range nodes {
		for _, flags := range allFlagSets(AI_PASSIVE, AI_CANONNAME, AI_V4MAPPED, AI_ALL, AI_ADDRCONFIG) {
			if node == nil && flags&AI_CANONNAME != 0 {
				continue
			}
			for _, fam := range []int{unspec, inet, inet6} {
				for _, st := range []int{0, dgram} {
					cases = append(cases, gaiCase{node, strp("80"), fam, st, 0, flags})
				}
			}
		}
	}
	for _, service := range []string{"http", "www", "split", "fspd", "big", "sign", "trunc", "ignored",
		"CaseAlias", "casealias", "dup", "domain", "noproto", "nosuch"} {
		for _, st := range []int{0, stream, dgram} {
			for _, flags := range []int{0, AI_NUMERICSERV} {
				cases = append(cases, gaiCase{strp("127.0.0.1"), strp(service), unspec, st, 0, flags})
			}
		}
	}

	scenarios := []struct{ name, hosts, setup string }{
		{"down", "testdata/hosts.v6", ""},
		{"loopback", "testdata/hosts.v6", "ip link set lo up"},
		{"loopback-ipv4-hosts", "testdata/hosts", "ip link set lo up"},
		{"ipv4-only", "testdata/hosts.v6", "ip link set lo up; ip addr add 10.9.9.9/32 dev lo; ip -6 addr del ::1/128 dev lo"},
		{"ipv6-only", "testdata/hosts.v6", "ip link set lo up; ip -6 addr add fd00:9::9/128 dev lo"},
		{"dual", "testdata/hosts.v6", "ip link set lo up; ip addr add 10.9.9.9/32 dev lo; ip -6 addr add 2001:db8:9::9/128 dev lo"},
		{"dual-ipv4-hosts", "testdata/hosts", "ip link set lo up; ip addr add 10.9.9.9/32 dev lo; ip -6 addr add 2001:db8:9::9/128 dev lo"},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			env := glibcEnv{netns: true, hosts: sc.hosts, services: "testdata/services", setup: sc.setup}
			guess := v6Config("both")
			guess.hostsPath = sc.hosts
			diffGlibc(t, guess, env, cases, func(procDir string) *config {
				c := v6Config("both")
				c.hostsPath = sc.hosts
				c.ifInet6Path = filepath.Join(procDir, "if_inet6")
				c.fibTriePath = filepath.Join(procDir, "fib_trie")
				return c
			})
		})
	}
}

// randomNumericish returns a string that is often, but not always, a numeric
// address in one of the forms glibc accepts.
func randomNumericish(rng *rand.Rand) string {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	v4part := func() string {
		switch rng.IntN(5) {
		case 0:
			return fmt.Sprint(rng.IntN(300))
		case 1:
			return pick("0x", "0X") + fmt.Sprintf("%x", rng.IntN(0x1ff))
		case 2:
			return "0" + fmt.Sprintf("%o", rng.IntN(0x1ff))
		case 3:
			return fmt.Sprint(rng.Uint64() >> uint(rng.IntN(64)))
		}
		return pick("", "08", "0x", "1a", "-1", "+1", " 1")
	}
	v4 := func() string {
		parts := make([]string, 1+rng.IntN(5))
		for i := range parts {
			parts[i] = v4part()
		}
		return strings.Join(parts, ".")
	}
	switch rng.IntN(4) {
	case 0:
		return v4()
	case 1, 2:
		groups := make([]string, 1+rng.IntN(9))
		for i := range groups {
			g := fmt.Sprintf("%05x", rng.IntN(0x100000))
			groups[i] = g[5-[]int{0, 1, 2, 3, 4, 4, 4, 5}[rng.IntN(8)]:]
		}
		if rng.IntN(2) == 0 {
			i := rng.IntN(len(groups))
			groups = slices.Insert(groups, i, "")
			if i == 0 || i == len(groups)-1 {
				groups = slices.Insert(groups, i, "")
			}
		}
		s := strings.Join(groups, ":")
		if rng.IntN(4) == 0 {
			s += ":" + v4()
		}
		if rng.IntN(3) == 0 {
			s += "%" + pick("1", "lo", "0", "4294967296", "", "x", "01", "lo0")
		}
		return s
	}
	const alphabet = "0123456789abcdefABCDEFxX:::...%% lo"
	b := make([]byte, 1+rng.IntN(24))
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}
