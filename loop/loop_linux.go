//go:build linux

package loop

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ksocket-go/ksocket/internal/engine"
	"golang.org/x/sys/unix"
)

// Handler receives a loop's events. Its methods run on the loop's goroutine,
// one at a time per loop, and must not block.
type Handler interface {
	// OnOpen is called for a new connection, before any OnData.
	OnOpen(c *Conn)
	// OnData is called with bytes received. data is valid only until
	// OnData returns: its buffer goes back to the kernel then.
	OnData(c *Conn, data []byte)
	// OnClose is called once when the connection ends: err is nil after
	// Close, once what was written has been sent, or after the peer's
	// orderly shutdown.
	OnClose(c *Conn, err error)
}

// Handlers adapts functions to a Handler; nil functions are skipped.
type Handlers struct {
	Open  func(c *Conn)
	Data  func(c *Conn, data []byte)
	Close func(c *Conn, err error)
}

func (h Handlers) OnOpen(c *Conn) {
	if h.Open != nil {
		h.Open(c)
	}
}

func (h Handlers) OnData(c *Conn, data []byte) {
	if h.Data != nil {
		h.Data(c, data)
	}
}

func (h Handlers) OnClose(c *Conn, err error) {
	if h.Close != nil {
		h.Close(c, err)
	}
}

// defaultSpin is Config.Spin's default: longer than the gap between
// requests of a loop whose clients keep it busy (64 connections' 64 B
// echo here: a few µs), and well short of a lone connection's round trip
// (30-50 µs), where a poll would only burn the CPU.
const defaultSpin = 10 * time.Microsecond

// defaultLinger is Config.Linger's default, nginx's lingering_timeout: long
// enough for a peer on another continent to read the reply and close.
const defaultLinger = 5 * time.Second

// Config tunes a Server; the zero value is fine.
type Config struct {
	// Loops is the number of event loops; 0 means runtime.GOMAXPROCS(0).
	Loops int
	// BufferSize is the size of each receive buffer; 0 means 4096.
	BufferSize int
	// Buffers is the number of receive buffers per loop, a power of two;
	// 0 means 1024. On io_uring the first page of each buffer is made
	// resident when the loop starts: the buffer ring hands out every buffer
	// in turn, so under load those pages soon would be anyway.
	Buffers int
	// Spin is how long the loop of a one-loop stream server (Listen) on
	// io_uring polls its ring, when it runs out of work, before it sleeps
	// in the kernel;
	// 0 means 10µs, and a negative Spin turns polling off. A poll that
	// finds nothing makes the next 1, 2, 4, ... 64 waits sleep at once.
	// With more loops none polls: a polling loop would hold a CPU that
	// another loop, or its clients, may need. See the package doc.
	Spin time.Duration
	// Linger is how long a stream connection ended with Close, whose peer
	// has not shut down its side, stays open once its output is sent: its
	// write side is shut down, so the peer reads the reply and then EOF,
	// and what the peer still sends is read and dropped until its EOF or
	// until Linger passes. Closing at once would make the kernel answer
	// data that arrives after close(2) with a reset, which discards
	// whatever of the reply the peer has not yet read. 0 means 5s, and a
	// negative Linger closes at once. OnClose runs before the linger.
	Linger time.Duration
}

// withDefaults returns a copy of c (the zero Config if c is nil) with its
// zero fields set: Loops to GOMAXPROCS, and bufferSize and buffers.
func (c *Config) withDefaults(bufferSize, buffers int) (Config, error) {
	var d Config
	if c != nil {
		d = *c
	}
	if d.Loops <= 0 {
		d.Loops = runtime.GOMAXPROCS(0)
	}
	if d.BufferSize <= 0 {
		d.BufferSize = bufferSize
	}
	if d.Buffers <= 0 {
		d.Buffers = buffers
	}
	if d.Spin == 0 {
		d.Spin = defaultSpin
	}
	if d.Linger == 0 {
		d.Linger = defaultLinger
	}
	if d.Buffers&(d.Buffers-1) != 0 || d.Buffers > 32768 {
		return d, fmt.Errorf("loop: Buffers %d: want a power of two up to 32768", d.Buffers)
	}
	return d, nil
}

