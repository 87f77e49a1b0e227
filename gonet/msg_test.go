//go:build linux

package gonet

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Control messages and batches, compared with net: each scenario runs on
// a pair of net's connections and on a pair of gonet's, and what the
// receiver sees must match.

// unixMsgConn is what *net.UnixConn and *UnixConn share.
type unixMsgConn interface {
	net.Conn
	ReadMsgUnix(b, oob []byte) (n, oobn, flags int, addr *net.UnixAddr, err error)
	WriteMsgUnix(b, oob []byte, addr *net.UnixAddr) (n, oobn int, err error)
	ReadFromUnix(b []byte) (int, *net.UnixAddr, error)
	WriteToUnix(b []byte, addr *net.UnixAddr) (int, error)
}

// unixImpl opens a connected pair of network in dir, with one library.
type unixImpl struct {
	name string
	pair func(t *testing.T, network, dir string) (a, b unixMsgConn)
}

var unixImpls = []unixImpl{
	{"net", func(t *testing.T, network, dir string) (unixMsgConn, unixMsgConn) {
		return unixPair(t, network, dir,
			func(n string, a *net.UnixAddr) (unixMsgConn, error) { return net.ListenUnixgram(n, a) },
			func(n string, a *net.UnixAddr) (net.Listener, error) { return net.ListenUnix(n, a) },
			func(n string, l, r *net.UnixAddr) (unixMsgConn, error) { return net.DialUnix(n, l, r) })
	}},
	{"gonet", func(t *testing.T, network, dir string) (unixMsgConn, unixMsgConn) {
		return unixPair(t, network, dir,
			func(n string, a *net.UnixAddr) (unixMsgConn, error) { return ListenUnixgram(n, a) },
			func(n string, a *net.UnixAddr) (net.Listener, error) { return ListenUnix(n, a) },
			func(n string, l, r *net.UnixAddr) (unixMsgConn, error) { return DialUnix(n, l, r) })
	}},
}

