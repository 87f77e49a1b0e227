// Package ksocket is the Berkeley socket API for Go, built on Linux io_uring.
//
// It follows KSOCKET, which put a small Berkeley subset (getaddrinfo,
// socket_connection, socket_listen, socket_datagram, connect, bind, listen,
// accept, send, sendto, recv, recvfrom, closesocket) on top of WSK, the
// Windows kernel's completion-based socket interface. io_uring is Linux's
// interface of the same kind: ksocket hands each call to the kernel as a
// request and parks the calling goroutine until the kernel completes it,
// with no OS thread blocked per call.
//
// Beyond the seed's calls it has Linux's message calls: Sendmsg and
// Recvmsg with control messages, and Sendmmsg and Recvmmsg for batches of
// datagrams. A batch is one sendmmsg(2) or recvmmsg(2) made on the calling
// goroutine; when it must wait, it waits on the ring at GOMAXPROCS=1 and
// in Go's netpoller at more, where a ring wait cost a hand-off between
// threads per datagram. A UDP socket's plain receives (Recv, Recvfrom,
// Recvmsg with no control buffer) read ahead: one recvmmsg(2), made on
// the calling goroutine, takes the caller's datagram and up to 15 that
// wait, and a receive that finds none waits in a ring request. Every
// other call is a ring request.
//
// Descriptors are ksocket's own ints, the lowest free number from 3, and
// errors are bare unix.Errno values, as in golang.org/x/sys/unix.
// Getaddrinfo returns *AddrinfoError with glibc's EAI_* codes.
//
// # Layers
//
// Each layer adds one concern, and each calls only the layers below it.
//
// The root package (this one) is the Berkeley API: the descriptor table,
// socket categories (connection, listen, datagram, and unified for Socket),
// errno results, SO_RCVTIMEO and SO_SNDTIMEO enforced as real timeouts, and
// context-aware variants of the blocking calls.
//
// Package gonet adapts the engine to net.Conn, net.Listener and
// net.PacketConn, so that net/http and crypto/tls run on the ring.
//
// internal/resolv implements getaddrinfo: numeric hosts, the hosts and
// services files, and all of the hints.
//
// internal/engine is the completion engine, the counterpart of the WSK
// provider: socket objects, ops, cancellation, deadlines and memory
// ownership. It picks the backend once per process from KSOCKET_BACKEND
// (auto, uring or epoll): io_uring where it works, otherwise non-blocking
// sockets in Go's own netpoller. Probe-style details (which calls go through
// the ring, and why a backend was chosen) come from `ksocket probe`.
//
// internal/uring is the ring itself: the kernel ABI, setup, the mapped
// queues, io_uring_enter and io_uring_register. It knows nothing of sockets.
//
// # Memory
//
// The kernel owns every buffer and address an in-flight request points at
// until the request's final completion. A call that times out, is cancelled,
// or whose descriptor is closed returns only after the kernel has let go, so
// a buffer handed back to the caller is never written again.
//
// # Other systems
//
// Importing ksocket never breaks a cross-platform build. On the other unix
// systems (darwin, the BSDs, illumos, ...) the package declares the same API,
// and every Berkeley call fails with unix.ENOSYS: Getaddrinfo with an
// *AddrinfoError of code EAI_SYSTEM wrapping it, and Probe with Backend
// "none". On Windows, plan9 and wasm, which golang.org/x/sys/unix does not
// cover, the package holds only this documentation. On Android the epoll
// backend alone is built in: the app seccomp filter kills a process that
// calls io_uring_setup. Package gonet builds everywhere and delegates to
// package net outside Linux, and the ksocket command builds everywhere,
// answering every command but version with one line saying it needs Linux.
package ksocket
