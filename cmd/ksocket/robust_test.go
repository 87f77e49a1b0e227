//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// Hostile command lines, the masked probe view, and a fuzzer of argument
// parsing. The rows run the built command as a child, like the rest of the
// package's tests; FuzzCLIArgs drives run in-process.

var longLabel = strings.Repeat("a", 300)

// robustCLITests are command lines that must fail with exit status 1 and a
// one-line error (a usage error adds the "see --help" line), quickly, with
// no stack trace and nothing on stdout. want, if set, is in the error line.
var robustCLITests = []struct {
	name string
	args []string
	want string
}{
	{"get scheme garbage", []string{"get", "ht!tp://x/"}, ""},
	{"get unclosed bracket", []string{"get", "http://[::1/"}, ""},
	{"get port too big", []string{"get", "http://127.0.0.1:99999/"}, ""},
	{"get negative port", []string{"get", "http://127.0.0.1:-1/"}, ""},
	{"get no host", []string{"get", "http:///path"}, ""},
	{"get empty URL", []string{"get", ""}, ""},
	{"get host of 300 bytes", []string{"get", "http://" + longLabel + "/"}, ""},
	{"get empty label", []string{"get", "http://a..b/"}, ""},
	{"get escaped NUL in host", []string{"get", "http://x%00y/"}, ""},
	{"get port zero", []string{"get", "http://127.0.0.1:0/"}, ""},
	{"get negative timeout", []string{"get", "--timeout", "-1s", "http://127.0.0.1:9/"}, ""},
	{"get space in host", []string{"get", "http://a b/"}, ""},
	{"get userinfo only", []string{"get", "http://@/"}, ""},
	{"send no port", []string{"send", "127.0.0.1", "x"}, ""},
	{"send port too big", []string{"send", "127.0.0.1:65536", "x"}, "65536"},
	{"send port not a number", []string{"send", "[::1]:abc", "x"}, ""},
	{"send bare colons", []string{"send", ":::1", "x"}, ""},
	{"send empty address", []string{"send", "", "x"}, ""},
	{"send udp port too big", []string{"send", "-u", "127.0.0.1:70000", "x"}, ""},
	{"send host of 300 bytes", []string{"send", longLabel + ":80", "x"}, ""},
	{"send port zero", []string{"send", "127.0.0.1:0", "x"}, ""},
	{"send three arguments", []string{"send", "127.0.0.1:9", "x", "y"}, ""},
	{"send bad timeout", []string{"send", "--timeout=soon", "127.0.0.1:9", "x"}, "timeout"},
	{"listen negative port", []string{"listen", "-1"}, ""},
	{"listen port too big", []string{"listen", "65536"}, ""},
	{"listen port not a number", []string{"listen", "http"}, ""},
	{"listen two ports", []string{"listen", "1", "2"}, ""},
	{"listen no port", []string{"listen"}, ""},
	{"echo port too big", []string{"echo", "--addr", "127.0.0.1:99999"}, ""},
	{"echo no port", []string{"echo", "--addr", "127.0.0.1"}, ""},
	{"echo bad engine", []string{"echo", "--engine", "warp", "--addr", "127.0.0.1:0"}, "warp"},
	{"echo empty address", []string{"echo", "--addr", ""}, ""},
	{"echo address not ours", []string{"echo", "--addr", "192.0.2.1:0"}, ""},
	{"echo invalid IPv4", []string{"echo", "--addr", "256.0.0.1:0"}, ""},
	{"demo port huge", []string{"demo", "--port", "1e9"}, ""},
	{"demo bad timeout", []string{"demo", "--timeout", "1h1h1"}, ""},
	{"demo bad bool", []string{"demo", "--offline=perhaps"}, ""},
	{"demo URL of 300-byte host", []string{"demo", "--url", "http://" + longLabel + "/", "--port", "0", "--client", "x"}, ""},
	{"probe extra argument", []string{"probe", "--json", "extra"}, ""},
	{"version extra argument", []string{"version", "extra"}, ""},
	{"flag with no dash value", []string{"get", "--timeout="}, ""},
	{"triple dash", []string{"probe", "---json"}, ""},
}

