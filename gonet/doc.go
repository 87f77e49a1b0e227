// Package gonet runs Go's net interfaces on ksocket's completion engine:
// net.Conn, net.Listener and net.PacketConn whose reads, writes, accepts
// and dials are io_uring requests (or, where io_uring is blocked, waits in
// Go's own netpoller). Code written against net runs on the ring by swapping
// one constructor:
//
//	ln, err := gonet.Listen("tcp", ":8080") // instead of net.Listen
//	http.Serve(ln, handler)
//
// and an http.Transport whose DialContext is (&gonet.Dialer{}).DialContext
// makes a client that dials through it. net/http and crypto/tls work
// unchanged.
//
// Networks: tcp, tcp4, tcp6, udp, udp4, udp6, unix, unixgram and
// unixpacket. Raw IP sockets (net's "ip" networks, IPConn and
// Dialer.DialIP) are not part of gonet. Host names
// are resolved with ksocket's getaddrinfo (numeric hosts, the hosts file,
// and DNS over ksocket's own sockets). Listening on "tcp" or "udp" with an
// empty host opens one dual-stack IPv6 socket, as net does.
//
// The connection types offer what users of *net.TCPConn and *net.UDPConn
// rely on: CloseRead, CloseWrite, SetNoDelay, SetKeepAlive(Period),
// SetReadBuffer, SetWriteBuffer, ReadFrom and WriteTo for UDP, LocalAddr and
// RemoteAddr as *net.TCPAddr, *net.UDPAddr or *net.UnixAddr, and
// SyscallConn. Deadlines can move while a call is pending, Close unblocks
// pending calls, and a dial can be cancelled through its context. Listen
// returns a *TCPListener or *UnixListener (AcceptTCP, AcceptUnix,
// SetUnlinkOnClose), and net's typed constructors are here with gonet's
// types: DialTCP, DialUDP, DialUnix, ListenTCP, ListenUDP, ListenUnix,
// ListenUnixgram and DialTimeout. Unix sockets of every type are a
// *UnixConn, as in net. Keep-alives follow net's, defaults and all:
// Dialer and ListenConfig take KeepAlive and KeepAliveConfig, and TCPConn has
// SetKeepAliveConfig. Control messages go through ReadMsgUDP/WriteMsgUDP
// (IP_PKTINFO, IP_TOS, and the rest that x/net/ipv4 builds) and
// ReadMsgUnix/WriteMsgUnix (SCM_RIGHTS, SCM_CREDENTIALS), as IORING_OP_RECVMSG
// and IORING_OP_SENDMSG requests; descriptors received are close-on-exec.
// ListenMulticastUDP joins a group as net's does, and listening on a group
// address shares the port (SO_REUSEADDR on the wildcard address), as in
// net. Dialer races the two address families as net does (Happy
// Eyeballs, FallbackDelay), splits a deadline over the addresses it tries,
// and cancels the losing connects on the ring; ControlContext, Cancel and
// Resolver (a *net.Resolver, whose lookups then run on package net) work
// as net's. Multipath TCP follows net's defaults: listeners use it where
// the kernel has it, dialers when SetMultipathTCP(true) (or GODEBUG) asks,
// and TCPConn.MultipathTCP tells whether a connection kept it.
// TCPConn.ReadFrom moves a regular file's bytes to the socket inside the
// kernel (IORING_OP_SPLICE through a pipe at GOMAXPROCS=1; sendfile(2), as
// net, at more Ps, where the op is masked and on epoll), so http.ServeFile
// and io.Copy from an
// *os.File never copy through user memory; between two gonet stream
// connections (a proxy's io.Copy, either way round) the bytes are spliced
// from socket to socket, and io.Copy from a TCPConn into a regular file
// splices too.
//
// Errors have the standard library's shape: *net.OpError{Op, Net, Source,
// Addr, Err} wrapping an *os.SyscallError or a sentinel, so
// errors.Is(err, net.ErrClosed), errors.Is(err, os.ErrDeadlineExceeded),
// err.(net.Error).Timeout() and errors.Is(err, syscall.ECONNREFUSED) work as
// with net.
//
// A Read that times out or is closed returns only after the kernel has
// released the caller's buffer.
//
// A Listener on the uring backend keeps one multishot accept armed, so a
// burst of clients costs one pass of the ring rather than one each; it
// accepts at most about 128 connections ahead of Accept, and Close closes
// those nobody took. Listen sets TCP_NODELAY and keep-alive on the
// listening socket, and accepted connections inherit them.
//
// A UDPConn made at GOMAXPROCS=1 on the uring backend (Linux 6.0+)
// receives through one multishot recvmsg into provided buffers, each large
// enough for any UDP datagram, and its ReadFrom, Read and ReadMsgUDP with
// no oob buffer take datagrams from a queue of at most about 128. Made at
// more Ps, or on the epoll backend, it reads ahead instead: a plain read
// that finds nothing read ahead makes one recvmmsg(2) for its datagram and
// up to 15 more, which the plain reads after it take without a syscall.
// (The multishot lost at more Ps: the kernel completes its datagrams on
// the thread that armed it, and with more Ps that thread is often asleep,
// so each datagram cost a thread wake-up; 64 B echo at two Ps: 0.77x net
// with the multishot, 1.19x without. At one P it beats reading ahead.) At
// one P, when the runtime moves its P to another thread, the multishot
// follows within 32 datagrams. The first read that asks for control data
// (ReadMsgUDP with an oob buffer) or a batch (ReadBatch) takes the conn off
// the queue, or off reading ahead, for good; the datagrams taken until then
// come out first, without control data, with MSG_CTRUNC where the kernel
// had some. SyscallConn takes it off too, before it returns: a raw read
// cannot see what the queue holds, so datagrams queued by earlier plain
// reads come out of the next plain read, and a conn wrapped before it is
// read, as x/net's ipv4.NewPacketConn and ipv6.NewPacketConn wrap it,
// never queues. On a connected UDPConn that queues, an error the kernel
// reports for the socket (ECONNREFUSED, from an ICMP port unreachable)
// while no read waits goes to the armed multishot, and so to the next
// read: with net the next Write or read gets it. Either way one call
// reports it.
//
// A UDPConn's sends on the uring backend try sendto(2) or sendmsg(2) first,
// and wait on the ring only when the socket has no room: a datagram send
// is done the moment the kernel takes it, and a ring op would only add the
// reaper's hand-off back to the sender. Where it does not queue (taken off
// the queue or off reading ahead), its reads try recvmsg(2) first too, and
// wait in the netpoller at more than one P (on the ring at one), as net's
// reads do.
//
// A UDPConn puts no address on the heap on its way through the engine:
// ReadFromUDPAddrPort, WriteToUDPAddrPort, ReadMsgUDPAddrPort,
// WriteMsgUDPAddrPort and WriteBatch allocate nothing; ReadFrom,
// ReadFromUDP and ReadMsgUDP only the *net.UDPAddr they return, in one
// allocation where net's take two; ReadBatch one a datagram, its sender.
// (An IPv6 zone's name costs its lookup, in /sys/class/net.)
//
// SyscallConn keeps net's contract: the fd handed to Control, Read and
// Write is a regular, non-blocking fd on both backends, held open until the
// function returns. Read and Write call their function until it returns
// true; a function that meets EAGAIN returns false, and the call waits for
// readiness, honouring the deadlines and Close, then calls it again. That
// is how golang.org/x/net and grpc-go use it with read(2) and recvmmsg(2).
// On epoll the wait is in the netpoller. On the uring backend it is an
// IORING_OP_POLL_ADD request at one P, and at more the netpoller too, on
// a duplicate of the fd made at the first wait: there a POLL_ADD's
// completion ran on the thread that submitted it, often asleep, and
// reached the waiter through the ring's reaper (ReadBatch echoing one
// flow: 0.71x net before, 1.01x after). ReadBatch and WriteBatch wait the
// same way.
//
// Sockets made elsewhere come onto the engine with FileListener, FileConn
// and FilePacketConn, as with net's functions of those names: systemd
// socket activation and graceful-restart libraries hand a process its
// listeners as *os.File. Like net's, they go by the socket's family and
// type, not its protocol: an MPTCP listener is a *TCPListener, a UDP-Lite
// or ICMP ping socket a *UDPConn. Each works on a duplicate, so f and the
// result close independently; the File methods of the conns and listeners
// give a duplicate back, for a child process or for net.
//
// Outside Linux every constructor delegates to package net.
package gonet
