//go:build linux

package resolv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// The DNS differential tests run the same getaddrinfo calls through glibc
// (python3's socket.getaddrinfo) and through Lookup, both asking the tests'
// own dnsmasq. glibc is run under unshare --mount with the test's
// resolv.conf, hosts file and nsswitch.conf bind-mounted over the real
// ones, so that it never queries the machine's own nameserver.

// requireGlibcMounts skips unless glibc can be run with files mounted over
// /etc (root, unshare, python3 on glibc, no nscd to answer for it).
func requireGlibcMounts(t *testing.T) {
	t.Helper()
	requirePython(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("skipping: unshare is not installed")
	}
	for _, f := range []string{"/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf"} {
		if fi, err := os.Stat(f); err != nil || !fi.Mode().IsRegular() {
			t.Skipf("skipping: %s must be a regular file to be mounted over", f)
		}
	}
	for _, s := range []string{"/run/nscd/socket", "/var/run/nscd/socket"} {
		if _, err := os.Stat(s); err == nil {
			t.Skipf("skipping: nscd is running (%s) and would answer for glibc", s)
		}
	}
	if out, err := exec.Command("unshare", "--mount", "sh", "-c", "mount --bind /etc/hosts /etc/hosts").CombinedOutput(); err != nil {
		t.Skipf("skipping: cannot mount over /etc in a mount namespace (needs root): %v: %s", err, bytes.TrimSpace(out))
	}
}

// runGlibcWith runs cases through glibc with resolvConf, hosts and nsswitch
// mounted over the files in /etc.
func runGlibcWith(t *testing.T, resolvConf, hosts, nsswitch string, cases []gaiCase) []gaiResult {
	t.Helper()
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	script := `set -e
mount --bind "$R_RESOLV" /etc/resolv.conf
mount --bind "$R_HOSTS" /etc/hosts
mount --bind "$R_NSS" /etc/nsswitch.conf
exec python3 -c "$R_SCRIPT"`
	cmd := exec.Command("unshare", "--mount", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "R_RESOLV="+resolvConf, "R_HOSTS="+hosts, "R_NSS="+nsswitch, "R_SCRIPT="+gaiScript)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("glibc: %v\n%s", err, stderr.Bytes())
	}
	var res []gaiResult
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(cases) {
		t.Fatalf("glibc: %d results for %d cases: %v", len(res), len(cases), err)
	}
	return res
}

// compareGlibc compares one case's results: error codes (glibc's EAI_NODATA
// is EAI_NONAME for Lookup, as documented), canonical names, and results as
// multisets (the sorts differ: see the package documentation).
func compareGlibc(t *testing.T, g gaiResult, res []Addrinfo, err *AddrinfoError) string {
	switch {
	case g.Exc != "":
		return fmt.Sprintf("python3 raised %s", g.Exc)
	case g.Err != nil && err != nil:
		want := *g.Err
		if want == EAI_NODATA {
			want = EAI_NONAME
		}
		if want != err.Code {
			return fmt.Sprintf("glibc error %d (%s), Lookup %d (%v)", *g.Err, gaiStrerror(*g.Err), err.Code, err)
		}
	case g.Err != nil:
		return fmt.Sprintf("glibc error %d (%s), Lookup gave %q", *g.Err, gaiStrerror(*g.Err), fmtResults(res))
	case err != nil:
		return fmt.Sprintf("glibc gave %v, Lookup error %d (%v)", g.Res, err.Code, err)
	default:
		got, gotCanon := entriesFromLookup(res)
		want, wantCanon := entriesFromGlibc(t, g.Res)
		if gotCanon != wantCanon {
			return fmt.Sprintf("glibc canonname %q, Lookup %q", wantCanon, gotCanon)
		}
		if !slices.Equal(sortedEntries(got), sortedEntries(want)) {
			return fmt.Sprintf("glibc %v, Lookup %v", want, got)
		}
	}
	return ""
}

// searchConfs are the resolv.conf variants of TestGlibcDNSSearch, after the
// nameserver line. fail.test answers SERVFAIL and example REFUSED.
var searchConfs = []string{
	"search s1.test s2.test\n",
	"search s1.test s2.test\noptions ndots:2\n",
	"search s1.test s2.test\noptions ndots:0\n",
	"search s1.test .\n",
	"search .s1.test s2.test.\n",
	"search s1.test s2.test\noptions no-tld-query\n",
	"domain s2.test\n",
	"search s1.test fail.test s2.test\n",
	"search s1.test example s2.test\n",
	"search s1.test s2.test\noptions single-request\n",
	"",
}

// searchNames are looked up with each configuration, with AF_UNSPEC, and
// those marked with "/4" with AF_INET too.
var searchNames = []string{
	"host/4", "only2", "nodata/4", "x", "x.y", "a.b.y", "s1.test", "host.", "nosuch",
	"test/4", "alias1.test", "DUAL.TEST", "www.fail.test", "www.example",
}

