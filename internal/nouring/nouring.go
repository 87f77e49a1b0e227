//go:build linux

// Package nouring makes io_uring_setup fail in this process and every
// process it starts, with the errno a container runtime's seccomp profile
// gives: EPERM for Docker ≥ 25 and containerd 2, ENOSYS for Podman and
// gVisor. Tests use it to prove that ksocket falls back to epoll there, and
// that KSOCKET_BACKEND=uring fails with that errno.
//
// A filter cannot be removed once installed, so a test applies it in a child:
// it starts its own binary with KSOCKET_NOURING=EPERM (or ENOSYS) in the
// environment, and an init function of the test package calls ExecIfAsked,
// which installs the filter and execs the real program (the test binary
// again, or KSOCKET_NOURING_EXEC) before anything else runs.
package nouring

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// EnvErrno asks ExecIfAsked for a filter: "EPERM" or "ENOSYS".
	EnvErrno = "KSOCKET_NOURING"
	// EnvExec names the program ExecIfAsked execs; empty means this one.
	EnvExec = "KSOCKET_NOURING_EXEC"
	// EnvActive is set in the exec'd program to the errno in force.
	EnvActive = "KSOCKET_NOURING_ACTIVE"
)

// auditArch is the AUDIT_ARCH_* value of seccomp_data.arch for this
// build; 0 means the filter is not written for it.
var auditArch = map[string]uint32{
	"amd64": unix.AUDIT_ARCH_X86_64,
	"arm64": unix.AUDIT_ARCH_AARCH64,
}[runtime.GOARCH]

// Offsets into struct seccomp_data (linux/seccomp.h).
const (
	offNr   = 0
	offArch = 4
)

// Filter returns the BPF program: on this architecture, io_uring_setup
// returns errno; every other call, and every call of another architecture's
// ABI, is allowed.
func Filter(errno unix.Errno) ([]unix.SockFilter, error) {
	if auditArch == 0 {
		return nil, fmt.Errorf("nouring: no seccomp filter for GOARCH=%s", runtime.GOARCH)
	}
	if errno == 0 || errno > unix.SECCOMP_RET_DATA {
		return nil, fmt.Errorf("nouring: errno %d out of range", errno)
	}
	return []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: offArch},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 3, K: auditArch},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: offNr},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.SYS_IO_URING_SETUP},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(errno)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}, nil
}

// Deny installs the filter on every thread of the process
// (SECCOMP_FILTER_FLAG_TSYNC), after PR_SET_NO_NEW_PRIVS, which lets a
// process without CAP_SYS_ADMIN install one. It is irreversible and
// inherited across fork and exec.
func Deny(errno unix.Errno) error {
	prog, err := Filter(errno)
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("nouring: prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if e != 0 {
		return fmt.Errorf("nouring: seccomp(SECCOMP_SET_MODE_FILTER): %w", e)
	}
	if r != 0 {
		// With TSYNC, a positive result is a thread that could not be
		// synchronized.
		return fmt.Errorf("nouring: seccomp: thread %d could not take the filter", r)
	}
	return nil
}

// ErrnoByName returns EPERM, ENOSYS, EACCES or EINVAL by name, or 0.
func ErrnoByName(name string) unix.Errno {
	for _, e := range []unix.Errno{unix.EPERM, unix.ENOSYS, unix.EACCES, unix.EINVAL, unix.ENOMEM} {
		if unix.ErrnoName(e) == name {
			return e
		}
	}
	return 0
}

// ExecIfAsked does nothing unless EnvErrno is set. Then it installs the
// filter and execs EnvExec (or this program again) with the same arguments,
// EnvErrno removed and EnvActive set. It never returns in that case: a
// failure is reported on stderr with exit status 97.
func ExecIfAsked() {
	name := os.Getenv(EnvErrno)
	if name == "" {
		return
	}
	fail := func(err error) {
		fmt.Fprintf(os.Stderr, "%s=%s: %v\n", EnvErrno, name, err)
		os.Exit(97)
	}
	errno := ErrnoByName(name)
	if errno == 0 {
		fail(fmt.Errorf("want EPERM, ENOSYS, EACCES, EINVAL or ENOMEM"))
	}
	target := os.Getenv(EnvExec)
	argv := os.Args
	if target != "" {
		argv = append([]string{filepath.Base(target)}, os.Args[1:]...)
	} else {
		exe, err := os.Executable()
		if err != nil {
			fail(err)
		}
		target = exe
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, EnvErrno+"=") && !strings.HasPrefix(kv, EnvExec+"=") && !strings.HasPrefix(kv, EnvActive+"=") {
			env = append(env, kv)
		}
	}
	env = append(env, EnvActive+"="+name)
	runtime.LockOSThread() // the filter and the exec on one thread, though TSYNC covers all
	if err := Deny(errno); err != nil {
		fail(err)
	}
	fail(syscall.Exec(target, argv, env))
}

// Active returns the errno the filter gives in this process, as set by
// ExecIfAsked, or 0.
func Active() unix.Errno {
	return ErrnoByName(os.Getenv(EnvActive))
}

// Setup calls io_uring_setup with a one-entry ring and returns its errno (0
// if it succeeded, and the ring is closed). It checks a filter is in force.
func Setup() unix.Errno {
	var params [120]byte // struct io_uring_params
	fd, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, 1, uintptr(unsafe.Pointer(&params)), 0)
	if e == 0 {
		unix.Close(int(fd))
	}
	return e
}
