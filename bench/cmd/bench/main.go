// Command bench measures echo servers side by side: Go's net and ksocket's
// engines, each in its own process pinned to CPU 0 with GOMAXPROCS=1, under
// a Go net load generator pinned to CPU 1. Rounds alternate between servers
// and the report gives medians.
//
//	go run ./bench/cmd/bench                 # the default matrix
//	go run ./bench/cmd/bench -conns 1,64 -rounds 5 -duration 3s
//
// It is also its own server and load generator (the "server" and "load"
// subcommands), so that one build is measured everywhere.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ksocket-go/ksocket"
	"github.com/ksocket-go/ksocket/gonet"
	"github.com/ksocket-go/ksocket/loop"
	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "server":
			serverMain(os.Args[2:])
			return
		case "load":
			loadMain(os.Args[2:])
			return
		}
	}
	runMain(os.Args[1:])
}

// --- servers ---

func serverMain(args []string) {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	impl := fs.String("impl", "net", "net, berkeley, gonet or loop")
	size := fs.Int("size", 64, "message size")
	fs.Parse(args)
	switch *impl {
	case "net", "gonet":
		listen := net.Listen
		if *impl == "gonet" {
			listen = gonet.Listen
		}
		ln, err := listen("tcp", "127.0.0.1:0")
		check(err)
		fmt.Println(ln.Addr().String())
		for {
			c, err := ln.Accept()
			check(err)
			go func() {
				defer c.Close()
				buf := make([]byte, *size*16)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	case "loop":
		h := loop.Handlers{Data: func(c *loop.Conn, data []byte) { c.Write(data) }}
		s, err := loop.Listen("tcp4", "127.0.0.1:0", h, nil)
		check(err)
		fmt.Println(s.Addr().String())
		check(s.Serve())
	case "berkeley":
		ls, err := ksocket.SocketListen(unix.AF_INET, unix.SOCK_STREAM, 0)
		check(err)
		check(ksocket.Bind(ls, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
		check(ksocket.Listen(ls, 4096))
		sa, err := ksocket.Getsockname(ls)
		check(err)
		fmt.Printf("127.0.0.1:%d\n", sa.(*unix.SockaddrInet4).Port)
		for {
			c, _, err := ksocket.Accept(ls)
			check(err)
			ksocket.SetsockoptInt(c, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
			go func() {
				defer ksocket.Closesocket(c)
				buf := make([]byte, *size*16)
				for {
					n, err := ksocket.Recv(c, buf, 0)
					if err != nil || n == 0 {
						return
					}
					if _, err := ksocket.Send(c, buf[:n], 0); err != nil {
						return
					}
				}
			}()
		}
	default:
		fmt.Fprintf(os.Stderr, "bench server: unknown -impl %q\n", *impl)
		os.Exit(2)
	}
}

// --- load generator ---

func loadMain(args []string) {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	addr := fs.String("addr", "", "server address")
	conns := fs.Int("conns", 64, "connections")
	depth := fs.Int("pipeline", 1, "messages in flight per connection")
	size := fs.Int("size", 64, "message size")
	dur := fs.Duration("duration", 3*time.Second, "measuring time")
	fs.Parse(args)

	var cs []net.Conn
	for range *conns {
		c, err := net.Dial("tcp", *addr)
		check(err)
		cs = append(cs, c)
	}
	var stop atomic.Bool
	var ops atomic.Int64
	lat := make([][]time.Duration, *conns)
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := make([]byte, *size**depth)
			in := make([]byte, *size**depth)
			for !stop.Load() {
				t := time.Now()
				if _, err := c.Write(out); err != nil {
					return
				}
				if _, err := io.ReadFull(c, in); err != nil {
					return
				}
				lat[i] = append(lat[i], time.Since(t))
				ops.Add(int64(*depth))
			}
		}()
	}
	time.Sleep(*dur)
	stop.Store(true)
	n := ops.Load()
	for _, c := range cs {
		c.SetDeadline(time.Now())
	}
	wg.Wait()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(float64(len(all))*p))]
	}
	fmt.Printf("ops=%d p50=%d p99=%d p999=%d\n", n, pct(0.5).Microseconds(), pct(0.99).Microseconds(), pct(0.999).Microseconds())
}

// --- orchestration ---

type result struct {
	opsPerSec float64
	p50, p99  float64 // µs
	cpuPerOp  float64 // µs
	sysPerOp  float64
}

