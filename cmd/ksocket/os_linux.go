//go:build linux

package main

import "github.com/ksocket-go/ksocket"

const linux = true
const goos = "linux"

// backendError says why ksocket has no backend, if it has none.
func backendError() error {
	_, err := ksocket.Probe()
	return err
}
