//go:build linux

package main

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// subcommandFlags are the subcommands and the flags each one's help lists.
var subcommandFlags = []struct {
	name  string
	flags []string
}{
	{"demo", []string{"url", "port", "reply", "timeout", "offline", "no-fallback", "client"}},
	{"get", []string{"i", "timeout", "insecure"}},
	{"listen", []string{"u", "timeout"}},
	{"send", []string{"u", "timeout"}},
	{"echo", []string{"addr", "engine"}},
	{"probe", []string{"json"}},
	{"bench", nil},
	{"version", nil},
}

func checkUsage(t *testing.T, out string) {
	t.Helper()
	if !strings.Contains(out, "Usage:\n  ksocket COMMAND [flags] [arguments]\n") || !strings.Contains(out, "Flags come before arguments") {
		t.Errorf("not the usage text:\n%s", out)
	}
	for _, c := range subcommandFlags {
		if !strings.Contains(out, "\n  "+c.name+" ") {
			t.Errorf("usage does not list %s:\n%s", c.name, out)
		}
	}
}

// TestNoArguments prints usage on stderr and exits 1.
func TestNoArguments(t *testing.T) {
	t.Parallel()
	r := runKsocket(t, "")
	checkNoCrash(t, r)
	if r.code != 1 || r.stdout != "" {
		t.Errorf("want exit 1 and nothing on stdout\n%v", r)
	}
	checkUsage(t, r.stderr)
}

// TestHelp prints usage on stdout and exits 0.
func TestHelp(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"-h", "--help", "help"} {
		t.Run(arg, func(t *testing.T) {
			t.Parallel()
			r := runKsocket(t, "", arg)
			checkExit0(t, r)
			if r.stderr != "" {
				t.Errorf("stderr not empty\n%v", r)
			}
			checkUsage(t, r.stdout)
		})
	}
}

// TestSubcommandHelp asks every subcommand for help, both ways.
func TestSubcommandHelp(t *testing.T) {
	t.Parallel()
	for _, c := range subcommandFlags {
		for _, h := range []string{"-h", "--help"} {
			t.Run(c.name+" "+h, func(t *testing.T) {
				t.Parallel()
				r := runKsocket(t, "", c.name, h)
				checkExit0(t, r)
				if r.stderr != "" {
					t.Errorf("stderr not empty\n%v", r)
				}
				if !strings.HasPrefix(r.stdout, "Usage: ksocket "+c.name+" [flags]") {
					t.Errorf("help does not start with the usage line:\n%s", r.stdout)
				}
				if len(c.flags) > 0 && !strings.Contains(r.stdout, "\nFlags (before the arguments):\n") {
					t.Errorf("help does not say flags come before the arguments:\n%s", r.stdout)
				}
				for _, f := range c.flags {
					if !regexp.MustCompile(`\n  -` + regexp.QuoteMeta(f) + `[ \t\n]`).MatchString(r.stdout) {
						t.Errorf("help does not list -%s:\n%s", f, r.stdout)
					}
				}
			})
		}
	}
}

// TestUnknownFlag is a usage error for every subcommand.
func TestUnknownFlag(t *testing.T) {
	t.Parallel()
	for _, c := range subcommandFlags {
		if c.name == "bench" {
			continue // bench hands its flags to the harness, which judges them
		}
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			line := checkUsageError(t, runKsocket(t, "", c.name, "--bogus", "x"), c.name)
			if !strings.Contains(line, "-bogus") {
				t.Errorf("error %q does not name the flag", line)
			}
		})
	}
}

// TestUnknownCommand is one line plus where to look.
func TestUnknownCommand(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"bogus", "Demo", "-x", ""} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := runKsocket(t, "", name)
			checkNoCrash(t, r)
			ls := lines(r.stderr)
			if r.code != 1 || r.stdout != "" || len(ls) != 2 ||
				!strings.HasPrefix(ls[0], "ksocket: unknown command ") || ls[1] != "see 'ksocket --help'" {
				t.Errorf("want exit 1 and the two-line unknown-command error\n%v", r)
			}
		})
	}
}

// usageErrorTests are command lines that are wrong in shape.
var usageErrorTests = []struct {
	name string
	args []string
	want string // in the error line
}{
	{"get without URL", []string{"get"}, "URL"},
	{"get two URLs", []string{"get", "http://127.0.0.1/", "http://127.0.0.1/"}, "URL"},
	{"get flag after URL", []string{"get", "http://127.0.0.1:9/", "-i"}, "URL"},
	{"get bad timeout", []string{"get", "--timeout", "x", "http://127.0.0.1:9/"}, "timeout"},
	{"get flag without value", []string{"get", "--timeout"}, "timeout"},
	{"probe argument", []string{"probe", "extra"}, "argument"},
	{"probe bad bool", []string{"probe", "--json=maybe"}, "json"},
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range usageErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			line := checkUsageError(t, runKsocket(t, "", tt.args...), tt.args[0])
			if !strings.Contains(line, tt.want) {
				t.Errorf("error %q does not mention %q", line, tt.want)
			}
		})
	}
}

// TestBenchOutsideCheckout says what bench needs, in one line.
func TestBenchOutsideCheckout(t *testing.T) {
	t.Parallel()
	cmd := ksocketCmd("bench")
	cmd.Dir = t.TempDir()
	line := checkRuntimeError(t, startCmd(t, cmd, "").wait(t, 20*time.Second), "bench")
	if !strings.Contains(line, "source checkout") {
		t.Errorf("error %q does not say bench needs a source checkout", line)
	}
}
