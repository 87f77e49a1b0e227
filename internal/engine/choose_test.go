//go:build linux && !android

package engine

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/internal/nouring"
	"golang.org/x/sys/unix"
)

// Backend choice: KSOCKET_FEATURES profiles, kernel.io_uring_disabled
// through the ioUringDisabledPath seam, and io_uring_setup refused by a
// seccomp filter (internal/nouring). Default chooses once per process, so
// these tests call choose directly; a choice that sets up a ring runs in a
// child process, so that no test leaves a ring and its reaper behind.

func init() {
	nouring.ExecIfAsked()
}

var parseFeaturesTests = []struct {
	in     string
	masked []string // nil with err
	err    bool
}{
	{in: "", masked: []string{}},
	{in: "   ", masked: []string{}},
	{in: "5.19", masked: []string{"SINGLE_ISSUER", "RECVMSG_MULTISHOT", "DEFER_TASKRUN", "SENDTO", "NO_SQARRAY", "SOCKOPT", "ACCEPT_DONTWAIT", "BIND", "LISTEN"}},
	{in: "6.1", masked: []string{"NO_SQARRAY", "SOCKOPT", "ACCEPT_DONTWAIT", "BIND", "LISTEN"}},
	{in: " 6.1 ", masked: []string{"NO_SQARRAY", "SOCKOPT", "ACCEPT_DONTWAIT", "BIND", "LISTEN"}},
	{in: "6.11", masked: []string{}},
	{in: "6.10", masked: []string{"BIND", "LISTEN"}},
	{in: "5.10", masked: []string{"SUBMIT_ALL", "SOCKET", "COOP_TASKRUN", "TASKRUN_FLAG", "SINGLE_ISSUER", "RECVMSG_MULTISHOT", "DEFER_TASKRUN", "SENDTO", "NO_SQARRAY", "SOCKOPT", "ACCEPT_DONTWAIT", "BIND", "LISTEN"}},
	{in: "99.0", masked: []string{}},
	{in: "-BIND,-LISTEN,-DEFER_TASKRUN", masked: []string{"DEFER_TASKRUN", "BIND", "LISTEN"}},
	{in: "-BIND, -LISTEN", masked: []string{"BIND", "LISTEN"}},
	{in: "-SOCKOPT", masked: []string{"SOCKOPT"}},
	{in: "-CLOSE,-CLOSE", masked: []string{"CLOSE"}},
	{in: "BIND", err: true},
	{in: "-bind", err: true},
	{in: "-NOPE", err: true},
	{in: "-BIND,", err: true},
	{in: ",", err: true},
	{in: "+BIND", err: true},
	{in: "6", err: true},
	{in: "6.x", err: true},
	{in: "6.1.2", err: true},
	{in: "-1.0", err: true},
	{in: "6.1,-BIND", err: true},
	{in: "-BIND,6.1", err: true},
	{in: "-", err: true},
	{in: "-BIND\x00", err: true},
}