// ErrServerClosed is OnClose's error for connections still open when the
// server is closed, and Serve's when it is called after Close.
var ErrServerClosed = errors.New("loop: server closed")

// Server is a set of loops serving one listening address.
type Server struct {
	h       Handler
	cfg     Config
	addr    net.Addr
	backend string
	loops   []loopRunner
	run     runner
}

// eventLoop is what a server runs: one loop, on either backend.
type eventLoop interface {
	run() error // runs until stop, then frees what the loop holds
	stop()      // asks run to return; safe from any goroutine
	discard()   // frees what a loop that never ran holds
	post(f func()) bool
}

// loopRunner is one TCP event loop.
type loopRunner interface {
	eventLoop
	// addDirty puts c on the list of connections to flush at the end of
	// the batch; loop goroutine only.
	addDirty(c *Conn)
}

// Listen creates a server for network ("tcp", "tcp4" or "tcp6") and
// address. Serve starts it.
func Listen(network, address string, h Handler, cfg *Config) (*Server, error) {
	c, err := cfg.withDefaults(4096, 1024)
	if err != nil {
		return nil, err
	}
	e, err := engine.Default()
	if err != nil {
		return nil, err
	}
	family, sa, err := parseAddr(network, address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	s := &Server{h: h, cfg: c, backend: e.Backend()}
	var fds []int
	for i := range c.Loops {
		fd, bound, err := listenReusePort(family, sa, network == "tcp6")
		if err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
			return nil, &net.OpError{Op: "listen", Net: network, Err: err}
		}
		if i == 0 {
			sa = bound // the port chosen for :0, shared by the other loops
			s.addr = sockaddrTCP(bound)
		}
		fds = append(fds, fd)
	}
	for _, fd := range fds {
		var l loopRunner
		if s.backend == "uring" {
			l, err = newURingLoop(s, fd)
		} else {
			l, err = newEpollLoop(s, fd)
		}
		if err != nil {
			for _, l := range s.loops {
				l.discard() // and its listener
			}
			for _, fd := range fds[len(s.loops):] {
				unix.Close(fd)
			}
			return nil, err
		}
		s.loops = append(s.loops, l)
		s.run.loops = append(s.run.loops, l)
	}
	return s, nil
}

// Addr returns the listening address.
func (s *Server) Addr() net.Addr { return s.addr }

// Backend returns "uring" or "epoll".
func (s *Server) Backend() string { return s.backend }

// Serve runs the loops until Close, and returns nil after Close or the first
// loop's error; called after Close, it returns ErrServerClosed at once.
func (s *Server) Serve() error { return s.run.serve() }

// Close stops the loops, closes every connection (OnClose gets
// ErrServerClosed) and the listeners, and waits for Serve to return.
func (s *Server) Close() error { return s.run.close() }

func parseAddr(network, address string) (int, unix.Sockaddr, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return 0, nil, err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return 0, nil, &net.AddrError{Err: "invalid port", Addr: address}
	}
	var ip netip.Addr
	if host != "" {
		if ip, err = netip.ParseAddr(host); err != nil {
			return 0, nil, &net.AddrError{Err: "want a numeric host", Addr: address}
		}
	}
	// Wildcards as net reads them: "tcp" on 0.0.0.0 listens dual-stack on
	// [::], and "tcp4" on [::] on 0.0.0.0.
	switch {
	case network == "tcp" && ip == netip.IPv4Unspecified():
		ip = netip.Addr{}
	case network == "tcp4" && ip == netip.IPv6Unspecified():
		ip = netip.IPv4Unspecified()
	}
	switch {
	case network == "tcp4" || (network == "tcp" && ip.Is4()):
		if !ip.IsValid() {
			ip = netip.IPv4Unspecified()
		}
		if !ip.Unmap().Is4() {
			return 0, nil, &net.AddrError{Err: "not an IPv4 address", Addr: address}
		}
		return unix.AF_INET, &unix.SockaddrInet4{Port: p, Addr: ip.Unmap().As4()}, nil
	case network == "tcp6" && ip.Unmap().Is4():
		return 0, nil, &net.AddrError{Err: "not an IPv6 address", Addr: address}
	case network == "tcp6" || network == "tcp":
		if !ip.IsValid() {
			ip = netip.IPv6Unspecified()
		}
		return unix.AF_INET6, &unix.SockaddrInet6{Port: p, Addr: ip.As16()}, nil
	}
	return 0, nil, net.UnknownNetworkError(network)
}

