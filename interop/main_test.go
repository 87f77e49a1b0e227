//go:build linux

package interop

import (
	"testing"

	"github.com/ksocket-go/ksocket/internal/testenv"
)

// TestMain points the resolver at the package's own files, checks that the
// backend asked for is in use, and checks for leaked goroutines and fds.
func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Config{
		Name:  "interop tests",
		Files: map[string]string{"hosts": testenv.Hosts, "resolv.conf": testenv.ResolvConf},
	})
}
