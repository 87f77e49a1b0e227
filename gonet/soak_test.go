//go:build linux

package gonet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ksocket-go/ksocket/internal/engine"
	"github.com/ksocket-go/ksocket/internal/leaktest"
	"github.com/ksocket-go/ksocket/internal/testenv"
	"golang.org/x/sys/unix"
)

var (
	soakFor   = flag.Duration("soak", 0, "run TestSoak for this long, e.g. 10m (CI: 30s); 0 skips it")
	soakConns = flag.Int("soak.conns", 1000, "connections TestSoak keeps busy, half echo and half HTTP")
)

// soakSample is the process's state at one moment of the soak.
type soakSample struct {
	at         time.Duration
	goroutines int
	fds        int
	rssKB      int
	heapKB     int
	slots      int // engine op slots holding an op (uring)
	slotsMade  int // engine op slots in existence (uring)
	ops        int64
}

// TestSoak keeps -soak.conns connections busy for -soak: half carry an echo
// protocol (length, sequence number and SHA-256 of random payloads, sent
// and read back through gonet on both ends), half carry net/http requests
// (GET of generated bodies and POST echoes, checked the same way) between
// an http.Server on a gonet listener and an http.Client dialing through
// gonet. Once every connection is up, it samples goroutines, fds, RSS and
// heap, and the engine's op slots, once a second and checks that after the
// warm-up (the first fifth) they stay flat: the connections are fixed, so
// nothing should grow. Under
// the race detector, whose own memory grows with the run, RSS is only
// reported.
func TestSoak(t *testing.T) {
	if *soakFor == 0 {
		t.Skip("-soak=DURATION runs it (go test -run Soak -soak=10m ./gonet); CI runs -soak=30s")
	}
	conns := *soakConns
	echoConns, httpConns := conns/2, conns-conns/2
	// Both ends of every connection are fds of this process (Go raised the
	// soft limit to the hard one at start-up).
	var rl unix.Rlimit
	if need := uint64(2*conns + 256); unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil && rl.Cur < need {
		t.Skipf("RLIMIT_NOFILE is %d; %d connections need %d fds (raise it, or lower -soak.conns)", rl.Cur, conns, need)
	}

	// The echo server.
	eln, err := Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var srvWG sync.WaitGroup
	srvWG.Go(func() {
		for {
			c, err := eln.Accept()
			if err != nil {
				return
			}
			srvWG.Go(func() {
				defer c.Close()
				io.Copy(c, c)
			})
		}
	})

	// The HTTP server.
	hln, err := Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		seed, _ := strconv.ParseUint(r.URL.Query().Get("seed"), 10, 64)
		w.Header().Set("Content-Length", strconv.Itoa(n))
		w.Write(soakBody(n, seed))
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sum := sha256.Sum256(body)
		w.Header().Set("X-Sum", fmt.Sprintf("%x", sum))
		w.Write(body)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: time.Minute}
	srvWG.Go(func() { srv.Serve(hln) })

	// The UDP echo server: two readers on one socket, which receives
	// through its multishot queue on the uring backend. The engine queues
	// only a socket made at one P (engine.Socket.QueueDatagrams), so make
	// it there, and drive it at the soak's two.
	prev := runtime.GOMAXPROCS(1)
	uln, err := ListenPacket("udp4", "127.0.0.1:0")
	runtime.GOMAXPROCS(prev)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		srvWG.Go(func() {
			buf := make([]byte, 64<<10)
			for {
				n, from, err := uln.ReadFrom(buf)
				if err != nil {
					return
				}
				uln.WriteTo(buf[:n], from)
			}
		})
	}

	tr := &http.Transport{
		DialContext:         (&Dialer{}).DialContext,
		MaxIdleConnsPerHost: httpConns,
		MaxConnsPerHost:     httpConns,
		DisableCompression:  true,
	}
	client := &http.Client{Transport: tr, Timeout: time.Minute}

	// The clock starts once every connection is up (ramp-up is timed
	// apart): ctx ends the soak, or a failure.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rampStart := time.Now()
	var ops, udpOps, bytesMoved atomic.Int64
	errc := make(chan error, 16)
	fail := func(err error) {
		select {
		case errc <- err:
		default:
		}
		cancel()
	}
	var cliWG sync.WaitGroup
	const udpFlows = 16
	ready := make(chan struct{}, conns+udpFlows)
	begin := make(chan struct{}) // closed when every connection is up
	for i := range echoConns {
		cliWG.Go(func() {
			c, err := Dial("tcp4", eln.Addr().String())
			if err != nil {
				fail(fmt.Errorf("echo dial %d: %v", i, err))
				return
			}
			defer c.Close()
			ready <- struct{}{}
			select { // traffic starts once every connection is up
			case <-begin:
			case <-ctx.Done():
				return
			}
			stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
			defer stop()
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			for seq := uint32(0); ctx.Err() == nil; seq++ {
				n, err := soakEcho(c, rng, seq)
				if err != nil {
					if ctx.Err() == nil {
						fail(fmt.Errorf("echo conn %d seq %d: %v", i, seq, err))
					}
					return
				}
				ops.Add(1)
				bytesMoved.Add(int64(2 * n))
			}
		})
	}
	for i := range udpFlows {
		cliWG.Go(func() {
			c, err := Dial("udp4", uln.LocalAddr().String())
			if err != nil {
				fail(fmt.Errorf("udp dial %d: %v", i, err))
				return
			}
			defer c.Close()
			ready <- struct{}{}
			select {
			case <-begin:
			case <-ctx.Done():
				return
			}
			rng := rand.New(rand.NewPCG(uint64(i), 3))
			for seq := uint32(0); ctx.Err() == nil; seq++ {
				n, err := soakUDP(c, rng, seq)
				if err != nil {
					if ctx.Err() == nil {
						fail(fmt.Errorf("udp flow %d seq %d: %v", i, seq, err))
					}
					return
				}
				ops.Add(1)
				udpOps.Add(1)
				bytesMoved.Add(int64(2 * n))
			}
		})
	}
	base := "http://" + hln.Addr().String()
	for i := range httpConns {
		cliWG.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 2))
			first := true
			for ctx.Err() == nil {
				n, err := soakHTTP(ctx, client, base, rng)
				if err != nil {
					if ctx.Err() == nil {
						fail(fmt.Errorf("http client %d: %v", i, err))
					}
					return
				}
				if first {
					ready <- struct{}{}
					first = false
					select {
					case <-begin:
					case <-ctx.Done():
						return
					}
				}
				ops.Add(1)
				bytesMoved.Add(int64(n))
			}
		})
	}
	// Wait for every connection to be in use, then sample.
	rampLimit := time.After(3 * time.Minute)
	for range conns + udpFlows {
		select {
		case <-ready:
		case <-rampLimit:
			cancel()
			t.Fatalf("the connections were not all up within 3 minutes")
		case <-ctx.Done():
			var first error
			select {
			case first = <-errc:
			default:
			}
			t.Fatalf("a client failed before all were up: %v", first)
		}
	}
	ramp := time.Since(rampStart)
	close(begin)
	time.AfterFunc(*soakFor, cancel)
	start := time.Now()
	var samples []soakSample
	tick := time.NewTicker(max(*soakFor/60, time.Second))
	for ctx.Err() == nil {
		s := takeSoakSample(time.Since(start), ops.Load())
		if ctx.Err() != nil {
			// The run ended while the sample was taken: it may count
			// the goroutines of the clients' and servers' teardown.
			break
		}
		samples = append(samples, s)
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
	tick.Stop()
	elapsed := time.Since(start)
	cliWG.Wait()
	tr.CloseIdleConnections()
	shut, cancelShut := context.WithTimeout(context.Background(), 10*time.Second)
	srv.Shutdown(shut)
	cancelShut()
	eln.Close()
	hln.Close()
	uln.Close()
	srvWG.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}

	t.Logf("soak: %d connections (%d echo, %d HTTP) and %d UDP flows, all up after %v, then %v: %d ops (%.0f/s; %d datagrams echoed), %.1f MB checked",
		conns, echoConns, httpConns, udpFlows, ramp.Round(time.Millisecond), elapsed.Round(time.Second), ops.Load(), float64(ops.Load())/elapsed.Seconds(), udpOps.Load(), float64(bytesMoved.Load())/1e6)
	t.Logf("%8s %10s %6s %11s %9s %9s %10s", "t", "goroutines", "fds", "slots/made", "RSS(MB)", "heap(MB)", "ops")
	for _, s := range samples {
		t.Logf("%8v %10d %6d %5d/%-5d %9.1f %9.1f %10d", s.at.Round(time.Second), s.goroutines, s.fds, s.slots, s.slotsMade, float64(s.rssKB)/1024, float64(s.heapKB)/1024, s.ops)
	}
	checkSoakFlat(t, samples)
}

