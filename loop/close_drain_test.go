//go:build linux

package loop

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// TestCloseDrainsWhilePeerWrites: the handler writes 4 MiB, then
// Close. The peer sends a few more bytes while it drains the reply. All
// 4 MiB must arrive, then EOF: on io_uring the multishot receive keeps
// consuming (and dropping) what the peer sends after Close; on epoll the
// loop stops reading at Close, so the close(2) at the end finds unread data,
// sends RST and discards what the send queue still held.
func TestCloseDrainsWhilePeerWrites(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16)
	h := Handlers{Data: func(c *Conn, data []byte) {
		if c.Context() == nil {
			c.SetContext(true)
			c.Write(body)
			c.Close()
		}
	}}
	s := serve(t, h, &Config{Loops: 1})
	c, err := net.Dial("tcp4", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(64 << 10)
	c.Write([]byte("go"))
	time.Sleep(50 * time.Millisecond) // the server is stuck on a full socket
	c.Write([]byte("more"))           // arrives after Close, before the reply drains
	time.Sleep(50 * time.Millisecond)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || len(got) != len(body) {
		t.Fatalf("read %d of %d bytes, err %v: written data lost at Close", len(got), len(body), err)
	}
}