// unixPair returns two connected ends: for unixgram two bound sockets,
// the first dialed to the second; otherwise a dialed and an accepted one.
func unixPair(t *testing.T, network, dir string,
	listenGram func(string, *net.UnixAddr) (unixMsgConn, error),
	listen func(string, *net.UnixAddr) (net.Listener, error),
	dial func(string, *net.UnixAddr, *net.UnixAddr) (unixMsgConn, error)) (unixMsgConn, unixMsgConn) {
	t.Helper()
	at := func(name string) *net.UnixAddr { return &net.UnixAddr{Name: filepath.Join(dir, name), Net: network} }
	if network == "unixgram" {
		b, err := listenGram(network, at("b"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		a, err := dial(network, at("a"), at("b"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		return a, b
	}
	l, err := listen(network, at("l"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a, err := dial(network, nil, at("l"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b.(unixMsgConn)
}

// rights returns SCM_RIGHTS for n open files.
func rights(t *testing.T, n int) []byte {
	fds := make([]int, n)
	for i := range fds {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		fds[i] = int(f.Fd())
	}
	return unix.UnixRights(fds...)
}

// cmsgSummary describes oob, closing the descriptors it carries and
// noting whether each was close-on-exec.
func cmsgSummary(t *testing.T, oob []byte) string {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return "parse: " + err.Error()
	}
	s := ""
	for _, m := range msgs {
		s += fmt.Sprintf("[%d/%d/%d", m.Header.Level, m.Header.Type, len(m.Data))
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_RIGHTS {
			fds, err := unix.ParseUnixRights(&m)
			if err != nil {
				t.Fatal(err)
			}
			for _, fd := range fds {
				fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
				if err != nil {
					t.Fatalf("received fd %d: %v", fd, err)
				}
				s += fmt.Sprintf(" cloexec=%d", fl&unix.FD_CLOEXEC)
				unix.Close(fd)
			}
		}
		s += "]"
	}
	return s
}

// errShape is an error as a comparison sees it: the innermost error's
// text, or "ok".
func errShape(err error) string {
	if err == nil {
		return "ok"
	}
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

func TestUnixMsgWithNet(t *testing.T) {
	type scenario struct {
		name    string
		network string
		run     func(t *testing.T, a, b unixMsgConn, peer *net.UnixAddr) string
	}
	// sendRecv sends data with oob from a, and reads at b with room for
	// n bytes and m of control data.
	sendRecv := func(data []byte, oob func(*testing.T) []byte, n, m int) func(*testing.T, unixMsgConn, unixMsgConn, *net.UnixAddr) string {
		return func(t *testing.T, a, b unixMsgConn, _ *net.UnixAddr) string {
			var o []byte
			if oob != nil {
				o = oob(t)
			}
			wn, woobn, werr := a.WriteMsgUnix(data, o, nil)
			if werr != nil {
				return fmt.Sprintf("write: %d %d %s", wn, woobn, errShape(werr))
			}
			b.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf, ob := make([]byte, n), make([]byte, m)
			rn, roobn, flags, addr, rerr := b.ReadMsgUnix(buf, ob)
			return fmt.Sprintf("write %d %d; read %d %q %d %s flags %#x addr %v %s", wn, woobn,
				rn, buf[:min(rn, len(buf))], roobn, cmsgSummary(t, ob[:roobn]), flags, addr != nil, errShape(rerr))
		}
	}
	one := func(t *testing.T) []byte { return rights(t, 1) }
	scenarios := []scenario{
		{"stream/rights", "unix", sendRecv([]byte("fd"), one, 16, 64)},
		{"stream/rights-empty-data", "unix", sendRecv(nil, one, 0, 64)},
		{"stream/rights-ctrunc", "unix", sendRecv([]byte("fds"), func(t *testing.T) []byte { return rights(t, 4) }, 16, unix.CmsgSpace(4))},
		{"stream/no-oob", "unix", sendRecv([]byte("plain"), nil, 16, 64)},
		{"gram/rights", "unixgram", sendRecv([]byte("fd"), func(t *testing.T) []byte { return rights(t, 2) }, 16, 64)},
		{"gram/trunc", "unixgram", sendRecv([]byte("longer than four"), nil, 4, 64)},
		{"packet/rights", "unixpacket", sendRecv([]byte("pkt"), one, 16, 64)},
		{"packet/trunc", "unixpacket", sendRecv([]byte("a packet"), one, 2, 64)},
		{"gram/write-msg-connected", "unixgram", func(t *testing.T, a, b unixMsgConn, peer *net.UnixAddr) string {
			// net refuses WriteMsgUnix on a connected unixgram socket,
			// with or without an address.
			_, _, err1 := a.WriteMsgUnix([]byte("x"), nil, nil)
			_, _, err2 := a.WriteMsgUnix([]byte("x"), nil, peer)
			_, err3 := a.WriteToUnix([]byte("x"), peer)
			return errShape(err1) + "; " + errShape(err2) + "; " + errShape(err3)
		}},
		{"gram/write-to-unconnected", "unixgram", func(t *testing.T, a, b unixMsgConn, peer *net.UnixAddr) string {
			// b is bound, not connected: it answers a.
			back := a.LocalAddr().(*net.UnixAddr)
			_, err1 := b.WriteToUnix([]byte("x"), &net.UnixAddr{Name: back.Name, Net: "unix"})
			_, err2 := b.WriteToUnix([]byte("x"), nil)
			n, oobn, err3 := b.WriteMsgUnix([]byte("back"), rights(t, 1), back)
			buf, ob := make([]byte, 8), make([]byte, 64)
			a.SetReadDeadline(time.Now().Add(5 * time.Second))
			rn, roobn, _, from, err4 := a.ReadMsgUnix(buf, ob)
			return fmt.Sprintf("%s; %s; %d %d %s; %q %s from %v %s", errShape(err1), errShape(err2), n, oobn, errShape(err3),
				buf[:rn], cmsgSummary(t, ob[:roobn]), from, errShape(err4))
		}},
		{"stream/credentials", "unix", credentials},
		{"gram/credentials", "unixgram", credentials},
		{"packet/credentials", "unixpacket", credentials},
		{"stream/read-from", "unix", func(t *testing.T, a, b unixMsgConn, _ *net.UnixAddr) string {
			a.Write([]byte("hi"))
			buf := make([]byte, 8)
			b.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := b.ReadFromUnix(buf)
			return fmt.Sprintf("%q %v %s", buf[:n], from, errShape(err))
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			var got [2]string
			for i, impl := range unixImpls {
				dir := t.TempDir()
				a, b := impl.pair(t, sc.network, dir)
				peer := &net.UnixAddr{Name: filepath.Join(dir, "b"), Net: sc.network}
				got[i] = sc.run(t, a, b, peer)
				// The answer names this run's directory; the two differ.
				got[i] = strings.ReplaceAll(got[i], dir, "DIR")
			}
			t.Logf("net:   %s", got[0])
			if got[0] != got[1] {
				t.Errorf("gonet: %s\nnet:   %s", got[1], got[0])
			}
		})
	}
}

// credentials sends SCM_CREDENTIALS from a, with b asking for them
// (SO_PASSCRED), and reports what b reads: the kernel checks what a
// claims, so it sends its own pid, uid and gid, and then a pid not its
// own, which an unprivileged sender is refused and root may claim.
func credentials(t *testing.T, a, b unixMsgConn, _ *net.UnixAddr) string {
	rc, err := b.(interface {
		SyscallConn() (syscall.RawConn, error)
	}).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1) })
	s := ""
	for _, pid := range []int32{int32(os.Getpid()), 1} {
		creds := unix.UnixCredentials(&unix.Ucred{Pid: pid, Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())})
		wn, woobn, werr := a.WriteMsgUnix([]byte("cred"), creds, nil)
		s += fmt.Sprintf("write %d %d %s; ", wn, woobn, errShape(werr))
		if werr != nil {
			continue
		}
		b.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf, oob := make([]byte, 16), make([]byte, 64)
		n, oobn, flags, _, rerr := b.ReadMsgUnix(buf, oob)
		s += fmt.Sprintf("read %q %s flags %#x %s", buf[:n], cmsgSummary(t, oob[:oobn]), flags, errShape(rerr))
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if c, err := unix.ParseUnixCredentials(&m); err == nil {
					s += fmt.Sprintf(" pid-sent %v uid %v", c.Pid == pid, c.Uid == uint32(os.Getuid()))
				}
			}
		}
		s += "; "
	}
	return s
}

// TestUDPSegmentsWithNet sends with UDP_SEGMENT (GSO) and reads with and
// without UDP_GRO, then reads datagrams cut short by a small buffer
// (MSG_TRUNC) and control data cut short by a small oob (MSG_CTRUNC),
// on net and on gonet, with conns made at one P and at two: on the
// uring backend at one P, the plain reads after the GSO send go through
// the datagram queue. (The options that the truncation reads then ask
// for are set through SyscallConn, which takes the conn off the queue;
// the engine's tests cover MSG_TRUNC through the queue.)
func TestUDPSegmentsWithNet(t *testing.T) {
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprintf("procs=%d", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			forUDPFamilies(t, testUDPSegmentsWithNet)
		})
	}
}

