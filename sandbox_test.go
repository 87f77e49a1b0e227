//go:build linux

package ksocket

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/gonet"
	"github.com/ksocket-go/ksocket/internal/nouring"
	"golang.org/x/sys/unix"
)

// The container case. Docker ≥ 25 and containerd 2 make io_uring_setup fail
// with EPERM, Podman and gVisor with ENOSYS. TestNoUring reproduces both: it
// starts this test binary with KSOCKET_NOURING set, and the init below
// installs a seccomp filter that makes io_uring_setup fail with that errno,
// then execs the real program (this binary again, or the ksocket command).
// Under KSOCKET_BACKEND=auto everything must work on epoll and say why;
// under KSOCKET_BACKEND=uring it must fail with the errno.

func init() {
	nouring.ExecIfAsked()
	if os.Getenv("KSOCKET_SANDBOX_CALLS") == "1" {
		os.Exit(sandboxCalls())
	}
}

// sandboxCalls runs in a filtered child with KSOCKET_BACKEND=uring, before
// TestMain (whose engine check would end the process first). It prints one
// "name: result" line per call.
func sandboxCalls() int {
	show := func(name string, err error) {
		fmt.Printf("%s: %s\n", name, errName(err))
	}
	_, err := Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	show("Socket", err)
	_, err = SocketConnection(unix.AF_INET6, unix.SOCK_STREAM, 0)
	show("SocketConnection", err)
	_, err = SocketListen(unix.AF_INET, unix.SOCK_STREAM, 0)
	show("SocketListen", err)
	_, err = SocketDatagram(unix.AF_INET, unix.SOCK_DGRAM, 0)
	show("SocketDatagram", err)
	inf, err := Probe()
	show("Probe", err)
	fmt.Printf("Probe.Backend: %s\nProbe.SetupErrno: %s\nProbe.Reason: %s\n", inf.Backend, errName(inf.SetupErrno), inf.Reason)
	_, err = gonet.Listen("tcp4", "127.0.0.1:0")
	var en unix.Errno
	if errors.As(err, &en) {
		show("gonet.Listen", en)
	} else {
		fmt.Printf("gonet.Listen: %v\n", err)
	}
	return 0
}

func errName(err error) string {
	var en unix.Errno
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &en) && en == 0:
		return "ok"
	case errors.As(err, &en):
		return unix.ErrnoName(en)
	}
	return fmt.Sprintf("%T %v", err, err)
}

var noUringErrnos = []unix.Errno{unix.EPERM, unix.ENOSYS}

// noUringCmd starts this test binary under the filter for errno. exec, if
// not empty, is the program the child execs instead of the test binary.
func noUringCmd(errno unix.Errno, backend, exe string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(),
		nouring.EnvErrno+"="+unix.ErrnoName(errno),
		"KSOCKET_BACKEND="+backend,
		"GORACE=atexit_sleep_ms=50",
	)
	if exe != "" {
		cmd.Env = append(cmd.Env, nouring.EnvExec+"="+exe)
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// runChild runs cmd for at most d and returns its exit code and output.
func runChild(t *testing.T, cmd *exec.Cmd, d time.Duration) (code int, stdout, stderr string) {
	t.Helper()
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%v: still running after %v; killed\nstdout:\n%s\nstderr:\n%s", cmd.Args, d, so.String(), se.String())
	}
	if cmd.ProcessState.ExitCode() == 97 {
		// The machine refuses seccomp filters (no CONFIG_SECCOMP_FILTER,
		// or a sandbox that forbids them): the container case cannot be
		// reproduced here.
		t.Skipf("seccomp filter refused here: %s", strings.TrimSpace(se.String()))
	}
	return cmd.ProcessState.ExitCode(), so.String(), se.String()
}

