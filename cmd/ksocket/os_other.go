//go:build !linux

package main

import (
	"flag"
	"runtime"
)

const linux = false

var goos = runtime.GOOS

// Outside Linux the commands exist, so --help works, but say they need it.
func init() {
	for _, name := range []string{"demo", "get", "listen", "send", "echo", "probe", "bench"} {
		commands = append(commands, &command{
			name: name, summary: "(needs Linux)",
			setFlags: func(*flag.FlagSet) func([]string) error {
				return func([]string) error { return nil }
			},
		})
	}
}

func backendError() error { return nil }