func testUDPSegmentsWithNet(t *testing.T, fam udpFamily) {
	listens := []func(*net.UDPAddr) (udpMsgConn, error){
		func(a *net.UDPAddr) (udpMsgConn, error) { return net.ListenUDP(fam.network, a) },
		func(a *net.UDPAddr) (udpMsgConn, error) { return ListenUDP(fam.network, a) },
	}
	var got [2]string
	for i, listen := range listens {
		open := func() udpMsgConn {
			c, err := listen(&net.UDPAddr{IP: fam.loopback})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		}
		cli, gro, plain := open(), open(), open()
		setInt := func(c udpMsgConn, level, opt int) {
			rc, _ := c.SyscallConn()
			rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), level, opt, 1) })
		}
		setInt(gro, unix.SOL_UDP, unix.UDP_GRO)
		segment := make([]byte, unix.CmsgSpace(2))
		h := (*unix.Cmsghdr)(unsafe.Pointer(&segment[0]))
		h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
		h.SetLen(unix.CmsgLen(2))
		*(*uint16)(unsafe.Pointer(&segment[unix.CmsgLen(0)])) = 1000
		payload := bytes.Repeat([]byte("0123456789"), 350)

		var out string
		for _, to := range []udpMsgConn{gro, plain} {
			n, oobn, err := cli.WriteMsgUDP(payload, segment, to.LocalAddr().(*net.UDPAddr))
			out += fmt.Sprintf("gso write %d %d %s; ", n, oobn, errShape(err))
		}
		gro.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf, oob := make([]byte, 8192), make([]byte, 64)
		n, oobn, flags, _, err := gro.ReadMsgUDP(buf, oob)
		out += fmt.Sprintf("gro read %d equal %v flags %#x %s", n, bytes.Equal(buf[:n], payload), flags, errShape(err))
		if msgs, perr := unix.ParseSocketControlMessage(oob[:oobn]); perr == nil {
			for _, m := range msgs {
				out += fmt.Sprintf(" [%d/%d %d]", m.Header.Level, m.Header.Type, *(*int32)(unsafe.Pointer(&m.Data[0])))
			}
		}
		out += "; plain reads"
		plain.SetReadDeadline(time.Now().Add(5 * time.Second))
		for range 4 {
			n, _, flags, _, err := plain.ReadMsgUDP(buf, nil)
			out += fmt.Sprintf(" %d/%#x/%s", n, flags, errShape(err))
		}

		// A datagram larger than the buffer: cut, with MSG_TRUNC,
		// with no oob, with room for the control data and with too
		// little.
		setInt(plain, fam.level, fam.recvDst)
		setInt(plain, fam.level, fam.recvClass)
		for _, ob := range [][]byte{nil, make([]byte, 128), make([]byte, unix.CmsgSpace(1))} {
			if _, err := cli.WriteTo([]byte("longer than four"), plain.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			small := make([]byte, 4)
			n, oobn, flags, _, err := plain.ReadMsgUDP(small, ob)
			out += fmt.Sprintf("; oob %d: read %q oobn>0 %v trunc %v ctrunc %v %s", len(ob), small[:n], oobn > 0,
				flags&unix.MSG_TRUNC != 0, flags&unix.MSG_CTRUNC != 0, errShape(err))
		}
		got[i] = out
	}
	t.Logf("net:   %s", got[0])
	if got[0] != got[1] {
		t.Errorf("gonet: %s\nnet:   %s", got[1], got[0])
	}
}

