//go:build linux

package engine

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestTimeoutLeftBehind: an op's own timeout ends that op only. The epoll
// backend leaves an ended op's timeout in the file's deadline for the next
// op in its direction to replace (epollState.expire); this runs, on both
// backends, every kind of next op past the left timeout: a Read and a
// Write with none, an op with a longer timeout, and an op under the
// socket's deadline, each with what it waits for arriving after the old
// timeout has passed. An op's timeout and the deadline still end ops.
func TestTimeoutLeftBehind(t *testing.T) {
	const (
		short = 20 * time.Millisecond
		late  = 4 * short // when what a next op waits for comes
	)
	c, peer := connectedPair(t)
	ping := []byte("ping")
	// timedRecv is a receive with the short timeout that ends with data.
	timedRecv := func() {
		t.Helper()
		if _, err := peer.Write(ping); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, len(ping))
		if n, _, _, err := c.Recv(ctx0, b, 0, false, short); err != nil || n != len(ping) {
			t.Fatalf("timed receive: %d, %v", n, err)
		}
	}
	sendLate := func() {
		time.AfterFunc(late, func() { peer.Write(ping) })
	}
	b := make([]byte, len(ping))

	timedRecv()
	sendLate()
	if n, err := c.Read(b); err != nil || n != len(ping) {
		t.Fatalf("Read after a timed receive: %d, %v", n, err)
	}

	timedRecv()
	sendLate()
	if n, _, _, err := c.Recv(ctx0, b, 0, false, 10*late); err != nil || n != len(ping) {
		t.Fatalf("a longer timed receive after a timed receive: %d, %v", n, err)
	}

	timedRecv()
	sendLate()
	if n, _, _, err := c.Recv(ctx0, b, unix.MSG_WAITALL, false, 0); err != nil || n != len(ping) {
		t.Fatalf("an untimed receive with flags after a timed receive: %d, %v", n, err)
	}

	timedRecv()
	c.SetReadDeadline(time.Now().Add(10 * late))
	sendLate()
	if n, err := c.Read(b); err != nil || n != len(ping) {
		t.Fatalf("Read under a deadline after a timed receive: %d, %v", n, err)
	}
	c.SetReadDeadline(time.Time{})

	// The timeout and the deadline still work.
	start := time.Now()
	if _, _, _, err := c.Recv(ctx0, b, 0, false, short); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("timed receive with nothing to read: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(short))
	if _, err := c.Read(b); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v", err)
	}
	c.SetReadDeadline(time.Time{})
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the timeout and the deadline took %v", d)
	}

	// Writes: a timed send that ends at once, then a Write that waits
	// for room until the peer reads, after the timeout has passed.
	if n, err := c.Send(ctx0, ping, 0, nil, short); err != nil || n != len(ping) {
		t.Fatalf("timed send: %d, %v", n, err)
	}
	big := bytes.Repeat([]byte{7}, 32<<20) // more than both buffers hold
	got := make(chan int, 1)
	time.AfterFunc(late, func() {
		buf := make([]byte, 64<<10)
		total := 0
		for total < len(ping)+len(big) {
			n, err := peer.Read(buf)
			if err != nil {
				break
			}
			total += n
		}
		got <- total
	})
	if n, err := c.Write(big); err != nil || n != len(big) {
		t.Fatalf("Write after a timed send: %d, %v", n, err)
	}
	if total := <-got; total != len(ping)+len(big) {
		t.Fatalf("the peer read %d bytes, want %d", total, len(ping)+len(big))
	}
}