// checkSoakFlat compares the samples after the warm-up: the first of them
// against the largest later one.
func checkSoakFlat(t *testing.T, samples []soakSample) {
	if len(samples) < 5 {
		t.Errorf("only %d samples", len(samples))
		return
	}
	steady := samples[len(samples)/5:]
	first := steady[0]
	var peak soakSample
	for _, s := range steady {
		peak.goroutines = max(peak.goroutines, s.goroutines)
		peak.fds = max(peak.fds, s.fds)
		peak.rssKB = max(peak.rssKB, s.rssKB)
		peak.heapKB = max(peak.heapKB, s.heapKB)
		peak.slots = max(peak.slots, s.slots)
		peak.slotsMade = max(peak.slotsMade, s.slotsMade)
	}
	t.Logf("after warm-up: goroutines %d → peak %d, fds %d → %d, op slots in use %d → %d (made %d → %d), RSS %.1f → %.1f MB, heap %.1f → %.1f MB",
		first.goroutines, peak.goroutines, first.fds, peak.fds, first.slots, peak.slots, first.slotsMade, peak.slotsMade,
		float64(first.rssKB)/1024, float64(peak.rssKB)/1024, float64(first.heapKB)/1024, float64(peak.heapKB)/1024)
	// Connections are fixed, so goroutines and fds move only by the few
	// that net/http and the runtime start and stop for each request; a
	// leak shows as a climb from the first half of the run to the second.
	half := len(steady) / 2
	mean := func(ss []soakSample, f func(soakSample) int) float64 {
		sum := 0
		for _, s := range ss {
			sum += f(s)
		}
		return float64(sum) / float64(len(ss))
	}
	for _, m := range []struct {
		what  string
		f     func(soakSample) int
		slack float64 // allowed climb: a fraction, plus an absolute amount
		abs   float64
	}{
		{"goroutines", func(s soakSample) int { return s.goroutines }, 0.02, 20},
		{"fds", func(s soakSample) int { return s.fds }, 0, 10},
		// At most one op per connection end is pending, plus cancels.
		{"op slots in use", func(s soakSample) int { return s.slots }, 0.05, 50},
		{"RSS (KB)", func(s soakSample) int { return s.rssKB }, 0.10, 16 << 10},
	} {
		if m.what == "RSS (KB)" && testenv.RaceEnabled() {
			t.Logf("RSS not checked: the race detector's own memory grows with the run")
			continue
		}
		a, b := mean(steady[:half], m.f), mean(steady[half:], m.f)
		if b > a*(1+m.slack)+m.abs {
			t.Errorf("%s climbed from a mean of %.0f to %.0f", m.what, a, b)
		}
	}
	if peak.goroutines > first.goroutines+first.goroutines/10+50 || peak.fds > first.fds+20 {
		t.Errorf("goroutines or fds peaked at %d/%d after starting at %d/%d", peak.goroutines, peak.fds, first.goroutines, first.fds)
	}
	if peak.slotsMade > first.slotsMade+first.slotsMade/10+512 {
		t.Errorf("the op slot table grew from %d to %d slots", first.slotsMade, peak.slotsMade)
	}
	if peak.rssKB > first.rssKB+first.rssKB/4+64<<10 && !testenv.RaceEnabled() {
		t.Errorf("RSS grew from %.1f to %.1f MB", float64(first.rssKB)/1024, float64(peak.rssKB)/1024)
	}
}