// udpMsgConn is what *net.UDPConn and *UDPConn share for control
// messages.
type udpMsgConn interface {
	net.PacketConn
	ReadMsgUDP(b, oob []byte) (n, oobn, flags int, addr *net.UDPAddr, err error)
	WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (n, oobn int, err error)
	SyscallConn() (syscall.RawConn, error)
}

// udpFamily is what differs between the IPv4 and IPv6 runs of the UDP
// tests: the loopback address, the options that ask for the destination
// address and the traffic class, the cmsg that sets it, and x/net's parse
// of what arrives.
type udpFamily struct {
	network   string
	loopback  net.IP
	level     int
	recvDst   int // IP_PKTINFO, IPV6_RECVPKTINFO
	recvClass int // IP_RECVTOS, IPV6_RECVTCLASS
	class     int // IP_TOS, IPV6_TCLASS: the cmsg type, both ways
	parse     func(oob []byte) (dst net.IP, ifindex int, err error)
}

var udpFamilies = []udpFamily{
	{"udp4", net.IPv4(127, 0, 0, 1), unix.IPPROTO_IP, unix.IP_PKTINFO, unix.IP_RECVTOS, unix.IP_TOS,
		func(oob []byte) (net.IP, int, error) {
			var cm ipv4.ControlMessage
			err := cm.Parse(oob)
			return cm.Dst, cm.IfIndex, err
		}},
	{"udp6", net.IPv6loopback, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, unix.IPV6_RECVTCLASS, unix.IPV6_TCLASS,
		func(oob []byte) (net.IP, int, error) {
			var cm ipv6.ControlMessage
			err := cm.Parse(oob)
			return cm.Dst, cm.IfIndex, err
		}},
}

