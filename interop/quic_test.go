//go:build linux

package interop

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/ksocket-go/ksocket/gonet"
	"github.com/quic-go/quic-go"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// countingConn is a gonet UDP socket that counts the calls quic-go makes,
// to show which of its paths it took. Embedding keeps every method of
// *gonet.UDPConn, so quic-go sees the same interfaces.
type countingConn struct {
	*gonet.UDPConn
	batches, batched, msgWrites, plainReads, plainWrites atomic.Int64
	// Control messages: sends that carried UDP_SEGMENT (GSO) and IP_TOS
	// (ECN), and datagrams read with their IP_TOS.
	gsoWrites, ecnWrites, ecnReads atomic.Int64
}

func (c *countingConn) ReadBatch(ms []ipv4.Message, flags int) (int, error) {
	n, err := c.UDPConn.ReadBatch(ms, flags)
	c.batches.Add(1)
	c.batched.Add(int64(n))
	for _, m := range ms[:max(n, 0)] {
		if hasCmsg(m.OOB[:m.NN], unix.IPPROTO_IP, unix.IP_TOS) {
			c.ecnReads.Add(1)
		}
	}
	return n, err
}

func (c *countingConn) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (int, int, error) {
	c.msgWrites.Add(1)
	if hasCmsg(oob, unix.SOL_UDP, unix.UDP_SEGMENT) {
		c.gsoWrites.Add(1)
	}
	if hasCmsg(oob, unix.IPPROTO_IP, unix.IP_TOS) {
		c.ecnWrites.Add(1)
	}
	return c.UDPConn.WriteMsgUDP(b, oob, addr)
}

// hasCmsg reports whether oob holds a control message of level and typ.
// It walks the headers in place: the benchmark counts too, and x/sys's
// parse allocates for every message.
func hasCmsg(oob []byte, level, typ int32) bool {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		if h.Len < unix.SizeofCmsghdr || int(h.Len) > len(oob) {
			return false
		}
		if h.Level == level && h.Type == typ {
			return true
		}
		oob = oob[min(unix.CmsgSpace(int(h.Len)-unix.SizeofCmsghdr), len(oob)):]
	}
	return false
}

func (c *countingConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.plainReads.Add(1)
	return c.UDPConn.ReadFrom(b)
}

func (c *countingConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.plainWrites.Add(1)
	return c.UDPConn.WriteTo(b, addr)
}

var _ quic.OOBCapablePacketConn = (*countingConn)(nil)

func listenGonet(t testing.TB) *countingConn {
	c, err := gonet.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return &countingConn{UDPConn: c}
}

func listenNet(t testing.TB) net.PacketConn {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tlsConfigs returns a server config with a fresh self-signed certificate
// and a client config that trusts it.
func tlsConfigs(t testing.TB) (*tls.Config, *tls.Config) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	srv := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, NextProtos: []string{"ksocket-test"}}
	cli := &tls.Config{RootCAs: pool, ServerName: "localhost", NextProtos: []string{"ksocket-test"}}
	return srv, cli
}

// transfer sends size bytes from a client on cpc to a server on spc over
// one QUIC stream, and returns the time it took once the server has
// checked every byte.
func transfer(t testing.TB, spc, cpc net.PacketConn, size int) time.Duration {
	srvTLS, cliTLS := tlsConfigs(t)
	st := &quic.Transport{Conn: spc}
	defer st.Close()
	ct := &quic.Transport{Conn: cpc}
	defer ct.Close()
	ln, err := st.Listen(srvTLS, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	payload := make([]byte, size)
	rand.Read(payload)
	want := sha256.Sum256(payload)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	got := make(chan error, 1)
	served := make(chan struct{})
	defer func() { <-served }()
	go func() {
		defer close(served)
		conn, err := ln.Accept(ctx)
		if err != nil {
			got <- err
			return
		}
		defer conn.CloseWithError(0, "")
		// The client closes the connection once it has the answer.
		defer func() { <-conn.Context().Done() }()
		s, err := conn.AcceptStream(ctx)
		if err != nil {
			got <- err
			return
		}
		h := sha256.New()
		n, err := io.Copy(h, s)
		switch {
		case err != nil:
			got <- err
		case n != int64(size) || !bytes.Equal(h.Sum(nil), want[:]):
			got <- fmt.Errorf("server got %d bytes, sha256 %x; sent %d, %x", n, h.Sum(nil), size, want)
		default:
			_, err = s.Write([]byte("ok"))
			s.Close()
			got <- err
		}
	}()

	start := time.Now()
	conn, err := ct.Dial(ctx, spc.LocalAddr(), cliTLS, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	s, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(payload); err != nil {
		t.Fatal(err)
	}
	s.Close()
	ack, err := io.ReadAll(s)
	if err != nil || string(ack) != "ok" {
		t.Fatalf("server's answer: %q, %v", ack, err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// TestQUICOverGonet moves 16 MiB through quic-go with both ends on gonet
// sockets, and checks that quic-go took its batched path: ReadBatch to
// receive, WriteMsgUDP (with GSO and ECN in the control data) to send,
// never the plain ReadFrom and WriteTo.
func TestQUICOverGonet(t *testing.T) {
	spc, cpc := listenGonet(t), listenGonet(t)
	defer spc.Close()
	defer cpc.Close()
	d := transfer(t, spc, cpc, 16<<20)
	t.Logf("16 MiB in %v", d)
	for _, c := range []*countingConn{spc, cpc} {
		t.Logf("%v: %d ReadBatch calls for %d datagrams, %d WriteMsgUDP, %d ReadFrom, %d WriteTo",
			c.LocalAddr(), c.batches.Load(), c.batched.Load(), c.msgWrites.Load(), c.plainReads.Load(), c.plainWrites.Load())
		if c.batches.Load() == 0 || c.msgWrites.Load() == 0 {
			t.Errorf("%v: quic-go did not take its batched path", c.LocalAddr())
		}
		if c.plainReads.Load() != 0 || c.plainWrites.Load() != 0 {
			t.Errorf("%v: quic-go fell back to ReadFrom/WriteTo", c.LocalAddr())
		}
		t.Logf("%v: %d sends with UDP_SEGMENT, %d with IP_TOS; %d datagrams read with IP_TOS",
			c.LocalAddr(), c.gsoWrites.Load(), c.ecnWrites.Load(), c.ecnReads.Load())
		if c.ecnWrites.Load() == 0 || c.ecnReads.Load() == 0 {
			t.Errorf("%v: ECN is off: quic-go sent or read no IP_TOS", c.LocalAddr())
		}
	}
	// The bulk goes from the client: its sends are the ones GSO packs.
	if cpc.gsoWrites.Load() == 0 {
		t.Errorf("%v: GSO is off: quic-go sent no UDP_SEGMENT", cpc.LocalAddr())
	}
}

// BenchmarkQUICTransfer moves 16 MiB per op through quic-go, on gonet
// and on net sockets.
func BenchmarkQUICTransfer(b *testing.B) {
	const size = 16 << 20
	for _, impl := range []struct {
		name string
		open func(testing.TB) net.PacketConn
	}{
		{"net", listenNet},
		{"gonet", func(t testing.TB) net.PacketConn { return listenGonet(t) }},
	} {
		b.Run(impl.name, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				spc, cpc := impl.open(b), impl.open(b)
				transfer(b, spc, cpc, size)
				spc.Close()
				cpc.Close()
			}
		})
	}
}
