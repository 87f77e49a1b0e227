//go:build linux

package resolv

import (
	"fmt"
	"os"
	"testing"

	"github.com/ksocket-go/ksocket/internal/testenv"
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
	// glibc's resolver reads these too; neither ours nor glibc (in the
	// differential tests) may see the caller's.
	for _, v := range []string{"LOCALDOMAIN", "RES_OPTIONS", "HOSTALIASES"} {
		os.Unsetenv(v)
	}
	testenv.Main(m, testenv.Config{
		Name: "resolv tests",
		Files: map[string]string{
			"hosts":         testenv.Hosts,
			"resolv.conf":   fmt.Sprintf("nameserver %v\noptions timeout:1 attempts:1\n", deadNameserver()),
			"nsswitch.conf": "hosts: files dns\n",
		},
		After: stopSharedDNS,
	})
}
