//go:build unix && !linux

package ksocket

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOtherSystemsReturnENOSYS checks the promise of ksocket_other.go: on a
// unix that is not Linux every Berkeley call fails with ENOSYS, and
// Getaddrinfo with EAI_SYSTEM wrapping it.
func TestOtherSystemsReturnENOSYS(t *testing.T) {
	calls := map[string]error{}
	_, calls["Socket"] = Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	_, calls["SocketConnection"] = SocketConnection(unix.AF_INET, unix.SOCK_STREAM, 0)
	_, calls["SocketListen"] = SocketListen(unix.AF_INET, unix.SOCK_STREAM, 0)
	_, calls["SocketDatagram"] = SocketDatagram(unix.AF_INET, unix.SOCK_DGRAM, 0)
	calls["Bind"] = Bind(3, &unix.SockaddrInet4{})
	calls["Listen"] = Listen(3, 1)
	calls["Connect"] = Connect(3, &unix.SockaddrInet4{})
	_, _, calls["Accept"] = Accept(3)
	_, calls["Send"] = Send(3, nil, 0)
	_, calls["Sendto"] = Sendto(3, nil, 0, nil)
	_, calls["Recv"] = Recv(3, nil, 0)
	_, _, calls["Recvfrom"] = Recvfrom(3, nil, 0)
	_, calls["Sendmsg"] = Sendmsg(3, nil, nil, 0, nil)
	_, _, _, _, calls["Recvmsg"] = Recvmsg(3, nil, nil, 0)
	_, calls["Sendmmsg"] = Sendmmsg(3, nil, 0)
	_, calls["Recvmmsg"] = Recvmmsg(3, nil, 0)
	calls["Shutdown"] = Shutdown(3, unix.SHUT_RDWR)
	_, calls["Getsockname"] = Getsockname(3)
	_, calls["Getpeername"] = Getpeername(3)
	calls["SetsockoptInt"] = SetsockoptInt(3, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	_, calls["GetsockoptInt"] = GetsockoptInt(3, unix.SOL_SOCKET, unix.SO_TYPE)
	calls["SetsockoptTimeval"] = SetsockoptTimeval(3, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{})
	_, calls["GetsockoptTimeval"] = GetsockoptTimeval(3, unix.SOL_SOCKET, unix.SO_RCVTIMEO)
	calls["Closesocket"] = Closesocket(3)
	_, calls["Probe"] = Probe()
	for name, err := range calls {
		if err != unix.ENOSYS {
			t.Errorf("%s = %v, want ENOSYS", name, err)
		}
	}
	_, err := Getaddrinfo("127.0.0.1", "80", nil)
	var ae *AddrinfoError
	if !errors.As(err, &ae) || ae.Code != EAI_SYSTEM || !errors.Is(err, unix.ENOSYS) {
		t.Errorf("Getaddrinfo = %v, want EAI_SYSTEM wrapping ENOSYS", err)
	}
}