// forUDPFamilies runs f once per family, skipping IPv6 where ::1 cannot
// be bound.
func forUDPFamilies(t *testing.T, f func(t *testing.T, fam udpFamily)) {
	for _, fam := range udpFamilies {
		t.Run(fam.network, func(t *testing.T) {
			c, err := net.ListenUDP(fam.network, &net.UDPAddr{IP: fam.loopback})
			if err != nil {
				t.Skipf("no %s loopback here: %v", fam.network, err)
			}
			c.Close()
			f(t, fam)
		})
	}
}

// TestUDPMsgWithNet sends a datagram with a traffic class set by cmsg
// and reads it with its destination address and class, on net and on
// gonet, for IPv4 and IPv6: what x/net's ipv4 and ipv6 ControlMessage
// parse out of the oob must match.
func TestUDPMsgWithNet(t *testing.T) { forUDPFamilies(t, testUDPMsgWithNet) }

func testUDPMsgWithNet(t *testing.T, fam udpFamily) {
	impls := []struct {
		name   string
		listen func(*net.UDPAddr) (udpMsgConn, error)
		dial   func(*net.UDPAddr) (udpMsgConn, error)
	}{
		{"net", func(a *net.UDPAddr) (udpMsgConn, error) { return net.ListenUDP(fam.network, a) },
			func(a *net.UDPAddr) (udpMsgConn, error) { return net.DialUDP(fam.network, nil, a) }},
		{"gonet", func(a *net.UDPAddr) (udpMsgConn, error) { return ListenUDP(fam.network, a) },
			func(a *net.UDPAddr) (udpMsgConn, error) { return DialUDP(fam.network, nil, a) }},
	}
	var got [2]string
	for i, impl := range impls {
		srv, err := impl.listen(&net.UDPAddr{IP: fam.loopback})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		cli, err := impl.dial(srv.LocalAddr().(*net.UDPAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		// Ask for the destination address and the traffic class, as
		// quic-go does, and send with a class of our own.
		rc, _ := srv.SyscallConn()
		rc.Control(func(fd uintptr) {
			unix.SetsockoptInt(int(fd), fam.level, fam.recvDst, 1)
			unix.SetsockoptInt(int(fd), fam.level, fam.recvClass, 1)
		})
		class := make([]byte, unix.CmsgSpace(4))
		h := (*unix.Cmsghdr)(unsafe.Pointer(&class[0]))
		h.Level, h.Type = int32(fam.level), int32(fam.class)
		h.SetLen(unix.CmsgLen(4))
		class[unix.CmsgLen(0)] = 0x02 // ECT(0)
		var out string
		n, oobn, err := cli.WriteMsgUDP([]byte("datagram"), class, nil)
		out += fmt.Sprintf("write %d %d %s; ", n, oobn, errShape(err))
		_, _, err = cli.WriteMsgUDP([]byte("x"), nil, srv.LocalAddr().(*net.UDPAddr))
		out += "connected+addr " + errShape(err) + "; "
		_, _, err = srv.WriteMsgUDP([]byte("x"), nil, nil)
		out += "unconnected-no-addr " + errShape(err) + "; "

		srv.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf, oob := make([]byte, 64), make([]byte, 128)
		n, oobn, flags, from, err := srv.ReadMsgUDP(buf, oob)
		dst, ifindex, perr := fam.parse(oob[:oobn])
		out += fmt.Sprintf("read %q %d flags %#x from-cli %v %s; parse %s dst %v ifindex>0 %v",
			buf[:n], oobn, flags, from.String() == cli.LocalAddr().String(), errShape(err), errShape(perr), dst, ifindex > 0)
		// The class: x/net parses neither IP_TOS nor IPV6_TCLASS.
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		for _, m := range msgs {
			if m.Header.Level == int32(fam.level) && m.Header.Type == int32(fam.class) {
				out += fmt.Sprintf(" class %#x/%d", m.Data[0], len(m.Data))
			}
		}
		got[i] = out
	}
	t.Logf("net:   %s", got[0])
	if got[0] != got[1] {
		t.Errorf("gonet: %s\nnet:   %s", got[1], got[0])
	}
}

// TestBatchWithNet sends a batch with WriteBatch and reads it with
// ReadBatch, on gonet, and on net through x/net's ipv4.PacketConn and
// ipv6.PacketConn; ipv4.Message and ipv6.Message are the same type.
func TestBatchWithNet(t *testing.T) { forUDPFamilies(t, testBatchWithNet) }

func testBatchWithNet(t *testing.T, fam udpFamily) {
	type batcher interface {
		ReadBatch([]ipv4.Message, int) (int, error)
		WriteBatch([]ipv4.Message, int) (int, error)
		SetReadDeadline(time.Time) error
	}
	laddr := &net.UDPAddr{IP: fam.loopback}
	impls := []struct {
		name string
		open func(t *testing.T) (a, b batcher, baddr net.Addr)
	}{
		{"net", func(t *testing.T) (batcher, batcher, net.Addr) {
			a, err := net.ListenUDP(fam.network, laddr)
			if err != nil {
				t.Fatal(err)
			}
			b, err := net.ListenUDP(fam.network, laddr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close(); b.Close() })
			if fam.network == "udp6" {
				return ipv6.NewPacketConn(a), ipv6.NewPacketConn(b), b.LocalAddr()
			}
			return ipv4.NewPacketConn(a), ipv4.NewPacketConn(b), b.LocalAddr()
		}},
		{"gonet", func(t *testing.T) (batcher, batcher, net.Addr) {
			a, err := ListenUDP(fam.network, laddr)
			if err != nil {
				t.Fatal(err)
			}
			b, err := ListenUDP(fam.network, laddr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close(); b.Close() })
			return a, b, b.LocalAddr()
		}},
	}
	var got [2]string
	for i, impl := range impls {
		a, b, baddr := impl.open(t)
		out := make([]ipv4.Message, 8)
		for j := range out {
			// Two buffers per message: the kernel gathers them.
			out[j] = ipv4.Message{Buffers: [][]byte{[]byte(fmt.Sprintf("m%d-", j)), []byte("tail")}, Addr: baddr}
		}
		out[7].Buffers = [][]byte{make([]byte, 100)} // truncated at the receiver
		n, err := a.WriteBatch(out, 0)
		s := fmt.Sprintf("wrote %d %s:", n, errShape(err))
		for j := range n {
			s += fmt.Sprintf(" %d", out[j].N)
		}
		b.SetReadDeadline(time.Now().Add(5 * time.Second))
		in := make([]ipv4.Message, 16)
		for j := range in {
			in[j].Buffers = [][]byte{make([]byte, 4), make([]byte, 6)}
		}
		total := 0
		for total < n {
			r, err := b.ReadBatch(in[total:], 0)
			if err != nil {
				s += "; read " + errShape(err)
				break
			}
			total += r
		}
		s += fmt.Sprintf("; read %d:", total)
		for _, m := range in[:total] {
			data := append(append([]byte{}, m.Buffers[0]...), m.Buffers[1]...)
			s += fmt.Sprintf(" %q/%d/%#x/%T", data[:m.N], m.N, m.Flags, m.Addr)
		}
		// Nothing left: a deadline ends the wait.
		b.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		_, err = b.ReadBatch(in, 0)
		s += fmt.Sprintf("; empty: timeout %v", errors.Is(err, os.ErrDeadlineExceeded))
		got[i] = s
	}
	t.Logf("net:   %s", got[0])
	if got[0] != got[1] {
		t.Errorf("gonet: %s\nnet:   %s", got[1], got[0])
	}
}
