//go:build linux

package ksocket

import (
	"testing"

	"github.com/ksocket-go/ksocket/internal/testenv"
)

// TestMain points the resolver at files of the package's own, makes sure the
// backend asked for is the one in use, and checks that the tests leak
// neither goroutines nor file descriptors.
func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Config{
		Name: "ksocket tests",
		Files: map[string]string{
			"hosts":       testenv.Hosts + "127.0.0.2 two.test\n::1 six.test\n",
			"resolv.conf": testenv.ResolvConf,
		},
	})
}