// robustCLINotOurs names the rows that fail only because the address is not
// one of this machine's, and the address: where the machine lets a socket
// bind it anyway (the sysctl net.ipv4.ip_nonlocal_bind, or TEST-NET-1 on an
// interface), the command would start and serve, and the row is skipped.
var robustCLINotOurs = map[string]string{"echo address not ours": "192.0.2.1"}

// TestRobustCLIBadInput runs every row and checks the error's shape.
func TestRobustCLIBadInput(t *testing.T) {
	t.Parallel()
	for _, tt := range robustCLITests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if ip, ok := robustCLINotOurs[tt.name]; ok {
				if ln, err := net.Listen("tcp4", ip+":0"); err == nil {
					ln.Close()
					t.Skipf("this machine lets a socket bind %s (net.ipv4.ip_nonlocal_bind?)", ip)
				}
			}
			r := startKsocket(t, "", tt.args...).wait(t, 20*time.Second)
			line := checkOneLineError(t, r, tt.args[0])
			if tt.want != "" && !strings.Contains(line, tt.want) {
				t.Errorf("error %q does not mention %q", line, tt.want)
			}
		})
	}
}

// checkOneLineError checks a failure: exit 1, nothing on stdout, and on
// stderr (besides log lines) one line starting "ksocket CMD: ", optionally
// followed by "see 'ksocket CMD --help'". It returns the line.
func checkOneLineError(t *testing.T, r result, cmd string) string {
	t.Helper()
	checkNoCrash(t, r)
	if r.code != 1 {
		t.Errorf("exit %d, want 1\n%v", r.code, r)
	}
	if r.stdout != "" {
		t.Errorf("a failing command wrote to stdout\n%v", r)
	}
	_, other := splitLog(t, r.stderr)
	if len(other) == 2 && other[1] == "see 'ksocket "+cmd+" --help'" {
		other = other[:1]
	}
	if len(other) != 1 {
		t.Errorf("want one error line on stderr, got %d\n%v", len(other), r)
		return ""
	}
	if !strings.HasPrefix(other[0], "ksocket "+cmd+": ") {
		t.Errorf("error line %q does not start with %q", other[0], "ksocket "+cmd+": ")
	}
	return other[0]
}

// TestRobustProbeMaskedView: `ksocket probe` shows what KSOCKET_FEATURES
// masks, as text and as JSON, and refuses an unknown token in one line.
func TestRobustProbeMaskedView(t *testing.T) {
	t.Parallel()
	masked := []string{"NO_SQARRAY", "SOCKOPT", "ACCEPT_DONTWAIT", "BIND", "LISTEN"}

	cmd := ksocketCmd("probe")
	cmd.Env = append(os.Environ(), "KSOCKET_FEATURES=6.1")
	r := startCmd(t, cmd, "").wait(t, 20*time.Second)
	checkExit0(t, r)
	if !strings.Contains(r.stdout, "masked:       "+strings.Join(masked, " ")+"\n") {
		t.Errorf("KSOCKET_FEATURES=6.1: probe does not show the mask %v\n%v", masked, r)
	}

	cmd = ksocketCmd("probe", "--json")
	cmd.Env = append(os.Environ(), "KSOCKET_FEATURES=6.1")
	r = startCmd(t, cmd, "").wait(t, 20*time.Second)
	checkExit0(t, r)
	var p struct {
		Backend string
		Masked  []string
		Ops     map[string]string
	}
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatalf("probe --json: %v\n%s", err, r.stdout)
	}
	if !slices.Equal(p.Masked, masked) {
		t.Errorf("probe --json masked = %v, want %v", p.Masked, masked)
	}
	if p.Backend == "uring" {
		for op, want := range map[string]string{"bind": "syscall", "listen": "syscall", "setsockopt": "syscall", "socket": "ring", "recv": "ring"} {
			if p.Ops[op] != want {
				t.Errorf("KSOCKET_FEATURES=6.1: probe --json says %s is %q, want %q", op, p.Ops[op], want)
			}
		}
	}

	cmd = ksocketCmd("probe")
	cmd.Env = append(os.Environ(), "KSOCKET_FEATURES=-BIND,-WARP_DRIVE")
	r = startCmd(t, cmd, "").wait(t, 20*time.Second)
	checkNoCrash(t, r)
	if r.code != 1 {
		t.Errorf("KSOCKET_FEATURES with an unknown token: exit %d, want 1\n%v", r.code, r)
	}
	named := false
	for _, l := range lines(r.stdout + r.stderr) {
		named = named || strings.Contains(l, "WARP_DRIVE") && strings.Contains(l, "KSOCKET_FEATURES")
	}
	if !named || len(lines(r.stderr)) > 1 {
		t.Errorf("KSOCKET_FEATURES with an unknown token: want a line naming it, and at most one line on stderr\n%v", r)
	}
}

