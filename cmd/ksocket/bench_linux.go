//go:build linux

package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func init() {
	commands = append(commands, &command{
		name: "bench", args: "[harness flags]", passArgs: true,
		summary: "compare echo servers: Go net, gnet and ksocket's engines, pinned to separate CPUs",
		long: `It runs 'go run ./cmd/bench' in the bench/ module of a source checkout and
hands every argument on, so 'ksocket bench --quick' is a one-minute run and
'ksocket bench -points echo-c64 -rounds 5' one point. In a checkout,
'cd bench && go run ./cmd/bench --help' lists the harness's flags.`,
		setFlags: func(fs *flag.FlagSet) func([]string) error {
			return func(args []string) error {
				dir, ok := findBenchDir()
				if !ok {
					return exitError{1, "needs a source checkout: clone github.com/ksocket-go/ksocket, then run 'cd bench && go run ./cmd/bench'"}
				}
				cmd := exec.Command("go", append([]string{"run", "./cmd/bench"}, args...)...)
				cmd.Dir = dir
				cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
				if err := cmd.Run(); err != nil {
					var ee *exec.ExitError
					if errors.As(err, &ee) {
						return exitError{ee.ExitCode(), ""} // the harness said why
					}
					return fmt.Errorf("go run ./cmd/bench: %w", err)
				}
				return nil
			}
		},
	})
}

// findBenchDir looks upward from the working directory for the checkout's
// bench/ module.
func findBenchDir() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "bench", "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/ksocket-go/ksocket/bench") {
			return filepath.Join(dir, "bench"), true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}
