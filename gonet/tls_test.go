//go:build linux

package gonet

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

// testCert is a self-signed ECDSA P-256 certificate for 127.0.0.1, ::1 and
// localhost, made once per test binary, and a pool that trusts it.
var testCert = sync.OnceValues(func() (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), cryptorand.Reader)
	if err != nil {
		panic(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ksocket gonet test"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(cryptorand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
})

// TestTLSEcho checks crypto/tls over gonet: a TLS 1.3 handshake that
// verifies the server's certificate, then 1 MiB echoed back, written and
// read at once, ending with close_notify. It runs gonet on both sides, and
// on one side with net on the other.
func TestTLSEcho(t *testing.T) {
	for _, tt := range []struct {
		name           string
		network        string
		server, client impl
	}{
		{"tcp4/server=gonet/client=gonet", "tcp4", gonetImpl, gonetImpl},
		{"tcp6/server=gonet/client=gonet", "tcp6", gonetImpl, gonetImpl},
		{"tcp4/server=gonet/client=net", "tcp4", gonetImpl, netImpl},
		{"tcp4/server=net/client=gonet", "tcp4", netImpl, gonetImpl},
	} {
		t.Run(tt.name, func(t *testing.T) {
			skipNetwork(t, tt.network)
			t.Parallel()
			addr := "127.0.0.1:0"
			if tt.network == "tcp6" {
				addr = "[::1]:0"
			}
			c, s := connPair(t, tt.server, tt.client, tt.network, addr)
			cert, pool := testCert()
			deadline := time.Now().Add(10 * time.Second)
			c.SetDeadline(deadline)
			s.SetDeadline(deadline)

			srv := tls.Server(s, &tls.Config{Certificates: []tls.Certificate{cert}})
			echoed := make(chan error, 1)
			go func() {
				defer srv.Close()
				if err := srv.HandshakeContext(t.Context()); err != nil {
					echoed <- err
					return
				}
				_, err := io.Copy(srv, srv)
				echoed <- err
			}()

			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			cli := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: host})
			defer cli.Close()
			if err := cli.HandshakeContext(t.Context()); err != nil {
				t.Fatalf("client handshake: %v", err)
			}
			st := cli.ConnectionState()
			if !st.HandshakeComplete || st.Version != tls.VersionTLS13 {
				t.Errorf("handshake complete %v, version %#x; want true, TLS 1.3", st.HandshakeComplete, st.Version)
			}
			if len(st.PeerCertificates) == 0 || !st.PeerCertificates[0].Equal(cert.Leaf) {
				t.Errorf("the server presented another certificate")
			}

			const size = 1 << 20
			rng := rand.New(rand.NewPCG(9, 10))
			msg := make([]byte, size)
			for i := range msg {
				msg[i] = byte(rng.Uint32())
			}
			wrote := make(chan error, 1)
			go func() {
				// Odd-sized writes, so records and reads do not line up.
				for p := msg; len(p) > 0; {
					n := min(len(p), 1+rng.IntN(40000))
					if _, err := cli.Write(p[:n]); err != nil {
						wrote <- err
						return
					}
					p = p[n:]
				}
				wrote <- cli.CloseWrite() // close_notify: the server's copy ends
			}()
			got, err := io.ReadAll(cli)
			if err != nil {
				t.Fatalf("reading the echo: %v", err)
			}
			if err := <-wrote; err != nil {
				t.Fatalf("writing: %v", err)
			}
			if err := <-echoed; err != nil {
				t.Fatalf("server: %v", err)
			}
			if len(got) != size || sha256.Sum256(got) != sha256.Sum256(msg) {
				t.Fatalf("echo: %d bytes that differ from the %d sent", len(got), size)
			}
		})
	}
}

// TestHTTPS checks go-httpbin served with http.Server.ServeTLS on a gonet
// listener, driven by a client that dials through gonet and trusts the
// test certificate, over HTTP/1.1 and HTTP/2.
func TestHTTPS(t *testing.T) {
	for _, tt := range []struct {
		name  string
		h2    bool
		proto int // ProtoMajor
	}{{"http1", false, 1}, {"http2", true, 2}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cert, pool := testCert()
			ln := gonetListener(t, "tcp4")
			var newConns atomic.Int32
			srv := &http.Server{
				Handler:           httpbin.New(),
				TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}},
				ReadHeaderTimeout: 10 * time.Second,
				// The transport cancels dials that another connection
				// beat, so the server sees some handshakes cut short.
				ErrorLog: testErrorLog(t),
				ConnState: func(_ net.Conn, st http.ConnState) {
					if st == http.StateNew {
						newConns.Add(1)
					}
				},
			}
			served := make(chan error, 1)
			go func() { served <- srv.ServeTLS(ln, "", "") }()
			t.Cleanup(func() {
				srv.Close()
				if err := <-served; !errors.Is(err, http.ErrServerClosed) {
					t.Errorf("ServeTLS: %v", err)
				}
			})

			var dials atomic.Int32
			tr := &http.Transport{
				DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
					dials.Add(1)
					return (&Dialer{}).DialContext(ctx, network, address)
				},
				TLSClientConfig:   &tls.Config{RootCAs: pool},
				ForceAttemptHTTP2: tt.h2,
			}
			t.Cleanup(tr.CloseIdleConnections)
			c := &http.Client{Transport: tr, Timeout: 15 * time.Second}
			base := "https://" + ln.Addr().String()

			resp, _ := get(t, c, base+"/get")
			if resp.ProtoMajor != tt.proto || resp.TLS == nil {
				t.Fatalf("response over %s (TLS %v), want HTTP/%d over TLS", resp.Proto, resp.TLS != nil, tt.proto)
			}
			checkLargeBodies(t, c, base)

			// Requests at once: HTTP/2 multiplexes them on one
			// connection.
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := c.Get(base + "/bytes/65536?seed=5")
					if err != nil {
						errs <- err
						return
					}
					defer resp.Body.Close()
					body, err := io.ReadAll(resp.Body)
					if err == nil && !bytes.Equal(body, httpbinBytes(65536, 5)) {
						err = errors.New("the body differs from go-httpbin's for that seed")
					}
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			if tt.h2 {
				if n := dials.Load(); n != 1 {
					t.Errorf("HTTP/2 dialed %d connections, want 1", n)
				}
				if n := newConns.Load(); n != 1 {
					t.Errorf("HTTP/2: the server saw %d connections, want 1", n)
				}
			}
		})
	}
}