func takeSoakSample(at time.Duration, ops int64) soakSample {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := soakSample{at: at, goroutines: runtime.NumGoroutine(), heapKB: int(ms.HeapInuse >> 10), ops: ops}
	if e, err := engine.Default(); err == nil {
		s.slots, s.slotsMade = e.Slots()
	}
	s.fds = leaktest.OpenFDs()
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				s.rssKB, _ = strconv.Atoi(strings.Fields(v)[0])
			}
		}
	}
	return s
}

// soakEcho sends one framed message (length, sequence, SHA-256, payload)
// and reads it back whole.
func soakEcho(c net.Conn, rng *rand.Rand, seq uint32) (int, error) {
	n := 1 + rng.IntN(16<<10)
	msg := make([]byte, 40+n)
	binary.BigEndian.PutUint32(msg, uint32(n))
	binary.BigEndian.PutUint32(msg[4:], seq)
	for i := 40; i < len(msg); i++ {
		msg[i] = byte(rng.Uint32())
	}
	sum := sha256.Sum256(msg[40:])
	copy(msg[8:40], sum[:])
	if _, err := c.Write(msg); err != nil {
		return 0, err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return 0, err
	}
	if binary.BigEndian.Uint32(got[4:]) != seq || !bytes.Equal(got, msg) {
		return 0, errors.New("the echo differs")
	}
	if s := sha256.Sum256(got[40:]); !bytes.Equal(s[:], got[8:40]) {
		return 0, errors.New("the echo's checksum is wrong")
	}
	return len(msg), nil
}

