//go:build linux

package loop

import (
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// epollLoop is one event loop on epoll, for where io_uring is blocked: the
// same Handler API, on a goroutine that owns its epoll instance.
type epollLoop struct {
	s    *Server
	lnFd int
	epfd int

	control // tasks and the stop flag, from any goroutine

	// Owned by the loop goroutine.
	conns   map[int]*Conn
	dirty   []*Conn
	lingers lingerQueue
	buf     []byte
	events  []unix.EpollEvent
}

func newEpollLoop(s *Server, lnFd int) (loopRunner, error) {
	l := &epollLoop{s: s, lnFd: lnFd, conns: map[int]*Conn{}, buf: make([]byte, s.cfg.BufferSize), events: make([]unix.EpollEvent, 256)}
	var err error
	if l.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, err
	}
	if err = l.tasks.open(); err != nil {
		unix.Close(l.epfd)
		return nil, err
	}
	for _, fd := range []int{lnFd, l.tasks.efd} {
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			unix.Close(l.epfd)
			l.tasks.close()
			return nil, err
		}
	}
	return l, nil
}

func (l *epollLoop) addDirty(c *Conn) { l.dirty = append(l.dirty, c) }

func (l *epollLoop) run() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer l.teardown()
	for !l.stopping.Load() {
		l.flush()
		n, err := unix.EpollWait(l.epfd, l.events, l.timeout())
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("loop: epoll_wait: %w", err)
		}
		for _, ev := range l.events[:n] {
			switch fd := int(ev.Fd); fd {
			case l.lnFd:
				l.acceptAll()
			case l.tasks.efd:
				var b [8]byte
				unix.Read(l.tasks.efd, b[:])
				l.runTasks()
			default:
				if c := l.conns[fd]; c != nil {
					l.onEvent(c, ev.Events)
				}
			}
		}
	}
	return nil
}

// timeout closes the lingering connections whose time is up, and returns
// epoll_wait's timeout in milliseconds: until the next one's, or -1.
func (l *epollLoop) timeout() int {
	if len(l.lingers.q) == 0 {
		return -1
	}
	next := l.lingers.expire(time.Now(), l.release)
	if next.IsZero() {
		return -1
	}
	ms := (time.Until(next) + time.Millisecond - 1) / time.Millisecond
	return int(min(max(ms, 0), 1<<30)) // epoll_wait's int: past it, a later wait
}

func (l *epollLoop) acceptAll() {
	for {
		fd, sa, err := unix.Accept4(l.lnFd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			return // EAGAIN, or EMFILE: the next event retries
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		c := &Conn{l: l, fd: fd, raddr: sockaddrTCP(sa)}
		l.conns[fd] = c
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)}); err != nil {
			delete(l.conns, fd)
			unix.Close(fd)
			continue
		}
		l.s.h.OnOpen(c)
	}
}

func (l *epollLoop) onEvent(c *Conn, events uint32) {
	// Reading goes on after Close, and while the connection lingers, what
	// comes dropped, as the multishot receive does on io_uring: data left
	// unread at close(2) makes the kernel reset the connection and discard
	// the output still queued.
	if events&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR|unix.EPOLLRDHUP) != 0 && !c.eof {
		for !c.closed || c.lingering {
			n, err := unix.Read(c.fd, l.buf)
			if err == unix.EAGAIN || err == unix.EINTR {
				break
			}
			if c.lingering && (err != nil || n == 0) {
				l.release(c) // the peer's EOF, or its reset
				return
			}
			if err != nil {
				l.end(c, err)
				return
			}
			if n == 0 {
				// The peer shut down its side: send what is pending,
				// then close.
				c.eof, c.closing = true, true
				c.markDirty()
				return
			}
			if !c.closing {
				l.s.h.OnData(c, l.buf[:n])
			}
			if n < len(l.buf) {
				break
			}
		}
	}
	if events&unix.EPOLLOUT != 0 && !c.closed {
		c.markDirty()
	}
}

// flush writes pending output; what the socket cannot take waits for
// EPOLLOUT.
func (l *epollLoop) flush() {
	// By index, not range: a handler run here (OnClose) may mark other
	// connections dirty, appending to l.dirty, and those must be flushed
	// too; their dirty flag would otherwise keep them off the list.
	for i := 0; i < len(l.dirty); i++ {
		c := l.dirty[i]
		l.dirty[i] = nil
		c.dirty = false
		if c.closed {
			continue
		}
		sent := 0
		for sent < len(c.out) {
			n, err := unix.SendmsgN(c.fd, c.out[sent:], nil, nil, unix.MSG_NOSIGNAL)
			if err == unix.EAGAIN {
				break
			}
			if err != nil {
				l.end(c, err)
				break
			}
			sent += n
		}
		if sent == len(c.out) {
			out := c.out
			c.out = nil
			c.recycle(out)
		} else {
			c.out = c.out[sent:]
		}
		if c.closed {
			continue
		}
		want := uint32(unix.EPOLLIN | unix.EPOLLRDHUP)
		if c.eof {
			want = 0 // reading is over
		}
		if len(c.out) > 0 {
			want |= unix.EPOLLOUT
		} else if c.closing && !l.lingers.start(c, l.s) {
			l.end(c, nil)
			continue
		}
		unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: want, Fd: int32(c.fd)})
	}
	l.dirty = l.dirty[:0]
}

func (l *epollLoop) end(c *Conn, err error) {
	if c.closed {
		return
	}
	c.closed, c.err = true, err
	l.s.h.OnClose(c, err)
	l.release(c)
}

// release closes c's fd; OnClose has run.
func (l *epollLoop) release(c *Conn) {
	c.lingering = false
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	delete(l.conns, c.fd)
	unix.Close(c.fd)
}

func (l *epollLoop) teardown() {
	for _, c := range l.conns {
		if c.lingering {
			l.release(c)
		} else {
			l.end(c, ErrServerClosed)
		}
	}
	l.discard()
}

// discard closes the listener, the eventfd and the epoll fd, once: after
// teardown, or for a loop that never ran.
func (l *epollLoop) discard() {
	if l.epfd < 0 {
		return
	}
	unix.Close(l.lnFd)
	l.tasks.close()
	unix.Close(l.epfd)
	l.epfd = -1
}
