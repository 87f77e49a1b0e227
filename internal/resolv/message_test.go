//go:build linux

package resolv

import "testing"

// parseHostnameTests were checked against glibc 2.36's getaddrinfo: names
// it rejects are never queried and fail with EAI_NONAME.
var parseHostnameTests = []struct {
	in, want string // want "" means rejected
}{
	{"host", "host"},
	{"a.test", "a.test"},
	{"a.test.", "a.test."},
	{".", "."},
	{"_x.test", "_x.test"},
	{"x-.test", "x-.test"},
	{"x_y", "x_y"},
	{"A.TEST", "A.TEST"},
	{`\097.test`, "a.test"},
	{`\a.test`, "a.test"},
	{"-x.test", ""},
	{"x.-y", "x.-y"},
	{`a\.test`, ""},
	{`\046test`, ""},
	{`a\1.test`, ""},
	{`\256.test`, ""},
	{`a\`, ""},
	{"a b.test", ""},
	{"a\tb", ""},
	{"caf\xc3\xa9.test", ""},
	{"a..b", ""},
	{"..test", ""},
	{".a", ""},
	{"a.test..", ""},
	{"", ""},
	{"a:b", ""},
	{"a/b", ""},
	{"x*.test", ""},
}

func TestParseHostname(t *testing.T) {
	t.Parallel()
	for _, tc := range parseHostnameTests {
		got, ok := parseHostname(tc.in)
		if ok != (tc.want != "") || got != tc.want {
			t.Errorf("parseHostname(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
	label := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = 'a'
		}
		return string(b)
	}
	long := label(60) + "." + label(60) + "." + label(60) + "." + label(60) // 245 bytes on the wire
	tooLong := label(63) + "." + label(63) + "." + label(63) + "." + label(63)
	if _, ok := parseHostname(long); !ok {
		t.Error("a 243-character name was rejected")
	}
	if _, ok := parseHostname(tooLong); ok {
		t.Error("a name of 257 bytes on the wire was accepted")
	}
	if _, ok := parseHostname(label(64) + ".test"); ok {
		t.Error("a 64-byte label was accepted")
	}
}
