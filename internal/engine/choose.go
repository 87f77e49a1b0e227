//go:build linux

package engine

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Info describes the engine in use: what `ksocket probe` prints.
type Info struct {
	Backend     string   // "uring" or "epoll"
	Reason      string   // why this backend, in one line
	SetupErr    error    // io_uring_setup's errno, when setup was tried and failed
	Kernel      string   // uname release
	Masked      []string // features masked by KSOCKET_FEATURES
	SetupFlags  []string // io_uring setup flags in use
	RingCalls   []string // calls that go through the ring
	SysCalls    []string // calls made as plain syscalls
	InlineWait  string   // uring: longest wait on the caller's thread
	PolledWait  string   // uring: "on", or "off (why)": an op alone on its ring waits in the netpoller on the ring's fd
	Rings       int      // uring: how many rings (one per P at start-up, or KSOCKET_RINGS)
	RingEntries string   // uring: the SQ and CQ sizes of each ring
	Restricted  string   // uring: "yes", or "no (why)": see EnableRestricted
	AllowedOps  []string // uring: the opcodes a restricted ring allows
}

// Probe returns what Default chose and why. With an unusable configuration
// (say KSOCKET_BACKEND=uring and no io_uring) Info.SetupErr or the error says
// why.
func Probe() (Info, error) {
	_, err := Default()
	return *defaultInfo, err
}

func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// choose picks the backend for the value of KSOCKET_BACKEND.
func choose(mode string) (*Engine, *Info, error) {
	inf := &Info{Kernel: kernelRelease()}
	mask, err := parseFeatures(os.Getenv("KSOCKET_FEATURES"))
	if err != nil {
		inf.Backend, inf.Reason = "none", err.Error()
		return nil, inf, err
	}
	for _, f := range features {
		if mask[f.name] {
			inf.Masked = append(inf.Masked, f.name)
		}
	}
	epoll := func(reason string) (*Engine, *Info, error) {
		inf.Backend, inf.Reason = "epoll", reason
		b := newEpoll(inf)
		return &Engine{b: b}, inf, nil
	}
	switch mode {
	case "epoll":
		return epoll("KSOCKET_BACKEND=epoll")
	case "", "auto", "uring":
	default:
		err := fmt.Errorf("KSOCKET_BACKEND=%q: want auto, uring or epoll", mode)
		inf.Backend, inf.Reason = "none", err.Error()
		return nil, inf, err
	}
	strict := mode == "uring"
	disabled := ioUringDisabled()
	if !strict && disabled == 2 {
		return epoll("kernel.io_uring_disabled=2: io_uring is off for every process")
	}
	b, err := newUring(inf, mask)
	if err == nil {
		inf.Backend = "uring"
		if strict {
			inf.Reason = "KSOCKET_BACKEND=uring"
		} else {
			inf.Reason = "io_uring works here"
		}
		return &Engine{b: b}, inf, nil
	}
	inf.SetupErr = err
	why := "io_uring_setup: " + errnoText(err)
	if disabled == 1 {
		why = "kernel.io_uring_disabled=1 and " + why
	}
	if strict {
		inf.Backend, inf.Reason = "none", "KSOCKET_BACKEND=uring, but "+why
		return nil, inf, err
	}
	return epoll(why)
}

// errnoText renders an errno as "EPERM (operation not permitted)".
func errnoText(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		if name := unix.ErrnoName(errno); name != "" {
			return fmt.Sprintf("%s (%s)", name, errno.Error())
		}
	}
	return err.Error()
}

func flagNames(flags uint32, names map[uint32]string) []string {
	var out []string
	for bit := uint32(1); bit != 0; bit <<= 1 {
		if flags&bit != 0 {
			if n, ok := names[bit]; ok {
				out = append(out, n)
			} else {
				out = append(out, fmt.Sprintf("%#x", bit))
			}
		}
	}
	return out
}
