//go:build linux

package gonet

import (
	"context"
	"errors"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// opError wraps an engine error the way package net does: a
// *net.OpError around an *os.SyscallError for errnos, or around the
// sentinel itself (net.ErrClosed, os.ErrDeadlineExceeded).
func opError(op, syscall, network string, src, dst net.Addr, err error) error {
	if err == nil {
		return nil
	}
	// Only a bare errno is the syscall's: a resolver error may carry one
	// deeper down, and keeps its own shape.
	errno, isErrno := err.(unix.Errno)
	switch {
	case isErrno:
		err = os.NewSyscallError(syscall, errno)
	case errors.Is(err, context.Canceled):
		err = errCanceled
	case errors.Is(err, context.DeadlineExceeded):
		err = errTimeout
	}
	return &net.OpError{Op: op, Net: network, Source: src, Addr: dst, Err: err}
}

// canceledError and timeoutError are net's own values for a dial whose
// context ended (net.mapErr): the texts match, and errors.Is finds the
// context errors through them.
type canceledError struct{}

func (canceledError) Error() string        { return "operation was canceled" }
func (canceledError) Is(target error) bool { return target == context.Canceled }

type timeoutError struct{}

func (timeoutError) Error() string        { return "i/o timeout" }
func (timeoutError) Timeout() bool        { return true }
func (timeoutError) Temporary() bool      { return true }
func (timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

var (
	errCanceled error = canceledError{}
	errTimeout  error = timeoutError{}
)
