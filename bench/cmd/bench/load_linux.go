package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// loadMain is the load generator: it dials -conns connections, proves each
// with one echo, prints "ready", and then keeps the load on until told to
// stop. Its standard input takes the commands:
//
//	start  begin the measuring window; it answers "started"
//	end    end it; it answers with one "result" line, and the load goes on
//	mark   it answers "mark ops=N", N counting from "ready"
//	stop   exit; so does the end of input
func loadMain(args []string) {
	fs := flag.NewFlagSet("bench load", flag.ContinueOnError)
	addr := fs.String("addr", "", "server address, host:port (required)")
	mode := fs.String("mode", "echo", "echo: write -pipeline messages in one write, then read them back;\n"+
		"stream: one writer and one reader per connection, -pipeline messages in flight;\n"+
		"idle: open the connections, echo once on each, then hold them;\n"+
		"http: GET -path on each keep-alive connection, one at a time, reading each whole response;\n"+
		"udp: -conns flows of datagrams, each a connected socket keeping -pipeline in flight")
	conns := fs.Int("conns", 64, "connections")
	depth := fs.Int("pipeline", 1, "messages in flight per connection")
	size := fs.Int("size", 64, "message size in bytes")
	path := fs.String("path", "", "http: the URL path to GET")
	parseFlags(fs, args, "bench load -addr host:port [flags]\n\nA Go net load generator; the run mode drives it through standard input.")
	switch {
	case *addr == "":
		fatalf("load: -addr is required")
	case !slices.Contains([]string{"echo", "stream", "idle", "http", "udp"}, *mode):
		fatalf("load: unknown -mode %q: want echo, stream, idle, http or udp", *mode)
	case *mode == "udp" && *size < 16:
		fatalf("load: -mode udp needs a -size of at least 16 (a datagram carries its send time and epoch)")
	case *mode == "http" && !strings.HasPrefix(*path, "/"):
		fatalf("load: -mode http needs a -path starting with /")
	case *conns < 1 || *depth < 1 || *size < 1:
		fatalf("load: -conns, -pipeline and -size must be at least 1")
	}
	check(raiseNofile(*conns + 64))

	l := &loadGen{depth: *depth, size: *size, lat: make([]latencies, *conns)}
	if *mode == "udp" {
		flows, err := dialUDP(*addr, *conns, *size)
		check(err)
		for i, c := range flows {
			go l.udp(i, c)
		}
		l.serve()
		return
	}
	prove := echoOnce(*size)
	if *mode == "http" {
		prove = getOnce(*path)
	}
	cs, err := dialAll(*addr, *conns, prove)
	check(err)
	for i, c := range cs {
		switch *mode {
		case "echo":
			go l.echo(i, c)
		case "stream":
			go l.stream(c)
		case "http":
			go l.http(i, c, *path)
		}
	}
	l.serve()
}

// serve says "ready" and runs the commands of standard input.
func (l *loadGen) serve() {
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "start":
			l.start()
			fmt.Println("started")
		case "end":
			fmt.Println(l.end())
		case "mark":
			fmt.Printf("mark ops=%d\n", l.ops.Load())
		case "stop":
			os.Exit(0)
		}
	}
	os.Exit(0)
}

// echoOnce proves a connection with one echo of a size-byte message.
func echoOnce(size int) func(net.Conn) error {
	return func(c net.Conn) error {
		msg, back := make([]byte, size), make([]byte, size)
		if _, err := c.Write(msg); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		defer c.SetReadDeadline(time.Time{})
		_, err := io.ReadFull(c, back)
		return err
	}
}

// getOnce proves a connection with one GET of path.
func getOnce(path string) func(net.Conn) error {
	return func(c net.Conn) error {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		defer c.SetDeadline(time.Time{})
		_, err := get(c, bufio.NewReader(c), path)
		return err
	}
}

// get makes one GET of path on c and reads the whole response.
func get(c net.Conn, br *bufio.Reader, path string) (int64, error) {
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return n, err
}

// dialAll opens n connections to addr, 32 at a time, and proves each, so
// that the server has accepted them all.
func dialAll(addr string, n int, prove func(net.Conn) error) ([]net.Conn, error) {
	cs := make([]net.Conn, n)
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range min(n, 32) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, err := net.Dial("tcp", addr)
				if err == nil {
					if err = prove(c); err != nil {
						c.Close()
					}
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("load: connection %d of %d: %w", i+1, n, err)
					}
					mu.Unlock()
					next.Store(int64(n)) // stop the other dialers
					return
				}
				cs[i] = c
			}
		}()
	}
	wg.Wait()
	return cs, first
}

