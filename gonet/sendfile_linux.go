//go:build linux

package gonet

import (
	"errors"
	"io"
	"syscall"

	"golang.org/x/sys/unix"
)

// ReadFrom copies r into the connection, as io.Copy does, and is what
// io.Copy calls. From an *os.File of a regular file, or an
// io.LimitedReader of one, the bytes go from the page cache to the socket
// inside the kernel, as on net's sendfile path: IORING_OP_SPLICE through a
// pipe on the ring at GOMAXPROCS=1, and sendfile(2), as net makes it, at
// more Ps, where that op is masked and on epoll. net/http's file serving
// takes it. The file's
// position moves by what was sent. Anything else is copied through a
// buffer.
//
// From another gonet TCP or unix stream connection the bytes are spliced
// too, from socket to socket. Bytes already taken from the source when a
// deadline or Close of the destination stops the copy are lost, as with
// net's splice.
func (c *TCPConn) ReadFrom(r io.Reader) (int64, error) {
	remain := int64(-1) // all of it
	lr, limited := r.(*io.LimitedReader)
	if limited {
		remain, r = lr.N, lr.R
		if remain <= 0 {
			return 0, nil
		}
	}
	var n int64
	var err error
	handled, call := true, "splice"
	if src := streamConn(r); src != nil {
		n, err = c.s.SpliceFrom(bg, src.s, remain)
	} else {
		handled = regularFile(r, func(fd int) bool {
			pos, serr := unix.Seek(fd, 0, io.SeekCurrent)
			if serr != nil {
				return false
			}
			n, call, err = c.s.SendFileVia(bg, fd, pos, remain, 0)
			if n > 0 {
				unix.Seek(fd, pos+n, io.SeekStart) // the position moves past what was sent
			}
			return !unsupported(n, err)
		})
	}
	if !handled {
		if limited {
			r = lr
		}
		return io.Copy(writerOnly{c}, r)
	}
	if limited {
		lr.N = remain - n
	}
	return n, opError("readfrom", call, c.network(), c.laddr, c.raddr, err)
}

// WriteTo copies the connection into w until EOF, as io.Copy does, and is
// what io.Copy calls. Into a gonet TCP or unix stream connection, or a
// regular file not opened with O_APPEND (which splice(2) refuses), the
// bytes are spliced inside the kernel; a file is written at its position,
// which moves past them.
func (c *TCPConn) WriteTo(w io.Writer) (int64, error) {
	var n int64
	var err error
	handled := true
	if dst := streamConn(w); dst != nil {
		n, err = dst.s.SpliceFrom(bg, c.s, -1)
	} else {
		handled = regularFile(w, func(fd int) bool {
			if fl, ferr := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); ferr != nil || fl&unix.O_APPEND != 0 {
				return false
			}
			n, err = c.s.SpliceTo(bg, fd, -1)
			return !unsupported(n, err)
		})
	}
	if !handled {
		return io.Copy(w, readerOnly{c})
	}
	return n, opError("writeto", "splice", c.network(), c.laddr, c.raddr, err)
}

// unsupported reports whether a copy inside the kernel moved nothing
// because the kernel cannot do it for this file (some of /proc, say):
// then, as net does, the bytes go through a buffer instead.
func unsupported(n int64, err error) bool {
	return n == 0 && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP))
}

// streamConn returns the connection of a gonet TCP or unix stream
// connection, or nil.
func streamConn(x any) *conn {
	switch v := x.(type) {
	case *TCPConn:
		return &v.conn
	case *UnixConn:
		if v.network() == "unix" {
			return &v.conn
		}
	}
	return nil
}

// regularFile runs f with the descriptor of x, held open, when x is a
// regular file: an *os.File, or the wrapper without WriteTo that
// os.File.WriteTo hands to io.Copy (what both have is SyscallConn). It
// reports whether f ran and said it handled the copy.
func regularFile(x any, f func(fd int) bool) bool {
	sc, ok := x.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	handled := false
	cerr := rc.Control(func(fd uintptr) {
		var st unix.Stat_t
		if unix.Fstat(int(fd), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
			handled = f(int(fd))
		}
	})
	return cerr == nil && handled
}

// writerOnly and readerOnly hide ReadFrom and WriteTo from io.Copy, which
// would otherwise call them back.
type writerOnly struct{ io.Writer }
type readerOnly struct{ io.Reader }

var (
	_ io.ReaderFrom = (*TCPConn)(nil)
	_ io.WriterTo   = (*TCPConn)(nil)
)