// TestSandboxedChildFallsBack runs only in the children TestNoUring starts
// with KSOCKET_BACKEND=auto: io_uring_setup must fail with the filter's
// errno, and the engine must have chosen epoll, saying why in one line.
func TestSandboxedChildFallsBack(t *testing.T) {
	want := nouring.Active()
	if want == 0 {
		t.Skip("runs in the filtered children of TestNoUring")
	}
	if got := nouring.Setup(); got != want {
		t.Fatalf("io_uring_setup under the filter = %s, want %s: the filter is not in force", errName(got), errName(want))
	}
	inf, err := Probe()
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if inf.Backend != "epoll" || inf.SetupErrno != want {
		t.Errorf("Probe = backend %s, setup errno %s; want epoll after %s", inf.Backend, errName(inf.SetupErrno), errName(want))
	}
	if !strings.Contains(inf.Reason, unix.ErrnoName(want)) || strings.Contains(inf.Reason, "\n") {
		t.Errorf("Probe().Reason = %q: want one line naming %s", inf.Reason, unix.ErrnoName(want))
	}
}

// TestNoUring is the container case, once with EPERM and once with ENOSYS.
func TestNoUring(t *testing.T) {
	if testing.Short() {
		t.Skip("starts children and builds the ksocket command")
	}
	if err := nouringSupported(); err != nil {
		t.Skip(err)
	}
	bin := buildKsocketCmd(t)
	for _, errno := range noUringErrnos {
		name := unix.ErrnoName(errno)
		t.Run(name, func(t *testing.T) {
			t.Run("auto/suite", func(t *testing.T) {
				t.Parallel()
				run := "^(Example|ExampleSocketDatagram|ExampleClosesocket|TestDifferential|TestConcurrentEchoManyPairs|TestCloseWhilePending|TestSandboxedChildFallsBack)$"
				code, out, errOut := runChild(t, noUringCmd(errno, "auto", "", "-test.run="+run, "-test.count=1", "-test.v"), 3*time.Minute)
				if code != 0 {
					t.Fatalf("the suite's slice failed under the %s filter (exit %d):\n%s\n%s", name, code, tail(out, 60), errOut)
				}
				for _, want := range []string{"--- PASS: Example ", "--- PASS: TestDifferential ", "--- PASS: TestSandboxedChildFallsBack ", "--- PASS: TestConcurrentEchoManyPairs "} {
					if !strings.Contains(out, want) {
						t.Errorf("the child's output lacks %q:\n%s", want, tail(out, 40))
					}
				}
			})
			t.Run("uring/calls", func(t *testing.T) {
				t.Parallel()
				cmd := noUringCmd(errno, "uring", "")
				cmd.Env = append(cmd.Env, "KSOCKET_SANDBOX_CALLS=1")
				code, out, errOut := runChild(t, cmd, time.Minute)
				if code != 0 {
					t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
				}
				got := map[string]string{}
				for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
					k, v, _ := strings.Cut(l, ": ")
					got[k] = v
				}
				for _, call := range []string{"Socket", "SocketConnection", "SocketListen", "SocketDatagram", "Probe", "Probe.SetupErrno", "gonet.Listen"} {
					if got[call] != name {
						t.Errorf("KSOCKET_BACKEND=uring under the %s filter: %s = %q, want %s", name, call, got[call], name)
					}
				}
				if got["Probe.Backend"] != "none" || !strings.Contains(got["Probe.Reason"], name) {
					t.Errorf("Probe = backend %q, reason %q; want none, naming %s", got["Probe.Backend"], got["Probe.Reason"], name)
				}
			})
			t.Run("uring/suite", func(t *testing.T) {
				t.Parallel()
				// TestMain refuses to run without the backend asked for.
				code, out, errOut := runChild(t, noUringCmd(errno, "uring", "", "-test.run=^Example$", "-test.count=1"), time.Minute)
				if code != 1 || !errnoMentioned(errOut, errno) {
					t.Errorf("KSOCKET_BACKEND=uring under the %s filter: exit %d, want 1 with a message naming %s\n%s\n%s", name, code, name, out, errOut)
				}
			})
			t.Run("cli", func(t *testing.T) {
				t.Parallel()
				testNoUringCLI(t, errno, bin)
			})
		})
	}
}

// nouringSupported reports why the filter cannot be used here, if it cannot.
func nouringSupported() error {
	_, err := nouring.Filter(unix.EPERM)
	return err
}

