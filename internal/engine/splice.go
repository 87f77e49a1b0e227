//go:build linux

package engine

import (
	"context"
	"net"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Copies that stay in the kernel: file pages go to a socket, and bytes
// from socket to socket or file, through a pipe, as splice(2) moves them,
// and never through user memory. On the uring backend at GOMAXPROCS=1, a
// file's splices into a socket are IORING_OP_SPLICE requests. At more Ps,
// where that op is masked, and on epoll, a file goes to a socket by
// sendfile(2) instead, as net's does (internal/poll.SendFile): one call
// per chunk and no pipe between. The rest are splice(2) on the caller's
// thread.
//
// The kernel runs splice requests on io-wq workers. Measured here, a 64 B
// echo through io.Copy(c, c) took 80-85 us a round trip that way against
// 23 us with splice(2). A 1 MiB file over net/http at 64 connections
// (ksocket bench's http-file point, three alternations of each way) did
// 1.07-1.11x net's requests/s by the ring at one P, and 0.94-0.97x by
// sendfile(2), which there cost 3-5% more server CPU than net's own; at
// two Ps the ring did 0.76-0.89x, at up to 40% more CPU a request, and
// sendfile(2) 1.03-1.07x, at net's CPU. With one P, the workers copy
// beside the P that runs Go code; with more, the Ps' own threads copy in
// parallel, and the hand-off to a worker and back costs more than it
// saves. Either way the waits for room or data are the engine's, so
// deadlines, contexts and Close end a copy midway.

const spliceFlags = unix.SPLICE_F_MOVE | unix.SPLICE_F_NONBLOCK

// spliceRaw is splice(2) without waiting; offIn -1 means no offset.
func spliceRaw(in int, offIn int64, out int, n int) (int, error) {
	var off *int64
	if offIn >= 0 {
		off = &offIn
	}
	k, err := unix.Splice(in, off, out, nil, n, spliceFlags)
	return int(k), err
}

// spliceMax is the pipe size SendFile asks for; the kernel's limit
// (fs.pipe-max-size) may give less.
const spliceMax = 1 << 20

// pipe is a non-blocking pipe for splicing. A pipe left holding data (a
// copy that ended midway) is closed, never reused.
type pipe struct {
	r, w int
	size int
	data int // bytes in the pipe
}

var pipes sync.Pool

func getPipe() (*pipe, error) {
	if p, ok := pipes.Get().(*pipe); ok {
		return p, nil
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, err
	}
	p := &pipe{r: fds[0], w: fds[1]}
	unix.FcntlInt(uintptr(p.w), unix.F_SETPIPE_SZ, spliceMax)
	size, err := unix.FcntlInt(uintptr(p.w), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		size = 1 << 16
	}
	p.size = size
	runtime.AddCleanup(p, func(fds [2]int) { unix.Close(fds[0]); unix.Close(fds[1]) }, fds)
	return p, nil
}

func putPipe(p *pipe) {
	if p.data == 0 {
		pipes.Put(p)
	}
	// Otherwise the cleanup closes it once it is unreachable.
}

// SendFile sends up to n bytes (n < 0: to the end) of the file fd from
// offset off into s, inside the kernel, and returns how many reached s.
// fd must be a regular file; it stays the caller's, and its position is
// not used or moved. Concurrent Sends never interleave with it. A
// deadline, timeout, context or Close ends it midway with the count so
// far. It is IORING_OP_SPLICE through a pipe where the ring has the op
// and GOMAXPROCS is 1 as it starts, and sendfile(2) elsewhere
// (SendFileVia says which).
func (s *Socket) SendFile(ctx context.Context, fd int, off, n int64, timeout time.Duration) (int64, error) {
	got, _, err := s.SendFileVia(ctx, fd, off, n, timeout)
	return got, err
}

// SendFileVia is SendFile that also names the system call whose errno
// it returns: "splice" (the ring's request) or "sendfile". The way is
// chosen once, so the name is right even if GOMAXPROCS moves meanwhile
// (the runtime follows a changed CPU quota by itself).
func (s *Socket) SendFileVia(ctx context.Context, fd int, off, n int64, timeout time.Duration) (int64, string, error) {
	w := waitSpec{ctx: ctx, expire: expiry(timeout), mode: 'w'}
	if !s.fileBySplice() {
		got, err := s.sendFile(w, fd, off, n)
		return got, "sendfile", err
	}
	got, err := s.spliceIn(w, n, func(p *pipe, sent int64, chunk int) (int, error) {
		// File pages into the empty pipe: nothing to wait for.
		return s.e.b.splice(s, fd, off+sent, p.w, chunk, w, true)
	}, true)
	return got, "splice", err
}

// ringSplicer is a backend that may have the ring's splice request.
type ringSplicer interface{ spliceOp() bool }

// fileBySplice reports whether SendFile goes by IORING_OP_SPLICE now: s's
// backend has the op, unmasked, and GOMAXPROCS is 1 (see the top of this
// file for why not at more).
func (s *Socket) fileBySplice() bool {
	r, ok := s.e.b.(ringSplicer)
	return ok && r.spliceOp() && runtime.GOMAXPROCS(0) == 1
}

// sendfileFunc is sendfile(2); tests count and interrupt its calls.
var sendfileFunc = unix.Sendfile

// sendfileChunk is the most one sendfile(2) is asked for, as in
// internal/poll: it fits an int32 (the kernel moves at most MAX_RW_COUNT,
// a page short of 2 GiB, a call anyway).
const sendfileChunk = 1<<31 - 1

// sendFile is SendFile by sendfile(2), as internal/poll.SendFile makes
// it: call after call at an explicit offset, which leaves the file's
// position alone; on EAGAIN it waits for room as the backend waits for
// a raw write (a POLL_ADD on the ring, the netpoller on epoll), so the
// deadline, timeout, context and Close end it there. EINTR is retried;
// a call that sends 0 is the file's end.
func (s *Socket) sendFile(w waitSpec, fd int, off, n int64) (int64, error) {
	if err := s.startSend(); err != nil {
		return 0, err
	}
	defer s.endSend()
	var sent int64
	var serr error
	err := s.e.b.rawIO(s, w, func(sfd uintptr) bool {
		for n < 0 || sent < n {
			chunk := int64(sendfileChunk)
			if n >= 0 {
				chunk = min(chunk, n-sent)
			}
			pos := off + sent // the kernel moves pos, never the file's position
			k, err := sendfileFunc(int(sfd), fd, &pos, int(chunk))
			if k > 0 {
				sent += int64(k)
			}
			switch {
			case err == unix.EAGAIN:
				return false // no room: wait
			case err == unix.EINTR:
				// Retry.
			case err != nil:
				serr = err
				return true
			case k == 0:
				return true // the file's end
			}
		}
		return true
	})
	if err == nil {
		err = serr
	}
	return sent, err
}

// SpliceFrom moves up to n bytes (n < 0: until src's end of stream) from
// the stream socket src into s, inside the kernel, and returns how many
// reached s. src's read deadline and s's write deadline apply, and Close
// of either ends it.
func (s *Socket) SpliceFrom(ctx context.Context, src *Socket, n int64) (int64, error) {
	if !src.acquire() {
		return 0, net.ErrClosed
	}
	defer src.release()
	rw := waitSpec{ctx: ctx, mode: 'r'}
	w := waitSpec{ctx: ctx, mode: 'w'}
	return s.spliceIn(w, n, func(p *pipe, _ int64, chunk int) (int, error) {
		if err := src.rdl.errIfExpired(); err != nil {
			return 0, err
		}
		return src.e.b.splice(src, src.fd, -1, p.w, chunk, rw, false)
	}, false)
}

// spliceIn copies into s through a pipe: fill puts up to chunk bytes in
// the pipe (0 at the end of the source), and what it put is drained into
// s before the next fill.
func (s *Socket) spliceIn(w waitSpec, n int64, fill func(p *pipe, sent int64, chunk int) (int, error), ring bool) (int64, error) {
	if err := s.startSend(); err != nil {
		return 0, err
	}
	defer s.endSend()
	p, err := getPipe()
	if err != nil {
		return 0, err
	}
	defer putPipe(p)
	var sent int64
	for n < 0 || sent < n {
		chunk := int64(p.size)
		if n >= 0 {
			chunk = min(chunk, n-sent)
		}
		k, err := fill(p, sent, int(chunk))
		if err != nil {
			return sent, err
		}
		if k == 0 {
			break // the source's end
		}
		p.data = k
		for p.data > 0 {
			k, err := s.e.b.splice(s, p.r, -1, s.fd, p.data, w, ring)
			if err == nil && k == 0 {
				err = unix.EIO // a pipe we hold both ends of cannot be at its end
			}
			if err != nil {
				return sent, err
			}
			p.data -= k
			sent += int64(k)
		}
	}
	return sent, nil
}

// SpliceTo moves up to n bytes (n < 0: until s's end of stream) from s
// into fd, a regular file, at its position, inside the kernel, and
// returns how many reached fd. s's read deadline applies, and Close of s
// ends it; bytes taken from s when fd refuses them (disk full, say) are
// lost, and the count says how many arrived.
func (s *Socket) SpliceTo(ctx context.Context, fd int, n int64) (int64, error) {
	if !s.acquire() {
		return 0, net.ErrClosed
	}
	defer s.release()
	p, err := getPipe()
	if err != nil {
		return 0, err
	}
	defer putPipe(p)
	w := waitSpec{ctx: ctx, mode: 'r'}
	var moved int64
	for n < 0 || moved < n {
		if err := s.rdl.errIfExpired(); err != nil {
			return moved, err
		}
		chunk := int64(p.size)
		if n >= 0 {
			chunk = min(chunk, n-moved)
		}
		k, err := s.e.b.splice(s, s.fd, -1, p.w, int(chunk), w, false)
		if err != nil {
			return moved, err
		}
		if k == 0 {
			break // end of stream
		}
		p.data = k
		for p.data > 0 {
			k, err := s.e.b.splice(s, p.r, -1, fd, p.data, w, false)
			if err == nil && k == 0 {
				err = unix.EIO
			}
			if err != nil {
				return moved, err
			}
			p.data -= k
			moved += int64(k)
		}
	}
	return moved, nil
}