// FuzzCLIArgs runs run in-process on arbitrary arguments. Only what cannot
// block or touch the network runs all the way: the dispatch, flag parsing,
// help, usage errors and version. For the other commands the fuzzer parses
// the flags with the command's own flag set and, when they parse, stops
// there, because the command would then listen, dial or serve. run must
// never panic, must return 0 or 1, and must print either nothing on stderr
// (success) or a short error without a stack trace.
func FuzzCLIArgs(f *testing.F) {
	for _, seed := range []struct {
		cmd  uint8
		args string
	}{
		{0, "--port\n70000"},
		{1, "--timeout\nx\nhttp://127.0.0.1/"},
		{2, "-u\n-1"},
		{3, "127.0.0.1:99999\nmsg"},
		{4, "--engine\nwarp"},
		{5, "--json=maybe"},
		{6, "--help"},
		{7, ""},
		{7, "extra"},
		{8, "bogus\n--help"},
		{9, ""},
		{5, "-h"},
		{0, "--url=\x00\n--port\x00"},
		{1, "--\n-i"},
	} {
		f.Add(seed.cmd, seed.args)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { devnull.Close() })
	f.Fuzz(func(t *testing.T, which uint8, rest string) {
		var args []string
		if rest != "" {
			args = strings.Split(rest, "\n")
		}
		switch i := int(which) % (len(commandOrder) + 2); {
		case i < len(commandOrder):
			args = append([]string{commandOrder[i]}, args...)
		case i == len(commandOrder):
			// The first line is the command, whatever it is.
		default:
			args = append([]string{"help"}, args...)
		}
		if !cliSafe(args) {
			return
		}
		var stdout, stderr bytes.Buffer
		saved := os.Stdout
		os.Stdout = devnull // version and help-less paths print there
		code := run(args, &stdout, &stderr)
		os.Stdout = saved
		if code != 0 && code != 1 {
			t.Errorf("run(%q) = %d, want 0 or 1", args, code)
		}
		out := stderr.String()
		if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic") {
			t.Errorf("run(%q) printed a stack trace:\n%s", args, out)
		}
		if code == 0 && out != "" && len(args) > 0 {
			t.Errorf("run(%q) succeeded but wrote to stderr:\n%s", args, out)
		}
		if code == 1 && len(args) > 0 && !strings.HasPrefix(out, "ksocket") {
			t.Errorf("run(%q) failed without a \"ksocket ...\" error:\n%s", args, out)
		}
	})
}

// cliSafe reports whether run(args) ends without listening, dialing or
// serving: no command, an unknown one, version, help, or flags that do not
// parse. It parses with the command's own flag set, as run does.
func cliSafe(args []string) bool {
	if len(args) == 0 {
		return true
	}
	var cmd *command
	for _, c := range commands {
		if c.name == args[0] {
			cmd = c
		}
	}
	if cmd == nil || cmd.name == "version" {
		return true
	}
	if cmd.passArgs {
		return false // bench: every argument goes to 'go run' of the harness
	}
	fs := flag.NewFlagSet("ksocket "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	cmd.setFlags(fs)
	err := fs.Parse(args[1:])
	return err != nil || errors.Is(err, flag.ErrHelp)
}
