//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "bench: Linux only: it pins processes with taskset and reads /proc")
	os.Exit(1)
}