func tail(s string, n int) string {
	ls := strings.Split(s, "\n")
	if len(ls) > n {
		ls = append([]string{fmt.Sprintf("...(%d lines)", len(ls)-n)}, ls[len(ls)-n:]...)
	}
	return strings.Join(ls, "\n")
}

// buildKsocketCmd builds cmd/ksocket into a directory of t's.
func buildKsocketCmd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ksocket")
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build cmd/ksocket: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, gobin, "build", "-o", bin, "./cmd/ksocket").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ksocket: %v\n%s", err, out)
	}
	return bin
}

// testNoUringCLI runs `ksocket probe` and the offline demo under the filter.
func testNoUringCLI(t *testing.T, errno unix.Errno, bin string) {
	name := unix.ErrnoName(errno)
	named := regexp.MustCompile(`\b` + name + `\b`)

	// auto: probe says epoll, and why, naming the errno on one line.
	code, out, errOut := runChild(t, noUringCmd(errno, "auto", bin, "probe"), time.Minute)
	if code != 0 {
		t.Fatalf("ksocket probe (auto) under the %s filter: exit %d\n%s%s", name, code, out, errOut)
	}
	if !hasLine(out, func(l string) bool { return strings.Contains(l, "epoll") && named.MatchString(l) }) {
		t.Errorf("ksocket probe (auto) under the %s filter: no line names both epoll and %s:\n%s", name, name, out)
	}
	// uring: probe fails, naming the errno.
	code, out, errOut = runChild(t, noUringCmd(errno, "uring", bin, "probe"), time.Minute)
	if code != 1 || !named.MatchString(out+errOut) {
		t.Errorf("ksocket probe (uring) under the %s filter: exit %d, want 1 naming %s\n%s%s", name, code, name, out, errOut)
	}
	// JSON probe: the errno field.
	code, out, _ = runChild(t, noUringCmd(errno, "auto", bin, "probe", "--json"), time.Minute)
	if code != 0 || !strings.Contains(out, `"errno": "`+name+`"`) || !strings.Contains(out, `"backend": "epoll"`) {
		t.Errorf("ksocket probe --json (auto) under the %s filter: exit %d\n%s", name, code, out)
	}

	// auto: the offline demo works on epoll.
	code, out, errOut = runChild(t, noUringCmd(errno, "auto", bin, "demo", "--offline", "--port", "0", "--client", "x", "--timeout", "20s"), 2*time.Minute)
	if code != 0 || !strings.Contains(out, "TCP server: x") || !strings.Contains(out, "TCP client: Hello from WSK!") {
		t.Fatalf("ksocket demo (auto) under the %s filter: exit %d\n%s\n%s", name, code, out, errOut)
	}
	if !strings.Contains(errOut, "[epoll]") {
		t.Errorf("ksocket demo (auto) under the %s filter logged no [epoll] line:\n%s", name, errOut)
	}
	if !hasLine(errOut, func(l string) bool { return strings.Contains(l, "[epoll]") && named.MatchString(l) }) {
		t.Errorf("ksocket demo (auto) under the %s filter: no log line says why it runs on epoll, naming %s:\n%s", name, name, errOut)
	}
	// uring: the demo fails with one line naming the errno.
	code, out, errOut = runChild(t, noUringCmd(errno, "uring", bin, "demo", "--offline", "--port", "0", "--client", "x"), time.Minute)
	ls := strings.Split(strings.TrimSpace(errOut), "\n")
	last := ls[len(ls)-1]
	if code != 1 || !strings.HasPrefix(last, "ksocket demo: ") || !errnoMentioned(last, errno) {
		t.Errorf("ksocket demo (uring) under the %s filter: exit %d, want 1 and a last line naming the errno\n%s\n%s", name, code, out, errOut)
	}
	t.Logf("ksocket demo (uring) under the %s filter: %s", name, last)
}

// errnoMentioned reports whether line names errno, by name or by its text
// ("operation not permitted").
func errnoMentioned(line string, errno unix.Errno) bool {
	return strings.Contains(line, unix.ErrnoName(errno)) || strings.Contains(line, errno.Error())
}

func hasLine(s string, ok func(string) bool) bool {
	for _, l := range strings.Split(s, "\n") {
		if ok(l) {
			return true
		}
	}
	return false
}
