//go:build !linux

package main

import (
	"bytes"
	"strings"
	"testing"
)

// Outside Linux every command but version must say, in one line, that it
// needs Linux, and exit 1; --help still works. (This file is compiled by
// the cross-platform vet of the test script; it runs on such a system.)

var otherCommandLines = [][]string{
	{"demo"},
	{"get", "http://127.0.0.1/"},
	{"listen", "9000"},
	{"send", "127.0.0.1:9000", "x"},
	{"echo"},
	{"probe"},
	{"bench"},
}

// otherFlagLines give the commands their Linux flags, which the stand-ins
// of os_other.go do not declare: run says it needs Linux before it parses.
var otherFlagLines = [][]string{
	{"demo", "--offline", "--port", "0"},
	{"get", "-i", "http://127.0.0.1/"},
	{"send", "-u", "127.0.0.1:9000", "x"},
	{"echo", "--addr", "127.0.0.1:0"},
	{"probe", "--json"},
}

func TestOtherSystemsNeedLinux(t *testing.T) {
	for _, args := range append(otherCommandLines, otherFlagLines...) {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(args, &stdout, &stderr)
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if code != 1 || stdout.Len() != 0 || len(lines) != 1 || !strings.Contains(lines[0], "needs Linux") {
				t.Errorf("run(%q) = %d, stdout %q, stderr %q; want 1 and one line saying it needs Linux", args, code, stdout.String(), stderr.String())
			}
		})
	}
	for _, name := range []string{"demo", "get", "probe"} {
		var stdout, stderr bytes.Buffer
		if code := run([]string{name, "--help"}, &stdout, &stderr); code != 0 {
			t.Errorf("%s --help = %d, want 0", name, code)
		}
	}
}