// TestGlibcDNSSearch compares the search list and ndots handling with
// glibc's: for every configuration and name, the results, and the names
// queried in order, from dnsmasq's query log. A marker lookup ("mark-N.test.",
// which is only ever queried as it is) separates the cases in the log.
func TestGlibcDNSSearch(t *testing.T) {
	requireGlibcMounts(t)
	t.Parallel()
	srv := ownDNS(t, dnsmasqOptions{logQueries: true})
	hosts := writeConf(t, "hosts", "127.0.0.1 localhost\n")
	nss := writeConf(t, "nsswitch.conf", "hosts: files dns\n")

	var cases []gaiCase
	for i, name := range searchNames {
		fams := []int{unspec}
		if n, ok := strings.CutSuffix(name, "/4"); ok {
			name, fams = n, []int{unspec, inet}
		}
		for _, fam := range fams {
			cases = append(cases, gaiCase{strp(name), strp("80"), fam, stream, 0, AI_CANONNAME})
			cases = append(cases, gaiCase{strp(fmt.Sprintf("mark-%d-%d.test.", i, fam)), strp("80"), inet, stream, 0, 0})
		}
	}
	compared := 0
	for _, extra := range searchConfs {
		conf := writeConf(t, "resolv.conf", fmt.Sprintf("nameserver %v\noptions timeout:1 attempts:1\n%s", srv.addr.Addr(), extra))
		logStart := len(srv.queryLog(t))
		glibc := runGlibcWith(t, conf, hosts, nss, cases)
		glibcLog := srv.queryLog(t)[logStart:]

		cfg := dnsConfig(t, conf)
		cfg.hostsPath = hosts
		logStart = len(srv.queryLog(t))
		var failures []string
		for i, c := range cases {
			res, err := cfg.lookup(context.Background(), *c.Node, *c.Service,
				&Addrinfo{Flags: c.Flags, Family: c.Family, Socktype: c.Socktype, Protocol: c.Protocol})
			if strings.HasPrefix(*c.Node, "mark-") {
				continue
			}
			compared++
			if d := compareGlibc(t, glibc[i], res, err); d != "" {
				failures = append(failures, fmt.Sprintf("%v: %s", c, d))
			}
		}
		ourLog := srv.queryLog(t)[logStart:]

		gq, oq := splitQueryLog(glibcLog), splitQueryLog(ourLog)
		for i, c := range slices.DeleteFunc(slices.Clone(cases), func(c gaiCase) bool { return strings.HasPrefix(*c.Node, "mark-") }) {
			if i >= len(gq) || i >= len(oq) {
				failures = append(failures, fmt.Sprintf("query log: %d cases for glibc, %d for Lookup", len(gq), len(oq)))
				break
			}
			if !slices.Equal(gq[i], oq[i]) {
				failures = append(failures, fmt.Sprintf("%v: glibc asked %q, Lookup %q", c, gq[i], oq[i]))
			}
		}
		if len(failures) > 0 {
			t.Errorf("with resolv.conf %q:\n%s", extra, strings.Join(failures, "\n"))
		}
	}
	t.Logf("%d lookups compared with glibc, results and queries", compared)
}

// splitQueryLog splits a query log at the marker queries and returns, per
// case, the queried names in order of first appearance, each with the
// types asked for it ("host.s1.test A,AAAA"). The order of A and AAAA for
// one name is not compared: both go out at once.
func splitQueryLog(log []string) [][]string {
	var out [][]string
	var cur []string
	types := make(map[string][]string)
	flush := func() {
		var seg []string
		for _, n := range cur {
			ts := slices.Clone(types[n])
			slices.Sort(ts)
			seg = append(seg, n+" "+strings.Join(slices.Compact(ts), ","))
		}
		out = append(out, seg)
		cur, types = nil, make(map[string][]string)
	}
	for _, l := range log {
		typ, name, _ := strings.Cut(l, " ")
		if strings.HasPrefix(name, "mark-") {
			if typ == "A" {
				flush()
			}
			continue
		}
		name = strings.ToLower(name)
		if _, seen := types[name]; !seen {
			cur = append(cur, name)
		}
		types[name] = append(types[name], typ)
	}
	return out
}

// nsswitchLines are the hosts lines of TestGlibcDNSNsswitch.
var nsswitchLines = []string{
	"hosts: files dns\n",
	"hosts: dns files\n",
	"hosts: dns\n",
	"hosts: dns [!UNAVAIL=return] files\n",
	"hosts: dns [NOTFOUND=return] files\n",
	"hosts: dns [UNAVAIL=return] files\n",
	"hosts: dns [SUCCESS=continue] files\n",
	"hosts: mdns4_minimal [NOTFOUND=return] dns files\n",
	"hosts:\tfiles   [!success=RETURN]   dns # comment\n",
	"passwd: files\n",
}