// loadGen holds the load's counters. Latency samples are taken only inside
// the measuring window, one per round trip of a connection: from the write of
// a batch of -pipeline messages to the last byte of its echo.
type loadGen struct {
	depth int
	size  int

	ops       atomic.Int64 // messages echoed, since the connections were proved
	lost      atomic.Int64 // udp: datagrams that never came back
	measuring atomic.Bool
	lat       []latencies // lat[i] is connection i's

	mu      sync.Mutex
	ops0    int64
	lost0   int64
	t0      time.Time
	failure error // the first I/O error
}

// latencies are one connection's samples in the window.
type latencies struct {
	mu sync.Mutex // uncontended but for end
	d  []time.Duration
}

func (l *loadGen) fail(err error) {
	l.mu.Lock()
	if l.failure == nil {
		l.failure = err
	}
	l.mu.Unlock()
}

func (l *loadGen) start() {
	l.mu.Lock()
	l.ops0, l.lost0, l.t0 = l.ops.Load(), l.lost.Load(), time.Now()
	l.mu.Unlock()
	l.measuring.Store(true)
}

// end ends the window and returns the result line, latencies in ns.
func (l *loadGen) end() string {
	ops1, t1 := l.ops.Load(), time.Now()
	l.measuring.Store(false)
	var all []time.Duration
	for i := range l.lat {
		s := &l.lat[i]
		s.mu.Lock()
		all = append(all, s.d...)
		s.d = nil
		s.mu.Unlock()
	}
	slices.Sort(all)
	l.mu.Lock()
	defer l.mu.Unlock()
	line := fmt.Sprintf("result ops=%d ns=%d p50=%d p99=%d p999=%d samples=%d lost=%d",
		ops1-l.ops0, t1.Sub(l.t0).Nanoseconds(),
		percentile(all, 0.50), percentile(all, 0.99), percentile(all, 0.999), len(all), l.lost.Load()-l.lost0)
	if l.failure != nil {
		line += " err=" + oneLine(l.failure.Error())
	}
	return line
}

// echo runs one connection: a write of depth messages, then a read of their
// echo, over and over.
func (l *loadGen) echo(i int, c net.Conn) {
	out := make([]byte, l.size*l.depth)
	in := make([]byte, l.size*l.depth)
	t := time.Now()
	for {
		if _, err := c.Write(out); err != nil {
			l.fail(err)
			return
		}
		if _, err := io.ReadFull(c, in); err != nil {
			l.fail(err)
			return
		}
		t = l.roundTrip(i, t, l.depth) // the next write follows at once
	}
}

// roundTrip counts ops finished on connection i by a round trip begun at
// t, samples its latency inside the window, and returns the time now.
func (l *loadGen) roundTrip(i int, t time.Time, ops int) time.Time {
	now := time.Now()
	if l.measuring.Load() {
		s := &l.lat[i]
		s.mu.Lock()
		s.d = append(s.d, now.Sub(t))
		s.mu.Unlock()
	}
	l.ops.Add(int64(ops))
	return now
}

// http runs one connection: a GET of path, its whole response, and the
// next GET at once.
func (l *loadGen) http(i int, c net.Conn, path string) {
	br := bufio.NewReaderSize(c, 64<<10)
	t := time.Now()
	for {
		if _, err := get(c, br, path); err != nil {
			l.fail(err)
			return
		}
		t = l.roundTrip(i, t, 1)
	}
}

// stream runs one connection as a stream: a writer keeps up to depth
// messages in flight, and the reader counts what comes back.
func (l *loadGen) stream(c net.Conn) {
	credit := make(chan struct{}, l.depth)
	go func() {
		out := make([]byte, l.size)
		for {
			credit <- struct{}{}
			if _, err := c.Write(out); err != nil {
				l.fail(err)
				return
			}
		}
	}()
	in := make([]byte, l.size)
	got := 0
	for {
		n, err := c.Read(in)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			l.fail(err)
			return
		}
		for got += n; got >= l.size; got -= l.size {
			<-credit
			l.ops.Add(1)
		}
	}
}