// listenReusePort opens one loop's listener with SO_REUSEPORT, so that the
// kernel spreads connections over the loops.
func listenReusePort(family int, sa unix.Sockaddr, v6only bool) (int, unix.Sockaddr, error) {
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return -1, nil, err
	}
	for _, opt := range []int{unix.SO_REUSEADDR, unix.SO_REUSEPORT} {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, 1); err != nil {
			unix.Close(fd)
			return -1, nil, err
		}
	}
	if family == unix.AF_INET6 {
		setV6Only(fd, v6only)
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, nil, err
	}
	if err := unix.Listen(fd, 4096); err != nil {
		unix.Close(fd)
		return -1, nil, err
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, nil, err
	}
	return fd, bound, nil
}

// setV6Only makes an IPv6 socket IPv6-only ("tcp6", "udp6"), or dual-stack
// ("tcp", "udp"), whatever the system's default (net.ipv6.bindv6only).
func setV6Only(fd int, only bool) {
	v := 0
	if only {
		v = 1
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v)
}

func sockaddrTCP(sa unix.Sockaddr) *net.TCPAddr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)))
	case *unix.SockaddrInet6:
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port)))
	}
	return nil
}

// Conn is one connection of a loop. Its methods, except Do, must be called
// on the loop's goroutine, that is from a Handler method or a Do function.
type Conn struct {
	l     loopRunner
	fd    int
	id    uint32 // index in the loop's connection table
	raddr net.Addr
	ctx   any

	out     []byte // written, not yet handed to the kernel
	sending []byte // handed to the kernel; immutable until its CQE
	sendBuf []byte // uring: the whole of the batch sending is part of
	spare   []byte // an emptied output buffer, kept for the next batch
	pin     runtime.Pinner

	closing   bool  // Close was called: close once output drains
	eof       bool  // the peer's end of stream was read
	closed    bool  // OnClose has run
	lingering bool  // closed, its fd still open and read (Config.Linger)
	err       error // why the connection ends
	ops       int   // uring: requests in flight on fd
	dirty     bool  // on the loop's flush list
}

// Write queues b (copied) for sending. The bytes go out at the end of the
// current batch, after any written before them.
func (c *Conn) Write(b []byte) {
	if c.closing || c.closed {
		return
	}
	if c.out == nil && c.spare != nil {
		c.out, c.spare = c.spare, nil
	}
	c.out = append(c.out, b...)
	c.markDirty()
}

// Close closes the connection once what was written has been sent, after
// a linger (Config.Linger) unless the peer has shut its side down.
func (c *Conn) Close() {
	if c.closing || c.closed {
		return
	}
	c.closing = true
	c.markDirty()
}

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.raddr }

// SetContext attaches a value of the handler's own to the connection.
func (c *Conn) SetContext(v any) { c.ctx = v }

// Context returns what SetContext attached.
func (c *Conn) Context() any { return c.ctx }

// Do runs f on the loop's goroutine, unless the connection has closed by
// then. It is safe from any goroutine: hand blocking work to another
// goroutine, then write its result with Do. It returns net.ErrClosed if the
// loop has stopped.
func (c *Conn) Do(f func(c *Conn)) error {
	if !c.l.post(func() {
		if !c.closed {
			f(c)
		}
	}) {
		return net.ErrClosed
	}
	return nil
}

// lingerQueue holds a loop's lingering connections (Config.Linger) in the
// order their lingers began, which, all lingers being as long, is the
// order they end in.
type lingerQueue struct {
	q []lingerer
}

type lingerer struct {
	c     *Conn
	until time.Time
}

