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

func newLogger() *logger {
	inf, _ := ksocket.Probe()
	return &logger{w: os.Stderr, backend: inf.Backend}
}

func (l *logger) Printf(format string, a ...any) {
	fmt.Fprintf(l.w, "%s [%s] %s\n", time.Now().Format(time.RFC3339), l.backend, fmt.Sprintf(format, a...))
}
