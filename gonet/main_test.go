//go:build linux

package gonet

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/internal/engine"
	"github.com/ksocket-go/ksocket/internal/leaktest"
)

// TestMain points the resolver at the package's own files, checks that the
// backend asked for is in use, and checks for leaked goroutines and fds.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gonet-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hosts := filepath.Join(dir, "hosts")
	os.WriteFile(hosts, []byte("127.0.0.1 localhost\n::1 localhost ip6-localhost\n"), 0o644)
	resolvConf := filepath.Join(dir, "resolv.conf")
	os.WriteFile(resolvConf, []byte("nameserver 127.53.255.254\noptions timeout:1 attempts:1\n"), 0o644)
	os.Setenv("KSOCKET_HOSTS", hosts)
	os.Setenv("KSOCKET_RESOLV_CONF", resolvConf)

	if _, err := engine.Default(); err != nil {
		fmt.Fprintf(os.Stderr, "gonet tests: no engine: %v\n", err)
		os.Exit(1)
	}
	inf, _ := engine.Probe()
	if want := os.Getenv("KSOCKET_BACKEND"); want != "" && want != "auto" && inf.Backend != want {
		fmt.Fprintf(os.Stderr, "gonet tests: KSOCKET_BACKEND=%s but the engine chose %s: %s\n", want, inf.Backend, inf.Reason)
		os.Exit(1)
	}
	snap := leaktest.Take()
	code := m.Run()
	if code == 0 {
		if err := snap.Check(3 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}
