//go:build linux

package resolv

import (
	"fmt"
	"strings"
	"testing"
)

// fmtSources prints sources as "files dns[NOTFOUND=return]": the actions
// that differ from the default.
func fmtSources(srcs []nssSource) string {
	names := []string{"SUCCESS", "NOTFOUND", "UNAVAIL", "TRYAGAIN"}
	var out []string
	for _, s := range srcs {
		var crit []string
		def := newNSSSource(s.name)
		for st := nssStatus(0); st < nssStatusCount; st++ {
			if s.actions[st] != def.actions[st] {
				act := "continue"
				if s.actions[st] == nssReturn {
					act = "return"
				}
				crit = append(crit, names[st]+"="+act)
			}
		}
		if len(crit) > 0 {
			out = append(out, fmt.Sprintf("%s[%s]", s.name, strings.Join(crit, " ")))
		} else {
			out = append(out, s.name)
		}
	}
	return strings.Join(out, " ")
}

var nsswitchTests = []struct{ in, want string }{
	{"", "files dns"},
	{"passwd: files\n", "files dns"},
	{"hosts: dns files\n", "dns files"},
	{"hosts: files\n", "files"},
	{"hosts:\n", "files dns"},
	{"hosts: myhostname mdns4\n", "files dns"},
	{"hosts: files dns\nhosts: dns\n", "dns"},
	{"  hosts :dns#files\n", "dns"},
	{"#hosts: dns\n", "files dns"},
	{"hosts: dns [NOTFOUND=return] files\n", "dns[NOTFOUND=return] files"},
	{"hosts: dns [!UNAVAIL=return] files\n", "dns[NOTFOUND=return TRYAGAIN=return] files"},
	{"hosts: files [SUCCESS=continue notfound=RETURN] dns\n", "files[SUCCESS=continue NOTFOUND=return] dns"},
	{"hosts: files [SUCCESS=merge] dns\n", "files[SUCCESS=continue] dns"},
	{"hosts: mdns4_minimal [NOTFOUND=return] dns files\n", "dns files"},
	{"hosts: resolve [!UNAVAIL=return] files myhostname dns\n", "files dns"},
	{"hosts: files[NOTFOUND=return]dns\n", "files[NOTFOUND=return] dns"},
	{"hosts: files [bogus=return FOO NOTFOUND=maybe] dns\n", "files dns"},
	{"hosts: files [NOTFOUND=return dns\n", "files[NOTFOUND=return]"},
	{"hosts: Files DNS\n", "files dns"}, // unknown (case-sensitive) sources: none left, so the default
}

func TestParseNsswitch(t *testing.T) {
	t.Parallel()
	for _, tc := range nsswitchTests {
		nf := parseNsswitch([]byte(tc.in))
		srcs := nf.hosts
		if srcs == nil {
			srcs = defaultHostsSources
		}
		if got := fmtSources(srcs); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}