// TestParseFeatures checks KSOCKET_FEATURES: a kernel version masks every
// feature newer than it, a list masks what it names, and any other token is
// an error naming it.
func TestParseFeatures(t *testing.T) {
	for _, tt := range parseFeaturesTests {
		m, err := parseFeatures(tt.in)
		if tt.err {
			if err == nil {
				t.Errorf("parseFeatures(%q) = %v, want an error", tt.in, m)
			} else if !strings.Contains(err.Error(), "KSOCKET_FEATURES") {
				t.Errorf("parseFeatures(%q) error %q does not name KSOCKET_FEATURES", tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseFeatures(%q): %v", tt.in, err)
			continue
		}
		if got := maskedNames(m); !slices.Equal(got, tt.masked) {
			t.Errorf("parseFeatures(%q) masks %v, want %v", tt.in, got, tt.masked)
		}
	}
}

// maskedNames lists m in the order of the features table.
func maskedNames(m featureMask) []string {
	out := []string{}
	for _, f := range features {
		if m[f.name] {
			out = append(out, f.name)
		}
	}
	return out
}

// TestChooseBadFeatures: an unknown token is an error whatever the backend,
// and the engine refuses to start, naming the token.
func TestChooseBadFeatures(t *testing.T) {
	for _, mode := range []string{"epoll", "auto", "uring"} {
		t.Setenv("KSOCKET_FEATURES", "-BIND,-WARP_DRIVE")
		e, inf, err := choose(mode)
		if err == nil || e != nil {
			t.Fatalf("choose(%q) with an unknown feature = %v, %v; want an error", mode, e, err)
		}
		if inf.Backend != "none" || !strings.Contains(inf.Reason, "WARP_DRIVE") || !strings.Contains(err.Error(), "WARP_DRIVE") {
			t.Errorf("choose(%q): backend %q, reason %q, err %v; want none, naming the token", mode, inf.Backend, inf.Reason, err)
		}
	}
}

// TestChooseEpollShowsMask: the masked view is part of Info on any backend.
func TestChooseEpollShowsMask(t *testing.T) {
	t.Setenv("KSOCKET_FEATURES", "6.1")
	_, inf, err := choose("epoll")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"NO_SQARRAY", "SOCKOPT", "ACCEPT_DONTWAIT", "BIND", "LISTEN"}; !slices.Equal(inf.Masked, want) {
		t.Errorf("Masked = %v, want %v", inf.Masked, want)
	}
}

// withDisabled points the io_uring_disabled seam at a file holding value
// ("" for no file) for the rest of the test.
func withDisabled(t *testing.T, value string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "io_uring_disabled")
	if value != "" {
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := ioUringDisabledPath
	ioUringDisabledPath = path
	t.Cleanup(func() { ioUringDisabledPath = old })
	return path
}

// TestIoUringDisabledValues checks how the sysctl's file is read.
func TestIoUringDisabledValues(t *testing.T) {
	for _, tt := range []struct {
		content string
		want    int
	}{{"", 0}, {"0\n", 0}, {"1\n", 1}, {"2\n", 2}, {" 2 ", 2}, {"junk", 0}} {
		withDisabled(t, tt.content)
		if got := ioUringDisabled(); got != tt.want {
			t.Errorf("io_uring_disabled file %q reads as %d, want %d", tt.content, got, tt.want)
		}
	}
}

// TestIoUringDisabled2SkipsSetup: at 2, auto goes to epoll without trying
// io_uring_setup (which works on this machine, so trying it would have
// chosen uring), and the reason names the sysctl.
func TestIoUringDisabled2SkipsSetup(t *testing.T) {
	t.Setenv("KSOCKET_FEATURES", "")
	withDisabled(t, "2\n")
	for _, mode := range []string{"", "auto"} {
		e, inf, err := choose(mode)
		if err != nil {
			t.Fatalf("choose(%q) at io_uring_disabled=2: %v", mode, err)
		}
		if e.Backend() != "epoll" || inf.Backend != "epoll" {
			t.Errorf("choose(%q) at io_uring_disabled=2 chose %s", mode, inf.Backend)
		}
		if inf.SetupErr != nil {
			t.Errorf("choose(%q) at io_uring_disabled=2 tried io_uring_setup (%v)", mode, inf.SetupErr)
		}
		if !strings.Contains(inf.Reason, "kernel.io_uring_disabled=2") || strings.Contains(inf.Reason, "\n") {
			t.Errorf("reason %q: want one line naming kernel.io_uring_disabled=2", inf.Reason)
		}
	}
}

// chooseChildTests run in a child, where choose may set up a ring (or is
// refused by the seccomp filter of the child's errno).
type chooseChildTest struct {
	name     string
	errno    string // the child's seccomp filter, if any
	disabled string // io_uring_disabled
	features string
	mode     string
	check    func(inf *Info, err error) error
}

var chooseChildTests = []chooseChildTest{
	{
		name: "disabled=1/setup-works", disabled: "1", mode: "auto",
		check: func(inf *Info, err error) error {
			// Root (or the io_uring group) may set up a ring at 1.
			if err != nil || inf.Backend != "uring" {
				return fmt.Errorf("backend %s (%v), want uring: at 1 setup is tried", inf.Backend, err)
			}
			return nil
		},
	},
	{
		name: "disabled=1/EPERM", errno: "EPERM", disabled: "1", mode: "auto",
		check: func(inf *Info, err error) error {
			if err != nil || inf.Backend != "epoll" {
				return fmt.Errorf("backend %s (%v), want epoll", inf.Backend, err)
			}
			if !errors.Is(inf.SetupErr, unix.EPERM) {
				return fmt.Errorf("SetupErr %v, want EPERM: at 1 setup is tried", inf.SetupErr)
			}
			if !strings.Contains(inf.Reason, "kernel.io_uring_disabled=1") || !strings.Contains(inf.Reason, "EPERM") || strings.Contains(inf.Reason, "\n") {
				return fmt.Errorf("reason %q: want one line naming the sysctl and EPERM", inf.Reason)
			}
			return nil
		},
	},
	{
		name: "disabled=1/EPERM/strict", errno: "EPERM", disabled: "1", mode: "uring",
		check: func(inf *Info, err error) error {
			if !errors.Is(err, unix.EPERM) || inf.Backend != "none" {
				return fmt.Errorf("backend %s, err %v; want none and EPERM", inf.Backend, err)
			}
			if !strings.Contains(inf.Reason, "kernel.io_uring_disabled=1") || !strings.Contains(inf.Reason, "EPERM") {
				return fmt.Errorf("reason %q: want it to name the sysctl and EPERM", inf.Reason)
			}
			return nil
		},
	},
	{
		name: "disabled=2/EPERM", errno: "EPERM", disabled: "2", mode: "auto",
		check: func(inf *Info, err error) error {
			if err != nil || inf.Backend != "epoll" || inf.SetupErr != nil || !strings.Contains(inf.Reason, "io_uring_disabled=2") {
				return fmt.Errorf("backend %s, SetupErr %v, reason %q; want epoll, untried, naming the sysctl", inf.Backend, inf.SetupErr, inf.Reason)
			}
			return nil
		},
	},
	{
		name: "ENOSYS", errno: "ENOSYS", mode: "auto",
		check: func(inf *Info, err error) error {
			if err != nil || inf.Backend != "epoll" || !errors.Is(inf.SetupErr, unix.ENOSYS) || !strings.Contains(inf.Reason, "ENOSYS") {
				return fmt.Errorf("backend %s, SetupErr %v, reason %q; want epoll after ENOSYS", inf.Backend, inf.SetupErr, inf.Reason)
			}
			return nil
		},
	},
	{
		name: "EACCES", errno: "EACCES", mode: "auto",
		check: func(inf *Info, err error) error {
			if err != nil || inf.Backend != "epoll" || !errors.Is(inf.SetupErr, unix.EACCES) {
				return fmt.Errorf("backend %s, SetupErr %v; want epoll after EACCES", inf.Backend, inf.SetupErr)
			}
			return nil
		},
	},
	{
		name: "profile=5.19", features: "5.19", mode: "uring",
		check: profileCheck([]string{"NO_SQARRAY"}, []string{"socket", "close"}, []string{"bind", "listen", "shutdown", "setsockopt", "getsockopt(SOL_SOCKET)"}),
	},
	{
		name: "profile=6.1", features: "6.1", mode: "uring",
		check: allOf(
			profileCheck([]string{"NO_SQARRAY"}, []string{"socket", "close"}, []string{"bind", "listen", "shutdown", "setsockopt", "getsockopt(SOL_SOCKET)"}),
			restrictCheck("yes", "BIND", "LISTEN", "URING_CMD"),
		),
	},
	{
		name: "profile=6.11", features: "6.11", mode: "uring",
		check: allOf(
			profileCheck(nil, []string{"socket", "bind", "listen", "close", "setsockopt", "getsockopt(SOL_SOCKET)"}, []string{"shutdown"}),
			restrictCheck("yes"),
		),
	},
	{
		name: "profile=-RESTRICTIONS", features: "-RESTRICTIONS", mode: "uring",
		check: allOf(
			profileCheck(nil, []string{"socket", "bind", "listen"}, nil),
			restrictCheck("no (KSOCKET_FEATURES masks RESTRICTIONS)", "SEND", "RECV"),
		),
	},
	{
		name: "profile=-BIND,-LISTEN,-DEFER_TASKRUN", features: "-BIND,-LISTEN,-DEFER_TASKRUN", mode: "uring",
		check: profileCheck(nil, []string{"socket", "close", "setsockopt"}, []string{"bind", "listen", "shutdown"}),
	},
	{
		name: "profile=-SOCKET,-CLOSE,-NO_SQARRAY,-SUBMIT_ALL", features: "-SOCKET,-CLOSE,-NO_SQARRAY,-SUBMIT_ALL", mode: "uring",
		check: profileCheck([]string{"NO_SQARRAY", "SUBMIT_ALL"}, []string{"bind", "listen"}, []string{"socket", "shutdown", "close"}),
	},
}

// profileCheck checks a uring choice under a profile: the setup flags
// absent, and which calls go through the ring and which are syscalls.
func profileCheck(noFlags, ring, sys []string) func(*Info, error) error {
	return func(inf *Info, err error) error {
		if err != nil || inf.Backend != "uring" {
			return fmt.Errorf("backend %s (%v), want uring", inf.Backend, err)
		}
		for _, f := range noFlags {
			if slices.Contains(inf.SetupFlags, f) {
				return fmt.Errorf("setup flag %s in use (%v), but the profile masks it", f, inf.SetupFlags)
			}
		}
		for _, c := range ring {
			if !slices.Contains(inf.RingCalls, c) {
				return fmt.Errorf("%s is not a ring call (ring %v, syscalls %v)", c, inf.RingCalls, inf.SysCalls)
			}
		}
		for _, c := range sys {
			if !slices.Contains(inf.SysCalls, c) || slices.Contains(inf.RingCalls, c) {
				return fmt.Errorf("%s is not a plain syscall (ring %v, syscalls %v)", c, inf.RingCalls, inf.SysCalls)
			}
		}
		return nil
	}
}

// TestChooseInChild runs each of chooseChildTests in a child process of
// its own.
func TestChooseInChild(t *testing.T) {
	if name := os.Getenv("KSOCKET_CHOOSE_CHILD"); name != "" {
		chooseChild(t, name)
		return
	}
	if _, err := nouring.Filter(unix.EPERM); err != nil {
		t.Skip(err)
	}
	for _, tt := range chooseChildTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestChooseInChild$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), "KSOCKET_CHOOSE_CHILD="+tt.name, "GORACE=atexit_sleep_ms=50")
			if tt.errno != "" {
				cmd.Env = append(cmd.Env, nouring.EnvErrno+"="+tt.errno)
			}
			cmd.WaitDelay = 5 * time.Second
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "--- PASS: TestChooseInChild") {
				t.Fatalf("child: %v\n%s", err, out)
			}
		})
	}
}

func chooseChild(t *testing.T, name string) {
	i := slices.IndexFunc(chooseChildTests, func(c chooseChildTest) bool { return c.name == name })
	if i < 0 {
		t.Fatalf("no child test %q", name)
	}
	tt := chooseChildTests[i]
	if tt.errno != "" && nouring.Setup() != nouring.ErrnoByName(tt.errno) {
		t.Fatalf("io_uring_setup = %v in a child filtered for %s", nouring.Setup(), tt.errno)
	}
	withDisabled(t, tt.disabled)
	t.Setenv("KSOCKET_FEATURES", tt.features)
	_, inf, err := choose(tt.mode)
	t.Logf("choose(%q): backend %s, reason %q, setup %v, masked %v, flags %v, ring %v, syscalls %v, err %v",
		tt.mode, inf.Backend, inf.Reason, inf.SetupErr, inf.Masked, inf.SetupFlags, inf.RingCalls, inf.SysCalls, err)
	if err := tt.check(inf, err); err != nil {
		t.Error(err)
	}
}
