//go:build linux

package ksocket

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/internal/engine"
)

// TestMain points the resolver at files of the package's own, makes sure the
// backend asked for is the one in use, and checks that the tests leak
// neither goroutines nor file descriptors.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ksocket-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hosts := filepath.Join(dir, "hosts")
	resolvConf := filepath.Join(dir, "resolv.conf")
	os.WriteFile(hosts, []byte("127.0.0.1 localhost\n::1 localhost ip6-localhost\n127.0.0.2 two.test\n::1 six.test\n"), 0o644)
	// A nameserver nobody listens on: no test may reach the machine's own.
	os.WriteFile(resolvConf, []byte("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"), 0o644)
	os.Setenv("KSOCKET_HOSTS", hosts)
	os.Setenv("KSOCKET_RESOLV_CONF", resolvConf)

	if _, err := engine.Default(); err != nil {
		fmt.Fprintf(os.Stderr, "ksocket tests: no engine: %v\n", err)
		os.Exit(1)
	}
	inf, _ := engine.Probe()
	if want := os.Getenv("KSOCKET_BACKEND"); want != "" && want != "auto" && inf.Backend != want {
		fmt.Fprintf(os.Stderr, "ksocket tests: KSOCKET_BACKEND=%s but the engine chose %s: %s\n", want, inf.Backend, inf.Reason)
		os.Exit(1)
	}
	goroutines, fds := runtime.NumGoroutine(), countFDs()

	code := m.Run()

	if code == 0 {
		if err := checkLeaks(goroutines, fds); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func countFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// checkLeaks waits up to two seconds for goroutines and fds to return to
// their numbers before the tests.
func checkLeaks(goroutines, fds int) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		g, f := runtime.NumGoroutine(), countFDs()
		if g <= goroutines && f <= fds {
			return nil
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			return fmt.Errorf("leak check: %d goroutines (before %d), %d fds (before %d)\n%s", g, goroutines, f, fds, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