func runMain(args []string) {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	impls := fs.String("impls", "net,berkeley", "servers to compare")
	connList := fs.String("conns", "1,64", "connection counts")
	depth := fs.Int("pipeline", 1, "messages in flight per connection")
	size := fs.Int("size", 64, "message size in bytes")
	rounds := fs.Int("rounds", 5, "alternating rounds per point")
	dur := fs.Duration("duration", 3*time.Second, "length of one round")
	fs.Parse(args)
	self, err := os.Executable()
	check(err)
	perf, _ := exec.LookPath("perf")
	if perf == "" {
		fmt.Fprintln(os.Stderr, "bench: perf not found (Debian linux-perf): syscalls/op not measured")
	}
	for _, cs := range strings.Split(*connList, ",") {
		conns, err := strconv.Atoi(cs)
		check(err)
		res := map[string][]result{}
		for r := range *rounds {
			for _, impl := range strings.Split(*impls, ",") {
				fmt.Fprintf(os.Stderr, "\rconns=%d round %d/%d %-10s", conns, r+1, *rounds, impl)
				res[impl] = append(res[impl], round(self, perf, impl, conns, *depth, *size, *dur))
			}
		}
		fmt.Fprintln(os.Stderr)
		fmt.Printf("\n%d B echo, conns=%d, pipeline=%d, %d rounds of %s (medians)\n\n", *size, conns, *depth, *rounds, *dur)
		fmt.Println("| server | ops/s | p50 µs | p99 µs | server CPU µs/op | syscalls/op |")
		fmt.Println("|---|---:|---:|---:|---:|---:|")
		for _, impl := range strings.Split(*impls, ",") {
			m := medians(res[impl])
			fmt.Printf("| %s | %.0f | %.0f | %.0f | %.2f | %.2f |\n", impl, m.opsPerSec, m.p50, m.p99, m.cpuPerOp, m.sysPerOp)
		}
	}
}

func round(self, perf, impl string, conns, depth, size int, dur time.Duration) result {
	srv := exec.Command("taskset", "-c", "0", self, "server", "-impl", impl, "-size", fmt.Sprint(size))
	srv.Env = append(os.Environ(), "GOMAXPROCS=1")
	srv.Stderr = os.Stderr
	out, err := srv.StdoutPipe()
	check(err)
	check(srv.Start())
	defer func() { srv.Process.Kill(); srv.Wait() }()
	addr, err := bufio.NewReader(out).ReadString('\n')
	check(err)
	addr = strings.TrimSpace(addr)

	load := exec.Command("taskset", "-c", "1", self, "load", "-addr", addr, "-conns", fmt.Sprint(conns), "-pipeline", fmt.Sprint(depth), "-size", fmt.Sprint(size), "-duration", dur.String())
	load.Env = append(os.Environ(), "GOMAXPROCS=1")
	var lout strings.Builder
	load.Stdout = &lout
	load.Stderr = os.Stderr
	check(load.Start())
	time.Sleep(dur / 10) // let connections settle before measuring the server
	cpu0 := cpuTicks(srv.Process.Pid)
	var ps *exec.Cmd
	var pout strings.Builder
	if perf != "" {
		ps = exec.Command(perf, "stat", "-x,", "-e", "raw_syscalls:sys_enter", "-p", fmt.Sprint(srv.Process.Pid), "--", "sleep", fmt.Sprint((dur * 8 / 10).Seconds()))
		ps.Stderr = &pout
		ps.Start()
	}
	check(load.Wait())
	cpu1 := cpuTicks(srv.Process.Pid)
	var sys float64
	if ps != nil {
		ps.Wait()
		for _, line := range strings.Split(pout.String(), "\n") {
			if strings.Contains(line, "sys_enter") {
				sys, _ = strconv.ParseFloat(strings.Split(line, ",")[0], 64)
			}
		}
	}
	var ops, p50, p99, p999 float64
	fmt.Sscanf(lout.String(), "ops=%g p50=%g p99=%g p999=%g", &ops, &p50, &p99, &p999)
	r := result{opsPerSec: ops / dur.Seconds(), p50: p50, p99: p99}
	if ops > 0 {
		r.cpuPerOp = float64(cpu1-cpu0) * 1e6 / 100 / (ops * 0.9)
		r.sysPerOp = sys / (ops * 0.8)
	}
	return r
}

// cpuTicks returns utime+stime of pid in clock ticks (USER_HZ, 100/s).
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

func medians(rs []result) result {
	med := func(get func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = get(r)
		}
		sort.Float64s(v)
		if len(v) == 0 {
			return 0
		}
		return v[len(v)/2]
	}
	return result{
		opsPerSec: med(func(r result) float64 { return r.opsPerSec }),
		p50:       med(func(r result) float64 { return r.p50 }),
		p99:       med(func(r result) float64 { return r.p99 }),
		cpuPerOp:  med(func(r result) float64 { return r.cpuPerOp }),
		sysPerOp:  med(func(r result) float64 { return r.sysPerOp }),
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
