//go:build linux

// Package testenv sets up the test binaries of ksocket's packages: resolver
// files of their own (no test may reach the machine's nameserver), a check
// that the backend KSOCKET_BACKEND asks for is the one in use, and a check
// that the tests leak neither goroutines nor file descriptors.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/internal/engine"
	"github.com/ksocket-go/ksocket/internal/leaktest"
)

// DeadNameserver is a loopback address on which nothing serves DNS.
const DeadNameserver = "127.53.255.254"

// Hosts and ResolvConf are the files most packages want.
const (
	Hosts      = "127.0.0.1 localhost\n::1 localhost ip6-localhost\n"
	ResolvConf = "nameserver " + DeadNameserver + "\noptions timeout:1 attempts:1\n"
)

// envFor names the variable that points the resolver at each file.
var envFor = map[string]string{
	"hosts":         "KSOCKET_HOSTS",
	"resolv.conf":   "KSOCKET_RESOLV_CONF",
	"nsswitch.conf": "KSOCKET_NSSWITCH_CONF",
}

// Config says what a package's TestMain needs.
type Config struct {
	Name  string            // in messages, such as "gonet tests"
	Files map[string]string // hosts, resolv.conf, nsswitch.conf: written to a temporary directory and pointed at
	After func()            // runs after the tests, before the leak check
}

// Main runs the tests of m as c says, and exits.
func Main(m *testing.M, c Config) {
	os.Exit(run(m, c))
}

func run(m *testing.M, c Config) int {
	if len(c.Files) > 0 {
		dir, err := os.MkdirTemp("", "ksocket-test")
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", c.Name, err)
			return 1
		}
		defer os.RemoveAll(dir)
		for name, content := range c.Files {
			env, ok := envFor[name]
			if !ok {
				fmt.Fprintf(os.Stderr, "%s: testenv knows no file %q\n", c.Name, name)
				return 1
			}
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", c.Name, err)
				return 1
			}
			os.Setenv(env, path)
		}
	}
	if err := CheckBackend(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", c.Name, err)
		return 1
	}
	snap := leaktest.Take()
	code := m.Run()
	if c.After != nil {
		c.After()
	}
	if code == 0 {
		if err := snap.Check(3 * time.Second); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", c.Name, err)
			code = 1
		}
	}
	return code
}

// CheckBackend starts the engine and checks that it is the backend
// KSOCKET_BACKEND asks for, if it names one.
func CheckBackend() error {
	if _, err := engine.Default(); err != nil {
		return fmt.Errorf("no engine: %v", err)
	}
	inf, _ := engine.Probe()
	if want := os.Getenv("KSOCKET_BACKEND"); want != "" && want != "auto" && inf.Backend != want {
		return fmt.Errorf("KSOCKET_BACKEND=%s but the engine chose %s: %s", want, inf.Backend, inf.Reason)
	}
	return nil
}

// RaceEnabled reports whether the test binary has the race detector.
func RaceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}
