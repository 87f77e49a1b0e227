//go:build linux

package gonet

import (
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// ReadFrom copies r into the connection, as io.Copy does, and is what
// io.Copy calls. From an *os.File of a regular file, or an
// io.LimitedReader of one, the bytes go from the page cache to the socket
// inside the kernel (splice through a pipe: IORING_OP_SPLICE on the ring),
// as net's sendfile path; net/http's file serving takes it. The file's
// position moves by what was sent. Anything else is copied through a
// buffer.
//
// From another gonet TCP or unix stream connection the bytes are spliced
// too, from socket to socket. Bytes already taken from the source when a
// deadline or Close of the destination stops the copy are lost, as with
// net's splice.
func (c *TCPConn) ReadFrom(r io.Reader) (int64, error) {
	if n, err, handled := c.spliceFrom(r); handled {
		return n, err
	}
	if n, err, handled := c.sendFile(r); handled {
		return n, err
	}
	return io.Copy(writerOnly{c}, r)
}

// WriteTo copies the connection into w until EOF, as io.Copy does, and is
// what io.Copy calls. Into a gonet TCP or unix stream connection, or an
// *os.File of a regular file, the bytes are spliced inside the kernel (a
// file is written at its position, which moves past them).
func (c *TCPConn) WriteTo(w io.Writer) (int64, error) {
	if dst := streamConn(w); dst != nil {
		n, err := dst.s.SpliceFrom(bg, c.s, -1)
		return n, opError("writeto", "splice", c.net, c.laddr, c.raddr, err)
	}
	if n, err, handled := c.spliceToFile(w); handled {
		return n, err
	}
	return io.Copy(w, readerOnly{c})
}

// spliceToFile is WriteTo's path into a regular file opened without
// O_APPEND (splice(2) refuses those): handled is false, with nothing
// done, for any other writer.
func (c *TCPConn) spliceToFile(w io.Writer) (written int64, err error, handled bool) {
	f, ok := w.(*os.File)
	if !ok {
		return 0, nil, false
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	var werr error
	cerr := rc.Control(func(fd uintptr) {
		var st unix.Stat_t
		if unix.Fstat(int(fd), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			return
		}
		if fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0); err != nil || fl&unix.O_APPEND != 0 {
			return
		}
		handled = true
		written, werr = c.s.SpliceTo(bg, int(fd), -1)
	})
	if cerr != nil || !handled {
		return 0, nil, false
	}
	return written, opError("writeto", "splice", c.net, c.laddr, c.raddr, werr), true
}

// streamConn returns the connection of a gonet TCP or unix stream
// connection, or nil.
func streamConn(x any) *conn {
	switch v := x.(type) {
	case *TCPConn:
		return &v.conn
	case *UnixConn:
		if v.net == "unix" {
			return &v.conn
		}
	}
	return nil
}

// spliceFrom is ReadFrom's path from another gonet stream connection.
func (c *TCPConn) spliceFrom(r io.Reader) (written int64, err error, handled bool) {
	remain := int64(-1)
	lr, limited := r.(*io.LimitedReader)
	if limited {
		remain, r = lr.N, lr.R
		if remain <= 0 {
			return 0, nil, true
		}
	}
	src := streamConn(r)
	if src == nil {
		return 0, nil, false
	}
	written, err = c.s.SpliceFrom(bg, src.s, remain)
	if limited {
		lr.N = remain - written
	}
	return written, opError("readfrom", "splice", c.net, c.laddr, c.raddr, err), true
}

// writerOnly and readerOnly hide ReadFrom and WriteTo from io.Copy, which
// would otherwise call them back.
type writerOnly struct{ io.Writer }
type readerOnly struct{ io.Reader }

// sendFile is ReadFrom's kernel path: handled is false, with nothing
// done, where r is not a regular file.
func (c *TCPConn) sendFile(r io.Reader) (written int64, err error, handled bool) {
	remain := int64(-1)
	lr, limited := r.(*io.LimitedReader)
	if limited {
		remain, r = lr.N, lr.R
		if remain <= 0 {
			return 0, nil, true
		}
	}
	// An *os.File, or the wrapper without WriteTo that os.File.WriteTo
	// hands to io.Copy: what both have is SyscallConn.
	f, ok := r.(syscall.Conn)
	if !ok {
		return 0, nil, false
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	var werr error
	cerr := rc.Control(func(fd uintptr) {
		var st unix.Stat_t
		if unix.Fstat(int(fd), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			return
		}
		pos, err := unix.Seek(int(fd), 0, io.SeekCurrent)
		if err != nil {
			return
		}
		handled = true
		written, werr = c.s.SendFile(bg, int(fd), pos, remain, 0)
		if written > 0 {
			unix.Seek(int(fd), pos+written, io.SeekStart)
		}
	})
	if cerr != nil || !handled {
		return 0, nil, false
	}
	if limited {
		lr.N = remain - written
	}
	return written, opError("readfrom", "splice", c.net, c.laddr, c.raddr, werr), true
}

var (
	_ io.ReaderFrom = (*TCPConn)(nil)
	_ io.WriterTo   = (*TCPConn)(nil)
)
