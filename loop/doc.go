// Package loop is ksocket's fast server mode: an event loop per CPU whose
// handlers run on the goroutine that owns the loop's ring.
//
// A Handler gets OnOpen when a connection arrives, OnData for every chunk of
// bytes received, and OnClose when the connection ends. Handlers write with
// Conn.Write and close with Conn.Close; writes are gathered and sent at the
// end of each batch of completions, at most one send in flight per
// connection. Handlers must not block: blocking work goes to another
// goroutine, and Conn.Do brings its result back onto the loop safely.
//
// On io_uring each loop owns a ring set up with SINGLE_ISSUER and
// DEFER_TASKRUN (where the kernel has them) on a locked OS thread. Accepts
// are one multishot accept per loop, receives are multishot receives on a
// provided buffer ring (-ENOBUFS is back-pressure: the receive is re-armed
// once buffers return), and one io_uring_enter per batch both submits and
// waits. Loops share the listening port with SO_REUSEPORT, so the kernel
// spreads connections across them. Where io_uring is blocked (the engine chose
// epoll), the same API runs on an epoll loop per CPU.
//
// That enter is a syscall the Go scheduler sees, and it is what a loop
// pays for at GOMAXPROCS=1. A syscall still running at two ticks of the
// runtime's monitor (sysmon, 20 µs apart while it finds work) loses its P
// to another thread, and each time that happens sysmon keeps ticking.
// Echoing one connection, sysmon took about a sixth of a loop server's
// CPU, and none of gnet's: in 2 s, 1,245 of the loop's enters lasted over
// 70 µs, against 104 of gnet's epoll_wait calls (perf trace --duration
// 0.07). Two ways out were measured and dropped. A first wait of up to
// 50 µs made as a raw syscall, unseen by the scheduler, silenced sysmon,
// but the kernel's timer for it cost more than it saved: 2.2-2.7 against
// 1.75-2.2 µs of server CPU an op at a 16-deep pipeline. Submitting and
// waiting in separate enters changed nothing.
//
// ListenPacket serves UDP the same way: a PacketHandler gets OnPacket for
// each datagram, with its sender, and replies with PacketConn.WriteTo. Each
// loop has its own socket on the address (SO_REUSEPORT). On io_uring a loop
// receives through one multishot recvmsg into a provided buffer ring (Linux
// 6.0+). The replies a batch's handlers queue with WriteTo wait in mmap'd
// slabs until their completions, and reach the kernel in the enter that
// waits for the next batch. Replies to one destination in a run of one
// size leave as one send with UDP_SEGMENT (segmentation offload: the
// kernel cuts it into the same datagrams, for about half the CPU on
// loopback); any other reply is a send with the destination in the SQE
// (Linux 6.1+; sendmsg before). On epoll a loop reads with recvmmsg and
// sends each batch's replies, grouped the same way, with sendmmsg.
//
// Connections are ordinary fds, not direct descriptors: at 64 connections
// with 16-deep pipelining the kernel's fget and fput took 0.6% of the loop's
// CPU (perf record), and a direct descriptor has no getpeername for
// RemoteAddr.
//
// This package is Linux-only; elsewhere it holds only this documentation.
package loop
