//go:build linux

package interop

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/gonet"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
)

// serveHealth serves grpc-go's health service on a gonet listener until
// the test ends. The server pings an idle client every second, its
// shortest interval, and lets the client ping as often.
func serveHealth(t *testing.T) (net.Listener, *health.Server) {
	t.Helper()
	ln, err := gonet.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Second, Timeout: time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
	)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln, hs
}

// TestGRPCOverGonet serves grpc-go's health service on a gonet listener
// and calls it through a client that dials with gonet: a unary RPC, a
// server stream that follows status changes, and both sides with
// keep-alive parameters set.
func TestGRPCOverGonet(t *testing.T) {
	ln, hs := serveHealth(t)
	hs.SetServingStatus("ksocket", healthpb.HealthCheckResponse_SERVING)

	d := &gonet.Dialer{}
	cc, err := grpc.NewClient("passthrough:///"+ln.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: time.Second, PermitWithoutStream: true}),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := healthpb.NewHealthClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	for range 100 {
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "ksocket"})
		if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("Check: %v, %v", resp, err)
		}
	}

	stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{Service: "ksocket"})
	if err != nil {
		t.Fatal(err)
	}
	want := []healthpb.HealthCheckResponse_ServingStatus{
		healthpb.HealthCheckResponse_SERVING,
		healthpb.HealthCheckResponse_NOT_SERVING,
		healthpb.HealthCheckResponse_SERVING,
	}
	for i, w := range want {
		resp, err := stream.Recv()
		if err != nil || resp.Status != w {
			t.Fatalf("Watch update %d: %v, %v; want %v", i, resp, err, w)
		}
		if i+1 < len(want) {
			hs.SetServingStatus("ksocket", want[i+1])
		}
	}
	cancel()
}

// pingCountingConn counts the bytes a client connection reads: with no
// RPC in flight, only the server's HTTP/2 keep-alive pings bring any.
type pingCountingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c pingCountingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.read.Add(int64(n))
	return n, err
}

// TestGRPCKeepaliveOverGonet leaves a connection idle for 3.5 s while the
// server pings every second (its shortest allowed interval) and drops a
// peer that does not answer within a second. The client, on gonet, must
// read the pings and answer them on the same connection: the server's
// pings arrive, no second connection is dialed, and an RPC afterwards
// goes through.
func TestGRPCKeepaliveOverGonet(t *testing.T) {
	if testing.Short() {
		t.Skip("idles for 3.5 s")
	}
	ln, _ := serveHealth(t)

	var dials atomic.Int32
	var read atomic.Int64
	d := &gonet.Dialer{}
	cc, err := grpc.NewClient("passthrough:///"+ln.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			dials.Add(1)
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			return pingCountingConn{c, &read}, nil
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := healthpb.NewHealthClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("Check: %v", err)
	}
	before := read.Load()
	time.Sleep(3500 * time.Millisecond)
	// An HTTP/2 PING frame is 17 bytes; three are due, two must come.
	if got := read.Load() - before; got < 2*17 {
		t.Fatalf("the idle client read %d bytes in 3.5 s; want the server's pings, 17 bytes a second", got)
	} else {
		t.Logf("the idle client read %d bytes of pings in 3.5 s", got)
	}
	if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("Check after the idle spell: %v", err)
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("the client dialed %d times; the pings should have kept the first connection", n)
	}
}