// start ends c, closed by its handler and its output sent, unless the
// peer's EOF came or lingering is off: it shuts c's write side down (a
// FIN after the reply), runs OnClose, and queues c to linger until its
// deadline. When start reports false the caller closes c at once; so it
// does when the shutdown fails, on a connection already gone.
func (lq *lingerQueue) start(c *Conn, s *Server) bool {
	if c.eof || s.cfg.Linger < 0 || unix.Shutdown(c.fd, unix.SHUT_WR) != nil {
		return false
	}
	c.closed, c.lingering = true, true
	// Nothing is written any more, and c stays reachable until the
	// linger ends: let its output buffers (up to maxKeptBuffer each) go.
	c.out, c.spare = nil, nil
	s.h.OnClose(c, nil)
	lq.q = append(lq.q, lingerer{c, time.Now().Add(s.cfg.Linger)})
	return true
}

// expire closes, with release, the lingering connections whose deadline
// has come by now, and drops those that ended before it. It returns the
// next deadline, zero if none is left.
func (lq *lingerQueue) expire(now time.Time, release func(c *Conn)) time.Time {
	for len(lq.q) > 0 {
		e := lq.q[0]
		if e.c.lingering {
			if now.Before(e.until) {
				return e.until
			}
			release(e.c)
		}
		lq.q[0] = lingerer{}
		lq.q = lq.q[1:]
	}
	lq.q = nil
	return time.Time{}
}

// Output buffers between these sizes are kept for the connection's next
// batch: a stream then reuses two buffers instead of growing a new one
// from nothing for every batch (measured at 64 KiB writes: 12% of the
// loop's CPU in the GC and 15% in memmove). Small ones cost little to
// allocate and would add to every idle connection's memory; huge ones go
// back to the GC.
const (
	minKeptBuffer = 4 << 10
	maxKeptBuffer = 4 << 20
)

// recycle keeps b's array, now sent, as the next batch's output buffer.
func (c *Conn) recycle(b []byte) {
	if cap(b) >= minKeptBuffer && cap(b) <= maxKeptBuffer {
		if c.out == nil {
			c.out = b[:0]
		} else {
			c.spare = b[:0]
		}
	}
}

func (c *Conn) markDirty() {
	if !c.dirty {
		c.dirty = true
		c.l.addDirty(c)
	}
}

// control is how other goroutines reach a loop: its task queue and its
// stop flag. Each loop embeds one.
type control struct {
	tasks    taskQueue
	stopping atomic.Bool
	run1     []func() // the tasks being run; loop goroutine only
}

func (c *control) post(f func()) bool { return c.tasks.push(f) }

func (c *control) stop() {
	c.stopping.Store(true)
	c.tasks.stop()
}

// runTasks runs the tasks posted so far; loop goroutine only.
func (c *control) runTasks() {
	c.run1 = c.tasks.take(c.run1)
	for i, f := range c.run1 {
		f()
		c.run1[i] = nil
	}
}

// taskQueue holds functions posted from other goroutines, and the eventfd
// that wakes the loop for them. The eventfd is signalled and closed under
// the queue's lock, so no signal goes to a closed (or reused) descriptor.
type taskQueue struct {
	efd int // set by open, before other goroutines see the queue

	mu      sync.Mutex
	tasks   []func()
	stopped bool // push refuses
	closed  bool // efd is closed
}

func (q *taskQueue) open() error {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	q.efd = efd
	return err
}

// push queues f and wakes the loop, unless the loop has stopped.
func (q *taskQueue) push(f func()) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return false
	}
	q.tasks = append(q.tasks, f)
	q.signalLocked()
	return true
}

func (q *taskQueue) take(buf []func()) []func() {
	q.mu.Lock()
	defer q.mu.Unlock()
	buf = append(buf[:0], q.tasks...)
	clear(q.tasks)
	q.tasks = q.tasks[:0]
	return buf
}

// stop refuses further tasks and wakes the loop.
func (q *taskQueue) stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stopped = true
	q.signalLocked()
}

// close refuses further tasks and closes the eventfd, once.
func (q *taskQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.stopped, q.closed = true, true
		unix.Close(q.efd)
	}
}

// Preconditions: q.mu is held.
func (q *taskQueue) signalLocked() {
	if !q.closed {
		one := [8]byte{1}
		unix.Write(q.efd, one[:])
	}
}
