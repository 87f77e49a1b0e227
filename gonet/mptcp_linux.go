//go:build linux

package gonet

import (
	"os"
	"strings"
	"sync"

	"github.com/ksocket-go/ksocket/internal/engine"
	"golang.org/x/sys/unix"
)

// Multipath TCP, with net's defaults (Go 1.24 on): listeners use it where
// the kernel has it, dialers only when asked; GODEBUG=multipathtcp=0, 1, 2
// or 3 changes the defaults as it does for net. A socket that cannot be
// made with IPPROTO_MPTCP (no kernel support, net.mptcp.enabled=0) is made
// as plain TCP instead.

// mptcpStatus is a tristate: the default, or what SetMultipathTCP said.
type mptcpStatus uint8

const (
	mptcpDefault mptcpStatus = iota
	mptcpOn
	mptcpOff
)

// use reports whether MPTCP is wanted, for a dialer or a listener.
func (m mptcpStatus) use(listen bool) bool {
	switch m {
	case mptcpOn:
		return true
	case mptcpOff:
		return false
	}
	switch godebugMPTCP() {
	case "0": // off everywhere
		return false
	case "1": // on everywhere
		return true
	case "2": // the default: listeners only
		return listen
	case "3": // dialers only
		return !listen
	}
	return listen
}

func mptcpSet(use bool) mptcpStatus {
	if use {
		return mptcpOn
	}
	return mptcpOff
}

// godebugMPTCP returns the last multipathtcp setting in GODEBUG.
func godebugMPTCP() string {
	v := ""
	for _, kv := range strings.Split(os.Getenv("GODEBUG"), ",") {
		if val, ok := strings.CutPrefix(strings.TrimSpace(kv), "multipathtcp="); ok {
			v = val
		}
	}
	return v
}

// supportsMPTCP reports whether the kernel makes MPTCP sockets, as net
// decides it: EPROTONOSUPPORT or EINVAL mean no, anything else (even an
// error) yes.
var supportsMPTCP = sync.OnceValue(func() bool {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_MPTCP)
	if err == nil {
		unix.Close(fd)
	}
	return err != unix.EPROTONOSUPPORT && err != unix.EINVAL
})

// streamSocket makes a TCP socket on e, with IPPROTO_MPTCP when mptcp is
// set and the kernel has it, falling back to plain TCP where that fails.
func streamSocket(e *engine.Engine, family int, mptcp bool, cat engine.Category) (*engine.Socket, error) {
	if mptcp && supportsMPTCP() {
		if s, err := e.Socket(family, unix.SOCK_STREAM, unix.IPPROTO_MPTCP, cat); err == nil {
			return s, nil
		}
	}
	return e.Socket(family, unix.SOCK_STREAM, 0, cat)
}

// MultipathTCP reports whether Dial uses Multipath TCP: by default not,
// unless GODEBUG says so.
func (d *Dialer) MultipathTCP() bool { return d.mptcp.use(false) }

// SetMultipathTCP sets whether Dial uses Multipath TCP where the kernel
// has it.
func (d *Dialer) SetMultipathTCP(use bool) { d.mptcp = mptcpSet(use) }

// MultipathTCP reports whether Listen uses Multipath TCP: by default yes,
// unless GODEBUG says otherwise.
func (lc *ListenConfig) MultipathTCP() bool { return lc.mptcp.use(true) }

// SetMultipathTCP sets whether Listen uses Multipath TCP where the kernel
// has it.
func (lc *ListenConfig) SetMultipathTCP(use bool) { lc.mptcp = mptcpSet(use) }

// MultipathTCP reports whether the connection is using Multipath TCP: it
// asked for it, and neither the peer nor a device between fell back to
// TCP, as the kernel's MPTCP_INFO tells.
func (c *TCPConn) MultipathTCP() (bool, error) {
	using := false
	err := c.s.Control(func(fd int) error {
		if !supportsMPTCP() {
			return nil
		}
		_, err := unix.GetsockoptInt(fd, unix.SOL_MPTCP, mptcpInfo)
		switch err {
		case unix.EOPNOTSUPP, unix.ENOPROTOOPT: // a TCP socket, or one that fell back
		case nil:
			using = true
		default:
			// Before Linux 5.16 there is no SOL_MPTCP: the protocol
			// the socket was made with is the best answer.
			proto, perr := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
			using = perr == nil && proto == unix.IPPROTO_MPTCP
		}
		return nil
	})
	if err != nil {
		return false, opError("get", "getsockopt", c.network(), c.laddr, c.raddr, err)
	}
	return using, nil
}

// mptcpInfo is MPTCP_INFO (include/uapi/linux/mptcp.h).
const mptcpInfo = 1
