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
// Conn.Close takes effect once the connection's output is sent. Then,
// unless the peer has shut down its side, the connection lingers
// (Config.Linger, 5s): its write side is shut down, so the peer reads the
// reply and then EOF, and the loop reads and drops what the peer still
// sends until the peer's EOF or the linger's end, when it closes the fd.
// Bytes that arrive after close(2), or lie unread at it, make the kernel
// reset the connection and discard the part of the reply still queued;
// nginx's lingering close and net/http's close-write-and-wait meet the
// same problem. OnClose runs when the linger begins.
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
// A loop that sleeps in that enter is woken by whoever sends it its next
// request: the sender's syscall pays for the wake-up, and on a VM that
// made each of 64 clients' round trips cost them 12-16 µs of CPU against
// 12-12.7 with gnet, whose loop was busy and rarely slept. So the loop of
// a one-loop server first polls its ring for up to Config.Spin (10 µs)
// for a receive's task work (IORING_SQ_TASKRUN) or a CQE, and sleeps only
// if none comes; a poll that finds nothing makes the next 1, 2, 4, ...
// 64 waits skip it, so a lone connection, whose requests come 30-50 µs
// apart, seldom polls. Measured against gnet (bench, one P, two
// alternations): 64 connections 0.93-0.98x -> 1.05-1.06x, 16-deep
// pipelined 0.94x -> 1.00-1.06x, 4 KiB 0.91-0.92x -> 1.01-1.05x, 1,000
// connections 1.09-1.11x -> 1.17-1.30x, at the same server CPU an op;
// one connection unchanged (0.89-0.91x, 26 µs). Servers with more loops
// do not poll: at two Ps, where one loop shares its CPU with the
// clients, polling gave 0.77-1.11x where not polling gave 1.04-1.17x.
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
