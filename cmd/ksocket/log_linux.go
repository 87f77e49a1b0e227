//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ksocket-go/ksocket"
)

// logger writes "RFC3339-time [backend] text" lines to stderr.
type logger struct {
	w       io.Writer
	backend string
}

// newLogger returns the logger. Off io_uring, its first line says why,
// naming the errno where setup failed.
func newLogger() *logger {
	inf, _ := ksocket.Probe()
	l := &logger{w: os.Stderr, backend: inf.Backend}
	if inf.Backend != "uring" && inf.Reason != "" {
		l.Printf("not on io_uring: %s", inf.Reason)
	}
	return l
}

func (l *logger) Printf(format string, a ...any) {
	fmt.Fprintf(l.w, "%s [%s] %s\n", time.Now().Format(time.RFC3339), l.backend, fmt.Sprintf(format, a...))
}
