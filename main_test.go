//go:build linux

package ksocket

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ksocket-go/ksocket/internal/testenv"
)

// TestMain points the resolver at files of the package's own, makes sure the
// backend asked for is the one in use, and checks that the tests leak
// neither goroutines nor file descriptors.
func TestMain(m *testing.M) {
	// ExampleGetaddrinfo names a service ("http"): the resolver's fixture
	// answers it, not the machine's /etc/services, which a minimal system
	// (no netbase) lacks. An absolute path, for the children tests start.
	if services, err := filepath.Abs("internal/resolv/testdata/services"); err == nil {
		os.Setenv("KSOCKET_SERVICES", services)
	}
	testenv.Main(m, testenv.Config{
		Name: "ksocket tests",
		Files: map[string]string{
			"hosts":       testenv.Hosts + "127.0.0.2 two.test\n::1 six.test\n",
			"resolv.conf": testenv.ResolvConf,
		},
	})
}