// TestGlibcDNSNsswitch compares the order of the hosts file and DNS, and
// the actions of nsswitch.conf's criteria, with glibc's, with a working
// and an unreachable nameserver.
func TestGlibcDNSNsswitch(t *testing.T) {
	requireGlibcMounts(t)
	t.Parallel()
	srv := sharedDNS(t)
	hosts := writeConf(t, "hosts", "127.0.0.1 localhost\n127.9.9.9 hostsonly.test www.fail.test nosuch.test v4.test\n127.9.9.8 dual.test\n")
	confs := map[string]string{
		"working":     srv.resolvConf,
		"unreachable": writeConf(t, "resolv.conf", fmt.Sprintf("nameserver %v\noptions timeout:1 attempts:1\n", deadNameserver())),
	}
	var cases []gaiCase
	for _, name := range []string{"hostsonly.test", "dual.test", "nosuch.test", "www.fail.test", "www.example", "v4.test/6", "v6.test"} {
		fam := unspec
		if n, ok := strings.CutSuffix(name, "/6"); ok {
			name, fam = n, inet6
		}
		cases = append(cases, gaiCase{strp(name), strp("80"), fam, stream, 0, AI_CANONNAME})
	}
	compared := 0
	for _, line := range nsswitchLines {
		nss := writeConf(t, "nsswitch.conf", line)
		for _, confName := range []string{"working", "unreachable"} {
			conf := confs[confName]
			glibc := runGlibcWith(t, conf, hosts, nss, cases)
			cfg := dnsConfig(t, conf)
			cfg.hostsPath, cfg.nsswitchPath = hosts, nss
			var failures []string
			for i, c := range cases {
				res, err := cfg.lookup(context.Background(), *c.Node, *c.Service,
					&Addrinfo{Flags: c.Flags, Family: c.Family, Socktype: c.Socktype, Protocol: c.Protocol})
				compared++
				if d := compareGlibc(t, glibc[i], res, err); d != "" {
					failures = append(failures, fmt.Sprintf("%v: %s", c, d))
				}
			}
			if len(failures) > 0 {
				t.Errorf("%q, %s nameserver:\n%s", line, confName, strings.Join(failures, "\n"))
			}
		}
	}
	t.Logf("%d lookups compared with glibc", compared)
}

// TestGlibcDNSGetent is the check the issue names: getent ahosts, inside
// the mount namespace, against Lookup with the same hints (AF_UNSPEC,
// AI_ADDRCONFIG|AI_CANONNAME... getent ahosts passes AI_ADDRCONFIG and
// AI_CANONNAME), for names that go through the search list.
func TestGlibcDNSGetent(t *testing.T) {
	requireGlibcMounts(t)
	if _, err := exec.LookPath("getent"); err != nil {
		t.Skip("skipping: getent is not installed")
	}
	t.Parallel()
	srv := sharedDNS(t)
	hosts := writeConf(t, "hosts", "127.0.0.1 localhost\n")
	nss := writeConf(t, "nsswitch.conf", "hosts: files dns\n")
	conf := writeConf(t, "resolv.conf", fmt.Sprintf("nameserver %v\nsearch s1.test s2.test\noptions ndots:2 timeout:1 attempts:1\n", srv.addr.Addr()))
	names := []string{"host", "only2", "x.y", "a.b.y", "nosuch", "alias1.test", "s1.test"}
	script := `set -e
mount --bind "$R_RESOLV" /etc/resolv.conf
mount --bind "$R_HOSTS" /etc/hosts
mount --bind "$R_NSS" /etc/nsswitch.conf
for n in "$@"; do echo "== $n"; getent ahosts "$n" || echo "exit $?"; done`
	cmd := exec.Command("unshare", append([]string{"--mount", "sh", "-c", script, "sh"}, names...)...)
	cmd.Env = append(os.Environ(), "R_RESOLV="+conf, "R_HOSTS="+hosts, "R_NSS="+nss)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("getent: %v\n%s", err, out)
	}
	// getent ahosts prints "ADDR STREAM canonical" first, then "ADDR DGRAM"
	// and "ADDR RAW" lines; keep the addresses and the canonical name.
	getent := make(map[string][]string)
	var cur string
	for _, line := range strings.Split(string(out), "\n") {
		if n, ok := strings.CutPrefix(line, "== "); ok {
			cur = n
			continue
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "exit":
			getent[cur] = append(getent[cur], "not found")
		case len(f) >= 2 && f[1] == "STREAM":
			getent[cur] = append(getent[cur], f[0])
			if len(f) == 3 {
				getent[cur] = append(getent[cur], "canon="+f[2])
			}
		}
	}
	cfg := currentConfig()
	cfg.hostsPath, cfg.nsswitchPath, cfg.dns = hosts, nss, hookFor(conf, time.Second)
	for _, n := range names {
		res, err := cfg.lookup(context.Background(), n, "", &Addrinfo{Flags: AI_ADDRCONFIG | AI_CANONNAME})
		var ours []string
		if err != nil {
			ours = []string{"not found"}
		}
		for _, ai := range res {
			if ai.Socktype != stream {
				continue
			}
			e, _ := entriesFromLookup([]Addrinfo{ai})
			ours = append(ours, e[0].addr.String())
			if ai.Canonname != "" {
				ours = append(ours, "canon="+ai.Canonname)
			}
		}
		want := getent[n]
		slices.Sort(want)
		slices.Sort(ours)
		if !slices.Equal(ours, want) {
			t.Errorf("%s: getent ahosts %q, Lookup %q", n, want, ours)
		}
	}
}