// soakUDP sends one datagram of 0 to 9,000 bytes (mostly under 1,500) and
// checks its echo. On loopback with one datagram in flight none is lost;
// a wait longer than 5 s is a failure.
func soakUDP(c net.Conn, rng *rand.Rand, seq uint32) (int, error) {
	n := rng.IntN(1500)
	if rng.IntN(16) == 0 {
		n = rng.IntN(9000)
	}
	msg := make([]byte, 4+n)
	binary.BigEndian.PutUint32(msg, seq)
	for i := 4; i < len(msg); i++ {
		msg[i] = byte(rng.Uint32())
	}
	if _, err := c.Write(msg); err != nil {
		return 0, err
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, 16<<10)
	k, err := c.Read(got)
	if err != nil {
		return 0, err
	}
	if !bytes.Equal(got[:k], msg) {
		return 0, fmt.Errorf("the echo differs: %d bytes for %d", k, len(msg))
	}
	return len(msg), nil
}

// soakHTTP makes one GET or POST and checks the body.
func soakHTTP(ctx context.Context, c *http.Client, base string, rng *rand.Rand) (int, error) {
	n := rng.IntN(32 << 10)
	if rng.IntN(2) == 0 {
		seed := rng.Uint64()
		resp, body, err := soakDo(ctx, c, "GET", fmt.Sprintf("%s/bytes/%d?seed=%d", base, n, seed), nil)
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != 200 || !bytes.Equal(body, soakBody(n, seed)) {
			return 0, fmt.Errorf("GET /bytes/%d: status %d, %d bytes, body differs", n, resp.StatusCode, len(body))
		}
		return len(body), nil
	}
	payload := soakBody(n, rng.Uint64())
	resp, body, err := soakDo(ctx, c, "POST", base+"/echo", payload)
	if err != nil {
		return 0, err
	}
	sum := sha256.Sum256(payload)
	if resp.StatusCode != 200 || !bytes.Equal(body, payload) || resp.Header.Get("X-Sum") != fmt.Sprintf("%x", sum) {
		return 0, fmt.Errorf("POST /echo of %d bytes: status %d, the echo differs", n, resp.StatusCode)
	}
	return 2 * n, nil
}

// soakDo makes one request, with body if not nil, and reads the whole reply.
func soakDo(ctx context.Context, c *http.Client, method, url string, body []byte) (*http.Response, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	return resp, got, err
}

func soakBody(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 3))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}
