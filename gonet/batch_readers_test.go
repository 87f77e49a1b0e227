//go:build linux

package gonet

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// TestReadBatchManyReaders has four goroutines reading one UDP socket with
// ReadBatch while a sender sends sequence-numbered datagrams: no datagram
// may arrive twice, and every one must arrive unless the kernel says it
// dropped it (SO_RXQ_OVFL, the socket's own drop count, in each
// message's control data).
func TestReadBatchManyReaders(t *testing.T) {
	const total = 20000
	r, err := ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rc, _ := r.SyscallConn()
	rc.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
		unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	})

	var mu sync.Mutex
	seen := make(map[uint32]int, total)
	var drops uint32
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ms := make([]ipv4.Message, 8)
			for i := range ms {
				ms[i] = ipv4.Message{Buffers: [][]byte{make([]byte, 64)}, OOB: make([]byte, unix.CmsgSpace(4))}
			}
			for {
				n, err := r.ReadBatch(ms, 0)
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("ReadBatch: %v", err)
					return
				}
				mu.Lock()
				for _, m := range ms[:n] {
					if m.N != 4 {
						t.Errorf("a datagram of %d bytes, want 4", m.N)
						continue
					}
					if seq := binary.LittleEndian.Uint32(m.Buffers[0]); seq < total {
						seen[seq]++
					} // else a probe, sent only for its drop count
					cms, _ := unix.ParseSocketControlMessage(m.OOB[:m.NN])
					for _, cm := range cms {
						if cm.Header.Level == unix.SOL_SOCKET && cm.Header.Type == unix.SO_RXQ_OVFL && len(cm.Data) >= 4 {
							drops = max(drops, binary.NativeEndian.Uint32(cm.Data))
						}
					}
				}
				mu.Unlock()
			}
		}()
	}

	s, err := net.DialUDP("udp4", nil, r.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	buf := make([]byte, 4)
	for seq := range uint32(total) {
		binary.LittleEndian.PutUint32(buf, seq)
		if _, err := s.Write(buf); err != nil && !errors.Is(err, syscall.ENOBUFS) {
			t.Fatal(err)
		}
		if seq%256 == 255 {
			time.Sleep(200 * time.Microsecond) // pace the sender a little; drops are counted anyway
		}
	}
	// Wait until every datagram is accounted for: received, or dropped as
	// the kernel reports. A drop shows in the count of the next datagram
	// received, so probes past the end carry the last drops out.
	var got, dup int
	for probe, deadline := uint32(total), time.Now().Add(10*time.Second); ; probe++ {
		time.Sleep(10 * time.Millisecond)
		binary.LittleEndian.PutUint32(buf, probe)
		s.Write(buf)
		mu.Lock()
		got, dup = len(seen), 0
		for _, c := range seen {
			dup += c - 1
		}
		d := int(drops)
		mu.Unlock()
		if got+d >= total || time.Now().After(deadline) {
			r.Close()
			wg.Wait()
			if dup > 0 {
				t.Errorf("%d datagrams arrived more than once", dup)
			}
			if got+d != total {
				t.Errorf("%d datagrams sent, %d received, %d dropped by the kernel: %d unaccounted for", total, got, d, total-got-d)
			}
			t.Logf("%d sent, %d received, %d dropped by the kernel", total, got, d)
			return
		}
	}
}
