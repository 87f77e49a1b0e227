//go:build linux

package resolv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/internal/engine"
	"github.com/ksocket-go/ksocket/internal/leaktest"
)

// TestMain points the resolver at files of the package's own (a hosts file,
// a resolv.conf whose nameserver is a loopback address nobody listens on,
// so that no test can reach the machine's own nameserver, and an
// nsswitch.conf), checks that the backend asked for is in use, and checks
// for leaked goroutines and file descriptors. The DNS servers the tests
// start (see dnsmasq_test.go) are stopped before that check.
func TestMain(m *testing.M) {
	if os.Getenv(straceChildEnv) == "1" {
		// A child of TestDNSNoSocketSyscallsOnUring: the parent set the
		// environment up, and the child must not start anything.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "resolv-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	files := map[string]string{
		"hosts":         "127.0.0.1 localhost\n::1 localhost ip6-localhost\n",
		"resolv.conf":   fmt.Sprintf("nameserver %v\noptions timeout:1 attempts:1\n", deadNameserver()),
		"nsswitch.conf": "hosts: files dns\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	os.Setenv("KSOCKET_HOSTS", filepath.Join(dir, "hosts"))
	os.Setenv("KSOCKET_RESOLV_CONF", filepath.Join(dir, "resolv.conf"))
	os.Setenv("KSOCKET_NSSWITCH_CONF", filepath.Join(dir, "nsswitch.conf"))
	// glibc's resolver reads these too; neither ours nor glibc (in the
	// differential tests) may see the caller's.
	for _, v := range []string{"LOCALDOMAIN", "RES_OPTIONS", "HOSTALIASES"} {
		os.Unsetenv(v)
	}

	if _, err := engine.Default(); err != nil {
		fmt.Fprintf(os.Stderr, "resolv tests: no engine: %v\n", err)
		os.Exit(1)
	}
	inf, _ := engine.Probe()
	if want := os.Getenv("KSOCKET_BACKEND"); want != "" && want != "auto" && inf.Backend != want {
		fmt.Fprintf(os.Stderr, "resolv tests: KSOCKET_BACKEND=%s but the engine chose %s: %s\n", want, inf.Backend, inf.Reason)
		os.Exit(1)
	}
	// The first pollable file (the differential tests' pipes) makes the
	// runtime open its epoll descriptors; do that before counting.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	snap := leaktest.Take()
	code := m.Run()
	stopSharedDNS()
	if code == 0 {
		if err := snap.Check(3 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, "resolv:", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}
