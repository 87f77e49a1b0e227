//go:build linux

package gonet

import (
	"io"
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
func (c *TCPConn) ReadFrom(r io.Reader) (int64, error) {
	if n, err, handled := c.sendFile(r); handled {
		return n, err
	}
	return io.Copy(writerOnly{c}, r)
}

// WriteTo copies the connection into w until EOF, as io.Copy does, and is
// what io.Copy calls.
func (c *TCPConn) WriteTo(w io.Writer) (int64, error) {
	return io.Copy(w, readerOnly{c})
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
