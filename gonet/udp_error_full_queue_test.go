//go:build linux

package gonet

import (
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"
)

// A connected UDP conn whose queue reached its bound (dgramQueueMax, 128:
// the multishot cancelled, nothing armed to bring the socket error) hears
// of an ICMP refusal: net reports it before the datagrams, as the conn must.
func TestUDPErrorBeforeFullQueue(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	run := func(dial func(l, r *net.UDPAddr) (net.Conn, error)) []string {
		peer, c := dialedPeer(t, dial)
		var out []string
		read := func() { out = append(out, readLine(c)) }
		peer.WriteTo([]byte("0"), c.LocalAddr())
		read() // arms
		for i := 1; i <= 200; i++ {
			peer.WriteTo([]byte(fmt.Sprint(i)), c.LocalAddr())
		}
		time.Sleep(50 * time.Millisecond)
		peer.Close()
		c.Write([]byte("x"))
		time.Sleep(20 * time.Millisecond)
		for range 3 {
			read()
		}
		return out
	}
	want := run(func(l, r *net.UDPAddr) (net.Conn, error) { return net.DialUDP("udp4", l, r) })
	got := run(func(l, r *net.UDPAddr) (net.Conn, error) { return DialUDP("udp4", l, r) })
	if fmt.Sprint(want) != fmt.Sprint(got) {
		t.Errorf("ring queue %v:\nnet   %q\ngonet %q", ringQueues(), want, got)
	}
}
